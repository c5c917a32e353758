"""The full softmax's three (N, H) x (V, H) matrix products, in float32 or with bfloat16 inputs: a family of two.

A training step of the full softmax (``window_softmax``) takes three products of the window's hidden rows
``hidden`` (N, H) and the word rows ``words`` (V', H) of its vocabulary range, about two thirds of a small LSTM's
training time on PTB:

- ``logits_product(products, hidden, words, block)``: ``block`` (N, V') = hidden @ words.T;
- ``row_ready(products, block, n)``: row n of ``block`` is now dLoss/dz, final (called for every row in order,
  while the row is in cache: the bfloat16 member packs it there);
- ``gradient_products(products, hidden, words, block, grad_words, grad_hidden)``: after ``row_ready`` of every
  row, ``grad_words`` (V', H) = block.T @ hidden and ``grad_hidden`` (N, H) = block @ words (both written).

``products`` picks the code at compile time: ``precision.FLOAT32`` takes BLAS sgemm (``np.dot``); a
``Bfloat16Softmax`` (``bfloat16_products``: the paired operands, kept from window to window) rounds the operands
to bfloat16 and sums in float32 (``bfloat16``), twice the multiply-adds a cycle.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload

from . import bfloat16
from .precision import Float32, kind


class Bfloat16Softmax(NamedTuple):
    """The products with bfloat16 inputs, and the paired operands they are made of (``bfloat16``'s layouts)."""

    word_row_pairs: np.ndarray  # (V'6, ceil(H/2)) row pairs of words (the logits' left operand, transposed)
    hidden_row_pairs: np.ndarray  # (ceil(H/2), N'16) column pairs of hidden.T
    hidden_columns: np.ndarray  # (H'6, ceil(N/2)) row pairs of hidden.T (grad words' left operand, transposed)
    delta_rows: np.ndarray  # (ceil(N/2), V'16) column pairs of dLoss/dz
    delta_pairs: np.ndarray  # (N'6, ceil(V'/2)) row pairs of dLoss/dz (grad hidden's left operand)
    word_pairs: np.ndarray  # (ceil(V'/2), H'16) column pairs of words


def bfloat16_products(rows: int, words: int, size: int, array=None) -> Bfloat16Softmax:
    """A ``Bfloat16Softmax`` for ``rows`` hidden rows of ``size`` floats and a range of ``words`` words;
    ``array(name, shape, dtype)`` makes each array (e.g. from a cache of scratch arrays; default ``np.empty``)."""
    shapes = (bfloat16.row_pairs_shape(words, size), bfloat16.column_pairs_shape(size, rows),
              bfloat16.row_pairs_shape(size, rows), bfloat16.column_pairs_shape(rows, words),
              bfloat16.row_pairs_shape(rows, words), bfloat16.column_pairs_shape(words, size))
    make = array or (lambda name, shape, dtype: np.empty(shape, dtype))
    return Bfloat16Softmax(*(make(name, shape, np.uint32) for name, shape in zip(Bfloat16Softmax._fields, shapes)))


def logits_product(products, hidden, words, block):
    """``block`` (N, V') = ``hidden`` (N, H) @ ``words`` (V', H).T, by the code of ``products``."""


def row_ready(products, block, n):
    """Row ``n`` of ``block`` (N, V') holds its final dLoss/dz."""


def gradient_products(products, hidden, words, block, grad_words, grad_hidden):
    """``grad_words`` (V', H) = ``block`` (N, V').T @ ``hidden``; ``grad_hidden`` (N, H) = block @ ``words``."""


@njit(cache=True, nogil=True)
def _float32_logits(hidden, words, block):
    np.dot(hidden, words.T, block)


@njit(cache=True, nogil=True)
def _float32_gradients(hidden, words, block, grad_words, grad_hidden):
    np.dot(block.T, hidden, grad_words)
    np.dot(block, words, grad_hidden)


@njit(cache=True, nogil=True)
def _bfloat16_logits(products, hidden, words, block):
    # as (words @ hidden.T).T: both operands are then packed in their own row order (a pass over the (V', H) words
    # in order, against a strided transposing one), and the kernel stores its tiles transposed
    bfloat16.pair_columns(words, products.word_row_pairs)
    bfloat16.pair_rows(hidden.T, products.hidden_row_pairs)
    bfloat16.product_transposed(products.word_row_pairs, products.hidden_row_pairs, block)


@njit(cache=True, nogil=True)
def _bfloat16_row_ready(products, block, n):
    # row n's pairs of columns, and once its partner row is final, the pair of rows (2m, 2m + 1): both packings
    # read the row from cache instead of the whole block again after the last row
    rows, words = block.shape
    row = block[n]
    bfloat16.pair_columns(row.reshape(1, words), products.delta_pairs[n:n + 1])
    if n % 2 == 1 or n == rows - 1:
        first = n - n % 2
        bfloat16.pair_rows(block[first:n + 1], products.delta_rows[first // 2:first // 2 + 1])


@njit(cache=True, nogil=True)
def _bfloat16_gradients(products, hidden, words, block, grad_words, grad_hidden):
    products.delta_pairs[block.shape[0]:] = 0  # the padding rows (row_ready packed the others)
    bfloat16.pair_columns(hidden.T, products.hidden_columns)
    bfloat16.product_transposed(products.hidden_columns, products.delta_rows, grad_words)
    bfloat16.pair_rows(words, products.word_pairs)
    bfloat16.product(products.delta_pairs, products.word_pairs, grad_hidden)


@overload(logits_product, inline="always")
def _logits_product(products, hidden, words, block):
    if kind(products) is Float32:
        return lambda products, hidden, words, block: _float32_logits(hidden, words, block)
    if kind(products) is Bfloat16Softmax:
        return lambda products, hidden, words, block: _bfloat16_logits(products, hidden, words, block)
    return None


@overload(row_ready, inline="always")
def _row_ready(products, block, n):
    if kind(products) is Float32:
        return lambda products, block, n: None
    if kind(products) is Bfloat16Softmax:
        return lambda products, block, n: _bfloat16_row_ready(products, block, n)
    return None


@overload(gradient_products, inline="always")
def _gradient_products(products, hidden, words, block, grad_words, grad_hidden):
    if kind(products) is Float32:
        return lambda products, hidden, words, block, grad_words, grad_hidden: _float32_gradients(
            hidden, words, block, grad_words, grad_hidden)
    if kind(products) is Bfloat16Softmax:
        return lambda products, hidden, words, block, grad_words, grad_hidden: _bfloat16_gradients(
            products, hidden, words, block, grad_words, grad_hidden)
    return None

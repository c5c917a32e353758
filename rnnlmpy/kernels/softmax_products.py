"""The full softmax's three (N, H) x (V, H) matrix products, in float32 or with bfloat16 inputs: a family of two.

A training step of the full softmax (``window_softmax``) takes three products of the window's hidden rows
``hidden`` (N, H) and the word rows ``words`` (V', H) of its vocabulary range, about two thirds of a small LSTM's
training time on PTB:

- ``logits_product(products, hidden, words, block)``: ``block`` (N, V') = hidden @ words.T;
- ``gradient_products(products, hidden, words, block, grad_words, grad_hidden)``: with ``block`` now dLoss/dz,
  ``grad_words`` (V', H) = block.T @ hidden and ``grad_hidden`` (N, H) = block @ words (both written).

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
def _bfloat16_gradients(products, hidden, words, block, grad_words, grad_hidden):
    bfloat16.pair_columns(hidden.T, products.hidden_columns)
    bfloat16.pair_rows(block, products.delta_rows)
    bfloat16.product_transposed(products.hidden_columns, products.delta_rows, grad_words)
    bfloat16.pair_columns(block, products.delta_pairs)
    bfloat16.pair_rows(words, products.word_pairs)
    bfloat16.product(products.delta_pairs, products.word_pairs, grad_hidden)


@overload(logits_product, inline="always")
def _logits_product(products, hidden, words, block):
    if kind(products) is Float32:
        return lambda products, hidden, words, block: _float32_logits(hidden, words, block)
    if kind(products) is Bfloat16Softmax:
        return lambda products, hidden, words, block: _bfloat16_logits(products, hidden, words, block)
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

"""The full softmax over all V words as a window output layer (contract: ``window``).

``P(w | h) = exp(z_w) / sum_v exp(z_v)`` with logits ``z = W h + b``, ``W`` (V, H)
the output word matrix (or the embedding, when tied) and ``b`` (V,). Rows are
processed ``CHUNK_ROWS`` at a time: one gemm gives a chunk's logits
``(rows, V)``, each row is turned into its log-softmax and then into
``dLoss/dz = scale * weight * (softmax - onehot(target))`` in place, and two
more gemms give ``grad W += dz^T h`` and ``grad h = dz W``. So the buffer of
logits stays ``CHUNK_ROWS * V`` floats, whatever the window.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .exponential import EXACT_FASTMATH, EXP_LIMIT, exponential

CHUNK_ROWS = 256  # rows of logits computed at once
LN10 = math.log(10.0)


class SoftmaxLayer(NamedTuple):
    """The full softmax's weights."""

    weights: np.ndarray  # (V, H) word rows (the embedding when tied)
    bias: np.ndarray  # (V,)


class SoftmaxGrads(NamedTuple):
    """Gradient arrays of a ``SoftmaxLayer`` (same shapes), added to by ``train``."""

    weights: np.ndarray  # (V, H)
    bias: np.ndarray  # (V,)


BUNDLES = (SoftmaxLayer, SoftmaxGrads)


def bundles(arrays: dict, grads, vocabulary, tied: bool):
    """(SoftmaxLayer, SoftmaxGrads or None) from the model's named arrays and their gradients (see ``window``);
    ``vocabulary`` is not needed by a full softmax."""
    name = "input_weights" if tied else "output_weights"
    layer = SoftmaxLayer(arrays[name], arrays["output_bias"])
    if grads is None:
        return layer, None
    return layer, SoftmaxGrads(grads[name], grads["output_bias"])


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def log_softmax_row(logits, bias):
    """Add ``bias`` (V,) to ``logits`` (V,) and turn them into exp(z - max) in place; returns (max, ln sum exp)."""
    size = logits.shape[0]
    top = logits[0] + bias[0]
    for v in range(size):
        z = logits[v] + bias[v]
        logits[v] = z
        top = max(top, z)
    total = 0.0
    floor = logits.dtype.type(-EXP_LIMIT)
    for v in range(size):
        e = exponential(max(logits[v] - top, floor))
        logits[v] = e
        total += e
    return top, math.log(total)


@njit(cache=True, fastmath=True)
def add_column_sums(matrix, out):
    """``out`` (C,) += the sum of the rows of ``matrix`` (R, C)."""
    for r in range(matrix.shape[0]):
        row = matrix[r]
        for c in range(matrix.shape[1]):
            out[c] += row[c]


@njit(cache=True, fastmath=True)
def add_into(target, source):
    """``target += source`` (2-d, same shape)."""
    for i in range(target.shape[0]):
        row, add = target[i], source[i]
        for j in range(target.shape[1]):
            row[j] += add[j]


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def train(layer, hidden, targets, weights, scale, grad_hidden, grads, log10_out):
    """Log10 P(target) of each scored row into ``log10_out`` (N,); the gradient of ``scale * sum weights[n] *
    -ln P(targets[n])`` added to ``grads`` and written to ``grad_hidden`` (N, H) (contract: ``window``)."""
    rows, size = hidden.shape
    words = layer.weights.shape[0]
    dtype = hidden.dtype
    chunk = min(CHUNK_ROWS, rows)
    logits = np.empty((chunk, words), dtype=dtype)
    weight_grad = np.empty((words, size), dtype=dtype)
    for begin in range(0, rows, chunk):
        end = min(begin + chunk, rows)
        count = end - begin
        block = logits[:count]
        np.dot(hidden[begin:end], layer.weights.T, block)
        for r in range(count):
            n = begin + r
            row = block[r]
            weight = weights[n]
            if weight == 0:
                log10_out[n] = 0.0
                for v in range(words):
                    row[v] = 0.0
                continue
            target = targets[n]
            target_logit = row[target] + layer.bias[target]
            top, log_total = log_softmax_row(row, layer.bias)
            log10_out[n] = (target_logit - top - log_total) / LN10
            factor = dtype.type(scale * weight / math.exp(log_total))
            for v in range(words):
                row[v] *= factor
            row[target] -= dtype.type(scale * weight)
        add_column_sums(block, grads.bias)
        np.dot(block.T, hidden[begin:end], weight_grad)
        add_into(grads.weights, weight_grad)
        np.dot(block, layer.weights, grad_hidden[begin:end])


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def score(layer, hidden, targets, log10_out):
    """Log10 P(targets[n] | hidden[n]) of every row into ``log10_out`` (N,)."""
    rows = hidden.shape[0]
    words = layer.weights.shape[0]
    chunk = min(CHUNK_ROWS, rows)
    logits = np.empty((chunk, words), dtype=hidden.dtype)
    for begin in range(0, rows, chunk):
        end = min(begin + chunk, rows)
        block = logits[:end - begin]
        np.dot(hidden[begin:end], layer.weights.T, block)
        for r in range(end - begin):
            row = block[r]
            target_logit = row[targets[begin + r]] + layer.bias[targets[begin + r]]
            top, log_total = log_softmax_row(row, layer.bias)
            log10_out[begin + r] = (target_logit - top - log_total) / LN10


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def distribution(layer, hidden, out):
    """``out`` (V,) = P(every word | ``hidden`` (H,))."""
    logits = np.dot(layer.weights, hidden)
    top, log_total = log_softmax_row(logits, layer.bias)
    norm = math.exp(log_total)
    for v in range(out.shape[0]):
        out[v] = logits[v] / norm

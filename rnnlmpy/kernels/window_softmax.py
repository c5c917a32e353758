"""The full softmax over all V words as a window output layer (contract: ``window``).

``P(w | h) = exp(z_w) / sum_v exp(z_v)`` with logits ``z = W h + b``, ``W`` (V, H)
the output word matrix (or the embedding, when tied) and ``b`` (V,). Rows are
processed in chunks of ``chunk_rows`` (about ``CHUNK_FLOATS`` logits): one gemm gives a chunk's logits
``(rows, V)``, each row is turned into its log-softmax and then into
``dLoss/dz = scale * weight * (softmax - onehot(target))`` in place, and two
more gemms give ``grad W += dz^T h`` and ``grad h = dz W``. So the buffer of
logits stays about ``CHUNK_FLOATS``, whatever the window; the larger the chunk,
the better the gemms (PTB, 400 rows: 54 ms of gemms in one chunk, 58 ms in
chunks of 256 rows).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .exponential import EXACT_FASTMATH, EXP_LIMIT, exponential
from .softmax_products import gradient_products, logits_product, row_ready
from .window import add_into

CHUNK_FLOATS = 2**22  # logits computed at once (16 MB of float32): a PTB window of 400 rows in one chunk
MIN_CHUNK_ROWS = 16  # rows per chunk at the least, however large the vocabulary
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


@njit(cache=True)
def chunk_rows(rows, words):
    """Rows of logits per chunk: ``CHUNK_FLOATS // words``, at least MIN_CHUNK_ROWS, at most ``rows``."""
    return max(1, min(rows, max(MIN_CHUNK_ROWS, CHUNK_FLOATS // max(words, 1))))


@njit(cache=True, fastmath=True)
def add_bias_and_max(logits, bias):
    """``logits`` (V,) += ``bias`` (V,); returns their maximum (a loop the compiler vectorises: fast-math)."""
    top = logits[0] + bias[0]
    for v in range(logits.shape[0]):
        z = logits[v] + bias[v]
        logits[v] = z
        top = max(top, z)
    return top


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def exponentials(logits, top):
    """``logits`` (V,) = exp(z - top) in place (vectorised float32 exponential, see ``exponential``)."""
    floor = logits.dtype.type(-EXP_LIMIT)
    for v in range(logits.shape[0]):
        logits[v] = exponential(max(logits[v] - top, floor))


@njit(cache=True, fastmath=True)
def total(values):
    """The sum of ``values`` (V,), as float64 (vectorised: fast-math reassociates it)."""
    result = 0.0
    for v in range(values.shape[0]):
        result += values[v]
    return result


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def exp_log_total(logits, top):
    """Turn ``logits`` (V,) into exp(z - ``top``) in place (``top``: their maximum); returns ln sum exp(z - top)."""
    exponentials(logits, top)
    return math.log(total(logits))


@njit(cache=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def log_softmax_row(logits, bias):
    """Add ``bias`` (V,) to ``logits`` (V,) and turn them into exp(z - max) in place; returns (max, ln sum exp)."""
    top = add_bias_and_max(logits, bias)
    return top, exp_log_total(logits, top)


@njit(cache=True, fastmath=True)
def scale_row_into(row, factor, column_sums):
    """``row`` (V,) *= ``factor``, and the result added to ``column_sums`` (V,) while the row is in cache."""
    for v in range(row.shape[0]):
        value = row[v] * factor
        row[v] = value
        column_sums[v] += value


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def train(layer, hidden, targets, weights, scale, grad_hidden, grads, log10_out):
    """Log10 P(target) of each scored row into ``log10_out`` (N,); the gradient of ``scale * sum weights[n] *
    -ln P(targets[n])`` added to ``grads`` and written to ``grad_hidden`` (N, H) (contract: ``window``)."""
    rows, size = hidden.shape
    words = layer.weights.shape[0]
    dtype = hidden.dtype
    chunk = chunk_rows(rows, words)
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
            scale_row_into(row, factor, grads.bias)
            row[target] -= dtype.type(scale * weight)
            grads.bias[target] -= dtype.type(scale * weight)
        np.dot(block.T, hidden[begin:end], weight_grad)
        add_into(grads.weights, weight_grad)
        np.dot(block, layer.weights, grad_hidden[begin:end])


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def score(layer, hidden, targets, log10_out):
    """Log10 P(targets[n] | hidden[n]) of every row into ``log10_out`` (N,)."""
    rows = hidden.shape[0]
    words = layer.weights.shape[0]
    chunk = chunk_rows(rows, words)
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


# Training split by vocabulary: threads each take a range of the words (a SoftmaxLayer of their rows of W and b)
# over all N rows, so that the gemms stay N rows tall and each thread owns its rows of grad W. Two phases with
# one exchange of (N,) vectors between them (the driver does it): ``part_exponentials`` gives each range's
# exp(z - its row maximum) and their sums; the driver combines the ranges' maxima and sums into each row's
# normaliser; ``part_gradients`` turns each range's exponentials into dLoss/dz and takes its gemms.


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def part_exponentials(layer, first_word, hidden, targets, weights, block, row_max, row_sum, target_logits,
                      products):
    """Phase 1 of a training step split by vocabulary, for the words ``first_word`` + [0, V') of ``layer`` (V'
    rows): ``block`` (N, V') = exp(z - ``row_max``[n]) with ``row_max`` (N,) each row's maximum logit of the range
    and ``row_sum`` (N,) the sum of the row; ``target_logits[n]`` = z of ``targets[n]`` where it is in the range
    (left as it is elsewhere). Rows of ``weights`` 0 are zero and not read. ``products``: how the logits' matrix
    product is taken (``softmax_products``: float32, or bfloat16 inputs)."""
    rows = hidden.shape[0]
    words = layer.weights.shape[0]
    logits_product(products, hidden, layer.weights, block)
    for n in range(rows):
        row = block[n]
        if weights[n] == 0:
            for v in range(words):
                row[v] = 0.0
            row_max[n] = 0.0
            row_sum[n] = 0.0
            continue
        target = targets[n] - first_word
        if 0 <= target < words:
            target_logits[n] = row[target] + layer.bias[target]
        top, log_total = log_softmax_row(row, layer.bias)
        row_max[n] = top
        row_sum[n] = math.exp(log_total)


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def part_gradients(layer, first_word, hidden, targets, weights, scale, block, factors, grad_hidden, grads,
                   products):
    """Phase 2: each row of ``block`` (from ``part_exponentials``) times ``factors[n]`` (its share of P: the
    driver's exp(row_max - the row's overall maximum) / the row's overall sum, times ``scale * weights[n]``),
    minus ``scale * weights[n]`` at the target when it is in the range, is dLoss/dz of the range; its gradients are
    WRITTEN to ``grads`` (of the range's rows: the only gradient of a full softmax's words, so no zeroed array
    and no sum of a temporary are needed) and ``grad_hidden`` (N, H) is WRITTEN with the range's share of
    dLoss/dhidden (the driver sums the ranges'). ``products`` as in ``part_exponentials``."""
    rows = hidden.shape[0]
    words = layer.weights.shape[0]
    dtype = hidden.dtype
    grads.bias[:] = 0.0
    for n in range(rows):
        if weights[n] != 0:
            scale_row_into(block[n], dtype.type(factors[n]), grads.bias)
            target = targets[n] - first_word
            if 0 <= target < words:
                block[n, target] -= dtype.type(scale * weights[n])
                grads.bias[target] -= dtype.type(scale * weights[n])
        row_ready(products, block, n)
    gradient_products(products, hidden, layer.weights, block, grads.weights, grad_hidden)

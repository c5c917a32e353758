"""Output layers: softmax rows, the class-factored softmax (with direct scores) and its gradient.

``class_weights`` (C, H) and ``output_weights`` (Y, H) are the rows of the class
and output layers. The output rows of class ``c`` are ``class_start[c] <= y <
class_end[c]``, and ``P(y | h) = P(class(y) | h) * P(y | class(y), h)``. With one
class spanning all rows this is an ordinary full softmax. Hierarchical softmax
and NCE output layers belong beside these.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .direct import DIRECT_CLASS_KEY, MAX_DIRECT_ORDER, add_direct_scores, direct_keys


@njit(cache=True, fastmath=True)
def row_scores(weights, row_begin, row_end, hidden, scores):
    """``scores[r] = weights[row_begin + r] @ hidden`` for the rows ``row_begin..row_end-1``."""
    size = hidden.shape[0]
    for r in range(row_end - row_begin):
        row = weights[row_begin + r]
        acc = hidden.dtype.type(0.0)
        for j in range(size):
            acc += row[j] * hidden[j]
        scores[r] = acc


@njit(cache=True, fastmath=True)
def row_score_with_direct(weights, row, hidden, direct, keys, usable):
    """``weights[row] @ hidden`` plus the row's direct weights ``direct[(keys[k] + row) % D]`` for k < ``usable``
    (float64). The score of one inner node (hierarchical softmax) or one word (NCE)."""
    values = weights[row]
    acc = hidden.dtype.type(0.0)
    for j in range(hidden.shape[0]):
        acc += values[j] * hidden[j]
    score = float(acc)
    size = direct.shape[0]
    if size > 0:
        for k in range(usable):
            score += float(direct[(keys[k] + row) % size])
    return score


@njit(cache=True, fastmath=True, inline="always")
def row_step(row, hidden, hidden_error, error, step, keep, decaying):
    """One output row's share of back-propagation and its SGD step, in one pass over the H values: first
    ``hidden_error += error * row`` (the row before its step), then ``row = keep * row + step * hidden`` when
    ``decaying`` (``keep`` = 1 - decay), else ``row += step * hidden``. ``row``, ``hidden``, ``hidden_error``:
    (H,); the scalars come in the caller's types (the arithmetic is the caller's). Inlined into the softmax,
    hierarchical-softmax and NCE steps alike, so that the loop over H is written once and costs no call."""
    size = hidden.shape[0]
    if decaying:
        for j in range(size):
            hidden_error[j] += error * row[j]
            row[j] = keep * row[j] + step * hidden[j]
    else:
        for j in range(size):
            hidden_error[j] += error * row[j]
            row[j] += step * hidden[j]


@njit(cache=True, fastmath=True)
def softmax_in_place(values, count):
    """Softmax of ``values[:count]`` in place (maximum subtracted, normaliser summed in float64).

    Scores that are not finite (a diverged network) give all-zero probabilities,
    which training then sees as divergence, instead of a division by zero.
    """
    highest = -np.inf
    for r in range(count):
        if values[r] > highest:
            highest = values[r]
    total = 0.0
    for r in range(count):
        value = math.exp(values[r] - highest)
        values[r] = value
        total += value
    scale = 1.0 / total if total > 0.0 else 0.0
    for r in range(count):
        values[r] *= scale


@njit(cache=True, fastmath=True)
def softmax_rows(weights, row_begin, row_end, hidden, probabilities):
    """Softmax of ``weights[row_begin:row_end] @ hidden`` into ``probabilities[:row_end-row_begin]``."""
    row_scores(weights, row_begin, row_end, hidden, probabilities)
    softmax_in_place(probabilities, row_end - row_begin)


@njit(cache=True, fastmath=True)
def output_backward(weights, row_begin, row_end, probabilities, target_row, hidden, hidden_error, alpha, decay):
    """Cross-entropy error of a softmax over ``weights[row_begin:row_end]``; SGD update.

    Adds ``weights_rowsᵀ @ e`` (with ``e = onehot(target_row) - probabilities``,
    computed with the rows before their update) to ``hidden_error`` and then
    moves each row by ``alpha * e * hidden`` minus ``decay * row`` (L2).
    """
    one = hidden.dtype.type(1.0)
    for r in range(row_end - row_begin):
        error = -probabilities[r]
        if row_begin + r == target_row:
            error += one
        row_step(weights[row_begin + r], hidden, hidden_error, error, alpha * error, one - decay, decay != 0)


@njit(cache=True)
def largest_class_size(class_start, class_end):
    """Number of output rows in the largest class (at least 1)."""
    largest = 1
    for c in range(class_start.shape[0]):
        largest = max(largest, class_end[c] - class_start[c])
    return largest


@njit(cache=True, fastmath=True)
def target_probability(class_weights, output_weights, output_class, class_start, class_end, hidden, target,
                       class_probabilities, word_probabilities, direct, class_keys, class_usable, word_keys,
                       word_usable):
    """P(target | hidden) under the class-factored softmax (plus direct weights); fills both buffers."""
    target_class = output_class[target]
    class_count = class_weights.shape[0]
    row_scores(class_weights, 0, class_count, hidden, class_probabilities)
    add_direct_scores(direct, class_keys, class_usable, class_count, False, class_probabilities)
    softmax_in_place(class_probabilities, class_count)
    begin = class_start[target_class]
    members = class_end[target_class] - begin
    row_scores(output_weights, begin, class_end[target_class], hidden, word_probabilities)
    add_direct_scores(direct, word_keys, word_usable, members, True, word_probabilities)
    softmax_in_place(word_probabilities, members)
    return float(class_probabilities[target_class]) * float(word_probabilities[target - begin])


@njit(cache=True, fastmath=True)
def output_distribution(class_weights, output_weights, class_start, class_end, hidden, direct, direct_order, history,
                        temperature, distribution):
    """Full distribution over all output rows given ``hidden``: ``distribution[y] = P(y | hidden)``.

    ``history`` (most recent word first) feeds the direct weights; scores are
    divided by ``temperature`` (1: the model's own distribution).
    """
    class_count = class_weights.shape[0]
    class_probabilities = np.empty(class_count, dtype=hidden.dtype)
    keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    use_direct = direct.shape[0] > 0 and direct_order > 0
    half = direct.shape[0] // 2
    row_scores(class_weights, 0, class_count, hidden, class_probabilities)
    if use_direct:
        usable = direct_keys(history, direct_order, DIRECT_CLASS_KEY, half, 0, keys)
        add_direct_scores(direct, keys, usable, class_count, False, class_probabilities)
    for c in range(class_count):
        class_probabilities[c] /= temperature
    softmax_in_place(class_probabilities, class_count)
    for c in range(class_start.shape[0]):
        begin = class_start[c]
        end = class_end[c]
        if end > begin:
            word_probabilities = np.empty(end - begin, dtype=hidden.dtype)
            row_scores(output_weights, begin, end, hidden, word_probabilities)
            if use_direct:
                usable = direct_keys(history, direct_order, DIRECT_CLASS_KEY * np.uint64(c + 1), half, half, keys)
                add_direct_scores(direct, keys, usable, end - begin, True, word_probabilities)
            for r in range(end - begin):
                word_probabilities[r] /= temperature
            softmax_in_place(word_probabilities, end - begin)
            for r in range(end - begin):
                distribution[begin + r] = class_probabilities[c] * word_probabilities[r]

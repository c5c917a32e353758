"""Direct connections (rnnlm's "-direct"): a hashed maximum-entropy n-gram model feeding the class and word scores.

The hash is the C++ rnnlm's, so its models' direct weights can be read: for order n
(0 = bias, 1 = previous word, ...), key = K + sum over b = 1..n of
PRIMES[((n * PRIMES[b]) mod 2^32 + b) mod 36] * (history[b-1] + 1), in wrapping 64-bit arithmetic,
where K is PRIMES[0] * PRIMES[1] (wrapped to 32 bits) for the classes and that times (class + 1)
for the words of a class. Class c reads weight key % (D/2) + c; the k-th word of the class reads
(key % (D/2) + D/2 + k) % D. An order stops the sum where the history holds an unknown word.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

DIRECT_PRIMES = np.array([
    108641969, 116049371, 125925907, 133333309, 145678979, 175308587, 197530793, 234567803, 251851741,
    264197411, 330864029, 399999781, 407407183, 459258997, 479012069, 545678687, 560493491, 607407037,
    629629243, 656789717, 716048933, 718518067, 725925469, 733332871, 753085943, 755555077, 782715551,
    790122953, 812345159, 814814293, 893826581, 923456189, 940740127, 953085797, 985184539, 990122807,
], dtype=np.uint64)
DIRECT_CLASS_KEY = np.uint64((108641969 * 116049371) % 2**32)
MAX_DIRECT_ORDER = 20


@njit(cache=True)
def direct_history(targets, t, history_start, independent, order, history):
    """The words before position t, most recent first (``history[b]`` = word t-1-b; 0 = ``</s>`` before
    position ``history_start`` or, for an independent model, before the sentence, whose end is a target
    ``</s>`` (0); -1 = unknown)."""
    crossed = False
    for b in range(order):
        position = t - 1 - b
        if position < history_start or crossed:
            history[b] = 0
        else:
            history[b] = targets[position]
            if independent and targets[position] == 0:
                crossed = True  # this word is the previous sentence's </s>; older words are cut off


@njit(cache=True)
def direct_keys(history, order, base_key, half, offset, keys):
    """Start index of each usable order's run of weights; returns how many orders are usable."""
    size = DIRECT_PRIMES.shape[0]
    for n in range(order):
        if n > 0 and history[n - 1] < 0:
            return n
        key = base_key
        for b in range(1, n + 1):
            mixed = (np.uint64(n) * DIRECT_PRIMES[b]) % np.uint64(4294967296)
            key += DIRECT_PRIMES[(mixed + np.uint64(b)) % np.uint64(size)] * np.uint64(history[b - 1] + 1)
        index = key % np.uint64(half) + np.uint64(offset)
        if index == 0:
            return n
        keys[n] = np.int64(index)
    return order


@njit(cache=True, fastmath=True)
def add_direct_scores(direct, keys, usable, count, wrap, scores):
    """``scores[k] += sum over usable orders of direct[keys[n] + k]`` (modulo D for word runs)."""
    size = direct.shape[0]
    for n in range(usable):
        start = keys[n]
        for k in range(count):
            index = start + k
            if wrap:
                index %= size
            scores[k] += direct[index]


@njit(cache=True, fastmath=True)
def direct_backward(direct, keys, usable, count, wrap, probabilities, target_row, alpha, decay):
    """SGD on the direct weights of a softmax: error [k = target] - P(k), decay every word (as rnnlm)."""
    size = direct.shape[0]
    for k in range(count):
        error = -probabilities[k]
        if k == target_row:
            error += 1.0
        for n in range(usable):
            index = keys[n] + k
            if wrap:
                index %= size
            direct[index] += alpha * error - decay * direct[index]


@njit(cache=True)
def prepare_direct(direct, direct_order, targets, t, history_start, independent, target_class, history, class_keys,
                   word_keys, usable):
    """Hash the history of position t (which starts at ``history_start``): ``usable`` = [class orders, word
    orders] (both 0 without direct weights)."""
    usable[0] = 0
    usable[1] = 0
    if direct.shape[0] == 0 or direct_order == 0:
        return
    half = direct.shape[0] // 2
    direct_history(targets, t, history_start, independent, direct_order, history)
    usable[0] = direct_keys(history, direct_order, DIRECT_CLASS_KEY, half, 0, class_keys)
    if target_class >= 0:
        usable[1] = direct_keys(history, direct_order, DIRECT_CLASS_KEY * np.uint64(target_class + 1), half, half,
                                word_keys)


class DirectConnections(NamedTuple):
    """A model's direct connections as one kernel argument: ``weights`` (D,) (empty: none) over ``order``
    history words."""

    weights: np.ndarray
    order: int


@njit(cache=True)
def direct_work():
    """The work arrays of ``prepare_direct``: (history, class_keys, word_keys) int64 (MAX_DIRECT_ORDER,) and
    ``usable`` int64 (2,)."""
    return (np.zeros(MAX_DIRECT_ORDER, dtype=np.int64), np.zeros(MAX_DIRECT_ORDER, dtype=np.int64),
            np.zeros(MAX_DIRECT_ORDER, dtype=np.int64), np.zeros(2, dtype=np.int64))


def history_keys(direct: DirectConnections, history: np.ndarray) -> tuple[np.ndarray, int]:
    """From Python: the start of each usable order's run of weights for a row-per-word layer (hierarchical
    softmax, NCE) after ``history`` (int64, most recent first) — keys int64 (MAX_DIRECT_ORDER,) and how many
    orders are usable (0 without direct weights)."""
    keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    usable = 0
    if direct.weights.shape[0] > 0 and direct.order > 0:
        usable = direct_keys(history, direct.order, DIRECT_CLASS_KEY, direct.weights.shape[0] // 2, 0, keys)
    return keys, usable

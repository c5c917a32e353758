"""Language-model spans: SGD with truncated BPTT over a token stream, and scoring, in one kernel call each.

These are the kernels of the RNNLM family; ``rnnlmpy.rnnlm.network`` is their
only caller. A model travels as a ``Network`` bundle (its cell's bundle, its
output layer's bundle, its ``direct.DirectConnections``, its sentence reset);
``layers`` dispatches on the types of those bundles when a span kernel is
compiled, so each compiled kernel holds only its own cell and output layer.

The stream is one int32 array ``words`` (N + 1,): position ``t`` reads
``words[t]`` (the previous word; -1: no input) and predicts ``words[t + 1]``
(-1: unscored); a target ``</s>`` (0) ends a sentence, where an
``independent`` model resets its state to ``reset_value``.

Training state carried between calls (so training can stop and resume
anywhere) lives in the arrays of a ``TrainingState``: the hidden state, a ring
buffer of the last ``bptt + bptt_block + 1`` steps, and ``counters`` = [ring
head, ring fill, words done in the epoch].

Each span kernel allocates its work arrays once and hands them to its loop
(``train_positions``, ``score_positions``), which is compiled without reference
counting (``options.WITHOUT_REFCOUNTS``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from .cell import EPOCH_WORDS, RING_FILL, clip, copy_into, feature_range
from .direct import DirectConnections, direct_work, prepare_direct
from .hogwild import end_round, merge_changes, round_over
from .layers import (cell_forward, cell_learn, cell_score_work, cell_train_work, output_backprop, output_score,
                     output_score_work, output_train_work, output_word_class)
from .options import WITHOUT_REFCOUNTS

SENTENCE_END = 0  # the word id of </s>

__all__ = ["DirectConnections", "Learning", "Merge", "Network", "TrainingState", "score_segments", "score_span",
           "train_span"]


class Network(NamedTuple):
    """A model as one kernel argument: ``cell`` and ``output`` (bundles of modules of ``layers``), ``direct``
    (a ``DirectConnections``), and whether it is ``independent`` (state reset to ``reset_value`` after each
    ``</s>``, direct history cut there)."""

    cell: tuple
    output: tuple
    direct: DirectConnections
    independent: bool
    reset_value: float


class TrainingState(NamedTuple):
    """The training kernel's state between calls (``H`` hidden units, ring of ``R`` steps): ``hidden_prev``
    (H,), ``ring_position`` int64 (R,), ``ring_input``, ``ring_error`` (R, H) (the state fed into and the
    output error of each stored step), ``step_ring`` (R, S) what the cell keeps of each stored step besides
    (the Elman cell: its hidden state, S = H; the GRU: its gates, S = 3H), ``counters`` int64 (3,) (ring
    head, ring fill, words done in the epoch), ``output_state`` the output layer's own training state (NCE:
    its sampler's RNG, uint64 (1,); the others: an empty tuple)."""

    hidden_prev: np.ndarray
    ring_position: np.ndarray
    ring_input: np.ndarray
    ring_error: np.ndarray
    step_ring: np.ndarray
    counters: np.ndarray
    output_state: object


class Learning(NamedTuple):
    """SGD settings: learning rate ``alpha`` (of the weights' dtype), L2 ``beta`` (decay ``alpha * beta`` every
    10th word), gradient ``cutoff`` (0: none), ``bptt`` extra steps back, ``bptt_block`` steps per update."""

    alpha: float
    beta: float
    cutoff: float
    bptt: int
    bptt_block: int


class Merge(NamedTuple):
    """A hogwild thread's merging (``hogwild.merge_changes``): every ``every`` positions (0: never) the change of
    each flat array of ``local`` since ``base``, times ``scale``, is added to the one in ``shared``, under the
    lock in ``flags`` (int64 (2,), shared by the epoch's threads). A span without merging gets None instead:
    its kernel is compiled without the merging code."""

    every: int
    shared: tuple
    local: tuple
    base: tuple
    flags: np.ndarray
    scale: float


def merge_due(merge, t, begin, end):
    """Whether a hogwild thread merges after position ``t`` of its span ``[begin, end)`` (never without
    merging)."""


def merge_now(merge):
    """Merge now (``hogwild.merge_changes``); True if another thread has ended the round."""


def finish_merging(merge, reached_end):
    """The last merge of a span; a thread that ``reached_end`` of its span ends the round."""


@overload(merge_due, inline="always")
def _merge_due(merge, t, begin, end):
    if isinstance(merge, types.NoneType):
        return lambda merge, t, begin, end: False
    return lambda merge, t, begin, end: merge.every > 0 and (t + 1 - begin) % merge.every == 0 and t + 1 < end


@overload(merge_now, inline="always")
def _merge_now(merge):
    if isinstance(merge, types.NoneType):
        return lambda merge: False

    def impl(merge):
        merge_changes(merge.shared, merge.local, merge.base, merge.flags, merge.scale)
        return round_over(merge.flags)
    return impl


@overload(finish_merging, inline="always")
def _finish_merging(merge, reached_end):
    if isinstance(merge, types.NoneType):
        return lambda merge, reached_end: None

    def impl(merge, reached_end):
        if merge.every > 0:
            merge_changes(merge.shared, merge.local, merge.base, merge.flags, merge.scale)
            if reached_end:
                end_round(merge.flags)
    return impl


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def train_output(output, direct, direct_arrays, work, state, targets, t, independent, hidden, hidden_error, alpha,
                 decay, cutoff, direct_alpha, direct_decay, probabilities):
    """Position t's output step, the same for every output layer around its own ``backward`` (``layers``): hash
    the direct history, take the layer's step on ``targets[t]`` (>= 0), write P(target) to ``probabilities[t]``
    when that is not empty, clip the error reaching the hidden layer (``hidden_error`` (H,)) to ``cutoff``;
    returns the layer's log10 P(target)."""
    history, class_keys, word_keys, usable = direct_arrays
    target = targets[t]
    prepare_direct(direct.weights, direct.order, targets, t, 0, independent, output_word_class(output, target),
                   history, class_keys, word_keys, usable)
    log10_probability, probability = output_backprop(output, direct.weights, class_keys, word_keys, usable, work,
                                                     state, target, hidden, hidden_error, alpha, decay, cutoff,
                                                     direct_alpha, direct_decay)
    if probabilities.shape[0] > 0:
        probabilities[t] = probability
    clip(hidden_error, cutoff)
    return log10_probability


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def score_output(output, direct, direct_arrays, work, targets, t, history_start, independent, hidden, normalised):
    """P(``targets[t]``) (>= 0) under the output layer, after hashing the direct history (which starts at
    ``history_start``)."""
    history, class_keys, word_keys, usable = direct_arrays
    target = targets[t]
    prepare_direct(direct.weights, direct.order, targets, t, history_start, independent,
                   output_word_class(output, target), history, class_keys, word_keys, usable)
    return output_score(output, direct.weights, class_keys, word_keys, usable, work, target, hidden, normalised)


@njit(cache=True)
def train_work(network, state):
    """The work arrays of a ``train_span`` call, allocated once per call (its loop allocates nothing): a tuple
    (feature_ptr, hidden, hidden_error, the cell's, the output layer's, the direct connections')."""
    hidden_prev = state.hidden_prev
    size = hidden_prev.shape[0]
    feature_ptr = np.empty(0, dtype=np.int64)  # one input per position: words[t] (see cell.feature_range)
    return (feature_ptr, np.empty(size, dtype=hidden_prev.dtype), np.empty(size, dtype=hidden_prev.dtype),
            cell_train_work(network.cell, size, state.ring_position.shape[0], hidden_prev),
            output_train_work(network.output), direct_work())


@njit(cache=True, fastmath=True, nogil=True, **WITHOUT_REFCOUNTS)
def train_positions(network, words, begin, end, state, learning, merge, probabilities, work):
    """The loop of ``train_span`` (arguments as there, ``work`` from ``train_work``), compiled without reference
    counting (see ``options``)."""
    feature_ptr, hidden, hidden_error, cell_work, output_work, direct_arrays = work
    cell, output, direct = network.cell, network.output, network.direct
    hidden_prev, counters = state.hidden_prev, state.counters
    independent = network.independent
    targets = words[1:]
    alpha = hidden_prev.dtype.type(learning.alpha)
    beta = learning.beta
    cutoff = hidden_prev.dtype.type(learning.cutoff)
    decay_value = hidden_prev.dtype.type(alpha * beta)
    reset_value = hidden_prev.dtype.type(network.reset_value)
    direct_decay = direct.weights.dtype.type(alpha * beta)
    direct_alpha = direct.weights.dtype.type(alpha)
    log10_sum = 0.0
    scored = 0
    stopped = end
    for t in range(begin, end):
        counters[EPOCH_WORDS] += 1
        decay = decay_value if counters[EPOCH_WORDS] % 10 == 0 else hidden_prev.dtype.type(0.0)
        feature_begin, feature_end = feature_range(feature_ptr, words, t)
        cell_forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, cell_work)
        hidden_error[:] = 0
        target = targets[t]
        if target >= 0:
            log10_sum += train_output(output, direct, direct_arrays, output_work, state, targets, t, independent,
                                      hidden, hidden_error, alpha, decay, cutoff, direct_alpha, direct_decay,
                                      probabilities)
            scored += 1
        elif probabilities.shape[0] > 0:
            probabilities[t] = 0.0
        sentence_end = independent and target == SENTENCE_END
        cell_learn(cell, state, cell_work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error,
                   alpha, decay, cutoff, learning.bptt, learning.bptt_block, sentence_end)
        if sentence_end:
            hidden_prev[:] = reset_value
            counters[RING_FILL] = 0
        else:
            copy_into(hidden_prev, hidden)
        if merge_due(merge, t, begin, end) and merge_now(merge):
            stopped = t + 1
            break
    finish_merging(merge, stopped == end)
    return log10_sum, scored, stopped


@njit(cache=True, fastmath=True, nogil=True)
def train_span(network, words, begin, end, state, learning, merge, probabilities):
    """Train on positions ``begin <= t < end`` of a stream ``words`` with SGD and truncated BPTT.

    ``network`` (a ``Network``), ``state`` (a ``TrainingState``) and the output
    layer's arrays are updated in place. Output rows are updated every
    position; the cell's input rows and recurrent matrix by BPTT every
    ``learning.bptt_block`` positions (and at sentence ends of an independent
    model), each error travelling at least ``learning.bptt`` steps back; with
    ``bptt == 0`` it is plain backprop every position (a GRU: one step back at
    every position). L2 decay ``alpha * beta`` applies on every 10th position,
    as in rnnlm; the direct weights are trained every position with their decay
    every position. If ``probabilities`` (float64 (N,)) is not empty, P(target)
    of position t (before its update) is written to ``probabilities[t]`` (an
    NCE model's unnormalised score).

    A hogwild thread (``merge`` a ``Merge``; None: no merging) trains private
    copies of some arrays and adds their change to the shared ones every
    ``merge.every`` positions and once more before returning. It stops after
    such a merge if another thread has ended the round (``merge.flags``), and
    ends the round itself when it reaches ``end``.

    Returns (sum of log10 P over scored targets (NCE: of its unnormalised
    scores), number of scored targets, the position after the last one
    trained: ``end`` unless the round ended).
    """
    work = train_work(network, state)
    return train_positions(network, words, begin, end, state, learning, merge, probabilities, work)


@njit(cache=True)
def score_work(network, hidden_prev, normalised):
    """The work arrays of ``score_positions``: a tuple (feature_ptr, hidden, the cell's, the output layer's,
    the direct connections')."""
    size = hidden_prev.shape[0]
    return (np.empty(0, dtype=np.int64), np.empty(size, dtype=hidden_prev.dtype),
            cell_score_work(network.cell, size, hidden_prev), output_score_work(network.output, normalised),
            direct_work())


@njit(cache=True, fastmath=True, nogil=True, **WITHOUT_REFCOUNTS)
def score_positions(network, words, begin, end, history_start, hidden_prev, probabilities, normalised, work):
    """The loop of ``score_span`` (arguments as there, ``work`` from ``score_work``), compiled without reference
    counting (see ``options``)."""
    feature_ptr, hidden, cell_work, output_work, direct_arrays = work
    cell, output, direct = network.cell, network.output, network.direct
    independent = network.independent
    targets = words[1:]
    for t in range(begin, end):
        feature_begin, feature_end = feature_range(feature_ptr, words, t)
        cell_forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, cell_work)
        target = targets[t]
        if target >= 0:
            probabilities[t] = score_output(output, direct, direct_arrays, output_work, targets, t, history_start,
                                            independent, hidden, normalised)
        else:
            probabilities[t] = 0.0
        if independent and target == SENTENCE_END:
            hidden_prev[:] = hidden_prev.dtype.type(network.reset_value)
        else:
            copy_into(hidden_prev, hidden)


@njit(cache=True, fastmath=True, nogil=True)
def score_span(network, words, begin, end, history_start, hidden_prev, probabilities, normalised):
    """Forward pass over ``begin <= t < end``: ``probabilities[t] = P(targets[t] | history)``.

    Unscored targets (-1) get probability 0. ``hidden_prev`` (shape (H,)) is the
    state before ``begin`` and holds the state after ``end - 1`` on return.
    Direct connections see no word before position ``history_start`` (``</s>``
    instead). An NCE model's probability is normalised over the whole
    vocabulary when ``normalised`` (exact, O(V H) per word), else it is the
    unnormalised score ``exp(s - lnz)`` (cheap).
    """
    work = score_work(network, hidden_prev, normalised)
    score_positions(network, words, begin, end, history_start, hidden_prev, probabilities, normalised, work)


@njit(cache=True, fastmath=True, nogil=True)
def score_segments(network, words, segment_begin, segment_end, start_index, start_states, final_states,
                   probabilities, normalised):
    """``score_span`` over segments ``[segment_begin[s], segment_end[s])`` of one stream, each from its own state.

    Segment s starts from ``start_states[start_index[s]]`` (``start_states``
    (K, H)), or, when ``start_index`` is empty (chained), segment 0 from
    ``start_states[0]`` and every later one from the state the previous
    segment ended in. The state after segment s is written to
    ``final_states[s]`` when ``final_states`` (S, H) is not empty. Direct
    connections see no word before a segment's start. Other arguments as for
    ``score_span``.
    """
    chained = start_index.shape[0] == 0
    hidden = np.empty(start_states.shape[1], dtype=start_states.dtype)
    hidden[:] = start_states[0]
    work = score_work(network, hidden, normalised)
    for s in range(segment_begin.shape[0]):
        if not chained:
            hidden[:] = start_states[start_index[s]]
        score_positions(network, words, segment_begin[s], segment_end[s], segment_begin[s], hidden, probabilities,
                        normalised, work)
        if final_states.shape[0] > 0:
            final_states[s] = hidden

"""Language-model spans: SGD with truncated BPTT over a token stream, and scoring, in one kernel call each.

These are the kernels of the RNNLM family; ``rnnlmpy.rnnlm.network`` is their
only caller (with named arguments). The stream is one int32 array ``words``
(N + 1,): position ``t`` reads ``words[t]`` (the previous word; -1: no input)
and predicts ``words[t + 1]`` (-1: unscored); a target ``</s>`` (0) ends a
sentence, where an ``independent`` model resets its state to ``reset_value``.

Training state carried between calls (so training can stop and resume
anywhere) lives in arrays: the hidden state, a ring buffer of the last
``bptt + bptt_block + 1`` steps, and ``counters`` = [ring head, ring fill,
words done in the epoch].

Each span kernel allocates its work arrays once and hands them to its loop
(``train_positions``, ``score_positions``), which is compiled without reference
counting (``options.WITHOUT_REFCOUNTS``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .cell import (EPOCH_WORDS, RING_FILL, RING_HEAD, add_feature_update, add_outer, backpropagate_through_time,
                   clip, copy_into, feature_range, hidden_forward, multiply_by_derivative)
from .direct import MAX_DIRECT_ORDER, direct_backward, prepare_direct
from .gru import gru_backpropagate, gru_forward
from .hogwild import end_round, merge_changes, round_over
from .hsoftmax import hs_backward, hs_log10_probability
from .nce import draw_noise, full_log10_probability, nce_backward_into, nce_work, unnormalised_log10_probability
from .options import WITHOUT_REFCOUNTS
from .output import largest_class_size, output_backward, target_probability

# output_layer codes: the class-factored softmax, hierarchical softmax over a Huffman tree, or NCE
CLASS_SOFTMAX, HIERARCHICAL_SOFTMAX, NOISE_CONTRASTIVE = 0, 1, 2
SENTENCE_END = 0  # the word id of </s>
OUTPUT_LAYERS = {"class": CLASS_SOFTMAX, "hs": HIERARCHICAL_SOFTMAX, "nce": NOISE_CONTRASTIVE}


@njit(cache=True)
def output_buffers(class_weights, class_start, class_end):
    """Work arrays of the class-factored output: class and word probabilities, direct-connection hashing."""
    class_probabilities = np.empty(class_weights.shape[0], dtype=class_weights.dtype)
    word_probabilities = np.empty(largest_class_size(class_start, class_end), dtype=class_weights.dtype)
    history = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    class_keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    word_keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
    usable = np.zeros(2, dtype=np.int64)
    return class_probabilities, word_probabilities, history, class_keys, word_keys, usable


@njit(cache=True)
def train_work(hidden_prev, capacity, class_weights, class_start, class_end, noise_samples, gated):
    """The work arrays of a ``train_span`` call, allocated once per call (its loop allocates nothing): a tuple
    (feature_ptr, hidden, hidden_error, delta, carry, the six ``output_buffers``, noise_ids, the three
    ``nce.nce_work`` arrays, gates, gate_error, step_deltas, step_reset_inputs)."""
    size = hidden_prev.shape[0]
    dtype = hidden_prev.dtype
    feature_ptr = np.empty(0, dtype=np.int64)  # one input per position: words[t] (see cell.feature_range)
    class_probabilities, word_probabilities, history, class_keys, word_keys, usable = output_buffers(
        class_weights, class_start, class_end)
    noise_words, noise_repeats, noise_logits = nce_work(max(noise_samples, 1))
    return (feature_ptr, np.empty(size, dtype=dtype), np.empty(size, dtype=dtype), np.empty(size, dtype=dtype),
            np.empty(size, dtype=dtype), class_probabilities, word_probabilities, history, class_keys, word_keys,
            usable, np.empty(max(noise_samples, 1), dtype=np.int32), noise_words, noise_repeats, noise_logits,
            np.empty(3 * size if gated else 0, dtype=dtype), np.empty(size if gated else 0, dtype=dtype),
            np.empty((capacity, 3 * size) if gated else (0, 0), dtype=dtype),
            np.empty((capacity, size) if gated else (0, 0), dtype=dtype))


@njit(cache=True, fastmath=True, nogil=True, **WITHOUT_REFCOUNTS)
def train_positions(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
                    words, begin, end, hidden_prev, ring_position, ring_input, ring_hidden, ring_error, counters,
                    alpha, beta, cutoff, bptt, bptt_block, activation, independent, reset_value, direct, direct_order,
                    probabilities, output_layer, path_ptr, path_nodes, path_codes, noise_accept, noise_alias,
                    log_noise, noise_state, noise_samples, nce_lnz, gated, gate_bias, ring_gates, hot_rows,
                    merge_every, merge_shared, merge_local, merge_base, merge_scale, flags, work):
    """The loop of ``train_span`` (arguments as there, ``work`` from ``train_work``), compiled without reference
    counting (see ``options``)."""
    (feature_ptr, hidden, hidden_error, delta, carry, class_probabilities, word_probabilities, history, class_keys,
     word_keys, usable, noise_ids, noise_words, noise_repeats, noise_logits, gates, gate_error, step_deltas,
     step_reset_inputs) = work
    targets = words[1:]
    dtype_one = hidden_prev.dtype.type(1.0)
    alpha = hidden_prev.dtype.type(alpha)
    cutoff = hidden_prev.dtype.type(cutoff)
    decay_value = hidden_prev.dtype.type(alpha * beta)
    reset_value = hidden_prev.dtype.type(reset_value)
    size = hidden_prev.shape[0]
    capacity = ring_hidden.shape[0]
    direct_decay = direct.dtype.type(alpha * beta)
    direct_alpha = direct.dtype.type(alpha)
    log10_sum = 0.0
    scored = 0
    stopped = end
    for t in range(begin, end):
        counters[EPOCH_WORDS] += 1
        decay = decay_value if counters[EPOCH_WORDS] % 10 == 0 else hidden_prev.dtype.type(0.0)
        feature_begin, feature_end = feature_range(feature_ptr, words, t)
        if gated:
            gru_forward(input_weights, recurrent, gate_bias, words, feature_begin, feature_end, hidden_prev,
                        hidden, gates)
        else:
            hidden_forward(input_weights, recurrent, words, feature_begin, feature_end, hidden_prev, hidden,
                           activation)
        hidden_error[:] = 0
        target = targets[t]
        if target >= 0 and output_layer == HIERARCHICAL_SOFTMAX:
            prepare_direct(direct, direct_order, targets, t, 0, independent, -1, history, class_keys,
                           word_keys, usable)
            log10_probability = hs_backward(output_weights, path_nodes, path_codes, path_ptr[target],
                                            path_ptr[target + 1], hidden, hidden_error, alpha, decay, direct,
                                            class_keys, usable[0], direct_alpha, direct_decay, hot_rows)
            if probabilities.shape[0] > 0:
                probabilities[t] = 10.0 ** log10_probability
            log10_sum += log10_probability
            scored += 1
            clip(hidden_error, cutoff)
        elif target >= 0 and output_layer == NOISE_CONTRASTIVE:
            prepare_direct(direct, direct_order, targets, t, 0, independent, -1, history, class_keys,
                           word_keys, usable)
            log10_probability = unnormalised_log10_probability(output_weights, hidden, target, nce_lnz, direct,
                                                               class_keys, usable[0])
            draw_noise(noise_accept, noise_alias, noise_state, noise_samples, noise_ids)
            nce_backward_into(output_weights, target, noise_ids, noise_samples, log_noise, nce_lnz, hidden,
                              hidden_error, alpha, decay, direct, class_keys, usable[0], direct_alpha, direct_decay,
                              noise_words, noise_repeats, noise_logits)
            if probabilities.shape[0] > 0:
                probabilities[t] = 10.0 ** log10_probability
            log10_sum += log10_probability
            scored += 1
            clip(hidden_error, cutoff)
        elif target >= 0:
            target_class = output_class[target]
            prepare_direct(direct, direct_order, targets, t, 0, independent, target_class, history,
                           class_keys, word_keys, usable)
            probability = target_probability(class_weights, output_weights, output_class, class_start, class_end,
                                             hidden, target, class_probabilities, word_probabilities, direct,
                                             class_keys, usable[0], word_keys, usable[1])
            if probabilities.shape[0] > 0:
                probabilities[t] = probability
            log10_sum += math.log10(max(probability, 1e-300))
            scored += 1
            if usable[0] > 0:
                first_word = class_start[target_class]
                direct_backward(direct, word_keys, usable[1], class_end[target_class] - first_word, True,
                                word_probabilities, target - first_word, direct_alpha, direct_decay)
                direct_backward(direct, class_keys, usable[0], class_weights.shape[0], False, class_probabilities,
                                target_class, direct_alpha, direct_decay)
            output_backward(output_weights, class_start[target_class], class_end[target_class], word_probabilities,
                            target, hidden, hidden_error, alpha, decay)
            clip(hidden_error, cutoff)
            output_backward(class_weights, 0, class_weights.shape[0], class_probabilities, target_class, hidden,
                            hidden_error, alpha, decay)
            clip(hidden_error, cutoff)
        elif probabilities.shape[0] > 0:
            probabilities[t] = 0.0
        sentence_end = independent and target == SENTENCE_END
        if bptt == 0 and not gated:
            multiply_by_derivative(hidden_error, hidden, activation)
            add_feature_update(input_weights, words, feature_begin, feature_end, hidden_error, alpha, decay)
            if decay != 0:
                for i in range(size):
                    for j in range(size):
                        recurrent[i, j] *= dtype_one - decay
            add_outer(recurrent, hidden_error, hidden_prev, alpha)
        else:
            head = (counters[RING_HEAD] + 1) % capacity
            counters[RING_HEAD] = head
            counters[RING_FILL] = min(counters[RING_FILL] + 1, capacity)
            ring_position[head] = t
            copy_into(ring_input[head], hidden_prev)
            copy_into(ring_error[head], hidden_error)
            block_end = counters[EPOCH_WORDS] % bptt_block == 0 or sentence_end
            if gated:
                copy_into(ring_gates[head], gates)
                if bptt == 0 or block_end:
                    gru_backpropagate(input_weights, recurrent, gate_bias, feature_ptr, words, ring_position,
                                      ring_input, ring_gates, ring_error, counters,
                                      bptt + bptt_block - 1 if bptt > 0 else 1, alpha, decay, cutoff, gate_error,
                                      carry, step_deltas, step_reset_inputs)
            else:
                copy_into(ring_hidden[head], hidden)
                if block_end:
                    backpropagate_through_time(input_weights, recurrent, feature_ptr, words,
                                               ring_position, ring_input, ring_hidden, ring_error, counters,
                                               bptt + bptt_block - 1, alpha, decay, cutoff, activation, delta, carry)
        if sentence_end:
            hidden_prev[:] = reset_value
            counters[RING_FILL] = 0
        else:
            copy_into(hidden_prev, hidden)
        if merge_every > 0 and (t + 1 - begin) % merge_every == 0 and t + 1 < end:
            merge_changes(merge_shared, merge_local, merge_base, flags, merge_scale)
            if round_over(flags):
                stopped = t + 1
                break
    if merge_every > 0:
        merge_changes(merge_shared, merge_local, merge_base, flags, merge_scale)
        if stopped == end:
            end_round(flags)
    return log10_sum, scored, stopped


@njit(cache=True, fastmath=True, nogil=True)
def train_span(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
               words, begin, end, hidden_prev, ring_position, ring_input, ring_hidden, ring_error, counters,
               alpha, beta, cutoff, bptt, bptt_block, activation, independent, reset_value, direct, direct_order,
               probabilities, output_layer, path_ptr, path_nodes, path_codes, noise_accept, noise_alias, log_noise,
               noise_state, noise_samples, nce_lnz, gated, gate_bias, ring_gates, hot_rows,
               merge_every, merge_shared, merge_local, merge_base, merge_scale, flags):
    """Train on positions ``begin <= t < end`` of a stream ``words`` with SGD and truncated BPTT.

    Output and class rows are updated every position; the input rows and the
    recurrent matrix are updated by BPTT every ``bptt_block`` positions (and at
    sentence ends of an ``independent`` model), each error travelling at least
    ``bptt`` steps back. With ``bptt == 0`` it is plain backprop every position.
    L2 decay ``alpha * beta`` applies on every 10th position, as in rnnlm.
    ``direct`` (empty: none) holds direct-connection weights over ``direct_order``
    history words, trained every position with their decay every position.
    If ``probabilities`` is not empty, P(target) of position t (before its update)
    is written to ``probabilities[t]``.

    ``output_layer`` picks the output: CLASS_SOFTMAX (``class_weights`` and
    ``output_weights`` as in ``output``) or HIERARCHICAL_SOFTMAX
    (``output_weights`` holds the inner-node rows, word w's path is
    ``path_nodes/path_codes[path_ptr[w]:path_ptr[w + 1]]``, see ``hsoftmax``) or
    NOISE_CONTRASTIVE (``output_weights`` holds word rows; each target is
    contrasted with ``noise_samples`` words drawn from the alias table
    ``noise_accept``/``noise_alias`` with the RNG ``noise_state``, ``log_noise`` =
    ln q, fixed normaliser ``nce_lnz``; see ``nce``). With NCE the returned log10
    sum is of the unnormalised scores (what NCE trains towards), not of
    normalised probabilities.

    With ``gated`` the hidden layer is a GRU (``gru``): ``input_weights`` (V, 3H),
    ``recurrent`` (3H, H), ``gate_bias`` (3H,), each step's gates kept in
    ``ring_gates`` (R, 3H);
    ``bptt == 0`` then means one step back at every position.

    ``hot_rows`` (K, H): a private copy of the hierarchical softmax's first K
    node rows that this call updates instead of ``output_weights`` (a hogwild
    thread's; empty (0, H) otherwise; see ``hsoftmax.hs_backward``).

    A hogwild thread (``merge_every`` > 0) trains private copies ``merge_local``
    of some arrays (flat views of the arrays passed above) and adds their change
    since ``merge_base``, times ``merge_scale``, to ``merge_shared`` (tuples of flat arrays, see
    ``hogwild.merge_changes``) every ``merge_every`` positions and once more
    before returning. It stops after such a merge if another thread has ended
    the round (``flags``), and ends the round itself when it reaches ``end``.
    ``merge_every`` = 0: no merging.

    Returns (sum of log10 P over scored targets, number of scored targets,
    the position after the last one trained: ``end`` unless the round ended).
    """
    work = train_work(hidden_prev, ring_hidden.shape[0], class_weights, class_start, class_end, noise_samples, gated)
    return train_positions(input_weights, recurrent, class_weights, output_weights, output_class, class_start,
                           class_end, words, begin, end, hidden_prev, ring_position, ring_input, ring_hidden,
                           ring_error, counters, alpha, beta, cutoff, bptt, bptt_block, activation, independent,
                           reset_value, direct, direct_order, probabilities, output_layer, path_ptr, path_nodes,
                           path_codes, noise_accept, noise_alias, log_noise, noise_state, noise_samples, nce_lnz,
                           gated, gate_bias, ring_gates, hot_rows, merge_every, merge_shared, merge_local, merge_base,
                           merge_scale, flags, work)


@njit(cache=True, fastmath=True, nogil=True)
def score_span(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
               words, begin, end, history_start, hidden_prev, activation, independent,
               reset_value, direct, direct_order, probabilities, output_layer, path_ptr, path_nodes, path_codes,
               nce_lnz, normalised, gated, gate_bias):
    """Forward pass over ``begin <= t < end``: ``probabilities[t] = P(targets[t] | history)``.

    Unscored targets (-1) get probability 0. ``hidden_prev`` (shape (H,)) is the
    state before ``begin`` and holds the state after ``end - 1`` on return.
    Direct connections see no word before position ``history_start`` (``</s>`` instead). The
    output layer arguments are as for ``train_span``; an NCE model's probability
    is normalised over the whole vocabulary when ``normalised`` (exact, O(V H)
    per word), else it is the unnormalised score ``exp(s - nce_lnz)`` (cheap).
    """
    work = score_work(hidden_prev, class_weights, class_start, class_end, output_weights, output_layer, normalised,
                      gated)
    score_positions(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
                    words, begin, end, history_start, hidden_prev, activation, independent, reset_value, direct,
                    direct_order, probabilities, output_layer, path_ptr, path_nodes, path_codes, nce_lnz, normalised,
                    gated, gate_bias, work)


@njit(cache=True)
def score_work(hidden_prev, class_weights, class_start, class_end, output_weights, output_layer, normalised, gated):
    """The work arrays of ``score_positions`` (arguments as for ``score_span``): a tuple (feature_ptr, hidden, the
    six ``output_buffers``, scores (one float64 per output row for a ``normalised`` NCE model, else empty),
    gates)."""
    size = hidden_prev.shape[0]
    full_scores = output_layer == NOISE_CONTRASTIVE and normalised
    class_probabilities, word_probabilities, history, class_keys, word_keys, usable = output_buffers(
        class_weights, class_start, class_end)
    return (np.empty(0, dtype=np.int64), np.empty(size, dtype=hidden_prev.dtype), class_probabilities,
            word_probabilities, history, class_keys, word_keys, usable,
            np.empty(output_weights.shape[0] if full_scores else 0, dtype=np.float64),
            np.empty(3 * size if gated else 0, dtype=hidden_prev.dtype))


@njit(cache=True, fastmath=True, nogil=True, **WITHOUT_REFCOUNTS)
def score_positions(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
                    words, begin, end, history_start, hidden_prev, activation, independent, reset_value, direct,
                    direct_order, probabilities, output_layer, path_ptr, path_nodes, path_codes, nce_lnz, normalised,
                    gated, gate_bias, work):
    """The loop of ``score_span`` (arguments as there, ``work`` from ``score_work``), compiled without reference
    counting (see ``options``)."""
    (feature_ptr, hidden, class_probabilities, word_probabilities, history, class_keys, word_keys, usable, scores,
     gates) = work
    targets = words[1:]
    for t in range(begin, end):
        feature_begin, feature_end = feature_range(feature_ptr, words, t)
        if gated:
            gru_forward(input_weights, recurrent, gate_bias, words, feature_begin, feature_end, hidden_prev, hidden,
                        gates)
        else:
            hidden_forward(input_weights, recurrent, words, feature_begin, feature_end, hidden_prev, hidden,
                           activation)
        target = targets[t]
        if target >= 0 and output_layer == HIERARCHICAL_SOFTMAX:
            prepare_direct(direct, direct_order, targets, t, history_start, independent, -1, history, class_keys,
                           word_keys, usable)
            probabilities[t] = 10.0 ** hs_log10_probability(output_weights, path_nodes, path_codes, path_ptr[target],
                                                            path_ptr[target + 1], hidden, direct, class_keys,
                                                            usable[0])
        elif target >= 0 and output_layer == NOISE_CONTRASTIVE:
            prepare_direct(direct, direct_order, targets, t, history_start, independent, -1, history, class_keys,
                           word_keys, usable)
            if normalised:
                log10_probability = full_log10_probability(output_weights, hidden, target, direct, class_keys,
                                                           usable[0], scores)
            else:
                log10_probability = unnormalised_log10_probability(output_weights, hidden, target, nce_lnz, direct,
                                                                   class_keys, usable[0])
            probabilities[t] = 10.0 ** log10_probability
        elif target >= 0:
            prepare_direct(direct, direct_order, targets, t, history_start, independent, output_class[target], history,
                           class_keys, word_keys, usable)
            probabilities[t] = target_probability(class_weights, output_weights, output_class, class_start,
                                                  class_end, hidden, target, class_probabilities, word_probabilities,
                                                  direct, class_keys, usable[0], word_keys, usable[1])
        else:
            probabilities[t] = 0.0
        if independent and target == SENTENCE_END:
            hidden_prev[:] = hidden_prev.dtype.type(reset_value)
        else:
            copy_into(hidden_prev, hidden)


@njit(cache=True, fastmath=True, nogil=True)
def score_segments(input_weights, recurrent, class_weights, output_weights, output_class, class_start, class_end,
                   words, segment_begin, segment_end, start_index, start_states, chained, final_states, activation,
                   independent, reset_value, direct, direct_order, probabilities, output_layer, path_ptr, path_nodes,
                   path_codes, nce_lnz, normalised, gated, gate_bias):
    """``score_span`` over segments ``[segment_begin[s], segment_end[s])`` of one stream, each from its own state.

    Segment s starts from ``start_states[start_index[s]]`` (``start_states``
    (K, H)), or, when ``chained``, segment 0 from ``start_states[0]`` and every
    later one from the state the previous segment ended in. The state after
    segment s is written to ``final_states[s]`` when ``final_states`` (S, H) is
    not empty. Direct connections see no word before a segment's start. Other
    arguments as for ``score_span``.
    """
    hidden = np.empty(start_states.shape[1], dtype=start_states.dtype)
    hidden[:] = start_states[0]
    work = score_work(hidden, class_weights, class_start, class_end, output_weights, output_layer, normalised, gated)
    for s in range(segment_begin.shape[0]):
        if not chained:
            hidden[:] = start_states[start_index[s]]
        score_positions(input_weights, recurrent, class_weights, output_weights, output_class, class_start,
                        class_end, words, segment_begin[s], segment_end[s], segment_begin[s], hidden, activation,
                        independent, reset_value, direct, direct_order, probabilities, output_layer, path_ptr,
                        path_nodes, path_codes, nce_lnz, normalised, gated, gate_bias, work)
        if final_states.shape[0] > 0:
            final_states[s] = hidden

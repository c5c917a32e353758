"""Sequence labelling kernels (the POS tagger), built on the LM's cell and output layer.

A tagger reads the same compressed-row features, one position per token, and
predicts a tag per position from the forward state, or from the forward and
backward states side by side (bidirectional), plus a constant bias unit:
``joined = [h_forward(t), h_backward(t), 1]`` and P(tag | sentence) =
softmax(output_weights @ joined). Training runs full-sentence BPTT in each
direction with the LM's ``backpropagate_through_time``: the ring buffer simply
holds the whole sentence, in reading order for that direction. With ``bptt`` N > 0
the BPTT is truncated: the sentence (in each direction's reading order) is cut
into blocks of N tokens, and BPTT runs within each block (the forward states run
on across blocks, the errors stop at a block's first token), so an error travels
1 to N steps, its own included; the recurrent matrix is still updated once per
sentence, so only the gradient is truncated.

``viterbi_paths`` is the one Viterbi decoder of both taggers (the HMM and the
RNN tagger with learned transitions).

``rnnlmpy.tagger.rnn`` is the only caller of these kernels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .cell import RING_FILL, RING_HEAD, backpropagate_through_time, clip, hidden_forward
from .output import output_backward, softmax_rows


@njit(cache=True, fastmath=True)
def run_direction(input_weights, recurrent, feature_ptr, feature_ids, begin, end, reverse, activation,
                  ring_position, ring_input, ring_hidden):
    """Recurrent states of one direction over positions ``begin..end-1`` (from a zero state).

    Slot k of the ring arrays holds the k-th position read (``end-1-k`` when
    ``reverse``): its position, the state fed into it and its hidden state.
    """
    length = end - begin
    for k in range(length):
        position = end - 1 - k if reverse else begin + k
        ring_position[k] = position
        if k == 0:
            ring_input[0, :] = 0
        else:
            ring_input[k, :] = ring_hidden[k - 1]
        hidden_forward(input_weights, recurrent, feature_ids, feature_ptr[position], feature_ptr[position + 1],
                       ring_input[k], ring_hidden[k], activation)


@njit(cache=True, fastmath=True)
def join_states(forward_hidden, backward_hidden, bidirectional, joined):
    """``joined = [forward, backward (if bidirectional), 1]``: the output layer's input."""
    size = forward_hidden.shape[0]
    joined[:size] = forward_hidden
    if bidirectional:
        joined[size:2 * size] = backward_hidden
    joined[joined.shape[0] - 1] = 1


@njit(cache=True, fastmath=True)
def train_tagger_sentences(forward_input, forward_recurrent, backward_input, backward_recurrent, output_weights,
                           feature_ptr, feature_ids, targets, sentence_start, sentence_order, alpha, cutoff,
                           activation, bidirectional, forward_ring_position, forward_ring_input, forward_ring_hidden,
                           forward_ring_error, backward_ring_position, backward_ring_input, backward_ring_hidden,
                           backward_ring_error, bptt):
    """SGD over the sentences ``sentence_order`` (indices into ``sentence_start``), BPTT per sentence.

    Output weights are updated at every token, each direction's input rows and
    recurrent matrix once per sentence, by full-sentence BPTT (``bptt`` 0) or BPTT
    within blocks of ``bptt`` tokens (truncated; see ``backpropagate_blocks``). Ring
    arrays need a slot per token of the longest sentence. Returns (sum of log10
    P(gold tag), tokens).
    """
    dtype = forward_ring_hidden.dtype
    alpha = dtype.type(alpha)
    cutoff = dtype.type(cutoff)
    size = forward_ring_hidden.shape[1]
    tag_count = output_weights.shape[0]
    joined = np.empty(output_weights.shape[1], dtype=dtype)
    joined_error = np.empty(output_weights.shape[1], dtype=dtype)
    probabilities = np.empty(tag_count, dtype=dtype)
    delta = np.empty(size, dtype=dtype)
    carry = np.empty(size, dtype=dtype)
    frozen = np.empty((size, size), dtype=dtype)  # truncated BPTT's scratch: the recurrent matrix of the sentence
    pending = np.zeros((size, size), dtype=dtype)  # and its update, applied at the sentence's end
    counters = np.zeros(3, dtype=np.int64)
    log10_sum = 0.0
    tokens = 0
    zero = dtype.type(0.0)
    for s in sentence_order:
        begin = sentence_start[s]
        end = sentence_start[s + 1]
        length = end - begin
        run_direction(forward_input, forward_recurrent, feature_ptr, feature_ids, begin, end, False, activation,
                      forward_ring_position, forward_ring_input, forward_ring_hidden)
        if bidirectional:
            run_direction(backward_input, backward_recurrent, feature_ptr, feature_ids, begin, end, True, activation,
                          backward_ring_position, backward_ring_input, backward_ring_hidden)
        for k in range(length):
            position = begin + k
            join_states(forward_ring_hidden[k], backward_ring_hidden[length - 1 - k], bidirectional, joined)
            softmax_rows(output_weights, 0, tag_count, joined, probabilities)
            target = targets[position]
            log10_sum += math.log10(max(float(probabilities[target]), 1e-300))
            tokens += 1
            joined_error[:] = 0
            output_backward(output_weights, 0, tag_count, probabilities, target, joined, joined_error, alpha, zero)
            clip(joined_error, cutoff)
            forward_ring_error[k] = joined_error[:size]
            if bidirectional:
                backward_ring_error[length - 1 - k] = joined_error[size:2 * size]
        backpropagate_blocks(forward_input, forward_recurrent, feature_ptr, feature_ids,
                             forward_ring_position, forward_ring_input, forward_ring_hidden, forward_ring_error,
                             counters, length, bptt, alpha, zero, cutoff, activation, delta, carry, frozen, pending)
        if bidirectional:
            backpropagate_blocks(backward_input, backward_recurrent, feature_ptr, feature_ids,
                                 backward_ring_position, backward_ring_input, backward_ring_hidden,
                                 backward_ring_error, counters, length, bptt, alpha, zero, cutoff, activation, delta,
                                 carry, frozen, pending)
    return log10_sum, tokens


@njit(cache=True, fastmath=True)
def backpropagate_blocks(input_weights, recurrent, feature_ptr, feature_ids, ring_position,
                         ring_input, ring_hidden, ring_error, counters, length, bptt, alpha, decay, cutoff,
                         activation, delta, carry, frozen, pending):
    """One direction's BPTT over a sentence whose ``length`` steps fill ring slots ``0..length-1`` (reading order).

    ``bptt`` 0, or a sentence of at most ``bptt`` tokens: one call of
    ``backpropagate_through_time`` over the whole sentence (the full gradient).
    Otherwise, in reading order, each block of ``bptt`` slots (the last one may be
    shorter) is one such call on the ring's slice of that block: its errors travel
    back to the block's first token and no further (that token's recurrent gradient
    still uses the state fed into it). Each slot is visited by exactly one call, so
    the errors of the other blocks are untouched when a call clears its slice. The
    calls read and update ``frozen``, reset to ``recurrent`` after each, so every
    block propagates through the matrix the forward pass used; their updates
    gather in ``pending`` (zero between calls) and reach ``recurrent`` once, at the
    end, as the full BPTT's do. (Updating the recurrent matrix after each block
    instead lets a large step change it under the next block's errors, which then
    explode through the states of the old one: the tutorial's network diverges.)
    ``decay`` must be 0 for blocks.
    """
    if bptt == 0 or length <= bptt:
        counters[RING_HEAD] = length - 1
        counters[RING_FILL] = length
        backpropagate_through_time(input_weights, recurrent, feature_ptr, feature_ids,
                                   ring_position, ring_input, ring_hidden, ring_error, counters, length, alpha,
                                   decay, cutoff, activation, delta, carry)
        return
    size = recurrent.shape[0]
    frozen[:] = recurrent
    for block_start in range(0, length, bptt):
        block_end = min(block_start + bptt, length)  # one past the block's last slot
        steps = block_end - block_start
        counters[RING_HEAD] = steps - 1
        counters[RING_FILL] = steps
        backpropagate_through_time(input_weights, frozen, feature_ptr, feature_ids,
                                   ring_position[block_start:block_end], ring_input[block_start:block_end],
                                   ring_hidden[block_start:block_end], ring_error[block_start:block_end], counters,
                                   steps, alpha, decay, cutoff, activation, delta, carry)
        for i in range(size):  # set the block's update aside and restore the matrix, in one pass
            for j in range(size):
                pending[i, j] += frozen[i, j] - recurrent[i, j]
                frozen[i, j] = recurrent[i, j]
    for i in range(size):
        for j in range(size):
            recurrent[i, j] += pending[i, j]
            pending[i, j] = 0


@njit(cache=True, fastmath=True)
def tagger_hidden_states(input_weights, recurrent, feature_ptr, feature_ids, sentence_start, reverse, activation,
                         longest, states):
    """Hidden state of one direction at every token: ``states[position]`` (shape (tokens, H)).

    Each sentence starts from a zero state; ``reverse`` reads it right to left.
    The output layer is then one matrix product over all tokens (tagger.py).
    """
    size = recurrent.shape[0]
    positions = np.empty(longest, dtype=np.int64)
    inputs = np.empty((longest, size), dtype=states.dtype)
    hidden = np.empty((longest, size), dtype=states.dtype)
    for s in range(sentence_start.shape[0] - 1):
        begin = sentence_start[s]
        end = sentence_start[s + 1]
        run_direction(input_weights, recurrent, feature_ptr, feature_ids, begin, end, reverse, activation,
                      positions, inputs, hidden)
        for k in range(end - begin):
            states[positions[k], :] = hidden[k]


VITERBI_NO_PATH, VITERBI_NO_END = 1, 2  # viterbi_paths' failure codes


@njit(cache=True)
def viterbi_paths(scores, rows, sentence_start, transitions, paths):
    """The best tag path of every sentence, written to ``paths`` (N,); returns (0, -1) or (failure, sentence).

    Token t's log scores per tag are ``scores[rows[t]]`` (``scores`` (R, T); the RNN
    tagger: its tokens' log P(tag | sentence), rows 0..N-1; the HMM: log P(word |
    tag) per word type, so no (N, T) array is made). ``transitions`` (T+1, T+1): log P(tag |
    previous tag), index T the sentence boundary (``<s>`` as the previous tag, ``</s>``
    as the next); -inf is an impossible transition. A path scores the sum of its
    transitions, boundaries included, and its tokens' scores; candidates are summed
    as ``(previous score + transition) + token score``, in float64, without fastmath.

    Ties, exactly as the tutorial's HMM loops over dictionaries: the tags reached at
    a token are kept in the order they were first reached (the previous token's tags
    in their order, each trying the tags in index order), and of equal candidates the
    first in that order wins. When every transition is possible that is the index
    order: the lowest previous tag wins. Failures: ``VITERBI_NO_PATH`` (no tag is
    reachable at some token) or ``VITERBI_NO_END`` (no reachable tag may end the
    sentence), with the index of the first sentence that failed.
    """
    tag_count = scores.shape[1]
    boundary = tag_count
    longest = 1
    for s in range(sentence_start.shape[0] - 1):
        longest = max(longest, sentence_start[s + 1] - sentence_start[s])
    back = np.empty((longest, tag_count), dtype=np.int32)
    best = np.empty(tag_count + 1, dtype=np.float64)  # log score of the best path ending in each reached tag
    new_best = np.empty(tag_count, dtype=np.float64)
    order = np.empty(tag_count + 1, dtype=np.int64)  # the reached tags, in the order they were reached
    new_order = np.empty(tag_count, dtype=np.int64)
    reached = np.zeros(tag_count, dtype=np.bool_)
    # the possible transitions out of each state (boundary included), next tags in index order
    successor_ptr = np.zeros(tag_count + 2, dtype=np.int64)
    successors = np.empty((tag_count + 1) * tag_count, dtype=np.int64)
    for previous in range(tag_count + 1):
        count = successor_ptr[previous]
        for tag in range(tag_count):
            if transitions[previous, tag] != -np.inf:
                successors[count] = tag
                count += 1
        successor_ptr[previous + 1] = count
    for s in range(sentence_start.shape[0] - 1):
        begin = sentence_start[s]
        length = sentence_start[s + 1] - begin
        order[0] = boundary
        best[boundary] = 0.0
        count = 1
        for k in range(length):
            new_count = 0
            for i in range(count):
                previous = order[i]
                score = best[previous]
                token_scores = scores[rows[begin + k]]
                for j in range(successor_ptr[previous], successor_ptr[previous + 1]):
                    tag = successors[j]
                    candidate = score + transitions[previous, tag] + token_scores[tag]
                    if not reached[tag]:
                        reached[tag] = True
                        new_best[tag] = candidate
                        back[k, tag] = previous
                        new_order[new_count] = tag
                        new_count += 1
                    elif candidate > new_best[tag]:
                        new_best[tag] = candidate
                        back[k, tag] = previous
            if new_count == 0:
                return VITERBI_NO_PATH, s
            for i in range(new_count):
                tag = new_order[i]
                reached[tag] = False
                best[tag] = new_best[tag]
                order[i] = tag
            count = new_count
        last = -1
        final = 0.0
        for i in range(count):
            previous = order[i]
            step = transitions[previous, boundary]
            if step == -np.inf:
                continue
            candidate = best[previous] + step
            if last < 0 or candidate > final:
                final = candidate
                last = previous
        if last < 0:
            return VITERBI_NO_END, s
        tag = last
        for k in range(length - 1, -1, -1):
            paths[begin + k] = tag
            tag = back[k, tag]
    return 0, -1

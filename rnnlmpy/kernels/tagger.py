"""Sequence labelling kernels (the POS tagger), built on the LM's cell and output layer.

A tagger reads the same compressed-row features, one position per token, and
predicts a tag per position from the forward state, or from the forward and
backward states side by side (bidirectional), plus a constant bias unit:
``joined = [h_forward(t), h_backward(t), 1]`` and P(tag | sentence) =
softmax(output_weights @ joined). Training runs full-sentence BPTT in each
direction with the LM's ``backpropagate_through_time``: the ring buffer simply
holds the whole sentence, in reading order for that direction.

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
                           backward_ring_error, forward_update, backward_update):
    """SGD over the sentences ``sentence_order`` (indices into ``sentence_start``), full-sentence BPTT.

    Output weights are updated at every token, each direction's input rows and
    recurrent matrix once per sentence. Ring arrays need a slot per token of the
    longest sentence. Returns (sum of log10 P(gold tag), tokens).
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
        counters[RING_HEAD] = length - 1
        counters[RING_FILL] = length
        backpropagate_through_time(forward_input, forward_recurrent, forward_update, feature_ptr, feature_ids,
                                   forward_ring_position, forward_ring_input, forward_ring_hidden, forward_ring_error,
                                   counters, length, alpha, zero, cutoff, activation, delta, carry)
        if bidirectional:
            backpropagate_through_time(backward_input, backward_recurrent, backward_update, feature_ptr, feature_ids,
                                       backward_ring_position, backward_ring_input, backward_ring_hidden,
                                       backward_ring_error, counters, length, alpha, zero, cutoff, activation, delta,
                                       carry)
    return log10_sum, tokens


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

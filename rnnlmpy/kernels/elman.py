"""The Elman cell as a language-model cell: ``hidden = act(recurrent @ hidden_prev + input rows)``.

One of the cells of ``layers`` (the registry); the contract every cell module
keeps (``layers`` dispatches on the bundle's type when a span kernel is compiled):

- ``BUNDLES``: the named tuple classes of the cell's arrays (one kernel argument), the model's first;
- ``train_work(cell, size, capacity, sample)`` / ``score_work(cell, size, sample)``: its work arrays (a tuple);
- ``forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, work)``: one step;
- ``learn(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha,
  decay, cutoff, bptt, bptt_block, sentence_end)``: after the output layer has put its error into
  ``hidden_error``, store the step and update the cell's weights (BPTT with a block update);
- ``step(cell, features, hidden_prev, hidden)``: one step from Python (sampling, n-best).

``forward`` and ``learn`` run once per position inside the span loops of
``lm``: they are inlined there (no call, no arguments copied per word) and,
like those loops, compiled without reference counting (``options``), so they
allocate nothing. The arithmetic is ``cell``'s (shared with the tagger).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .cell import (ACTIVATION_MARKERS, EPOCH_WORDS, add_feature_update, add_outer, apply_derivative,
                   backpropagate_through_time, copy_into, hidden_forward, store_step)
from .options import WITHOUT_REFCOUNTS

__all__ = ["ACTIVATIONS", "BUNDLES", "Elman", "forward", "learn", "score_work", "step", "train_work"]


ACTIVATIONS = ACTIVATION_MARKERS  # -hidden-type name -> the marker an Elman bundle carries


class Elman(NamedTuple):
    """The Elman cell's weights: ``input_weights`` (V, H), ``recurrent`` (H, H), and its ``activation``, a
    marker of ``ACTIVATIONS`` (``cell.Sigmoid``, ...) whose type is part of the bundle's: a kernel compiled
    for a tanh cell holds tanh's code only, nothing tests the activation per word."""

    input_weights: np.ndarray
    recurrent: np.ndarray
    activation: tuple


BUNDLES = (Elman,)


@njit(cache=True)
def train_work(cell, size, capacity, sample):
    """(delta, carry): BPTT's work arrays, (H,) of ``sample``'s dtype."""
    return np.empty(size, dtype=sample.dtype), np.empty(size, dtype=sample.dtype)


@njit(cache=True)
def score_work(cell, size, sample):
    """No work arrays (an empty one, of ``sample``'s dtype)."""
    return np.empty(0, dtype=sample.dtype)


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, work):
    """``hidden`` (H,) = act(recurrent @ hidden_prev + the rows of ``words[feature_begin:feature_end]``)."""
    hidden_forward(cell.input_weights, cell.recurrent, words, feature_begin, feature_end, hidden_prev, hidden,
                   cell.activation)


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def learn(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha, decay,
          cutoff, bptt, bptt_block, sentence_end):
    """With ``bptt == 0``: plain backprop of ``hidden_error`` now (the recurrent matrix decays by ``decay``
    first). Else the step goes into the ring and every ``bptt_block`` words (or at a sentence end) BPTT runs
    ``bptt + bptt_block - 1`` steps back, ending with the block update of the recurrent matrix."""
    input_weights, recurrent = cell.input_weights, cell.recurrent
    hidden_prev = state.hidden_prev
    if bptt == 0:
        size = hidden_prev.shape[0]
        dtype_one = hidden_prev.dtype.type(1.0)
        apply_derivative(hidden_error, hidden, cell.activation)
        add_feature_update(input_weights, words, feature_begin, feature_end, hidden_error, alpha, decay)
        if decay != 0:
            for i in range(size):
                for j in range(size):
                    recurrent[i, j] *= dtype_one - decay
        add_outer(recurrent, hidden_error, hidden_prev, alpha)
        return
    head = store_step(state, t, hidden_error)
    copy_into(state.step_ring[head], hidden)
    if state.counters[EPOCH_WORDS] % bptt_block == 0 or sentence_end:
        delta, carry = work
        backpropagate_through_time(input_weights, recurrent, feature_ptr, words, state.ring_position,
                                   state.ring_input, state.step_ring, state.ring_error, state.counters,
                                   bptt + bptt_block - 1, alpha, decay, cutoff, cell.activation, delta, carry)


def step(cell, features, hidden_prev, hidden):
    """One step reading ``features`` (int32, 0 or 1 ids) from Python: ``hidden`` (H,) from ``hidden_prev``."""
    hidden_forward(input_weights=cell.input_weights, recurrent=cell.recurrent, feature_ids=features,
                   feature_begin=0, feature_end=len(features), hidden_prev=hidden_prev, hidden_out=hidden,
                   activation=cell.activation)

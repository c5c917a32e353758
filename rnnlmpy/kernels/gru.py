"""The gated recurrent unit (GRU, Cho et al. 2014): one step, and truncated BPTT with a block update.

The GRU counterpart of ``cell``'s ``hidden_forward`` and
``backpropagate_through_time``, built to be called the same way from inside a
span kernel: one call per position, one BPTT call per block, the same sparse
inputs, ring buffer and ``counters`` slots (``RING_HEAD``, ``RING_FILL``).

Array conventions (``H`` hidden units, ``V`` input rows); every block of ``3H``
is ordered [update ``z`` | reset ``r`` | candidate ``c``]:

- ``input_weights`` (V, 3H): row ``v`` is feature ``v``'s contribution to the
  three pre-activations. A position's input is the sum of its features' rows,
  never a dense one-hot product.
- ``recurrent`` (3H, H): [U_z; U_r; U_h]; ``recurrent[i, j]`` feeds previous
  hidden unit ``j`` into pre-activation ``i``.
- ``bias`` (3H,).
- ``gates`` (3H,) of a step: z, r and c after their nonlinearities.

One step, with ``x`` the summed feature rows and ``p`` the previous state::

    z = sigmoid(x_z + U_z p + b_z)
    r = sigmoid(x_r + U_r p + b_r)
    c = tanh(x_c + U_h (r * p) + b_c)
    h = z * p + (1 - z) * c

BPTT reads the ring buffer of the last steps: ``ring_position`` (R,) stream
position, ``ring_input`` (R, H) the state ``p`` fed in, ``ring_gates`` (R, 3H)
the step's gates, ``ring_error`` (R, H) the output error dL/dh of the step
(L the quantity being increased: updates are ``+= alpha * gradient``, as in ``cell``).
Unlike ``cell``, no ``ring_hidden`` is needed: the backward pass of a step
uses ``p`` and its gates, never ``h`` itself.

As a language-model cell (``BUNDLES``, ``forward``, ``learn``, ...) it keeps the
contract of ``elman``; ``bptt == 0`` means one step back at every position.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .cell import (EPOCH_WORDS, RING_FILL, RING_HEAD, add_feature_update, add_matrix_vector, add_step_outer_products,
                   add_transposed_matrix_vector, clip, copy_into, feature_range, sigmoid_in_place, store_step,
                   tanh_in_place)
from .options import WITHOUT_REFCOUNTS


@njit(cache=True, fastmath=True)
def gru_forward(input_weights, recurrent, bias, feature_ids, feature_begin, feature_end, hidden_prev, hidden_out,
                gates_out):
    """One GRU step from ``hidden_prev`` (H,) into ``hidden_out`` (H,), storing z, r, c in ``gates_out`` (3H,).

    The features of the position are ``feature_ids[feature_begin:feature_end]``
    (none: no input). ``hidden_out`` must not be ``hidden_prev`` (it is used as
    scratch for ``r * hidden_prev`` before the new state is written).
    """
    size = hidden_out.shape[0]
    gated = 2 * size
    width = 3 * size
    for i in range(width):
        gates_out[i] = bias[i]
    for k in range(feature_begin, feature_end):
        row = input_weights[feature_ids[k]]
        for i in range(width):
            gates_out[i] += row[i]
    add_matrix_vector(recurrent[:gated], hidden_prev, gates_out[:gated])  # update and reset gates: U_z p, U_r p
    sigmoid_in_place(gates_out[:gated])
    # candidate: U_h (r * p), with r * p held in hidden_out for now
    for j in range(size):
        hidden_out[j] = gates_out[size + j] * hidden_prev[j]
    add_matrix_vector(recurrent[gated:], hidden_out, gates_out[gated:])
    tanh_in_place(gates_out[gated:])
    one = hidden_out.dtype.type(1.0)
    for i in range(size):
        z = gates_out[i]
        hidden_out[i] = z * hidden_prev[i] + (one - z) * gates_out[gated + i]


@njit(cache=True, fastmath=True)
def gru_backpropagate(input_weights, recurrent, bias, feature_ptr, feature_ids, ring_position, ring_input, ring_gates,
                      ring_error, counters, steps_back, alpha, decay, cutoff, error, carry, step_deltas,
                      step_reset_inputs):
    """Truncated BPTT of the GRU over the ring buffer, ending with the block update of ``recurrent`` and ``bias``.

    As ``cell.backpropagate_through_time``: the newest stored step's output
    error is propagated back ``steps_back`` steps (fewer if the ring holds
    fewer, ``counters[RING_FILL]``); older steps' output errors join on the way.
    Feature rows are updated (``+= alpha * delta``, with ``decay``) as their step
    is reached; ``recurrent`` and ``bias`` are updated once, at the end, from
    each step's dL/d(pre-activations) and recurrent inputs, kept by ring slot in
    the work arrays ``step_deltas`` (R, 3H) and ``step_reset_inputs`` (R, H) (the
    candidate's recurrent input r * p). The error reaching the previous state
    (``carry``) is clipped to [-cutoff, cutoff] (0: off) before older errors
    join it, where ``cell`` clips. Stored errors are cleared afterwards.

    L2 ``decay`` shrinks the feature rows (as each is updated) and ``recurrent``
    (at the block update), never ``bias``. Work arrays: ``error`` (H,) dL/dh of
    the step, ``carry`` (H,) dL/dp.
    """
    capacity = ring_gates.shape[0]
    head = counters[RING_HEAD]
    steps = min(counters[RING_FILL], steps_back)
    size = error.shape[0]
    gated = 2 * size
    width = 3 * size
    one = error.dtype.type(1.0)
    slot = head
    copy_into(error, ring_error[slot])
    for s in range(steps):
        slot = (head - s) % capacity
        gates = ring_gates[slot]
        prev = ring_input[slot]
        delta = step_deltas[slot]
        reset_input = step_reset_inputs[slot]
        # dL/d(pre-activation) of the update gate and the candidate
        for i in range(size):
            z = gates[i]
            c = gates[gated + i]
            e = error[i]
            delta[i] = e * (prev[i] - c) * z * (one - z)
            delta[gated + i] = e * (one - z) * (one - c * c)
        # carry = U_hᵀ delta_c = dL/d(r * p); U_h's input is r * p
        for j in range(size):
            reset_input[j] = gates[size + j] * prev[j]
        carry[:] = 0
        add_transposed_matrix_vector(recurrent[gated:], delta[gated:], carry)
        # reset gate; then carry becomes dL/dp through r * p and through z * p
        for j in range(size):
            r = gates[size + j]
            delta[size + j] = carry[j] * prev[j] * r * (one - r)
            carry[j] = carry[j] * r + error[j] * gates[j]
        # ... and through the gates' pre-activations: carry += [U_z; U_r]ᵀ [delta_z; delta_r]
        add_transposed_matrix_vector(recurrent[:gated], delta[:gated], carry)
        feature_begin, feature_end = feature_range(feature_ptr, feature_ids, ring_position[slot])
        add_feature_update(input_weights, feature_ids, feature_begin, feature_end, delta, alpha, decay)
        clip(carry, cutoff)
        if s + 1 < steps:
            previous = (slot - 1) % capacity
            for j in range(size):
                error[j] = carry[j] + ring_error[previous, j]
    # the block update: [U_z; U_r] from the states p, U_h from r * p, the biases from the deltas
    add_step_outer_products(recurrent[:gated], step_deltas[:, :gated], ring_input, head, steps, alpha, decay)
    add_step_outer_products(recurrent[gated:], step_deltas[:, gated:], step_reset_inputs, head, steps, alpha, decay)
    for s in range(steps):
        delta = step_deltas[(head - s) % capacity]
        for i in range(width):
            bias[i] += alpha * delta[i]
    ring_error[:] = 0


class Gru(NamedTuple):
    """The GRU's weights: ``input_weights`` (V, 3H), ``recurrent`` (3H, H), ``bias`` (3H,)."""

    input_weights: np.ndarray
    recurrent: np.ndarray
    bias: np.ndarray


BUNDLES = (Gru,)


@njit(cache=True)
def train_work(cell, size, capacity, sample):
    """(gates (3H,), error (H,), carry (H,), step_deltas (R, 3H), step_reset_inputs (R, H)) of ``sample``'s
    dtype: a step's gates and ``gru_backpropagate``'s work arrays."""
    dtype = sample.dtype
    return (np.empty(3 * size, dtype=dtype), np.empty(size, dtype=dtype), np.empty(size, dtype=dtype),
            np.empty((capacity, 3 * size), dtype=dtype), np.empty((capacity, size), dtype=dtype))


@njit(cache=True)
def score_work(cell, size, sample):
    """(gates (3H,),) of ``sample``'s dtype: a step's gates, first as in ``train_work``."""
    return (np.empty(3 * size, dtype=sample.dtype),)


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, work):
    """One GRU step (``gru_forward``), its gates into the work arrays."""
    gru_forward(cell.input_weights, cell.recurrent, cell.bias, words, feature_begin, feature_end, hidden_prev,
                hidden, work[0])


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def learn(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha, decay,
          cutoff, bptt, bptt_block, sentence_end):
    """Store the step (state, error, gates) in the ring; at every position when ``bptt == 0`` (one step back),
    else every ``bptt_block`` words or at a sentence end (``bptt + bptt_block - 1`` steps back), run
    ``gru_backpropagate``."""
    gates, error, carry, step_deltas, step_reset_inputs = work
    head = store_step(state, t, hidden_error)
    copy_into(state.step_ring[head], gates)
    if bptt == 0 or state.counters[EPOCH_WORDS] % bptt_block == 0 or sentence_end:
        gru_backpropagate(cell.input_weights, cell.recurrent, cell.bias, feature_ptr, words, state.ring_position,
                          state.ring_input, state.step_ring, state.ring_error, state.counters,
                          bptt + bptt_block - 1 if bptt > 0 else 1, alpha, decay, cutoff, error, carry, step_deltas,
                          step_reset_inputs)


def step(cell, features, hidden_prev, hidden):
    """One step reading ``features`` (int32, 0 or 1 ids) from Python: ``hidden`` (H,) from ``hidden_prev``."""
    gru_forward(input_weights=cell.input_weights, recurrent=cell.recurrent, bias=cell.bias, feature_ids=features,
                feature_begin=0, feature_end=len(features), hidden_prev=hidden_prev, hidden_out=hidden,
                gates_out=np.empty(3 * hidden.shape[0], dtype=hidden.dtype))

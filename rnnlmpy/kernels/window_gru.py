"""The GRU as a window cell (contract: ``window``): forward over a window, truncated BPTT inside it.

Gates in blocks of H ordered r, z, n, one bias per gate (the candidate's bias
outside the reset product)::

    r = s(Wx_r x + Wh_r h(t-1) + b_r)
    z = s(Wx_z x + Wh_z h(t-1) + b_z)
    n = tanh(Wx_n x + b_n + r * (Wh_n h(t-1)))
    h(t) = (1 - z) * n + z * h(t-1)

As the LSTM's: one gemm for the inputs of all N rows, one ``(B, H) x (H, 3H)``
gemm per step. ``cache.cells`` keeps ``Wh_n h(t-1)`` (the reset gate's
gradient needs it), ``cache.recurrent_grads`` the errors of the recurrent
product (they differ from the input side's in the n block, by the factor r).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .cell import sigmoid_in_place, tanh_in_place
from .exponential import EXACT_FASTMATH
from .layer_products import carry_operand, forward_operand, step_into
from .window import GruWeights, input_gates, previous_state, recurrent_carry, weight_gradients

BUNDLES = (GruWeights,)


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def forward(weights, inputs, resets, state_in, outputs, cache, state_out):
    """The layer's outputs h(t) (T,B,H) over the window, its final h into ``state_out`` (B,1,H)."""
    steps, streams, _ = inputs.shape
    size = outputs.shape[2]
    gates = cache.gates
    input_gates(weights, inputs, gates)
    recurrent_part = np.empty((streams, 3 * size), dtype=outputs.dtype)
    one = outputs.dtype.type(1.0)
    operand = forward_operand(weights.products, weights.recurrent)
    for t in range(steps):
        previous_state(t, resets, state_in, outputs, cache.previous[t], 0)
        step_into(weights.products, cache.previous[t], operand, recurrent_part)
        for b in range(streams):
            row = gates[t, b]
            part = recurrent_part[b]
            for j in range(2 * size):
                row[j] += part[j]
            sigmoid_in_place(row[:2 * size])
            candidate_part = cache.cells[t, b]
            for j in range(size):
                candidate_part[j] = part[2 * size + j]
                row[2 * size + j] += row[j] * part[2 * size + j]
            tanh_in_place(row[2 * size:])
            previous = cache.previous[t, b]
            hidden = outputs[t, b]
            for j in range(size):
                z = row[size + j]
                hidden[j] = (one - z) * row[2 * size + j] + z * previous[j]
    for b in range(streams):
        for j in range(size):
            state_out[b, 0, j] = outputs[steps - 1, b, j]


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def backward(weights, inputs, resets, cache, grad_outputs, grad_inputs, grads):
    """Truncated BPTT over the window after ``forward``: ``grad_inputs`` written, weight gradients added."""
    steps, streams, _ = inputs.shape
    recurrent_operand = carry_operand(weights.products, weights.recurrent)
    size = grad_outputs.shape[2]
    dtype = grad_outputs.dtype
    one = dtype.type(1.0)
    gate_grads = np.empty((steps, streams, 3 * size), dtype=dtype)
    recurrent_grads = cache.recurrent_grads
    carry = np.zeros((streams, size), dtype=dtype)
    direct = np.empty((streams, size), dtype=dtype)
    for t in range(steps - 1, -1, -1):
        for b in range(streams):
            row = cache.gates[t, b]
            previous = cache.previous[t, b]
            candidate_part = cache.cells[t, b]
            grad = gate_grads[t, b]
            recurrent_grad = recurrent_grads[t, b]
            upstream = grad_outputs[t, b]
            carried = carry[b]
            straight = direct[b]
            for j in range(size):
                r, z, n = row[j], row[size + j], row[2 * size + j]
                d_hidden = upstream[j] + carried[j]
                d_candidate = d_hidden * (one - z) * (one - n * n)
                d_reset = d_candidate * candidate_part[j] * r * (one - r)
                d_update = d_hidden * (previous[j] - n) * z * (one - z)
                grad[j] = d_reset
                grad[size + j] = d_update
                grad[2 * size + j] = d_candidate
                recurrent_grad[j] = d_reset
                recurrent_grad[size + j] = d_update
                recurrent_grad[2 * size + j] = d_candidate * r
                straight[j] = d_hidden * z
        recurrent_carry(t, resets, recurrent_grads[t], weights.products, recurrent_operand, carry, carry[:0], direct)
    weight_gradients(weights, inputs, cache.previous, gate_grads, recurrent_grads, grad_inputs, grads)

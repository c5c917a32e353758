"""The LSTM as a window cell (contract: ``window``): forward over a window, truncated BPTT inside it.

Gates in blocks of H ordered i, f, g, o (PyTorch's order), one bias per gate::

    [i, f, g, o] = [s, s, tanh, s](Wx x(t) + Wh h(t-1) + b)
    c(t) = f * c(t-1) + i * g
    h(t) = o * tanh(c(t))

The input->gates product of all N rows is one gemm; per step one ``(B, H) x
(H, 4H)`` gemm adds the recurrent part. Backwards, per step one ``(B, 4H) x
(4H, H)`` gemm carries the error to h(t-1); the weight gradients are gemms over
all N rows of the gate errors, the inputs and ``cache.previous`` (h(t-1)).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .cell import sigmoid_in_place, tanh_in_place
from .exponential import EXACT_FASTMATH
from .layer_products import add_step, carry_operand, forward_operand
from .window import LstmWeights, input_gates, previous_state, recurrent_carry, weight_gradients

BUNDLES = (LstmWeights,)


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def forward(weights, inputs, resets, state_in, outputs, cache, state_out):
    """The layer's outputs h(t) (T,B,H) over the window, its final (h, c) into ``state_out`` (B,2,H)."""
    steps, streams, _ = inputs.shape
    size = outputs.shape[2]
    gates = cache.gates
    input_gates(weights, inputs, gates)
    recurrent_part = np.empty((streams, 4 * size), dtype=outputs.dtype)
    operand = forward_operand(weights.products, weights.recurrent)
    for t in range(steps):
        previous_state(t, resets, state_in, outputs, cache.previous[t], 0)
        previous_state(t, resets, state_in, cache.cells, cache.previous_cells[t], 1)
        add_step(weights.products, cache.previous[t], operand, recurrent_part, gates[t])
        for b in range(streams):
            row = gates[t, b]
            sigmoid_in_place(row[:2 * size])
            tanh_in_place(row[2 * size:3 * size])
            sigmoid_in_place(row[3 * size:])
            cell_prev = cache.previous_cells[t, b]
            cell = cache.cells[t, b]
            hidden = outputs[t, b]
            for j in range(size):
                cell[j] = row[size + j] * cell_prev[j] + row[j] * row[2 * size + j]
                hidden[j] = cell[j]
            tanh_in_place(hidden)
            for j in range(size):
                hidden[j] *= row[3 * size + j]
    for b in range(streams):
        for j in range(size):
            state_out[b, 0, j] = outputs[steps - 1, b, j]
            state_out[b, 1, j] = cache.cells[steps - 1, b, j]


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def backward(weights, inputs, resets, cache, grad_outputs, grad_inputs, grads):
    """Truncated BPTT over the window after ``forward``: ``grad_inputs`` written, weight gradients added."""
    steps, streams, _ = inputs.shape
    recurrent_operand = carry_operand(weights.products, weights.recurrent)
    size = grad_outputs.shape[2]
    dtype = grad_outputs.dtype
    one = dtype.type(1.0)
    gate_grads = np.empty((steps, streams, 4 * size), dtype=dtype)
    carry_hidden = np.zeros((streams, size), dtype=dtype)
    carry_cell = np.zeros((streams, size), dtype=dtype)
    tanh_cell = np.empty(size, dtype=dtype)
    for t in range(steps - 1, -1, -1):
        for b in range(streams):
            row = cache.gates[t, b]
            cell = cache.cells[t, b]
            cell_prev = cache.previous_cells[t, b]
            grad = gate_grads[t, b]
            upstream = grad_outputs[t, b]
            carried_h = carry_hidden[b]
            carried_c = carry_cell[b]
            for j in range(size):
                tanh_cell[j] = cell[j]
            tanh_in_place(tanh_cell)
            for j in range(size):
                i, f, g, o = row[j], row[size + j], row[2 * size + j], row[3 * size + j]
                d_hidden = upstream[j] + carried_h[j]
                tc = tanh_cell[j]
                d_cell = carried_c[j] + d_hidden * o * (one - tc * tc)
                grad[j] = d_cell * g * i * (one - i)
                grad[size + j] = d_cell * cell_prev[j] * f * (one - f)
                grad[2 * size + j] = d_cell * i * (one - g * g)
                grad[3 * size + j] = d_hidden * tc * o * (one - o)
                carried_c[j] = d_cell * f
        recurrent_carry(t, resets, gate_grads[t], weights.products, recurrent_operand, carry_hidden, carry_cell,
                        carry_cell[:0])
    weight_gradients(weights, inputs, cache.previous, gate_grads, gate_grads, grad_inputs, grads)

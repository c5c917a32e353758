"""The Elman cell as a window cell (contract: ``window``): h(t) = act(Wx x(t) + Wh h(t-1) + b).

The activation (sigmoid, tanh, relu) is the marker in ``ElmanWeights.activation``
(``cell.ACTIVATION_MARKERS``): each compiled kernel holds its own activation.
``cache.gates`` holds h(t) itself, from which the activation's derivative is
taken backwards.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .cell import apply_activation, apply_derivative
from .exponential import EXACT_FASTMATH
from .layer_products import add_step, carry_operand, forward_operand
from .window import ElmanWeights, input_gates, previous_state, recurrent_carry, weight_gradients

BUNDLES = (ElmanWeights,)


@njit(cache=True, nogil=True, fastmath=EXACT_FASTMATH, error_model="numpy")
def forward(weights, inputs, resets, state_in, outputs, cache, state_out):
    """The layer's outputs h(t) (T,B,H) over the window, its final h into ``state_out`` (B,1,H)."""
    steps, streams, _ = inputs.shape
    size = outputs.shape[2]
    gates = cache.gates
    input_gates(weights, inputs, gates)
    recurrent_part = np.empty((streams, size), dtype=outputs.dtype)
    operand = forward_operand(weights.products, weights.recurrent)
    for t in range(steps):
        previous_state(t, resets, state_in, outputs, cache.previous[t], 0)
        add_step(weights.products, cache.previous[t], operand, recurrent_part, gates[t])
        for b in range(streams):
            row = gates[t, b]
            apply_activation(row, weights.activation)
            hidden = outputs[t, b]
            for j in range(size):
                hidden[j] = row[j]
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
    gate_grads = np.empty((steps, streams, size), dtype=dtype)
    carry = np.zeros((streams, size), dtype=dtype)
    for t in range(steps - 1, -1, -1):
        for b in range(streams):
            grad = gate_grads[t, b]
            upstream = grad_outputs[t, b]
            carried = carry[b]
            for j in range(size):
                grad[j] = upstream[j] + carried[j]
            apply_derivative(grad, cache.gates[t, b], weights.activation)
        recurrent_carry(t, resets, gate_grads[t], weights.products, recurrent_operand, carry, carry[:0], carry[:0])
    weight_gradients(weights, inputs, cache.previous, gate_grads, gate_grads, grad_inputs, grads)

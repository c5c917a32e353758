"""The contract of the batched engine's window cells and window output layers, and the bundles they share.

The batched engine trains on windows: ``T`` time steps of ``B`` streams at once
(``N = T * B`` rows), in time-major order ``(T, B, ...)``, C-contiguous; a
``(T, B, H)`` array is also read as ``(N, H)``, row ``n = t * B + b``. ``H``
hidden units, ``In`` inputs of a layer (the embedding size, = ``H``), ``G``
gate blocks of a cell (``GATES``: lstm 4, gru 3, Elman 1), ``S`` state vectors
of a cell (``STATES``: lstm 2, h then c; others 1), ``V`` words. Floats are the
model's dtype (float32 or float64) throughout one call.

The matrix products are taken on whole windows where the recurrence allows
it: a cell's input->gates product is one product over all ``N`` rows, its
weight gradients are products over all ``N`` rows; per time step only the
``(B, H) x (H, G*H)`` recurrent product (and backwards the ``(B, G*H) x
(G*H, H)`` one) remains. They are ``layer_products``' faces, in the arithmetic
of the ``products`` marker a weights bundle carries (``precision``: the
model's float type by BLAS gemm from Numba and ``add_products``, faster than
BLAS for a step's few rows; or bfloat16 inputs, for training only).
Elementwise gate math: plain loops.

A window cell module (``window_lstm``, ``window_gru``, ``window_elman``) provides:

- ``BUNDLES``: its weights bundle class (``LstmWeights``, ``GruWeights``,
  ``ElmanWeights``), made by ``weights_bundle`` below, whose ``products`` field picks the arithmetic;
- ``forward(weights, inputs (T,B,In), resets (T,B) uint8, state_in (B,S,H), outputs (T,B,H), cache, state_out
  (B,S,H))``: the layer's outputs h(t) over the window, its final state into ``state_out`` (may not be
  ``state_in``), and what ``backward`` needs into ``cache`` (``WindowCache``, from ``window_cache``). Where
  ``resets[t, b]`` is 1, stream b's step t starts from the zero state instead of step t-1's (or ``state_in``'s);
- ``backward(weights, inputs, resets, cache, grad_outputs (T,B,H), grad_inputs (T,B,In), grads)``: after
  ``forward`` on the same arguments, truncated BPTT inside the window: ``grad_outputs`` is dLoss/dh(t) from
  above (the layer's output only, not through the recurrence), ``grad_inputs`` is written with dLoss/dinputs,
  and the weight gradients are ADDED to the arrays of ``grads`` (``CellGrads``). No gradient flows past a
  reset, nor into ``state_in`` (truncation).

A window output layer module (``window_softmax``: full softmax; ``window_class``: class-factored; ``window_hs``:
hierarchical softmax; ``window_nce``: NCE, whose ``bundles`` also takes the config and a noise seed) provides:

- ``BUNDLES``: its layer bundle and gradient bundle classes;
- ``bundles(arrays, grads, vocabulary, tied)``: (layer bundle, gradient bundle or None) from the model's named
  arrays (dict name -> array: ``output_weights``, ``output_bias``, ``class_weights``, ``class_bias``,
  ``input_weights``), the gradient arrays of the same names (None: scoring only), the vocabulary (its class
  ranges) and whether the output weights are the embedding (``tied``: ``input_weights`` is the word matrix and
  its gradient goes to ``grads["input_weights"]``);
- ``train(layer, hidden (N,H), targets (N,) int32, weights (N,) float, scale, grad_hidden (N,H), grads,
  log10_out (N,))``: ``log10_out[n]`` = log10 P(targets[n] | hidden[n]) where ``weights[n] != 0`` (else 0,
  and ``targets[n]`` is not read); the gradient of ``scale * sum_n weights[n] * -ln P(targets[n])`` is ADDED
  to ``grads``' arrays and WRITTEN to ``grad_hidden``;
- ``score(layer, hidden (N,H), targets (N,) int32, log10_out (N,))``: log10 P of every row (all targets valid);
- ``distribution(layer, hidden (H,), out (V,))``: ``out`` = P(every word | hidden) (float64 or the model's).

Kernels do no bounds checks: the Python caller (``rnnlmpy.rnnlm.deep``) validates word ids first. No kernel
returns an array argument (see ``options``). The kernels a driver calls release the GIL (``nogil``): the
driver may run them on parts of a window's streams in threads at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from numba import njit

from .cell import ACTIVATION_MARKERS
from .layer_products import (SMALL_PRODUCT_ROWS, SMALL_PRODUCT_WEIGHTS, add_error_product, add_into,  # noqa: F401
                             add_products, add_step_product, error_product, gates_product, small_product, step_into,
                             step_product)
from .precision import FLOAT32

GATES = {"lstm": 4, "gru": 3, "elman": 1}  # gate blocks G of a window cell
STATES = {"lstm": 2, "gru": 1, "elman": 1}  # state vectors S of a window cell (lstm: h then c)
ELMAN_ACTIVATIONS = ("sigmoid", "tanh", "relu")  # -hidden-type names that are the window Elman cell


def cell_name(hidden_type: str) -> str:
    """The window cell ("lstm", "gru", "elman") of a -hidden-type name."""
    return "elman" if hidden_type in ELMAN_ACTIVATIONS else hidden_type


class LstmWeights(NamedTuple):
    """An LSTM layer's weights: gate rows in blocks of H ordered i, f, g, o."""

    input_weights: np.ndarray  # (4H, In) input -> gates
    recurrent: np.ndarray  # (4H, H) h(t-1) -> gates
    bias: np.ndarray  # (4H,)
    products: object = FLOAT32  # a ``precision`` marker: the arithmetic of the layer's products


class GruWeights(NamedTuple):
    """A GRU layer's weights: gate rows in blocks of H ordered r, z, n."""

    input_weights: np.ndarray  # (3H, In)
    recurrent: np.ndarray  # (3H, H)
    bias: np.ndarray  # (3H,)
    products: object = FLOAT32  # a ``precision`` marker: the arithmetic of the layer's products


class ElmanWeights(NamedTuple):
    """An Elman layer's weights and its activation (a marker of ``cell.ACTIVATION_MARKERS``: compiled for it)."""

    input_weights: np.ndarray  # (H, In)
    recurrent: np.ndarray  # (H, H)
    bias: np.ndarray  # (H,)
    activation: object
    products: object = FLOAT32  # a ``precision`` marker: the arithmetic of the layer's products


class CellGrads(NamedTuple):
    """Gradient arrays of one layer's weights, same shapes as its weights bundle's (added to by ``backward``)."""

    input_weights: np.ndarray  # (G*H, In)
    recurrent: np.ndarray  # (G*H, H)
    bias: np.ndarray  # (G*H,)


class WindowCache(NamedTuple):
    """What a cell's ``forward`` keeps for its ``backward`` (arrays a cell does not use are empty).

    - ``gates`` (T,B,G*H): the gates after their nonlinearities (Elman: h(t) itself);
    - ``previous`` (T,B,H): h(t-1) as fed into step t (zero after a reset);
    - ``cells`` (T,B,H): lstm: c(t); gru: the candidate's recurrent part Wh_n h(t-1); Elman: empty;
    - ``previous_cells`` (T,B,H): lstm: c(t-1) as fed into step t; others: empty;
    - ``recurrent_grads`` (T,B,G*H): gru: dLoss/d(h(t-1) -> gates product) (backward's scratch); others: empty.
    """

    gates: np.ndarray
    previous: np.ndarray
    cells: np.ndarray
    previous_cells: np.ndarray
    recurrent_grads: np.ndarray


def weights_bundle(hidden_type: str, input_weights: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
                   products=FLOAT32):
    """The weights bundle of a layer of -hidden-type ``hidden_type`` (the arrays themselves, no copies), its
    products in the arithmetic of ``products`` (a ``precision`` marker)."""
    cell = cell_name(hidden_type)
    if cell == "lstm":
        return LstmWeights(input_weights, recurrent, bias, products)
    if cell == "gru":
        return GruWeights(input_weights, recurrent, bias, products)
    return ElmanWeights(input_weights, recurrent, bias, ACTIVATION_MARKERS[hidden_type], products)


def window_cache(hidden_type: str, steps: int, streams: int, hidden: int, dtype) -> WindowCache:
    """An uninitialised ``WindowCache`` (``forward`` fills it) for a layer of ``hidden_type`` over ``steps`` x
    ``streams`` with ``hidden`` units."""
    cell = cell_name(hidden_type)
    gates = GATES[cell] * hidden
    empty = np.zeros((0, 0, 0), dtype=dtype)
    full = (steps, streams, hidden)
    return WindowCache(
        gates=np.empty((steps, streams, gates), dtype=dtype),
        previous=np.empty(full, dtype=dtype),
        cells=np.empty(full, dtype=dtype) if cell in ("lstm", "gru") else empty,
        previous_cells=np.empty(full, dtype=dtype) if cell == "lstm" else empty,
        recurrent_grads=np.empty((steps, streams, gates), dtype=dtype) if cell == "gru" else empty)


@njit(cache=True, fastmath=True)
def add_rows(matrix, vector):
    """``matrix`` (R, C) += ``vector`` (C,) on every row."""
    for r in range(matrix.shape[0]):
        row = matrix[r]
        for c in range(matrix.shape[1]):
            row[c] += vector[c]


@njit(cache=True, fastmath=True)
def add_column_sums(matrix, out):
    """``out`` (C,) += the sum of the rows of ``matrix`` (R, C): a bias's gradient."""
    for r in range(matrix.shape[0]):
        row = matrix[r]
        for c in range(matrix.shape[1]):
            out[c] += row[c]


@njit(cache=True, fastmath=True)
def input_gates(weights, inputs, gates):
    """``gates`` (T,B,G*H) = ``inputs`` (T,B,In) x ``weights.input_weights``ᵀ + ``weights.bias``: the input side
    of every step of the window, one gemm."""
    rows = inputs.shape[0] * inputs.shape[1]
    flat = gates.reshape(rows, gates.shape[2])
    gates_product(weights.products, inputs.reshape(rows, inputs.shape[2]), weights.input_weights, flat)
    add_rows(flat, weights.bias)


@njit(cache=True)
def previous_state(t, resets, state_in, series, out, slot):
    """``out`` (B, H) = the state fed into step ``t`` of each stream: zero where ``resets[t, b]``, else
    ``series[t - 1, b]`` (T,B,H), or at t = 0 ``state_in[b, slot]`` (B,S,H)."""
    streams, size = out.shape
    for b in range(streams):
        row = out[b]
        if resets[t, b]:
            for j in range(size):
                row[j] = 0.0
        elif t == 0:
            source = state_in[b, slot]
            for j in range(size):
                row[j] = source[j]
        else:
            source = series[t - 1, b]
            for j in range(size):
                row[j] = source[j]


@njit(cache=True, fastmath=True)
def recurrent_carry(t, resets, step_grads, products, operand, carry_hidden, carry_cell, direct):
    """The error reaching step t-1 from step t: ``carry_hidden`` (B, H) = ``step_grads`` (B, G*H) x the recurrent
    matrix (G*H, H) (``operand``: ``layer_products.carry_operand`` of it, for ``products``) (+ ``direct`` (B, H)
    unless empty); both carries zero for a stream reset at t (its step t did not read step t-1). Nothing at t = 0
    (truncation)."""
    if t == 0:
        return
    step_into(products, step_grads, operand, carry_hidden)
    streams, size = carry_hidden.shape
    for b in range(streams):
        row = carry_hidden[b]
        if resets[t, b]:
            for j in range(size):
                row[j] = 0.0
            if carry_cell.shape[0] > 0:
                for j in range(size):
                    carry_cell[b, j] = 0.0
        elif direct.shape[0] > 0:
            add = direct[b]
            for j in range(size):
                row[j] += add[j]


@njit(cache=True, fastmath=True)
def weight_gradients(weights, inputs, previous, input_grads, recurrent_grads, grad_inputs, grads):
    """After a window's backward loop, over all N rows at once: ``grads.input_weights += input_gradsᵀ x inputs``,
    ``grads.recurrent += recurrent_gradsᵀ x previous``, ``grads.bias +=`` the sums of ``input_grads``, and
    ``grad_inputs = input_grads x weights.input_weights`` (``input_grads``/``recurrent_grads``: (T,B,G*H)
    errors of the gates' input and recurrent products, ``previous`` (T,B,H) h(t-1))."""
    steps, streams, width = inputs.shape
    rows = steps * streams
    gate_width = input_grads.shape[2]
    size = previous.shape[2]
    by_input = input_grads.reshape(rows, gate_width)
    by_recurrent = recurrent_grads.reshape(rows, gate_width)
    add_error_product(weights.products, by_input, inputs.reshape(rows, width), grads.input_weights)
    add_error_product(weights.products, by_recurrent, previous.reshape(rows, size), grads.recurrent)
    add_column_sums(by_input, grads.bias)
    error_product(weights.products, by_input, weights.input_weights, grad_inputs.reshape(rows, width))


@njit(cache=True, nogil=True, fastmath=True)
def scatter_add_rows(target, ids, rows):
    """``target[ids[n]] += rows[n]`` for every n (``target`` (V, H), ``ids`` (N,) in [0, V), ``rows`` (N, H)): the
    gradient of an embedding lookup."""
    for n in range(ids.shape[0]):
        row, add = target[ids[n]], rows[n]
        for j in range(row.shape[0]):
            row[j] += add[j]


@njit(cache=True, nogil=True)
def zero_rows(target, ids):
    """``target[ids[n]] = 0`` for every n (``target`` (V, H), ``ids`` (N,) in [0, V)): clearing the few rows of a
    large gradient that a window set."""
    for n in range(ids.shape[0]):
        row = target[ids[n]]
        for j in range(row.shape[0]):
            row[j] = 0.0

"""The contract of the batched engine's window cells and window output layers, and the bundles they share.

The batched engine trains on windows: ``T`` time steps of ``B`` streams at once
(``N = T * B`` rows), in time-major order ``(T, B, ...)``, C-contiguous; a
``(T, B, H)`` array is also read as ``(N, H)``, row ``n = t * B + b``. ``H``
hidden units, ``In`` inputs of a layer (the embedding size, = ``H``), ``G``
gate blocks of a cell (``GATES``: lstm 4, gru 3, Elman 1), ``S`` state vectors
of a cell (``STATES``: lstm 2, h then c; others 1), ``V`` words. Floats are the
model's dtype (float32 or float64) throughout one call.

The matrix products are ``np.dot`` (BLAS gemm from Numba) on whole windows
where the recurrence allows it: a cell's input->gates product is one product
over all ``N`` rows, its weight gradients are products over all ``N`` rows; per
time step only the ``(B, H) x (H, G*H)`` recurrent product (and backwards the
``(B, G*H) x (G*H, H)`` one) remains, done by ``add_products`` (faster than
BLAS for so few rows, and never waits for BLAS threads). Elementwise gate
math: plain loops.

A window cell module (``window_lstm``, ``window_gru``, ``window_elman``) provides:

- ``BUNDLES``: its weights bundle class (``LstmWeights``, ``GruWeights``,
  ``ElmanWeights``), made by ``weights_bundle`` below;
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

GATES = {"lstm": 4, "gru": 3, "elman": 1}  # gate blocks G of a window cell
STATES = {"lstm": 2, "gru": 1, "elman": 1}  # state vectors S of a window cell (lstm: h then c)
ELMAN_ACTIVATIONS = ("sigmoid", "tanh", "relu")  # -hidden-type names that are the window Elman cell
SMALL_PRODUCT_ROWS = 128  # a step's product of at most this many streams ...
SMALL_PRODUCT_WEIGHTS = 2**21  # ... by a matrix of at most this many weights: add_products, not BLAS


def cell_name(hidden_type: str) -> str:
    """The window cell ("lstm", "gru", "elman") of a -hidden-type name."""
    return "elman" if hidden_type in ELMAN_ACTIVATIONS else hidden_type


class LstmWeights(NamedTuple):
    """An LSTM layer's weights: gate rows in blocks of H ordered i, f, g, o."""

    input_weights: np.ndarray  # (4H, In) input -> gates
    recurrent: np.ndarray  # (4H, H) h(t-1) -> gates
    bias: np.ndarray  # (4H,)


class GruWeights(NamedTuple):
    """A GRU layer's weights: gate rows in blocks of H ordered r, z, n."""

    input_weights: np.ndarray  # (3H, In)
    recurrent: np.ndarray  # (3H, H)
    bias: np.ndarray  # (3H,)


class ElmanWeights(NamedTuple):
    """An Elman layer's weights and its activation (a marker of ``cell.ACTIVATION_MARKERS``: compiled for it)."""

    input_weights: np.ndarray  # (H, In)
    recurrent: np.ndarray  # (H, H)
    bias: np.ndarray  # (H,)
    activation: object


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


def weights_bundle(hidden_type: str, input_weights: np.ndarray, recurrent: np.ndarray, bias: np.ndarray):
    """The weights bundle of a layer of -hidden-type ``hidden_type`` (the arrays themselves, no copies)."""
    cell = cell_name(hidden_type)
    if cell == "lstm":
        return LstmWeights(input_weights, recurrent, bias)
    if cell == "gru":
        return GruWeights(input_weights, recurrent, bias)
    return ElmanWeights(input_weights, recurrent, bias, ACTIVATION_MARKERS[hidden_type])


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
def add_into(target, source):
    """``target += source`` (2-d, same shape)."""
    for i in range(target.shape[0]):
        row, add = target[i], source[i]
        for j in range(target.shape[1]):
            row[j] += add[j]


@njit(cache=True, fastmath=True)
def input_gates(weights, inputs, gates):
    """``gates`` (T,B,G*H) = ``inputs`` (T,B,In) x ``weights.input_weights``ᵀ + ``weights.bias``: the input side
    of every step of the window, one gemm."""
    rows = inputs.shape[0] * inputs.shape[1]
    flat = gates.reshape(rows, gates.shape[2])
    np.dot(inputs.reshape(rows, inputs.shape[2]), weights.input_weights.T, flat)
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
def add_products(left, right, out):
    """``out`` (R, M) += ``left`` (R, K) x ``right`` (K, M), all C-contiguous: the per-step recurrent product.

    Four rows and four k at a time (then two rows, then one, for the rest):
    each pass over a row of ``out`` adds four products per column, so the loop
    is bound by its multiply-adds, not by loads and stores, and ``right`` is
    read once per four rows. For the skinny
    products of a window's steps (R = B streams) it beats BLAS, which packs the
    whole ``right`` on every call (PTB, 20 x 200 x 800 float32: 90 against 107
    us; 10 streams: 50 against 82 us).
    """
    rows, inner = left.shape
    width = right.shape[1]
    r = 0
    while r + 4 <= rows:
        o0, o1, o2, o3 = out[r], out[r + 1], out[r + 2], out[r + 3]
        l0, l1, l2, l3 = left[r], left[r + 1], left[r + 2], left[r + 3]
        k = 0
        while k + 4 <= inner:
            w0, w1, w2, w3 = right[k], right[k + 1], right[k + 2], right[k + 3]
            a00, a01, a02, a03 = l0[k], l0[k + 1], l0[k + 2], l0[k + 3]
            a10, a11, a12, a13 = l1[k], l1[k + 1], l1[k + 2], l1[k + 3]
            a20, a21, a22, a23 = l2[k], l2[k + 1], l2[k + 2], l2[k + 3]
            a30, a31, a32, a33 = l3[k], l3[k + 1], l3[k + 2], l3[k + 3]
            for j in range(width):
                x0, x1, x2, x3 = w0[j], w1[j], w2[j], w3[j]
                o0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                o1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                o2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                o3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
            k += 4
        while k < inner:
            w = right[k]
            a0, a1, a2, a3 = l0[k], l1[k], l2[k], l3[k]
            for j in range(width):
                x = w[j]
                o0[j] += a0 * x
                o1[j] += a1 * x
                o2[j] += a2 * x
                o3[j] += a3 * x
            k += 1
        r += 4
    if r + 2 <= rows:
        o0, o1, l0, l1 = out[r], out[r + 1], left[r], left[r + 1]
        k = 0
        while k + 4 <= inner:
            w0, w1, w2, w3 = right[k], right[k + 1], right[k + 2], right[k + 3]
            a00, a01, a02, a03 = l0[k], l0[k + 1], l0[k + 2], l0[k + 3]
            a10, a11, a12, a13 = l1[k], l1[k + 1], l1[k + 2], l1[k + 3]
            for j in range(width):
                x0, x1, x2, x3 = w0[j], w1[j], w2[j], w3[j]
                o0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                o1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
            k += 4
        while k < inner:
            w, a0, a1 = right[k], l0[k], l1[k]
            for j in range(width):
                o0[j] += a0 * w[j]
                o1[j] += a1 * w[j]
            k += 1
        r += 2
    if r < rows:
        o, row = out[r], left[r]
        k = 0
        while k + 4 <= inner:
            w0, w1, w2, w3 = right[k], right[k + 1], right[k + 2], right[k + 3]
            a0, a1, a2, a3 = row[k], row[k + 1], row[k + 2], row[k + 3]
            for j in range(width):
                o[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j]
            k += 4
        while k < inner:
            w, a = right[k], row[k]
            for j in range(width):
                o[j] += a * w[j]
            k += 1


@njit(cache=True)
def small_product(rows, right):
    """Whether a step's product of ``rows`` rows by ``right`` goes to ``add_products`` (few rows, a matrix that
    stays in cache) rather than to BLAS."""
    return rows <= SMALL_PRODUCT_ROWS and right.size <= SMALL_PRODUCT_WEIGHTS


@njit(cache=True, fastmath=True)
def step_product(left, right, out):
    """``out`` (R, M) = ``left`` (R, K) x ``right`` (K, M) (C-contiguous), by ``add_products`` or BLAS."""
    if small_product(left.shape[0], right):
        for r in range(out.shape[0]):
            row = out[r]
            for j in range(out.shape[1]):
                row[j] = 0.0
        add_products(left, right, out)
    else:
        np.dot(left, right, out)


@njit(cache=True, fastmath=True)
def add_step_product(previous, recurrent_transposed, scratch, gates):
    """``gates`` (B, G*H) += ``previous`` (B, H) x ``recurrent_transposed`` (H, G*H) (the C-contiguous transpose
    of a recurrent matrix), through ``scratch`` (B, G*H) when BLAS does it."""
    if small_product(previous.shape[0], recurrent_transposed):
        add_products(previous, recurrent_transposed, gates)
        return
    np.dot(previous, recurrent_transposed, scratch)
    for b in range(gates.shape[0]):
        row, add = gates[b], scratch[b]
        for j in range(gates.shape[1]):
            row[j] += add[j]


@njit(cache=True, fastmath=True)
def recurrent_carry(t, resets, step_grads, recurrent, carry_hidden, carry_cell, direct):
    """The error reaching step t-1 from step t: ``carry_hidden`` (B, H) = ``step_grads`` (B, G*H) x
    ``recurrent`` (G*H, H) (+ ``direct`` (B, H) unless empty); both carries zero for a stream reset at t (its
    step t did not read step t-1). Nothing at t = 0 (truncation)."""
    if t == 0:
        return
    step_product(step_grads, recurrent, carry_hidden)
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
    add_into(grads.input_weights, np.dot(by_input.T, inputs.reshape(rows, width)))
    add_into(grads.recurrent, np.dot(by_recurrent.T, previous.reshape(rows, size)))
    add_column_sums(by_input, grads.bias)
    np.dot(by_input, weights.input_weights, grad_inputs.reshape(rows, width))


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

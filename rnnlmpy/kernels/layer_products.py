"""The window cells' matrix products, in the model's float type or with bfloat16 inputs: a family of two.

A window cell (``window``'s contract) multiplies its weights by the window's rows in six places; a marker of
``precision`` (the ``products`` field of its weights bundle) picks each one's code at compile time:

- ``gates_product(products, inputs (N,In), input_weights (G*H,In), gates (N,G*H))``: gates = inputs @ W_inᵀ;
- ``forward_operand(products, recurrent (G*H,H))``: the recurrent matrix as the steps' right operand, made once
  a window (float: its C-contiguous transpose; bfloat16: its column pairs);
- ``add_step(products, previous (B,H), operand, scratch (B,G*H), gates (B,G*H))``: gates += previous @ Wᵀ;
- ``carry_operand(products, recurrent)``: the recurrent matrix as the backward steps' right operand;
- ``step_into(products, left (B,K), operand, out (B,M))``: out = left @ the operand's matrix: previous @ Wᵀ
  forwards (``forward_operand``), step_grads (B,G*H) @ W backwards (``carry_operand``);
- ``add_error_product(products, errors (N,G*H), values (N,X), out (G*H,X))``: out += errorsᵀ @ values (a weight
  gradient) and ``error_product(products, errors, weights (G*H,In), out (N,In))``: out = errors @ weights.

The float code is BLAS for the window-wide products and ``add_products`` for a step's few rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from . import bfloat16
from .precision import Bfloat16, Float32, kind

SMALL_PRODUCT_ROWS = 128  # a step's product of at most this many streams ...
SMALL_PRODUCT_WEIGHTS = 2**21  # ... by a matrix of at most this many weights: add_products, not BLAS


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
def add_into(target, source):
    """``target += source`` (2-d, same shape)."""
    for i in range(target.shape[0]):
        row, add = target[i], source[i]
        for j in range(target.shape[1]):
            row[j] += add[j]


# ---------------------------------------------------------------------------------------------------------------
# the family's faces, and each member's code


def gates_product(products, inputs, input_weights, gates):
    """``gates`` (N, G*H) = ``inputs`` (N, In) @ ``input_weights`` (G*H, In)ᵀ."""


def forward_operand(products, recurrent):
    """The recurrent matrix (G*H, H) prepared as the right operand of ``add_step`` / ``step_into``."""


def add_step(products, previous, operand, scratch, gates):
    """``gates`` (B, G*H) += ``previous`` (B, H) @ Wᵀ (``operand``: ``forward_operand(W)``; ``scratch`` (B, G*H))."""


def carry_operand(products, recurrent):
    """The recurrent matrix (G*H, H) prepared as the right operand of ``step_into`` backwards."""


def step_into(products, left, operand, out):
    """``out`` (B, M) = ``left`` (B, K) @ the matrix ``operand`` was prepared from: Wᵀ (``forward_operand(W)``,
    K = H) or W (``carry_operand(W)``, K = G*H)."""


def add_error_product(products, errors, values, out):
    """``out`` (G*H, X) += ``errors`` (N, G*H)ᵀ @ ``values`` (N, X)."""


def error_product(products, errors, weights, out):
    """``out`` (N, In) = ``errors`` (N, G*H) @ ``weights`` (G*H, In)."""


@njit(cache=True)
def _float_gates(inputs, input_weights, gates):
    np.dot(inputs, input_weights.T, gates)


@njit(cache=True)
def _bfloat16_gates(inputs, input_weights, gates):
    # as (W_in @ inputsᵀ)ᵀ: both operands packed in their own row order
    bfloat16.product_transposed(bfloat16.row_pairs(input_weights), bfloat16.column_pairs(inputs.T), gates)


@njit(cache=True)
def _float_forward_operand(recurrent):
    return np.ascontiguousarray(recurrent.T)


@njit(cache=True)
def _bfloat16_forward_operand(recurrent):
    return bfloat16.column_pairs(recurrent.T)


@njit(cache=True)
def _bfloat16_add_step(previous, operand, gates):
    bfloat16.add_product(bfloat16.row_pairs(previous), operand, gates)


@njit(cache=True)
def _bfloat16_step_into(left, operand, out):
    bfloat16.product(bfloat16.row_pairs(left), operand, out)


@njit(cache=True)
def _float_carry_operand(recurrent):
    return recurrent


@njit(cache=True)
def _bfloat16_carry_operand(recurrent):
    return bfloat16.column_pairs(recurrent)


@njit(cache=True)
def _float_add_error_product(errors, values, out):
    add_into(out, np.dot(errors.T, values))


@njit(cache=True)
def _bfloat16_add_error_product(errors, values, out):
    # as (valuesᵀ @ errors)ᵀ: errors (the larger) packed in row order
    bfloat16.add_product_transposed(bfloat16.row_pairs(values.T), bfloat16.column_pairs(errors), out)


@njit(cache=True)
def _float_error_product(errors, weights, out):
    np.dot(errors, weights, out)


@njit(cache=True)
def _bfloat16_error_product(errors, weights, out):
    bfloat16.product(bfloat16.row_pairs(errors), bfloat16.column_pairs(weights), out)


def _member(products, float_code, bfloat16_code):
    """The code of the family member ``products`` names (None: not a marker)."""
    return {Float32: float_code, Bfloat16: bfloat16_code}.get(kind(products))


@overload(gates_product, inline="always")
def _gates_product(products, inputs, input_weights, gates):
    code = _member(products, _float_gates, _bfloat16_gates)
    return None if code is None else lambda products, inputs, input_weights, gates: code(inputs, input_weights,
                                                                                           gates)


@overload(forward_operand, inline="always")
def _forward_operand(products, recurrent):
    code = _member(products, _float_forward_operand, _bfloat16_forward_operand)
    return None if code is None else lambda products, recurrent: code(recurrent)


@overload(add_step, inline="always")
def _add_step(products, previous, operand, scratch, gates):
    if kind(products) is Float32:
        return lambda products, previous, operand, scratch, gates: add_step_product(previous, operand, scratch,
                                                                                    gates)
    if kind(products) is Bfloat16:
        return lambda products, previous, operand, scratch, gates: _bfloat16_add_step(previous, operand, gates)
    return None


@overload(step_into, inline="always")
def _step_into(products, left, operand, out):
    code = _member(products, step_product, _bfloat16_step_into)
    return None if code is None else lambda products, left, operand, out: code(left, operand, out)


@overload(carry_operand, inline="always")
def _carry_operand(products, recurrent):
    code = _member(products, _float_carry_operand, _bfloat16_carry_operand)
    return None if code is None else lambda products, recurrent: code(recurrent)


@overload(add_error_product, inline="always")
def _add_error_product(products, errors, values, out):
    code = _member(products, _float_add_error_product, _bfloat16_add_error_product)
    return None if code is None else lambda products, errors, values, out: code(errors, values, out)


@overload(error_product, inline="always")
def _error_product(products, errors, weights, out):
    code = _member(products, _float_error_product, _bfloat16_error_product)
    return None if code is None else lambda products, errors, weights, out: code(errors, weights, out)

"""Optimisers and gradient-norm clipping for the batched engine: elementwise kernels and their Python face.

Every update is ``param -= step`` from the gradient ``g`` of the loss (the loss
decreases: unlike ``cell``'s rnnlm updates, these descend) and the optimiser's
state arrays, each of the weight's shape and dtype. L2 regularisation
(``decay``, rnnlm's ``-beta``) is weight decay added to the gradient first,
``g + decay * w``, as PyTorch's ``weight_decay``. With rate ``alpha``:

- ``sgd``: ``w -= alpha * g``.
- ``momentum`` (classical, PyTorch's form): ``v = 0.9 v + g; w -= alpha * v``
  (``v`` starts at 0). The rate multiplies the velocity when it is used, so
  halving the rate halves the next step at once.
- ``adagrad``: ``s += g^2; w -= alpha * g / (sqrt(s) + 1e-10)`` (``s`` starts at 0).
- ``rmsprop``: ``s = 0.99 s + 0.01 g^2; w -= alpha * g / (sqrt(s) + 1e-8)``.
- ``adam``: ``m = 0.9 m + 0.1 g; v = 0.999 v + 0.001 g^2``, step ``t`` counted
  from 1, ``w -= alpha / (1 - 0.9^t) * m / (sqrt(v) / sqrt(1 - 0.999^t) + 1e-8)``.

These are PyTorch's defaults (``OPTIMIZER_SETTINGS``, written once). Kernels
work on flat (1-D, contiguous) views in the weight's dtype: the constants and
the rate are cast to it, so a float32 model's step is float32 arithmetic, as
PyTorch's; the rules that divide compile with ``error_model="numpy"`` (Python's
model tests every divisor for zero, a branch that keeps the loop scalar: ten
times slower). Row variants (``*_rows``) touch only the listed rows of a 2-D array:
a window's embedding gradient is zero except at the rows of the words it read.
Only plain SGD without decay uses them in ``Optimizer.step``, where skipping a
zero row changes nothing; every other rule moves a weight whose gradient is 0
too (its momentum, its decay), so it updates densely and stays exact.

``clip_by_global_norm`` scales the gradients together so that their joint
Euclidean norm is at most ``max_norm`` (Zaremba et al.'s clipping); or, one pass
fewer, ``global_norm`` and ``clip_factor`` give the factor and ``Optimizer.step``
applies it as it reads the gradients (``grad_scale``).

``Optimizer`` is the face the training driver uses: its ``state`` is a dict of
named arrays that a checkpoint saves and ``load_state`` restores, checked
(names, shapes, dtypes, finite, in range) before any kernel reads them.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Optional

import numpy as np
from numba import njit

from ..base.errors import RnnlmpyError

__all__ = ["OPTIMIZERS", "OPTIMIZER_SETTINGS", "Optimizer", "clip_by_global_norm", "clip_factor", "global_norm",
           "squared_norm", "squared_norm_rows"]


class OptimizerSettings(NamedTuple):
    """One optimiser's constants and the names of its state arrays (one per weight each; ``counted``: it also
    keeps the number of steps taken, ``STEP_KEY``)."""

    slots: tuple
    momentum: float = 0.0  # momentum: the velocity's factor
    decay: float = 0.0  # rmsprop: the running average's factor
    beta1: float = 0.0  # adam
    beta2: float = 0.0  # adam
    epsilon: float = 0.0
    counted: bool = False


# -optimizer name -> its settings (PyTorch's defaults), in option order
OPTIMIZER_SETTINGS = {
    "sgd": OptimizerSettings(slots=()),
    "momentum": OptimizerSettings(slots=("velocity",), momentum=0.9),
    "adagrad": OptimizerSettings(slots=("sum",), epsilon=1e-10),
    "rmsprop": OptimizerSettings(slots=("square_average",), decay=0.99, epsilon=1e-8),
    "adam": OptimizerSettings(slots=("first_moment", "second_moment"), beta1=0.9, beta2=0.999, epsilon=1e-8,
                              counted=True),
}
OPTIMIZERS = tuple(OPTIMIZER_SETTINGS)
NONNEGATIVE_SLOTS = ("sum", "square_average", "second_moment")  # sums of squares: a negative one is corrupt
STEP_KEY = "step"  # adam's step count in ``Optimizer.state``: int64 (1,)
MAX_STEPS = 2**53  # a step count above this is a damaged checkpoint (no run takes so many; far from int64's wrap)


# ---------------------------------------------------------------------------------------------------- kernels

@njit(cache=True, fastmath=True)
def squared_norm(values):
    """Sum of squares of the flat array ``values``, accumulated in float64."""
    total = 0.0
    for i in range(values.shape[0]):
        value = np.float64(values[i])
        total += value * value
    return total


@njit(cache=True, fastmath=True)
def squared_norm_rows(values, rows):
    """Sum of squares of the rows ``rows`` (distinct) of the 2-D array ``values``, in float64."""
    total = 0.0
    for k in range(rows.shape[0]):
        row = values[rows[k]]
        for j in range(row.shape[0]):
            value = np.float64(row[j])
            total += value * value
    return total


@njit(cache=True)
def scale_in_place(values, factor):
    """``values *= factor`` over a flat array (``factor`` cast to its dtype)."""
    factor = values.dtype.type(factor)
    for i in range(values.shape[0]):
        values[i] *= factor


@njit(cache=True)
def scale_rows_in_place(values, rows, factor):
    """``values[rows] *= factor`` over the rows (distinct) of a 2-D array."""
    factor = values.dtype.type(factor)
    for k in range(rows.shape[0]):
        row = values[rows[k]]
        for j in range(row.shape[0]):
            row[j] *= factor


@njit(cache=True)
def sgd_update(weights, grads, scale, alpha, decay):
    """``w -= alpha * (scale * g + decay * w)`` over flat arrays."""
    scale, alpha, decay = weights.dtype.type(scale), weights.dtype.type(alpha), weights.dtype.type(decay)
    for i in range(weights.shape[0]):
        weights[i] -= alpha * (scale * grads[i] + decay * weights[i])


@njit(cache=True)
def sgd_update_rows(weights, grads, rows, scale, alpha):
    """``w[r] -= alpha * (scale * g[r])`` for the rows ``rows`` (distinct) of 2-D arrays: the dense update
    without decay when every other row of ``grads`` is zero."""
    scale, alpha = weights.dtype.type(scale), weights.dtype.type(alpha)
    for k in range(rows.shape[0]):
        weight_row, grad_row = weights[rows[k]], grads[rows[k]]
        for j in range(weight_row.shape[0]):
            weight_row[j] -= alpha * (scale * grad_row[j])


@njit(cache=True)
def momentum_update(weights, grads, velocity, scale, alpha, decay, momentum):
    """``v = momentum * v + (scale * g + decay * w); w -= alpha * v`` over flat arrays."""
    dtype = weights.dtype.type
    scale, alpha, decay, momentum = dtype(scale), dtype(alpha), dtype(decay), dtype(momentum)
    for i in range(weights.shape[0]):
        v = momentum * velocity[i] + (scale * grads[i] + decay * weights[i])
        velocity[i] = v
        weights[i] -= alpha * v


@njit(cache=True, error_model="numpy")
def adagrad_update(weights, grads, total, scale, alpha, decay, epsilon):
    """``s += g'^2; w -= alpha * g' / (sqrt(s) + epsilon)``, ``g' = scale * g + decay * w``, over flat arrays."""
    dtype = weights.dtype.type
    scale, alpha, decay, epsilon = dtype(scale), dtype(alpha), dtype(decay), dtype(epsilon)
    for i in range(weights.shape[0]):
        g = scale * grads[i] + decay * weights[i]
        s = total[i] + g * g
        total[i] = s
        weights[i] -= alpha * g / (np.sqrt(s) + epsilon)


@njit(cache=True, error_model="numpy")
def adagrad_update_rows(weights, grads, total, rows, scale, alpha, epsilon):
    """``adagrad_update`` without decay on the rows ``rows`` (distinct) of 2-D arrays only: the same result when
    every other row of ``grads`` is zero (a zero gradient changes neither the sum nor the weight)."""
    dtype = weights.dtype.type
    scale, alpha, epsilon = dtype(scale), dtype(alpha), dtype(epsilon)
    for k in range(rows.shape[0]):
        weight_row, grad_row, total_row = weights[rows[k]], grads[rows[k]], total[rows[k]]
        for j in range(weight_row.shape[0]):
            g = scale * grad_row[j]
            s = total_row[j] + g * g
            total_row[j] = s
            weight_row[j] -= alpha * g / (np.sqrt(s) + epsilon)


@njit(cache=True, error_model="numpy")
def rmsprop_update(weights, grads, average, scale, alpha, decay, rho, epsilon):
    """``s = rho * s + (1 - rho) * g'^2; w -= alpha * g' / (sqrt(s) + epsilon)``, ``g' = scale * g + decay * w``."""
    dtype = weights.dtype.type
    scale, alpha, decay, keep, epsilon = dtype(scale), dtype(alpha), dtype(decay), dtype(rho), dtype(epsilon)
    mix = dtype(1.0 - rho)
    for i in range(weights.shape[0]):
        g = scale * grads[i] + decay * weights[i]
        s = keep * average[i] + mix * (g * g)
        average[i] = s
        weights[i] -= alpha * g / (np.sqrt(s) + epsilon)


@njit(cache=True, error_model="numpy")
def adam_update(weights, grads, first, second, scale, step_size, correction2_root, decay, beta1, beta2, epsilon):
    """Adam's step over flat arrays (gradient ``scale * g + decay * w``), the bias corrections given: ``step_size =
    alpha / (1 - beta1^t)``, ``correction2_root = sqrt(1 - beta2^t)``; ``w -= step_size * m / (sqrt(v) /
    correction2_root + epsilon)``."""
    dtype = weights.dtype.type
    scale, step_size, root = dtype(scale), dtype(step_size), dtype(correction2_root)
    decay, epsilon = dtype(decay), dtype(epsilon)
    keep1, mix1, keep2, mix2 = dtype(beta1), dtype(1.0 - beta1), dtype(beta2), dtype(1.0 - beta2)
    for i in range(weights.shape[0]):
        g = scale * grads[i] + decay * weights[i]
        m = keep1 * first[i] + mix1 * g
        v = keep2 * second[i] + mix2 * (g * g)
        first[i] = m
        second[i] = v
        weights[i] -= step_size * m / (np.sqrt(v) / root + epsilon)


# ----------------------------------------------------------------------------------------------- Python face

def flat(array: np.ndarray) -> np.ndarray:
    """The 1-D view of a C-contiguous array (a kernel's argument); never a copy."""
    if not array.flags.c_contiguous:
        raise ValueError("optimiser arrays must be C-contiguous")  # a bug of the caller, never the user's input
    return array.reshape(-1)


def checked_rows(rows: Optional[np.ndarray], array: np.ndarray) -> Optional[np.ndarray]:
    """``rows`` (int, 1-D) as the row kernels read them, after checking that each is a row of the 2-D ``array``
    (a kernel does not check, and a row outside would write outside the array); None stays None."""
    if rows is None:
        return None
    rows = np.asarray(rows)
    if array.ndim != 2 or rows.ndim != 1 or rows.dtype.kind not in "iu":
        raise ValueError(f"rows must be 1-D integers indexing a 2-D array, not {rows.dtype} {rows.shape} "
                         f"of {array.shape}")  # a bug of the caller, never the user's input
    if rows.size and (rows.min() < 0 or rows.max() >= array.shape[0]):
        raise ValueError(f"rows must lie in [0, {array.shape[0]})")
    return rows


def _keyed(values) -> list:
    """(key, array) pairs of a mapping or a sequence of arrays."""
    return list(values.items()) if isinstance(values, Mapping) else list(enumerate(values))


def global_norm(grads, rows: Optional[Mapping] = None) -> float:
    """The joint Euclidean norm of the gradients ``grads`` (a dict or a sequence of C-contiguous arrays).

    ``rows`` (same keys as ``grads``, optional) names, for a 2-D gradient, the distinct rows that may be
    nonzero: only those are read.
    """
    rows = rows or {}
    total = 0.0
    for key, grad in _keyed(grads):
        used = checked_rows(rows.get(key), grad)
        total += squared_norm(flat(grad)) if used is None else squared_norm_rows(grad, used)
    return math.sqrt(total)


def clip_factor(norm: float, max_norm: float) -> float:
    """What clipping multiplies the gradients by: ``max_norm / norm`` when ``norm`` exceeds ``max_norm`` (> 0;
    0 or None: never), else 1. A non-finite norm gives 1: scaling would turn every gradient into NaN or 0, and
    the caller decides what a diverged step means."""
    return max_norm / norm if max_norm and math.isfinite(norm) and norm > max_norm else 1.0


def clip_by_global_norm(grads, max_norm: float, rows: Optional[Mapping] = None) -> float:
    """Scale the gradients ``grads`` (a dict or a sequence of C-contiguous arrays) in place by ``clip_factor``
    of their joint norm (``global_norm``, ``rows`` as there) and return that norm before clipping.

    ``Optimizer.step(..., grad_scale=clip_factor(norm, max_norm))`` gives the same weights without writing the
    gradients (one pass over them fewer).
    """
    norm = global_norm(grads, rows)
    factor = clip_factor(norm, max_norm)
    if factor != 1.0:
        rows = rows or {}
        for key, grad in _keyed(grads):
            used = checked_rows(rows.get(key), grad)
            if used is None:
                scale_in_place(flat(grad), factor)
            else:
                scale_rows_in_place(grad, used, factor)
    return norm


def state_layout(name: str, shapes: Mapping[str, tuple]) -> dict[str, tuple]:
    """The state arrays of optimiser ``name`` over weights of ``shapes`` (weight name -> (shape, dtype)): key ->
    (shape, dtype), one ``"<slot>.<weight name>"`` per slot and weight, plus ``STEP_KEY`` when it counts steps."""
    settings = OPTIMIZER_SETTINGS[name]
    layout = {f"{slot}.{key}": (tuple(shape), np.dtype(dtype)) for slot in settings.slots
              for key, (shape, dtype) in shapes.items()}
    if settings.counted:
        layout[STEP_KEY] = ((1,), np.dtype(np.int64))
    return layout


def state_problem(name: str, shapes: Mapping[str, tuple], arrays: Mapping[str, np.ndarray]) -> str:
    """What makes ``arrays`` unfit to be the state of optimiser ``name`` over weights of ``shapes`` (weight name
    -> (shape, dtype)), "" if nothing: other names, shapes or dtypes than ``state_layout``'s, values that are not
    finite, negative sums of squares, a step count outside [0, MAX_STEPS] (beyond it adam's count would wrap)."""
    layout = state_layout(name, shapes)
    if set(arrays) != set(layout):
        missing, extra = sorted(set(layout) - set(arrays)), sorted(set(arrays) - set(layout))
        return f"the {name} optimiser state " + (f"lacks {', '.join(missing)}" if missing
                                                  else f"has unexpected {', '.join(extra)}")
    for key, (shape, dtype) in layout.items():
        array = np.asarray(arrays[key])
        if array.shape != shape or array.dtype != dtype:
            return f"optimiser state {key} is {array.dtype} {array.shape}, expected {dtype} {shape}"
        if key == STEP_KEY:
            if array[0] < 0:
                return f"optimiser step count {int(array[0])} is negative"
            if array[0] > MAX_STEPS:
                return f"optimiser step count {int(array[0])} is above {MAX_STEPS}"
        elif not np.all(np.isfinite(array)):
            return f"optimiser state {key} holds values that are not finite"
        elif key.split(".", 1)[0] in NONNEGATIVE_SLOTS and array.size and array.min() < 0:
            return f"optimiser state {key} holds negative sums of squares"
    return ""


class Optimizer:
    """One optimiser over named weights: ``Optimizer(name, weights, decay)``, then ``step`` once a window.

    ``weights`` (name -> array, C-contiguous float32/float64) fixes the names, shapes and dtypes the optimiser
    keeps state for; ``decay`` is the L2 weight decay (rnnlm's ``-beta``) added to every gradient. ``state``
    (name -> array) is what a checkpoint saves: ``"<slot>.<weight name>"`` per state array (``OPTIMIZER_SETTINGS``
    names the slots), plus ``STEP_KEY`` (int64 (1,), the steps taken) for adam; sgd has none. A fresh state is
    zeros (step 0).
    """

    def __init__(self, name: str, weights: Mapping[str, np.ndarray], decay: float = 0.0):
        if name not in OPTIMIZER_SETTINGS:
            raise RnnlmpyError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not math.isfinite(decay) or decay < 0:
            raise RnnlmpyError(f"the weight decay must be a finite number >= 0, not {decay}")
        self.name = name
        self.settings = OPTIMIZER_SETTINGS[name]
        self.decay = float(decay)
        self.shapes = {key: (tuple(array.shape), np.dtype(array.dtype)) for key, array in weights.items()}
        for key, (_, dtype) in self.shapes.items():
            if dtype not in (np.float32, np.float64):
                raise ValueError(f"{key}: optimisers update float32 or float64 weights, not {dtype}")  # a bug
        self.state = {key: np.zeros(shape, dtype=dtype)
                      for key, (shape, dtype) in state_layout(name, self.shapes).items()}

    def __repr__(self) -> str:
        return f"Optimizer({self.name!r}, {len(self.shapes)} weights, decay={self.decay})"

    @property
    def steps(self) -> int:
        """Steps taken (adam counts them; the others report 0)."""
        return int(self.state[STEP_KEY][0]) if self.settings.counted else 0

    def step(self, weights: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], alpha: float,
             rows: Optional[Mapping[str, np.ndarray]] = None, grad_scale: float = 1.0) -> None:
        """Update every weight of the optimiser in ``weights`` (same names, shapes, dtypes as at construction)
        from ``grads`` (same shapes) times ``grad_scale`` at rate ``alpha``. ``grads`` are only read.

        ``grad_scale``: clipping fused into the step (``clip_factor``): the same weights as scaling the
        gradients first, to the bit. ``rows`` (name -> distinct int rows, optional): for a 2-D weight, the only
        rows of its gradient that may be nonzero. Plain SGD and Adagrad without decay then update those rows only,
        with the same result; the other rules ignore it (their state decays on every row).
        """
        settings, decay = self.settings, self.decay
        if settings.counted:
            self.state[STEP_KEY][0] += 1
            t = int(self.state[STEP_KEY][0])
            step_size = alpha / (1.0 - settings.beta1 ** t)
            correction2_root = math.sqrt(1.0 - settings.beta2 ** t)
        rows = rows or {}
        for key, (shape, dtype) in self.shapes.items():
            weight, grad = weights[key], grads[key]
            if weight.shape != shape or grad.shape != shape or weight.dtype != dtype or grad.dtype != dtype:
                raise ValueError(f"{key}: weight {weight.dtype} {weight.shape} and gradient {grad.dtype} "
                                 f"{grad.shape}, the optimiser's is {dtype} {shape}")  # a bug of the caller
            if self.name == "sgd":
                used = checked_rows(rows.get(key), weight)
                if used is not None and decay == 0.0:
                    sgd_update_rows(weight, grad, used, grad_scale, alpha)
                else:
                    sgd_update(flat(weight), flat(grad), grad_scale, alpha, decay)
            elif self.name == "momentum":
                momentum_update(flat(weight), flat(grad), flat(self.state[f"velocity.{key}"]), grad_scale, alpha,
                                decay, settings.momentum)
            elif self.name == "adagrad":
                used = checked_rows(rows.get(key), weight)
                if used is not None and decay == 0.0:
                    adagrad_update_rows(weight, grad, self.state[f"sum.{key}"], used, grad_scale, alpha,
                                        settings.epsilon)
                else:
                    adagrad_update(flat(weight), flat(grad), flat(self.state[f"sum.{key}"]), grad_scale, alpha,
                                   decay, settings.epsilon)
            elif self.name == "rmsprop":
                rmsprop_update(flat(weight), flat(grad), flat(self.state[f"square_average.{key}"]), grad_scale,
                               alpha, decay, settings.decay, settings.epsilon)
            else:
                adam_update(flat(weight), flat(grad), flat(self.state[f"first_moment.{key}"]),
                            flat(self.state[f"second_moment.{key}"]), grad_scale, step_size, correction2_root, decay,
                            settings.beta1, settings.beta2, settings.epsilon)

    def load_state(self, arrays: Mapping[str, np.ndarray], source: str = "the checkpoint") -> None:
        """Restore ``state`` from ``arrays`` (as saved from ``state``; e.g. read from ``source``, named in the
        message), after checking every array (``state_problem``). Raises RnnlmpyError (one line) and keeps the
        current state on any mismatch."""
        problem = state_problem(self.name, self.shapes, arrays)
        if problem:
            raise RnnlmpyError(f"{source}: {problem}")
        for key in self.state:
            array = np.asarray(arrays[key])
            self.state[key] = np.array(array, dtype=array.dtype, order="C", copy=True)

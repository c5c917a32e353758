"""The recurrent cells' transposed Jacobians, and the reverse sweep that measures gradients through time.

A recurrent cell maps its state s(t-1) to s(t) (s = h, or (h, c) for an LSTM).
For a loss L, ``dL/ds(t-1) = J(t)ᵀ dL/ds(t)`` with ``J(t) = ds(t)/ds(t-1)``.
``pull_back(steps, t, grad_h, grad_c, out_h, out_c)`` applies ``J(t)ᵀ`` to R
gradients at once, rows of ``grad_h`` (R, H) (and ``grad_c`` (R, H) for an
LSTM; (R, 0) otherwise), with one matrix product per step (the GRU of the
per-word engine: two), so that the sweep below costs O(T * R * H^2).

What a cell's Jacobian needs of step t comes in a "steps" bundle, arrays over
the T steps of a chunk, float64, one bundle class per cell (the same cell, one
bundle, whichever model family runs it):

- ``ElmanSteps``: ``h(t) = act(Wx x(t) + U h(t-1) + b)``, ``recurrent`` U (H, H), ``hidden`` (T, H) the
  outputs h(t), ``activation`` an int code of ``ACTIVATIONS``. The language model's per-word Elman cell
  (``elman``), the batched engine's (``window_elman``: its cache's gates are h(t)) and the tagger's tanh cell.
- ``WordGruSteps``: the per-word GRU (``gru``), gates [z | r | c], ``c = tanh(x_c + U_h (r * p) + b_c)``,
  ``h = z * p + (1 - z) * c``: ``recurrent`` (3H, H), ``gates`` (T, 3H), ``previous`` (T, H) the state p fed in.
- ``GruSteps``: the batched engine's GRU (``window_gru``), gates [r | z | n], ``n = tanh(Wx_n x + b_n + r *
  (Wh_n h(t-1)))``, ``h = (1 - z) * n + z * h(t-1)``: ``recurrent`` (3H, H), and its ``WindowCache``'s
  ``gates`` (T, 3H), ``previous`` (T, H), ``cells`` (T, H) as ``candidate_parts`` (Wh_n h(t-1)).
- ``LstmSteps``: the LSTM (``window_lstm``), gates [i | f | g | o], ``c(t) = f * c(t-1) + i * g``, ``h(t) =
  o * tanh(c(t))``: ``recurrent`` (4H, H), and its ``WindowCache``'s ``gates`` (T, 4H), ``cells`` (T, H)
  c(t), ``previous_cells`` (T, H) c(t-1).

A cell added later plugs in with its bundle class, its ``pull_back`` and one line in ``PULL_BACKS``.

``sweep`` runs the reverse pass: it keeps the gradients of the last R = K + 1
losses with respect to the current step's state in a ring of R rows, adds the
new loss's gradient as it reaches each step, sums the norms of the h parts by
distance k, and multiplies the whole ring by ``J(t)ᵀ`` once per step.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload

from .cell import ACTIVATIONS, multiply_by_derivative
from .window import cell_name

__all__ = ["ACTIVATIONS", "ElmanSteps", "GradientSweep", "GruSteps", "LstmSteps", "WordGruSteps", "pull_back", "sweep",
           "window_steps"]


class ElmanSteps(NamedTuple):
    """An Elman cell's steps: ``recurrent`` (H, H), ``hidden`` (T, H) its outputs, ``activation`` (an int code of
    ``ACTIVATIONS``)."""

    recurrent: np.ndarray
    hidden: np.ndarray
    activation: int


class WordGruSteps(NamedTuple):
    """The per-word GRU's steps: ``recurrent`` (3H, H) [U_z; U_r; U_h], ``gates`` (T, 3H) z, r, c after their
    nonlinearities, ``previous`` (T, H) the state fed into each step."""

    recurrent: np.ndarray
    gates: np.ndarray
    previous: np.ndarray


class GruSteps(NamedTuple):
    """The window GRU's steps: ``recurrent`` (3H, H) h(t-1) -> gates r, z, n; ``gates`` (T, 3H) after their
    nonlinearities, ``previous`` (T, H) h(t-1), ``candidate_parts`` (T, H) Wh_n h(t-1)."""

    recurrent: np.ndarray
    gates: np.ndarray
    previous: np.ndarray
    candidate_parts: np.ndarray


class LstmSteps(NamedTuple):
    """The LSTM's steps: ``recurrent`` (4H, H) h(t-1) -> gates i, f, g, o; ``gates`` (T, 4H) after their
    nonlinearities, ``cells`` (T, H) c(t), ``previous_cells`` (T, H) c(t-1)."""

    recurrent: np.ndarray
    gates: np.ndarray
    cells: np.ndarray
    previous_cells: np.ndarray


@njit(cache=True)
def elman_pull_back(steps, t, grad_h, grad_c, out_h, out_c):
    """``out_h = (grad_h * act'(h(t))) @ U``; ``grad_h`` is overwritten (its rows times the derivative)."""
    hidden = steps.hidden[t]
    for r in range(grad_h.shape[0]):
        multiply_by_derivative(grad_h[r], hidden, steps.activation)
    np.dot(grad_h, steps.recurrent, out_h)


@njit(cache=True)
def word_gru_pull_back(steps, t, grad_h, grad_c, out_h, out_c):
    """The per-word GRU's ``J(t)ᵀ`` (as ``gru.gru_backpropagate``'s carry, without clipping): through z, through
    the candidate's ``U_h (r * p)`` and r, and straight through ``z * p``."""
    rows, size = grad_h.shape
    gates, previous = steps.gates[t], steps.previous[t]
    update_reset = np.empty((rows, 2 * size))
    candidate = np.empty((rows, size))
    for r in range(rows):
        for j in range(size):
            z, c, e = gates[j], gates[2 * size + j], grad_h[r, j]
            update_reset[r, j] = e * (previous[j] - c) * z * (1.0 - z)
            candidate[r, j] = e * (1.0 - z) * (1.0 - c * c)
    through_reset = np.dot(candidate, steps.recurrent[2 * size:])  # dL/d(r * p)
    for r in range(rows):
        for j in range(size):
            reset = gates[size + j]
            update_reset[r, size + j] = through_reset[r, j] * previous[j] * reset * (1.0 - reset)
    np.dot(update_reset, steps.recurrent[:2 * size], out_h)
    for r in range(rows):
        for j in range(size):
            out_h[r, j] += through_reset[r, j] * gates[size + j] + grad_h[r, j] * gates[j]


@njit(cache=True)
def gru_pull_back(steps, t, grad_h, grad_c, out_h, out_c):
    """The window GRU's ``J(t)ᵀ`` (as ``window_gru.backward``'s carry): the gates' errors on the recurrent side
    (the candidate's times r) through ``recurrent``, plus straight through ``z * h(t-1)``."""
    rows, size = grad_h.shape
    gates, previous, parts = steps.gates[t], steps.previous[t], steps.candidate_parts[t]
    gate_grads = np.empty((rows, 3 * size))
    for r in range(rows):
        for j in range(size):
            reset, update, candidate = gates[j], gates[size + j], gates[2 * size + j]
            e = grad_h[r, j]
            d_candidate = e * (1.0 - update) * (1.0 - candidate * candidate)
            gate_grads[r, j] = d_candidate * parts[j] * reset * (1.0 - reset)
            gate_grads[r, size + j] = e * (previous[j] - candidate) * update * (1.0 - update)
            gate_grads[r, 2 * size + j] = d_candidate * reset
    np.dot(gate_grads, steps.recurrent, out_h)
    for r in range(rows):
        for j in range(size):
            out_h[r, j] += grad_h[r, j] * gates[size + j]


@njit(cache=True)
def lstm_pull_back(steps, t, grad_h, grad_c, out_h, out_c):
    """The LSTM's ``J(t)ᵀ`` on (dL/dh(t), dL/dc(t)): the gates' errors through ``recurrent`` to h(t-1), and
    ``dL/dc(t-1) = f * (dL/dc(t) + dL/dh(t) * o * tanh'(c(t)))``."""
    rows, size = grad_h.shape
    gates, cells, previous_cells = steps.gates[t], steps.cells[t], steps.previous_cells[t]
    gate_grads = np.empty((rows, 4 * size))
    for j in range(size):
        i, f, g, o = gates[j], gates[size + j], gates[2 * size + j], gates[3 * size + j]
        squashed = math.tanh(cells[j])
        for r in range(rows):
            d_hidden = grad_h[r, j]
            d_cell = grad_c[r, j] + d_hidden * o * (1.0 - squashed * squashed)
            gate_grads[r, j] = d_cell * g * i * (1.0 - i)
            gate_grads[r, size + j] = d_cell * previous_cells[j] * f * (1.0 - f)
            gate_grads[r, 2 * size + j] = d_cell * i * (1.0 - g * g)
            gate_grads[r, 3 * size + j] = d_hidden * squashed * o * (1.0 - o)
            out_c[r, j] = d_cell * f
    np.dot(gate_grads, steps.recurrent, out_h)


PULL_BACKS = {ElmanSteps: elman_pull_back, WordGruSteps: word_gru_pull_back, GruSteps: gru_pull_back,
              LstmSteps: lstm_pull_back}  # steps bundle class -> its cell's J(t)ᵀ


def pull_back(steps, t, grad_h, grad_c, out_h, out_c):
    """``(out_h, out_c) = J(t)ᵀ (grad_h, grad_c)`` for the cell of the bundle ``steps``, R rows at once
    (float64 (R, H); ``grad_c``/``out_c`` (R, 0) for a cell without a c state). ``grad_h`` and ``grad_c`` may be
    overwritten. Inside a kernel, compiled for the bundle's class alone (``PULL_BACKS``)."""


@overload(pull_back)
def _pull_back(steps, t, grad_h, grad_c, out_h, out_c):
    function = PULL_BACKS.get(getattr(steps, "instance_class", None))
    if function is not None:
        return lambda steps, t, grad_h, grad_c, out_h, out_c: function(steps, t, grad_h, grad_c, out_h, out_c)
    return None


@njit(cache=True)
def sweep(steps, output_grads, scored, cut, first, ring_h, ring_c, active, norm_sums, counts):
    """The reverse pass over the T steps of a chunk, last step first, adding to the norms of gradients through time.

    Step t (stream position ``first + t``) has the loss gradient ``output_grads[t]`` (T, H) = dL(t)/dh(t) where
    ``scored[t]`` (bool (T,)); ``cut[t]`` (bool (T,)) says that step t's state does not depend on step t-1's
    (a reset: no gradient flows past it). The ring of R = K + 1 rows ``ring_h`` (R, H) (and ``ring_c`` (R, H) for
    an LSTM, else (R, 0)) holds, at slot ``p % R``, the gradient of the loss at position p with respect to the
    state of the step being visited, where ``active`` (bool (R,)); it carries over from the chunk after this one
    (all zero and inactive before the text's last chunk). At each step, for each k = 0..K whose loss (position
    ``first + t + k``) is active, ``norm_sums[k]`` (float64 (R,)) gets ``||dL(t+k)/dh(t)||`` and ``counts[k]``
    (int64 (R,)) one more; then the ring is pulled back through ``J(t)ᵀ`` (``pull_back``), or emptied at a cut.
    """
    rings, size = ring_h.shape
    out_h = np.empty_like(ring_h)
    out_c = np.empty_like(ring_c)
    for t in range(output_grads.shape[0] - 1, -1, -1):
        position = first + t
        slot = position % rings
        active[slot] = scored[t]
        for j in range(size):
            ring_h[slot, j] = output_grads[t, j] if scored[t] else 0.0
        for j in range(ring_c.shape[1]):
            ring_c[slot, j] = 0.0  # the output reads h alone
        for k in range(rings):
            row = (position + k) % rings
            if active[row]:
                total = 0.0
                for j in range(size):
                    total += ring_h[row, j] * ring_h[row, j]
                norm_sums[k] += math.sqrt(total)
                counts[k] += 1
        if cut[t]:
            active[:] = False
            ring_h[:, :] = 0.0
            ring_c[:, :] = 0.0
            continue
        pull_back(steps, t, ring_h, ring_c, out_h, out_c)
        ring_h[:, :] = out_h
        ring_c[:, :] = out_c


def window_steps(hidden_type: str, recurrent: np.ndarray, cache) -> tuple:
    """The steps bundle of stream 0 of a window cell's ``WindowCache`` (``window.window_cache``, filled by the
    cell's ``forward``) for a layer of -hidden-type ``hidden_type`` whose h(t-1) -> gates matrix is ``recurrent``
    (G*H, H): float64 copies, so that any model of the batched engine's cells (a language model's top layer, a
    tagger direction) is swept by the same code."""
    def series(array):
        return np.ascontiguousarray(array[:, 0], dtype=np.float64)

    weights = np.ascontiguousarray(recurrent, dtype=np.float64)
    cell = cell_name(hidden_type)
    if cell == "lstm":
        return LstmSteps(weights, series(cache.gates), series(cache.cells), series(cache.previous_cells))
    if cell == "gru":
        return GruSteps(weights, series(cache.gates), series(cache.previous), series(cache.cells))
    return ElmanSteps(weights, series(cache.gates), ACTIVATIONS[hidden_type])


class GradientSweep:
    """The reverse sweep's state over one text (``sweep``), driven from Python chunk by chunk, last chunk first.

    ``steps`` K: the distances k = 0..K measured; ``size`` H; ``cells``: whether the state has a c part (LSTM).
    ``add(bundle, output_grads, scored, cut, first)`` sweeps one chunk (positions ``first`` to ``first + T - 1``;
    arrays as for ``sweep``, any float dtype for ``output_grads``); ``restart()`` begins another text (or another
    direction or network) whose norms add to the same sums; ``means()`` gives (mean norm float64 (K+1,), pairs
    int64 (K+1,)) over every pair (t, t-k) seen (NaN where none).
    """

    def __init__(self, steps: int, size: int, cells: bool) -> None:
        self.norm_sums = np.zeros(steps + 1, dtype=np.float64)
        self.counts = np.zeros(steps + 1, dtype=np.int64)
        self.ring_h = np.zeros((steps + 1, size), dtype=np.float64)
        self.ring_c = np.zeros((steps + 1, size if cells else 0), dtype=np.float64)
        self.active = np.zeros(steps + 1, dtype=np.bool_)

    def restart(self) -> None:
        """Forget the pending gradients (a new text: no gradient flows between texts); the sums stay."""
        self.ring_h[...] = 0.0
        self.ring_c[...] = 0.0
        self.active[...] = False

    def add(self, bundle, output_grads: np.ndarray, scored: np.ndarray, cut: np.ndarray, first: int) -> None:
        """Sweep one chunk of T steps (``sweep``), after the chunk that follows it in the text."""
        sweep(bundle, np.ascontiguousarray(output_grads, dtype=np.float64),
              np.ascontiguousarray(scored, dtype=np.bool_), np.ascontiguousarray(cut, dtype=np.bool_), int(first),
              self.ring_h, self.ring_c, self.active, self.norm_sums, self.counts)

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean of ||dL(t)/dh(t-k)|| over the pairs seen, float64 (K+1,), NaN where none; pairs, int64 (K+1,))."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.norm_sums / np.maximum(self.counts, 1), np.nan), self.counts.copy()

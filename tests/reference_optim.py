"""Slow, obvious NumPy optimiser steps and gradient clipping, for testing rnnlmpy/kernels/optimizers.py.

Each rule is written as in its paper / PyTorch's documentation, in float64 on whole arrays, with the weight
decay added to the gradient first (``g + decay * w``). ``state`` is a dict of arrays (name -> array), updated in
place like the weights; the step count ``t`` starts at 1.
"""

from __future__ import annotations

import numpy as np

MOMENTUM = 0.9
ADAGRAD_EPS = 1e-10
RMSPROP_RHO, RMSPROP_EPS = 0.99, 1e-8
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8


def step(name: str, w: np.ndarray, g: np.ndarray, state: dict, alpha: float, decay: float, t: int) -> None:
    """One step of optimiser ``name`` on ``w`` from gradient ``g`` (descending), ``state`` its arrays."""
    g = g + decay * w
    if name == "sgd":
        w -= alpha * g
    elif name == "momentum":
        state["v"] = MOMENTUM * state.get("v", np.zeros_like(w)) + g
        w -= alpha * state["v"]
    elif name == "adagrad":
        state["s"] = state.get("s", np.zeros_like(w)) + g ** 2
        w -= alpha * g / (np.sqrt(state["s"]) + ADAGRAD_EPS)
    elif name == "rmsprop":
        state["s"] = RMSPROP_RHO * state.get("s", np.zeros_like(w)) + (1 - RMSPROP_RHO) * g ** 2
        w -= alpha * g / (np.sqrt(state["s"]) + RMSPROP_EPS)
    elif name == "adam":
        state["m"] = ADAM_BETA1 * state.get("m", np.zeros_like(w)) + (1 - ADAM_BETA1) * g
        state["v"] = ADAM_BETA2 * state.get("v", np.zeros_like(w)) + (1 - ADAM_BETA2) * g ** 2
        m_hat = state["m"] / (1 - ADAM_BETA1 ** t)
        v_hat = state["v"] / (1 - ADAM_BETA2 ** t)
        w -= alpha * m_hat / (np.sqrt(v_hat) + ADAM_EPS)
    else:
        raise ValueError(name)


# the reference's state names -> the kernel's slot names
SLOTS = {"momentum": {"v": "velocity"}, "adagrad": {"s": "sum"}, "rmsprop": {"s": "square_average"},
         "adam": {"m": "first_moment", "v": "second_moment"}, "sgd": {}}


def clip(grads: list, max_norm: float) -> float:
    """Scale every array of ``grads`` by max_norm / norm when their joint norm exceeds max_norm; the norm."""
    norm = float(np.sqrt(sum(np.sum(np.asarray(g, dtype=np.float64) ** 2) for g in grads)))
    if max_norm and norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    return norm

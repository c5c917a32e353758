"""A slow, obvious NumPy GRU (Cho et al. 2014), for testing rnnlmpy/kernels/gru.py.

Float64 and dense: a position's input is an explicit multi-hot row of
``inputs`` (N, V) multiplied by the input matrix. Parameters are a dict with
``input_weights`` (V, 3H), ``recurrent`` (3H, H) and ``bias`` (3H,), each
3H block ordered [update z | reset r | candidate]::

    z = sigmoid(x_z + U_z p + b_z),  r = sigmoid(x_r + U_r p + b_r)
    c = tanh(x_c + U_h (r * p) + b_c),  h = z * p + (1 - z) * c

Gradients are of an objective L = sum_t loss_t(h_t) given by its output errors
g_t = dL/dh_t, by back-propagation through time (optionally truncated and clipped
the way the kernel truncates and clips).
"""

from __future__ import annotations

import numpy as np

PARAMETERS = ("input_weights", "recurrent", "bias")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def blocks(params: dict) -> tuple:
    """(U_z, U_r, U_h, W_z, W_r, W_c, b_z, b_r, b_c): the three gates' slices of the parameters."""
    size = params["recurrent"].shape[1]
    parts = [slice(0, size), slice(size, 2 * size), slice(2 * size, 3 * size)]
    return (tuple(params["recurrent"][p] for p in parts) + tuple(params["input_weights"][:, p] for p in parts)
            + tuple(params["bias"][p] for p in parts))


def forward(params: dict, inputs: np.ndarray, hidden_start: np.ndarray):
    """Run the GRU over the rows of ``inputs`` (N, V).

    Returns (hidden states (N, H), the state fed into each position (N, H),
    gates [z | r | c] per position (N, 3H)).
    """
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    u_z, u_r, u_h, w_z, w_r, w_c, b_z, b_r, b_c = blocks(params)
    state = np.asarray(hidden_start, dtype=np.float64).copy()
    hiddens, prevs, gates = [], [], []
    for x in np.asarray(inputs, dtype=np.float64):
        z = sigmoid(x @ w_z + u_z @ state + b_z)
        r = sigmoid(x @ w_r + u_r @ state + b_r)
        c = np.tanh(x @ w_c + u_h @ (r * state) + b_c)
        hidden = z * state + (1.0 - z) * c
        prevs.append(state)
        hiddens.append(hidden)
        gates.append(np.concatenate([z, r, c]))
        state = hidden
    return np.array(hiddens), np.array(prevs), np.array(gates)


def linear_objective(params: dict, inputs: np.ndarray, hidden_start: np.ndarray, errors: np.ndarray) -> float:
    """L = sum_t errors[t] · h_t: its output errors are ``errors`` whatever the parameters."""
    hiddens, _, _ = forward(params, inputs, hidden_start)
    return float(np.sum(errors * hiddens))


def softmax_objective(params: dict, inputs: np.ndarray, hidden_start: np.ndarray, output: np.ndarray,
                      targets: np.ndarray) -> float:
    """L = sum_t log softmax(output @ h_t)[targets[t]]: a language model's log-likelihood."""
    hiddens, _, _ = forward(params, inputs, hidden_start)
    scores = hiddens @ output.T
    scores -= scores.max(axis=1, keepdims=True)
    log_probabilities = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return float(np.sum(log_probabilities[np.arange(len(targets)), targets]))


def softmax_output_errors(params: dict, inputs: np.ndarray, hidden_start: np.ndarray, output: np.ndarray,
                          targets: np.ndarray) -> np.ndarray:
    """g_t = d softmax_objective / d h_t = outputᵀ (onehot(target) - P), shape (N, H)."""
    hiddens, _, _ = forward(params, inputs, hidden_start)
    errors = []
    for hidden, target in zip(hiddens, targets):
        scores = output @ hidden
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        probabilities[target] -= 1.0
        errors.append(-output.T @ probabilities)
    return np.array(errors)


def gradients(params: dict, inputs: np.ndarray, hidden_start: np.ndarray, output_errors: np.ndarray,
              steps: int | None = None, cutoff: float = 0.0):
    """dL/d parameter, per parameter block, for output errors g_t = dL/dh_t (N, H), by BPTT.

    With ``steps`` None: the exact gradient over the whole stream. Otherwise truncated
    as the kernel's one BPTT call with the newest position at the ring's head: only
    the last ``steps`` positions are back-propagated (their output errors joining
    on the way), and the error stops at the state fed into the oldest of them.
    ``cutoff`` > 0 clamps the error passed to the previous state (dL/dp) to
    [-cutoff, cutoff] before the previous position's output error joins it.

    Returns (gradients dict, dL/d pre-activations [z | r | c] per position (N, 3H),
    zero where not reached).
    """
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    inputs = np.asarray(inputs, dtype=np.float64)
    u_z, u_r, u_h, *_ = blocks(params)
    _, prevs, gates = forward(params, inputs, hidden_start)
    length, size = prevs.shape
    first = 0 if steps is None else max(length - steps, 0)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    deltas = np.zeros((length, 3 * size))
    carried = np.zeros(size)  # dL/dh_t from later positions
    for t in reversed(range(first, length)):
        p = prevs[t]
        z, r, c = gates[t, :size], gates[t, size:2 * size], gates[t, 2 * size:]
        d_h = carried + output_errors[t]
        d_z = d_h * (p - c) * z * (1.0 - z)
        d_c = d_h * (1.0 - z) * (1.0 - c * c)
        d_rp = u_h.T @ d_c  # dL/d(r * p)
        d_r = d_rp * p * r * (1.0 - r)
        delta = np.concatenate([d_z, d_r, d_c])
        deltas[t] = delta
        grads["recurrent"] += np.vstack([np.outer(d_z, p), np.outer(d_r, p), np.outer(d_c, r * p)])
        grads["input_weights"] += np.outer(inputs[t], delta)
        grads["bias"] += delta
        carried = d_h * z + d_rp * r + u_z.T @ d_z + u_r.T @ d_r
        if cutoff > 0:
            carried = np.clip(carried, -cutoff, cutoff)
    return grads, deltas

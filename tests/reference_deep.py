"""Slow, obviously-correct NumPy references of the batched engine's window cells and full-softmax layer.

Everything in float64, one time step at a time, written from the equations of
``rnnlmpy.kernels.window_lstm`` / ``window_gru`` / ``window_elman`` /
``window_softmax``; the kernels are tested against these, and these (with the
kernels) against finite differences.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = {
    "sigmoid": (lambda v: 1.0 / (1.0 + np.exp(-v)), lambda h: h * (1.0 - h)),
    "tanh": (np.tanh, lambda h: 1.0 - h * h),
    "relu": (lambda v: np.maximum(v, 0.0), lambda h: (h > 0).astype(h.dtype)),
}


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def fed_state(t, resets, state_in, series, slot):
    """The state fed into step t: zero where reset, else series[t-1] (state_in[:, slot] at t = 0)."""
    previous = state_in[:, slot] if t == 0 else series[t - 1]
    return np.where(resets[t][:, None] != 0, 0.0, previous)


def cell_forward(kind, Wx, Wh, bias, inputs, resets, state_in, activation="tanh"):
    """(outputs (T,B,H), state_out (B,S,H), steps: a list of per-step records for ``cell_backward``)."""
    steps_count, streams, _ = inputs.shape
    size = Wh.shape[1]
    outputs = np.zeros((steps_count, streams, size))
    cells = np.zeros((steps_count, streams, size))
    records = []
    for t in range(steps_count):
        x = inputs[t]
        h_prev = fed_state(t, resets, state_in, outputs, 0)
        if kind == "lstm":
            c_prev = fed_state(t, resets, state_in, cells, 1)
            a = x @ Wx.T + h_prev @ Wh.T + bias
            i, f = sigmoid(a[:, :size]), sigmoid(a[:, size:2 * size])
            g, o = np.tanh(a[:, 2 * size:3 * size]), sigmoid(a[:, 3 * size:])
            cells[t] = f * c_prev + i * g
            outputs[t] = o * np.tanh(cells[t])
            records.append((h_prev, c_prev, i, f, g, o, cells[t].copy()))
        elif kind == "gru":
            ax = x @ Wx.T + bias
            ah = h_prev @ Wh.T
            r = sigmoid(ax[:, :size] + ah[:, :size])
            z = sigmoid(ax[:, size:2 * size] + ah[:, size:2 * size])
            hn = ah[:, 2 * size:]
            n = np.tanh(ax[:, 2 * size:] + r * hn)
            outputs[t] = (1 - z) * n + z * h_prev
            records.append((h_prev, r, z, n, hn))
        else:
            act = ACTIVATIONS[activation][0]
            outputs[t] = act(x @ Wx.T + h_prev @ Wh.T + bias)
            records.append((h_prev, outputs[t].copy()))
    last = [outputs[-1]] + ([cells[-1]] if kind == "lstm" else [])
    return outputs, np.stack(last, axis=1), records


def cell_backward(kind, Wx, Wh, inputs, resets, records, grad_outputs, activation="tanh"):
    """(grad_inputs (T,B,In), grad Wx, grad Wh, grad bias) of sum(grad_outputs * outputs), truncated at the
    window's start and at resets."""
    steps_count, streams, _ = inputs.shape
    size = Wh.shape[1]
    gWx, gWh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wx.shape[0])
    grad_inputs = np.zeros_like(inputs)
    carry_h = np.zeros((streams, size))
    carry_c = np.zeros((streams, size))
    for t in reversed(range(steps_count)):
        dh = grad_outputs[t] + carry_h
        if kind == "lstm":
            h_prev, c_prev, i, f, g, o, c = records[t]
            dc = carry_c + dh * o * (1 - np.tanh(c) ** 2)
            da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                                 dh * np.tanh(c) * o * (1 - o)], axis=1)
            da_h = da
            carry_c = dc * f
            direct = 0.0
        elif kind == "gru":
            h_prev, r, z, n, hn = records[t]
            dn = dh * (1 - z) * (1 - n * n)
            dr = dn * hn * r * (1 - r)
            dz = dh * (h_prev - n) * z * (1 - z)
            da = np.concatenate([dr, dz, dn], axis=1)
            da_h = np.concatenate([dr, dz, dn * r], axis=1)
            direct = dh * z
        else:
            h_prev, h = records[t]
            da = dh * ACTIVATIONS[activation][1](h)
            da_h = da
            direct = 0.0
        gWx += da.T @ inputs[t]
        gWh += da_h.T @ h_prev
        gb += da.sum(axis=0)
        grad_inputs[t] = da @ Wx
        carry_h = da_h @ Wh + direct
        keep = (resets[t] == 0)[:, None]
        carry_h = carry_h * keep
        carry_c = carry_c * keep
    return grad_inputs, gWx, gWh, gb


def softmax_train(W, bias, hidden, targets, weights, scale):
    """(log10 P per row (0 where weight 0), grad W, grad bias, grad hidden) of scale * sum weight * -ln P."""
    logits = hidden @ W.T + bias
    logits = logits - logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    rows = np.arange(len(targets))
    safe = np.where(weights != 0, targets, 0)
    log10 = np.where(weights != 0, log_p[rows, safe] / np.log(10), 0.0)
    d = np.exp(log_p)
    d[rows, safe] -= 1
    d *= (scale * weights)[:, None]
    return log10, d.T @ hidden, d.sum(axis=0), d @ W

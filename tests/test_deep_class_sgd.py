"""SGD with the batched engine's class-factored output: several windows of training (gradients, global-norm
clipping, the SGD step, the streams' state carried, threads merging their gradients) against a plain NumPy
implementation, and the default SGD rate a class-factored output starts from."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from reference_deep import cell_backward, cell_forward
from rnnlmpy.kernels import optimizers
from rnnlmpy.rnnlm import BATCHED_DEFAULTS, PER_WORD_DEFAULTS, RnnlmConfig, deep

HIDDEN, LAYERS, STEPS, STREAMS = 5, 2, 4, 3
# 11 words in 4 classes (contiguous runs, as rnnlm's); the first class holds the most frequent words
WORD_CLASS = np.array([0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3], dtype=np.int32)
CLASS_START = np.array([0, 2, 5, 8], dtype=np.int32)
CLASS_END = np.array([2, 5, 8, 11], dtype=np.int32)
WORDS, CLASSES = len(WORD_CLASS), len(CLASS_START)
TRAINED = ("input_weights", "recurrent", "gate_bias", "class_weights", "class_bias", "output_weights", "output_bias")
CLIP, DECAY, RATE = 1.43, 1e-3, 1.0  # CLIP: some windows of this data clipped, some not


def class_model(seed=3):
    """A stand-in for a two-layer LSTM RnnlmModel with a class-factored output, float64."""
    config = SimpleNamespace(activation="lstm", hidden_size=HIDDEN, layers=LAYERS, dropout=0.0, tie_weights=False,
                             dtype="float64", rand_seed=seed)
    arrays = deep.initial_weights(config, WORDS, CLASSES, np.random.default_rng(seed))
    for name in ("recurrent", "input_weights", "class_weights", "output_weights"):
        arrays[name] *= 4  # gradients large enough that clipping acts in some windows
    vocabulary = SimpleNamespace(size=WORDS, class_count=CLASSES, word_class=WORD_CLASS, class_start=CLASS_START,
                                 class_end=CLASS_END)
    return SimpleNamespace(config=config, vocabulary=vocabulary, **arrays)


def windows(count, seed=5):
    """``count`` windows of a skewed word stream (the first class frequent), a reset in the second."""
    rng = np.random.default_rng(seed)
    probabilities = np.linspace(3.0, 0.5, WORDS) ** 2
    text = rng.choice(WORDS, (count * STEPS + 1, STREAMS), p=probabilities / probabilities.sum()).astype(np.int32)
    result = []
    for index in range(count):
        rows = slice(index * STEPS, (index + 1) * STEPS)
        resets = np.zeros((STEPS, STREAMS), dtype=np.uint8)
        weights = np.ones((STEPS, STREAMS))
        if index == 1:
            resets[2, 1] = 1
            weights[3, 2] = 0.0
        result.append(deep.Window(inputs=text[rows], targets=text[index * STEPS + 1:(index + 1) * STEPS + 1],
                                  resets=resets, weights=weights))
    return result


def log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reference_window(params, window, state):
    """The window's loss terms the obvious way: (sum of log10 P, gradients by name); ``state`` (B, L, 2, H)
    becomes the window's final state."""
    grads = {name: np.zeros_like(params[name]) for name in TRAINED}
    gates = 4 * HIDDEN
    layer_inputs, records = [params["input_weights"][window.inputs]], []
    for layer in range(LAYERS):
        Wx, Wh = params["recurrent"][layer, 0], params["recurrent"][layer, 1]
        bias = params["gate_bias"][layer * gates:(layer + 1) * gates]
        outputs, state[:, layer], record = cell_forward("lstm", Wx, Wh, bias, layer_inputs[-1], window.resets,
                                                        state[:, layer].copy())
        layer_inputs.append(outputs)
        records.append(record)
    top = layer_inputs[-1]
    grad_top = np.zeros_like(top)
    log10_sum = 0.0
    for t in range(STEPS):
        for b in range(STREAMS):
            weight, target, h = window.weights[t, b], window.targets[t, b], top[t, b]
            if weight == 0:
                continue
            c = WORD_CLASS[target]
            first, last = CLASS_START[c], CLASS_END[c]
            class_log = log_softmax(params["class_weights"] @ h + params["class_bias"])
            word_log = log_softmax(params["output_weights"][first:last] @ h + params["output_bias"][first:last])
            log10_sum += (class_log[c] + word_log[target - first]) / math.log(10)
            class_error = np.exp(class_log) * weight / STREAMS
            class_error[c] -= weight / STREAMS
            word_error = np.exp(word_log) * weight / STREAMS
            word_error[target - first] -= weight / STREAMS
            grads["class_weights"] += np.outer(class_error, h)
            grads["class_bias"] += class_error
            grads["output_weights"][first:last] += np.outer(word_error, h)
            grads["output_bias"][first:last] += word_error
            grad_top[t, b] = class_error @ params["class_weights"] + word_error @ params["output_weights"][first:last]
    for layer in range(LAYERS - 1, -1, -1):
        grad_top, gWx, gWh, gb = cell_backward("lstm", params["recurrent"][layer, 0], params["recurrent"][layer, 1],
                                               layer_inputs[layer], window.resets, records[layer], grad_top)
        grads["recurrent"][layer, 0] += gWx
        grads["recurrent"][layer, 1] += gWh
        grads["gate_bias"][layer * gates:(layer + 1) * gates] += gb
    np.add.at(grads["input_weights"], window.inputs.reshape(-1), grad_top.reshape(-1, HIDDEN))
    return log10_sum, grads


def reference_training(model, window_list):
    """Plain SGD with global-norm clipping and weight decay over the windows: (per-window (log10 sum, norm),
    the final weights)."""
    params = {name: getattr(model, name).copy() for name in TRAINED}
    state = np.zeros((STREAMS, LAYERS, 2, HIDDEN))
    history = []
    for window in window_list:
        log10_sum, grads = reference_window(params, window, state)
        norm = math.sqrt(sum(float(np.sum(grad ** 2)) for grad in grads.values()))
        factor = min(1.0, CLIP / norm)
        for name in TRAINED:
            params[name] -= RATE * (factor * grads[name] + DECAY * params[name])
        history.append((log10_sum, norm))
    return history, params


def engine_training(model, window_list, threads):
    """The same with the engine's calls, as the batched training loop makes them."""
    weights = {name: getattr(model, name) for name in TRAINED}
    grads = {name: np.zeros_like(array) for name, array in weights.items()}
    optimizer = optimizers.Optimizer("sgd", weights, DECAY)
    state = np.zeros((STREAMS, deep.state_size(model.config)))
    history = []
    for index, window in enumerate(window_list):
        log10_sum, _ = deep.train_window(model, window, state, grads, index, threads)
        norm = optimizers.global_norm(grads)
        optimizer.step(weights, grads, RATE, grad_scale=optimizers.clip_factor(norm, CLIP))
        history.append((log10_sum, norm))
    return history


@pytest.mark.parametrize("threads", [1, 2])
def test_sgd_with_the_class_layer_follows_a_numpy_implementation_window_by_window(threads):
    window_list = windows(6)
    expected_history, expected = reference_training(class_model(), window_list)
    model = class_model()
    history = engine_training(model, window_list, threads)
    assert any(norm > CLIP for _, norm in expected_history) and any(norm < CLIP for _, norm in expected_history)
    np.testing.assert_allclose(np.array(history), np.array(expected_history), rtol=1e-10)
    for name in TRAINED:
        np.testing.assert_allclose(getattr(model, name), expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_sgd_starts_slower_with_a_class_factored_output_than_with_a_full_softmax():
    class_rate, full_rate = BATCHED_DEFAULTS["class_alpha"]["sgd"], BATCHED_DEFAULTS["alpha"]["sgd"]
    assert class_rate < full_rate
    assert RnnlmConfig(activation="lstm").alpha == class_rate  # the default classes: sqrt(V)
    assert RnnlmConfig(activation="lstm", class_count=50).alpha == class_rate
    assert RnnlmConfig(activation="lstm", class_count=1).alpha == full_rate
    assert RnnlmConfig(activation="lstm", optimizer="adam").alpha == BATCHED_DEFAULTS["alpha"]["adam"]
    assert RnnlmConfig(activation="lstm", alpha=0.8).alpha == 0.8
    assert RnnlmConfig().alpha == PER_WORD_DEFAULTS["alpha"]  # rnnlm's per-word engine keeps its rate

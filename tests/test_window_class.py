"""The class-factored window output layer (rnnlmpy/kernels/window_class.py) against a NumPy reference written
in this file, its gradients against finite differences, and its distribution summing to one."""

from types import SimpleNamespace

import numpy as np
import pytest

from reference import numeric_gradient
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels.window_class import bundles, distribution, score, train

HIDDEN = 4
# 9 words in 4 classes of sizes 2, 3, 1, 3 (contiguous runs, as rnnlm's), plus an empty class at the end
WORD_CLASS = np.array([0, 0, 1, 1, 1, 2, 3, 3, 3], dtype=np.int32)
CLASS_START = np.array([0, 2, 5, 6, 9], dtype=np.int32)
CLASS_END = np.array([2, 5, 6, 9, 9], dtype=np.int32)
VOCABULARY = SimpleNamespace(word_class=WORD_CLASS, class_start=CLASS_START, class_end=CLASS_END)
WORDS, CLASSES = len(WORD_CLASS), len(CLASS_START)
NAMES = ("class_weights", "class_bias", "output_weights", "output_bias")

from helpers import random_output_rows


def random_model(seed=0, dtype=np.float64, scale=0.8):
    rng = np.random.default_rng(seed)
    return {"class_weights": rng.normal(0, scale, (CLASSES, HIDDEN)).astype(dtype),
            "class_bias": rng.normal(0, scale, CLASSES).astype(dtype),
            "output_weights": rng.normal(0, scale, (WORDS, HIDDEN)).astype(dtype),
            "output_bias": rng.normal(0, scale, WORDS).astype(dtype),
            "input_weights": rng.normal(0, scale, (WORDS, HIDDEN)).astype(dtype)}


def random_rows(rows, seed=1, dtype=np.float64):
    return random_output_rows(rows, HIDDEN, WORDS, seed, dtype)


def log_softmax(z):
    z = z - z.max()
    return z - np.log(np.sum(np.exp(z)))


def reference_log_probabilities(model, hidden, targets, tied=False):
    """ln P(target | hidden) of every row, the obvious way (float64)."""
    words = model["input_weights" if tied else "output_weights"]
    out = np.zeros(len(targets))
    for n, (h, target) in enumerate(zip(hidden, targets)):
        c = WORD_CLASS[target]
        first, last = CLASS_START[c], CLASS_END[c]
        class_part = log_softmax(model["class_weights"] @ h + model["class_bias"])[c]
        word_part = log_softmax(words[first:last] @ h + model["output_bias"][first:last])[target - first]
        out[n] = class_part + word_part
    return out


def reference_loss(model, hidden, targets, weights, scale, tied=False):
    return scale * float(np.sum(weights * -reference_log_probabilities(model, hidden, targets, tied)))


def reference_gradients(model, hidden, targets, weights, scale, tied=False):
    """Analytic gradients of reference_loss: (dict name -> gradient, gradient of hidden)."""
    name = "input_weights" if tied else "output_weights"
    words = model[name]
    grads = {key: np.zeros_like(model[key]) for key in (*NAMES, "input_weights")}
    grad_hidden = np.zeros_like(hidden)
    for n, (h, target) in enumerate(zip(hidden, targets)):
        factor = scale * weights[n]
        c = WORD_CLASS[target]
        first, last = CLASS_START[c], CLASS_END[c]
        class_error = np.exp(log_softmax(model["class_weights"] @ h + model["class_bias"])) * factor
        class_error[c] -= factor
        word_error = np.exp(log_softmax(words[first:last] @ h + model["output_bias"][first:last])) * factor
        word_error[target - first] -= factor
        grads["class_weights"] += np.outer(class_error, h)
        grads["class_bias"] += class_error
        grads[name][first:last] += np.outer(word_error, h)
        grads["output_bias"][first:last] += word_error
        grad_hidden[n] = class_error @ model["class_weights"] + word_error @ words[first:last]
    return grads, grad_hidden


def run_train(model, hidden, targets, weights, scale, tied=False, dtype=np.float64, start=None):
    """The kernel's train: (gradients added to ``start`` (zeros if None), grad_hidden, log10 P)."""
    grads = {key: np.zeros_like(value) for key, value in model.items()} if start is None else start
    layer, grad_bundle = bundles(model, grads, VOCABULARY, tied)
    grad_hidden = np.full_like(hidden, np.nan)  # written, never read
    log10_out = np.full(len(targets), np.nan, dtype=dtype)
    train(layer, hidden, targets, weights, scale, grad_hidden, grad_bundle, log10_out)
    return grads, grad_hidden, log10_out


@pytest.mark.parametrize("tied", [False, True])
def test_train_matches_the_reference_float64(tied):
    model = random_model()
    hidden, targets, weights = random_rows(23)
    grads, grad_hidden, log10_out = run_train(model, hidden, targets, weights, 0.7, tied)
    expected = reference_log_probabilities(model, hidden, targets, tied) / np.log(10)
    np.testing.assert_allclose(log10_out, np.where(weights != 0, expected, 0.0), rtol=1e-12, atol=1e-14)
    want, want_hidden = reference_gradients(model, hidden, targets, weights, 0.7, tied)
    np.testing.assert_allclose(grad_hidden, want_hidden, rtol=1e-11, atol=1e-13)
    for key in want:
        np.testing.assert_allclose(grads[key], want[key], rtol=1e-11, atol=1e-13, err_msg=key)
    untouched = "output_weights" if tied else "input_weights"
    assert not grads[untouched].any()


def test_gradients_match_finite_differences():
    model = random_model(2)
    hidden, targets, weights = random_rows(7, seed=3)
    weights[:] = [1.0, 0.5, 0.0, 1.0, 2.0, 1.0, 1.0]
    grads, grad_hidden, _ = run_train(model, hidden, targets, weights, 0.3)

    def loss():
        return reference_loss(model, hidden, targets, weights, 0.3)

    for key in NAMES:
        np.testing.assert_allclose(grads[key], numeric_gradient(loss, model[key]), rtol=1e-6, atol=1e-8, err_msg=key)
    np.testing.assert_allclose(grad_hidden, numeric_gradient(loss, hidden), rtol=1e-6, atol=1e-8)
    assert not grad_hidden[2].any()


def test_train_adds_to_the_gradients_and_rows_span_several_chunks():
    """Over more rows than one chunk of class logits, and into gradients that already hold something."""
    import rnnlmpy.kernels.window_class as window_class
    model = random_model(4)
    rows = window_class.CHUNK_ROWS + 37
    hidden, targets, weights = random_rows(rows, seed=5)
    start = {key: np.ones_like(value) for key, value in model.items()}
    grads, grad_hidden, _ = run_train(model, hidden, targets, weights, 0.05, start=start)
    want, want_hidden = reference_gradients(model, hidden, targets, weights, 0.05)
    for key in NAMES:
        np.testing.assert_allclose(grads[key], want[key] + 1.0, rtol=1e-11, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(grad_hidden, want_hidden, rtol=1e-11, atol=1e-12)


def test_score_equals_the_reference_and_train_float32_is_close():
    model = random_model(6)
    hidden, targets, _ = random_rows(30, seed=7)
    log10_out = np.zeros(30)
    layer, _ = bundles(model, None, VOCABULARY, False)
    score(layer, hidden, targets, log10_out)
    expected = reference_log_probabilities(model, hidden, targets) / np.log(10)
    np.testing.assert_allclose(log10_out, expected, rtol=1e-12)
    model32 = {key: value.astype(np.float32) for key, value in model.items()}
    ones = np.ones(30, dtype=np.float32)
    grads, grad_hidden, log10_32 = run_train(model32, hidden.astype(np.float32), targets, ones, 1.0,
                                             dtype=np.float32)
    np.testing.assert_allclose(log10_32, expected, rtol=1e-5, atol=1e-6)
    want, want_hidden = reference_gradients(model, hidden, targets, np.ones(30), 1.0)
    np.testing.assert_allclose(grad_hidden, want_hidden, rtol=1e-4, atol=1e-5)
    for key in NAMES:
        assert grads[key].dtype == np.float32
        np.testing.assert_allclose(grads[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_distribution_sums_to_one_and_agrees_with_score(dtype):
    model = {key: value.astype(dtype) for key, value in random_model(8, scale=2.0).items()}
    hidden = np.random.default_rng(9).normal(0, 2, HIDDEN).astype(dtype)
    layer, _ = bundles(model, None, VOCABULARY, False)
    out = np.zeros(WORDS, dtype=dtype)
    distribution(layer, hidden, out)
    z = model["class_weights"].astype(np.float64) @ hidden + model["class_bias"]
    empty_class = np.exp(log_softmax(z))[CLASSES - 1]  # an empty class (a C++ model's) keeps its share, as rnnlm
    assert out.min() > 0 and float(np.sum(out, dtype=np.float64)) == pytest.approx(1.0 - empty_class, abs=1e-6)
    without_empty = SimpleNamespace(word_class=WORD_CLASS, class_start=CLASS_START[:-1], class_end=CLASS_END[:-1])
    trimmed = {**model, "class_weights": model["class_weights"][:-1].copy(), "class_bias": model["class_bias"][:-1]}
    distribution(bundles(trimmed, None, without_empty, False)[0], hidden, out)
    assert float(np.sum(out, dtype=np.float64)) == pytest.approx(1.0, abs=1e-6)
    distribution(layer, hidden, out)
    log10_out = np.zeros(WORDS, dtype=dtype)
    score(layer, np.repeat(hidden[None], WORDS, axis=0), np.arange(WORDS, dtype=np.int32), log10_out)
    np.testing.assert_allclose(np.log10(out), log10_out, rtol=1e-5 if dtype == np.float32 else 1e-12)
    expected = np.exp(reference_log_probabilities({k: v.astype(np.float64) for k, v in model.items()},
                                                  np.repeat(hidden[None].astype(np.float64), WORDS, axis=0),
                                                  np.arange(WORDS)))
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_extreme_logits_stay_finite():
    model = random_model(10, scale=30.0)
    hidden, targets, _ = random_rows(12, seed=11)
    grads, grad_hidden, log10_out = run_train(model, hidden * 10, targets, np.ones(12), 1.0)
    assert np.all(np.isfinite(log10_out)) and np.all(log10_out <= 0)
    assert np.all(np.isfinite(grad_hidden)) and all(np.all(np.isfinite(grads[key])) for key in NAMES)


@pytest.mark.parametrize("fault, words", [
    ("class rows", "5 class weight rows, 5 class biases, 4 classes"),
    ("class bias", "5 class weight rows, 4 class biases"),
    ("word bias", "8 word biases"),
    ("word class range", "word 8 lies outside its class's run"),
    ("word outside its run", "word 2 lies outside its class's run"),
    ("run past the vocabulary", "a class's run of words is not within the vocabulary"),
])
def test_classes_that_do_not_fit_the_weights_are_one_line_before_a_kernel_runs(fault, words):
    model = random_model()
    word_class, class_start, class_end = WORD_CLASS.copy(), CLASS_START.copy(), CLASS_END.copy()
    if fault == "class rows":
        class_start, class_end = class_start[:-1], class_end[:-1]
    elif fault == "class bias":
        model["class_bias"] = model["class_bias"][:-1]
    elif fault == "word bias":
        model["output_bias"] = model["output_bias"][:-1]
    elif fault == "word class range":
        word_class[-1] = 5
    elif fault == "word outside its run":
        word_class[2] = 0  # word 2 lies in class 1's run
    else:
        class_end[4] = 12  # the empty last class's run now reaches past the 9 words
        class_start[4] = 9
        class_end[3] = 12
    vocabulary = SimpleNamespace(word_class=word_class, class_start=class_start, class_end=class_end)
    with pytest.raises(RnnlmpyError) as caught:
        bundles(model, None, vocabulary, False)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_kernels_a_driver_calls_release_the_gil():
    """The driver runs parts of a window's streams in threads: each entry point must be compiled nogil."""
    for kernel in (train, score, distribution):
        assert kernel.targetoptions.get("nogil") is True, kernel.__name__


def driver_model(deep, hidden_type, tie_weights, dropout, seed=11):
    """A stand-in for an RnnlmModel with VOCABULARY's classes (what the batched driver reads of one), float64,
    weights large enough that every gradient is far from zero."""
    config = SimpleNamespace(activation=hidden_type, hidden_size=3, layers=2, dropout=dropout, tie_weights=tie_weights,
                             dtype="float64", rand_seed=seed)
    arrays = deep.initial_weights(config, WORDS, CLASSES, np.random.default_rng(seed))
    noise = np.random.default_rng(seed + 1)
    for name in ("gate_bias", "output_bias", "class_bias"):
        arrays[name][...] += noise.uniform(-0.3, 0.3, arrays[name].shape)
    for name in ("recurrent", "input_weights", "class_weights", "output_weights"):
        arrays[name] *= 5
    vocabulary = SimpleNamespace(size=WORDS, class_count=CLASSES, word_class=WORD_CLASS, class_start=CLASS_START,
                                 class_end=CLASS_END)
    return SimpleNamespace(config=config, vocabulary=vocabulary, **arrays)


def driver_window(deep, steps=3, streams=4, seed=2):
    rng = np.random.default_rng(seed)
    weights = np.ones((steps, streams))
    weights[steps - 1, 0] = 0.0  # a padded step
    resets = np.zeros((steps, streams), dtype=np.uint8)
    resets[1, 1] = 1
    return deep.Window(inputs=rng.integers(0, WORDS, (steps, streams)).astype(np.int32),
                       targets=rng.integers(0, WORDS, (steps, streams)).astype(np.int32), resets=resets,
                       weights=weights)


PARAMETERS = ("input_weights", "recurrent", "gate_bias", "class_weights", "class_bias", "output_weights",
              "output_bias")


@pytest.mark.parametrize("hidden_type, tie_weights, dropout", [("lstm", False, 0.0), ("lstm", True, 0.3),
                                                               ("gru", False, 0.2)])
def test_the_batched_driver_with_the_class_layer_matches_finite_differences(hidden_type, tie_weights, dropout):
    """Through rnnlmpy.rnnlm.deep (the batched engine's driver, from its own branch until merged): every
    parameter's gradient of a window's loss with this layer on top, and scoring agreeing with training."""
    deep = pytest.importorskip("rnnlmpy.rnnlm.deep")
    model = driver_model(deep, hidden_type, tie_weights, dropout)
    window = driver_window(deep)
    state = np.random.default_rng(4).uniform(-0.5, 0.5, (4, deep.state_size(model.config)))

    def fresh_grads():
        return {name: np.zeros_like(getattr(model, name)) for name in PARAMETERS}

    def loss():
        log10_sum, _ = deep.train_window(model, window, state.copy(), fresh_grads(), dropout_seed=9)
        return -log10_sum * np.log(10.0) / 4

    grads = fresh_grads()
    log10_sum, scored = deep.train_window(model, window, state.copy(), grads, dropout_seed=9)
    assert scored == 11
    for name in PARAMETERS:
        if name == "output_weights" and tie_weights:
            continue
        np.testing.assert_allclose(grads[name], numeric_gradient(loss, getattr(model, name)), rtol=1e-5, atol=1e-8,
                                   err_msg=name)
        assert np.abs(grads[name]).max() > 0, name
    if dropout == 0.0:
        log10_out = np.zeros(window.inputs.shape)
        deep.score_window(model, window, state.copy(), log10_out)
        assert float(log10_out.sum()) == pytest.approx(log10_sum, rel=1e-12)
    probabilities = np.zeros(WORDS)
    deep.next_distribution(model, np.zeros(deep.state_size(model.config)), 3, probabilities)
    empty_class = 1.0 - probabilities.sum()  # the empty last class keeps its share, as in rnnlm
    assert 0 < empty_class < 1 and probabilities.min() > 0


def test_the_batched_driver_trains_the_class_layer_in_threads_as_in_one():
    deep = pytest.importorskip("rnnlmpy.rnnlm.deep")
    if "threads" not in deep.train_window.__code__.co_varnames:
        pytest.skip("this driver has no threads")
    model = driver_model(deep, "lstm", False, 0.3)
    window = driver_window(deep)
    results = []
    for threads in (1, 2):
        grads = {name: np.zeros_like(getattr(model, name)) for name in PARAMETERS}
        state = np.random.default_rng(4).uniform(-0.5, 0.5, (4, deep.state_size(model.config)))
        log10_sum, _ = deep.train_window(model, window, state, grads, dropout_seed=9, threads=threads)
        results.append((log10_sum, grads, state))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-12)
    for name in PARAMETERS:
        np.testing.assert_allclose(results[1][1][name], results[0][1][name], rtol=1e-10, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(results[1][2], results[0][2], rtol=1e-12)

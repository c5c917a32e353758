"""The hierarchical softmax as a window output layer (rnnlmpy/kernels/window_hs.py) against the slow NumPy
reference of tests/reference_hs.py, its gradients against finite differences, and the batched engine with -hs
end to end (training, scoring, threads, model files, refusals)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from reference import numeric_gradient
from reference_hs import distribution as reference_distribution
from reference_hs import probability
from rnnlmpy import train
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels.window_hs import bundles, distribution, score, train as train_rows
from rnnlmpy.rnnlm import RnnlmConfig, load_model
from rnnlmpy.rnnlm import deep
from rnnlmpy.rnnlm.huffman import build_huffman_tree

from helpers import (assert_debug_2_lines_sum_to_the_total, pattern_corpus, random_output_rows, random_window, run_cli,
                     write_text)

HIDDEN = 4
COUNTS = np.array([40, 1, 7, 7, 3, 12, 2, 25, 5])  # 9 words: paths of 2 to 5 nodes
TREE = build_huffman_tree(COUNTS)
VOCABULARY = SimpleNamespace(huffman_tree=TREE)
WORDS = len(COUNTS)
NO_DIRECT = np.zeros(0)


def random_model(seed=0, dtype=np.float64, scale=0.8):
    rng = np.random.default_rng(seed)
    return {"output_weights": rng.normal(0, scale, (WORDS - 1, HIDDEN)).astype(dtype)}


def random_rows(rows, seed=1, dtype=np.float64):
    return random_output_rows(rows, HIDDEN, WORDS, seed, dtype)


def reference_log_probabilities(model, hidden, targets):
    """ln P(target | hidden) of every row: the plain product of the branch probabilities (float64)."""
    return np.array([math.log(probability(model["output_weights"], *TREE.path(target), h, NO_DIRECT, NO_DIRECT, 0))
                     for h, target in zip(hidden, targets)])


def reference_loss(model, hidden, targets, weights, scale):
    return scale * float(np.sum(weights * -reference_log_probabilities(model, hidden, targets)))


def reference_gradients(model, hidden, targets, weights, scale):
    """Analytic gradients of reference_loss: (node rows' gradient, gradient of hidden)."""
    nodes = model["output_weights"]
    grad_nodes, grad_hidden = np.zeros_like(nodes), np.zeros_like(hidden)
    for n, (h, target) in enumerate(zip(hidden, targets)):
        for node, code in zip(*TREE.path(target)):
            left = 1.0 / (1.0 + math.exp(-nodes[node] @ h))
            error = scale * weights[n] * (left - (code == 0))  # d(-ln P)/ds at this node
            grad_nodes[node] += error * h
            grad_hidden[n] += error * nodes[node]
    return grad_nodes, grad_hidden


def run_train(model, hidden, targets, weights, scale, dtype=np.float64, start=None):
    """The kernel's train: (node gradient, grad_hidden, log10 P); the gradient added to ``start`` (or zeros)."""
    grads = {"output_weights": np.zeros_like(model["output_weights"]) if start is None else start}
    layer, grad_bundle = bundles(model, grads, VOCABULARY, False)
    grad_hidden = np.full_like(hidden, np.nan)  # written, never read
    log10_out = np.full(len(targets), np.nan, dtype=dtype)
    train_rows(layer, hidden, targets, weights, scale, grad_hidden, grad_bundle, log10_out)
    return grads["output_weights"], grad_hidden, log10_out


def test_train_matches_the_reference_float64():
    model = random_model()
    hidden, targets, weights = random_rows(41)
    grad_nodes, grad_hidden, log10_out = run_train(model, hidden, targets, weights, 0.7)
    expected = reference_log_probabilities(model, hidden, targets) / np.log(10)
    np.testing.assert_allclose(log10_out, np.where(weights != 0, expected, 0.0), rtol=1e-12, atol=1e-14)
    want_nodes, want_hidden = reference_gradients(model, hidden, targets, weights, 0.7)
    np.testing.assert_allclose(grad_hidden, want_hidden, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(grad_nodes, want_nodes, rtol=1e-11, atol=1e-13)
    assert not grad_hidden[weights == 0].any()


def test_gradients_match_finite_differences():
    model = random_model(2)
    hidden, targets, weights = random_rows(7, seed=3)
    targets[:] = [0, 1, 1, 4, 6, 8, 2]  # the rarest words: the longest paths
    weights[:] = [1.0, 0.5, 0.0, 1.0, 2.0, 1.0, 1.0]
    grad_nodes, grad_hidden, _ = run_train(model, hidden, targets, weights, 0.3)

    def loss():
        return reference_loss(model, hidden, targets, weights, 0.3)

    np.testing.assert_allclose(grad_nodes, numeric_gradient(loss, model["output_weights"]), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grad_hidden, numeric_gradient(loss, hidden), rtol=1e-6, atol=1e-8)


def test_train_adds_to_the_gradient_it_is_given():
    model = random_model(4)
    hidden, targets, weights = random_rows(30, seed=5)
    start = np.ones_like(model["output_weights"])
    grad_nodes, _, _ = run_train(model, hidden, targets, weights, 0.05, start=start.copy())
    want_nodes, _ = reference_gradients(model, hidden, targets, weights, 0.05)
    np.testing.assert_allclose(grad_nodes, want_nodes + 1.0, rtol=1e-11, atol=1e-12)


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
    _, _, log10_32 = run_train(model32, hidden.astype(np.float32), targets, ones, 1.0, dtype=np.float32)
    np.testing.assert_allclose(log10_32, expected, rtol=1e-5, atol=1e-6)


def test_distribution_is_the_reference_and_sums_to_one():
    model = random_model(8)
    hidden = np.random.default_rng(9).normal(0, 1, HIDDEN)
    layer, _ = bundles(model, None, VOCABULARY, False)
    out = np.zeros(WORDS)
    distribution(layer, hidden, out)
    want = reference_distribution(model["output_weights"], TREE, hidden, NO_DIRECT, NO_DIRECT, 0)
    np.testing.assert_allclose(out, want, rtol=1e-12)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)


def test_bundles_refuse_tied_weights_and_node_rows_that_do_not_fit_the_tree():
    with pytest.raises(RnnlmpyError, match="-tie-weights"):
        bundles(random_model(), None, VOCABULARY, True)
    short = {"output_weights": np.zeros((WORDS - 2, HIDDEN))}
    with pytest.raises(RnnlmpyError, match="7 tree node rows for 9 words"):
        bundles(short, None, VOCABULARY, False)


# the batched engine with -hs, end to end


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hs_texts")
    return (write_text(folder / "train.txt", pattern_corpus(600, seed=1)),
            write_text(folder / "valid.txt", pattern_corpus(40, seed=2)))


def hs_config(**settings) -> RnnlmConfig:
    """A tiny batched sigmoid model with a hierarchical softmax."""
    return RnnlmConfig(**{"activation": "sigmoid", "hidden_size": 8, "output_layer": "hs", "batch": 4, "bptt": 5,
                          "min_improvement": 0.0, "dropout": 0.0, **settings})


def test_a_batched_model_with_hs_learns_saves_and_scores(texts, tmp_path, capsys):
    train_file, valid_file = texts
    path = str(tmp_path / "m")
    model = train(train_file, path, valid_file, hs_config(), max_iter=4, debug=0)
    words = model.vocabulary.size
    assert model.config.batched and model.output_weights.shape == (words - 1, 8)
    assert model.class_weights.shape == (0, 8) and model.output_bias.shape == (0,)
    history = model.training.history
    assert min(record["valid_ppl"] for record in history) < 0.6 * words, history
    loaded = load_model(path)
    for name, array in model.weights().items():
        np.testing.assert_array_equal(getattr(loaded, name), array, err_msg=name)
    code, out, _ = run_cli(["ppl", "-rnnlm", path, "-test", valid_file, "-debug", "2"], capsys)
    assert code in (0, None)
    assert_debug_2_lines_sum_to_the_total(out)


def test_train_window_with_hs_is_the_same_in_two_threads(texts, tmp_path):
    """Two threads take half the streams each into gradients of their own; the sums are the one thread's."""
    train_file, valid_file = texts
    model = train(train_file, str(tmp_path / "m"), valid_file, hs_config(dtype="float64"), max_iter=1, debug=0)
    steps, streams = 5, 4
    window = random_window(model.vocabulary.size, steps, streams, seed=3)
    results = []
    for threads in (1, 2):
        state = np.zeros((streams, deep.state_size(model.config)))
        grads = {name: np.zeros_like(getattr(model, name)) for name in deep.GRADIENT_NAMES}
        total = deep.train_window(model, window, state, grads, 0, threads=threads)
        results.append((total, grads, state))
    (one, grads_one, state_one), (two, grads_two, state_two) = results
    assert one[1] == two[1] == steps * streams and one[0] == pytest.approx(two[0], rel=1e-12)
    assert grads_one["output_weights"].any()
    for name in deep.GRADIENT_NAMES:
        np.testing.assert_allclose(grads_two[name], grads_one[name], rtol=1e-10, atol=1e-14, err_msg=name)
    np.testing.assert_array_equal(state_two, state_one)


def test_a_batched_hs_file_with_node_rows_of_a_wrong_count_is_refused_in_one_line(texts, tmp_path, capsys):
    from rnnlmpy.rnnlm.model_file import save_model
    train_file, valid_file = texts
    path = str(tmp_path / "m")
    model = train(train_file, path, valid_file, hs_config(), max_iter=1, debug=0)
    model.output_weights = np.ascontiguousarray(model.output_weights[:-1])  # one tree node row short
    save_model(model, path)
    code, _, err = run_cli(["ppl", "-rnnlm", path, "-test", valid_file], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "output_weights" in err, err


def test_gradient_rows_are_the_rows_a_window_makes_nonzero(texts, tmp_path):
    """The driver reads and updates only these rows of the embedding's and the tree's gradients: every nonzero
    row of them must be listed (and a listed row is one the window reads or a node on a scored target's path)."""
    train_file, valid_file = texts
    model = train(train_file, str(tmp_path / "m"), valid_file, hs_config(dtype="float64"), max_iter=1, debug=0)
    rng = np.random.default_rng(4)
    steps, streams = 6, 3
    window = deep.Window(inputs=rng.integers(0, 5, (steps, streams)).astype(np.int32),
                         targets=rng.integers(0, model.vocabulary.size, (steps, streams)).astype(np.int32),
                         resets=np.zeros((steps, streams), dtype=np.uint8),
                         weights=rng.choice([0.0, 1.0], (steps, streams)))
    grads = {name: np.zeros_like(getattr(model, name)) for name in deep.GRADIENT_NAMES}
    deep.train_window(model, window, np.zeros((streams, deep.state_size(model.config))), grads, 0)
    rows = deep.gradient_rows(model, window)
    tree = model.vocabulary.huffman_tree
    scored = window.targets[window.weights != 0]
    on_paths = np.unique(np.concatenate([tree.path(word)[0] for word in scored]))
    np.testing.assert_array_equal(rows["output_weights"], on_paths)
    np.testing.assert_array_equal(rows["input_weights"], np.unique(window.inputs))
    for name, listed in rows.items():
        nonzero = np.flatnonzero(np.abs(grads[name]).sum(axis=1))
        assert set(nonzero) <= set(listed.tolist()) and len(nonzero) > 0, name

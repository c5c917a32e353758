"""NCE as a window output layer (rnnlmpy/kernels/window_nce.py) against a NumPy reference written here (the same
noise draws), its gradients against finite differences, its scores against a full softmax, and the batched
engine with -nce end to end (training, scoring, same noise for the same seed, model files)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from reference import numeric_gradient
from rnnlmpy import train
from rnnlmpy.kernels.nce import draw_noise, seed_state
from rnnlmpy.kernels.window_nce import bundles, distribution, score, train as train_rows
from rnnlmpy.rnnlm import RnnlmConfig, load_model
from rnnlmpy.rnnlm import deep
from rnnlmpy.rnnlm.noise import alias_table, log_probabilities, noise_distribution

from helpers import (assert_debug_2_lines_sum_to_the_total, assert_interrupted_training_resumes_exactly,
                     pattern_corpus, random_output_rows, random_window, run_cli, write_text)

HIDDEN, WORDS, SAMPLES, LNZ, SEED = 4, 9, 3, 2.0, 11
COUNTS = np.array([40, 1, 7, 7, 3, 12, 2, 25, 5])
PROBABILITIES = noise_distribution(COUNTS, 0.75)
TABLES = (*alias_table(PROBABILITIES), log_probabilities(PROBABILITIES))
VOCABULARY = SimpleNamespace(noise_table=lambda power: TABLES)
SETTINGS = SimpleNamespace(nce_unigram_power=0.75, nce_samples=SAMPLES, nce_lnz=LNZ)


def random_model(seed=0, dtype=np.float64, scale=0.8):
    rng = np.random.default_rng(seed)
    return {"output_weights": rng.normal(0, scale, (WORDS, HIDDEN)).astype(dtype),
            "output_bias": rng.normal(0, scale, WORDS).astype(dtype),
            "input_weights": rng.normal(0, scale, (WORDS, HIDDEN)).astype(dtype)}


def random_rows(rows, seed=1, dtype=np.float64):
    return random_output_rows(rows, HIDDEN, WORDS, seed, dtype)


def noise_draws(weights):
    """The K noise words of each scored row, drawn in row order from the seed (None for a row not scored)."""
    state, draws = seed_state(SEED), []
    for weight in weights:
        if weight == 0:
            draws.append(None)
            continue
        out = np.empty(SAMPLES, dtype=np.int32)
        draw_noise(TABLES[0], TABLES[1], state, SAMPLES, out)
        draws.append(out.copy())
    return draws


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def reference_loss(model, hidden, targets, weights, scale, tied=False):
    """scale * sum of weights[n] * NCE loss of row n with its draws, the obvious way (float64)."""
    words = model["input_weights" if tied else "output_weights"]
    log_noise = TABLES[2]
    total = 0.0
    for h, target, weight, noise in zip(hidden, targets, weights, noise_draws(weights)):
        if weight == 0:
            continue

        def logit(word):
            return words[word] @ h + model["output_bias"][word] - LNZ - math.log(SAMPLES) - log_noise[word]

        loss = -log_sigmoid(logit(target)) - sum(log_sigmoid(-logit(word)) for word in noise)
        total += weight * loss
    return scale * total


def run_train(model, hidden, targets, weights, scale, tied=False, dtype=np.float64):
    grads = {key: np.zeros_like(value) for key, value in model.items()}
    layer, grad_bundle = bundles(model, grads, VOCABULARY, tied, SETTINGS, 0)
    layer = layer._replace(rng=seed_state(SEED))
    grad_hidden = np.full_like(hidden, np.nan)
    log10_out = np.full(len(targets), np.nan, dtype=dtype)
    train_rows(layer, hidden, targets, weights, scale, grad_hidden, grad_bundle, log10_out)
    return grads, grad_hidden, log10_out


@pytest.mark.parametrize("tied", [False, True])
def test_gradients_match_finite_differences_of_the_reference_loss(tied):
    model = random_model(2)
    hidden, targets, weights = random_rows(9, seed=3)
    grads, grad_hidden, log10_out = run_train(model, hidden, targets, weights, 0.3, tied)

    def loss():
        return reference_loss(model, hidden, targets, weights, 0.3, tied)

    name = "input_weights" if tied else "output_weights"
    for key in (name, "output_bias"):
        np.testing.assert_allclose(grads[key], numeric_gradient(loss, model[key]), rtol=1e-6, atol=1e-8, err_msg=key)
    np.testing.assert_allclose(grad_hidden, numeric_gradient(loss, hidden), rtol=1e-6, atol=1e-8)
    assert not grads["output_weights" if tied else "input_weights"].any()
    unnormalised = (np.einsum("nh,nh->n", model[name][targets], hidden) + model["output_bias"][targets] - LNZ)
    np.testing.assert_allclose(log10_out, np.where(weights != 0, unnormalised / np.log(10), 0.0), rtol=1e-12)
    assert not grad_hidden[weights == 0].any()


def test_the_same_seed_draws_the_same_noise_and_another_seed_other_noise():
    model = random_model(4)
    hidden, targets, weights = random_rows(20, seed=5)
    first = run_train(model, hidden, targets, weights, 1.0)[0]
    again = run_train(model, hidden, targets, weights, 1.0)[0]
    np.testing.assert_array_equal(first["output_weights"], again["output_weights"])
    grads = {key: np.zeros_like(value) for key, value in model.items()}
    layer, grad_bundle = bundles(model, grads, VOCABULARY, False, SETTINGS, 0)
    layer = layer._replace(rng=seed_state(SEED + 1))
    train_rows(layer, hidden, targets, weights, 1.0, np.empty_like(hidden), grad_bundle, np.empty(20))
    assert not np.array_equal(grads["output_weights"], first["output_weights"])


def test_score_and_distribution_are_the_full_softmax():
    model = random_model(6)
    hidden, targets, _ = random_rows(12, seed=7)
    layer, _ = bundles(model, None, VOCABULARY, False, SETTINGS, 0)
    log10_out = np.zeros(12)
    score(layer, hidden, targets, log10_out)
    logits = hidden @ model["output_weights"].T + model["output_bias"]
    log_softmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    np.testing.assert_allclose(log10_out, log_softmax[np.arange(12), targets] / np.log(10), rtol=1e-12)
    out = np.zeros(WORDS)
    distribution(layer, hidden[0], out)
    np.testing.assert_allclose(out, np.exp(log_softmax[0]), rtol=1e-12)


# the batched engine with -nce, end to end


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nce_texts")
    return (write_text(folder / "train.txt", pattern_corpus(600, seed=1)),
            write_text(folder / "valid.txt", pattern_corpus(40, seed=2)))


def nce_config(**settings) -> RnnlmConfig:
    """A tiny batched GRU with NCE (5 noise words), trained by SGD: on 12 words Adagrad's shrinking steps move the
    scores towards NCE's fixed normaliser (ln Z = 9) too slowly to learn in 3 epochs (valid PPL 11.3)."""
    return RnnlmConfig(**{"activation": "gru", "hidden_size": 8, "output_layer": "nce", "nce_samples": 5,
                          "batch": 4, "bptt": 5, "min_improvement": 0.0, "tie_weights": False,
                          "dropout": 0.0, "optimizer": "sgd", **settings})


def test_a_batched_model_with_nce_learns_saves_scores_and_trains_the_same_twice(texts, tmp_path, capsys):
    train_file, valid_file = texts
    path = str(tmp_path / "m")
    model = train(train_file, path, valid_file, nce_config(), max_iter=3, debug=0)
    words = model.vocabulary.size
    assert model.config.batched and model.output_weights.shape == (words, 8) and model.output_bias.shape == (words,)
    assert min(record["valid_ppl"] for record in model.training.history) < 0.6 * words, model.training.history
    loaded = load_model(path)
    for name, array in model.weights().items():
        np.testing.assert_array_equal(getattr(loaded, name), array, err_msg=name)
    again = train(train_file, str(tmp_path / "again"), valid_file, nce_config(), max_iter=3, debug=0)
    np.testing.assert_array_equal(again.output_weights, model.output_weights)
    other = train(train_file, str(tmp_path / "other"), valid_file, nce_config(rand_seed=2), max_iter=1, debug=0)
    assert not np.array_equal(other.output_weights, model.output_weights)
    code, out, _ = run_cli(["ppl", "-rnnlm", path, "-test", valid_file, "-debug", "2"], capsys)
    assert code in (0, None)
    assert_debug_2_lines_sum_to_the_total(out)


def test_two_threads_draw_their_own_noise_deterministically(texts, tmp_path):
    train_file, valid_file = texts
    model = train(train_file, str(tmp_path / "m"), valid_file, nce_config(dtype="float64"), max_iter=1, debug=0)
    steps, streams = 5, 4
    window = random_window(model.vocabulary.size, steps, streams, seed=3)
    runs = []
    for _ in range(2):
        grads = {name: np.zeros_like(getattr(model, name)) for name in deep.GRADIENT_NAMES}
        deep.train_window(model, window, np.zeros((streams, deep.state_size(model.config))), grads, 7, threads=2)
        runs.append(grads)
    for name in deep.GRADIENT_NAMES:
        np.testing.assert_array_equal(runs[0][name], runs[1][name], err_msg=name)
    assert runs[0]["output_weights"].any()


def test_a_batched_nce_file_without_its_word_biases_is_refused_in_one_line(texts, tmp_path, capsys):
    from rnnlmpy.rnnlm.model_file import save_model
    train_file, valid_file = texts
    path = str(tmp_path / "m")
    model = train(train_file, path, valid_file, nce_config(), max_iter=1, debug=0)
    model.output_bias = np.ascontiguousarray(model.output_bias[:-1])
    save_model(model, path)
    code, _, err = run_cli(["ppl", "-rnnlm", path, "-test", valid_file], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "output_bias" in err, err


@pytest.mark.parametrize("output", [dict(output_layer="nce", nce_samples=4), dict(output_layer="hs")])
def test_an_interrupted_nce_or_hs_run_resumes_to_exactly_the_uninterrupted_model(tmp_path, output):
    """NCE's noise and -hs's sparse steps (-beta 0) come out the same after a checkpoint and a rerun."""
    train_file = write_text(tmp_path / "train.txt", pattern_corpus(3000, seed=3))  # > 10,000 words an epoch
    valid_file = write_text(tmp_path / "valid.txt", pattern_corpus(50, seed=4))
    config = RnnlmConfig(activation="tanh", hidden_size=6, batch=8, bptt=7, beta=0.0, **output)
    assert_interrupted_training_resumes_exactly(train_file, valid_file, config, tmp_path)

"""NCE (-nce K) end to end: it learns, ppl normalises over the vocabulary, training is reproducible and resumes exactly."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, train
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.evaluation import score_tokens

from helpers import assert_interrupted_training_resumes_exactly, pattern_corpus, run_cli, write_text

CONFIG = dict(hidden_size=12, bptt=4, bptt_block=5, rand_seed=3, output_layer="nce", nce_samples=5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nce")
    files = {"train": write_text(folder / "train.txt", pattern_corpus(1500, seed=1)),
             "valid": write_text(folder / "valid.txt", pattern_corpus(100, seed=2)),
             "test": write_text(folder / "test.txt", pattern_corpus(100, seed=3)), "folder": folder}
    files["model"] = str(folder / "nce.model")
    train(files["train"], files["model"], files["valid"], RnnlmConfig(**CONFIG), debug=0)
    return files


def successor_corpus(folder):
    """Lines of 6 words, each word followed by the next of 30: only the first word is uncertain (ideal PPL 1.63)."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    lines = [" ".join(words[(start + k) % 30] for k in range(6)) for start in rng.integers(0, 30, size=1500)]
    return write_text(folder / "successors.txt", lines), write_text(folder / "successors.valid.txt", lines[:100])


def test_nce_learns_what_follows_what(trained, tmp_path):
    model = load_model(trained["model"])
    assert model.class_weights.shape == (0, 12) and model.output_weights.shape == (model.vocabulary.size, 12)
    train_file, valid_file = successor_corpus(tmp_path)
    model = train(train_file, str(tmp_path / "m"), valid_file, RnnlmConfig(**CONFIG), debug=0)
    assert evaluate_file(model, valid_file).perplexity < 3.0  # a unigram model scores 31


def test_ppl_of_an_nce_model_is_normalised_over_the_vocabulary(trained):
    model = load_model(trained["model"])
    vocabulary = model.vocabulary
    # every word after the same history: the normalised probabilities sum to one
    totals = []
    for history in (["alpha"], ["beta", "x"]):
        probabilities = [score_tokens(model, [*history, word]).probabilities[len(history)]
                         for word in vocabulary.words]
        totals.append(sum(probabilities))
    assert totals == pytest.approx([1.0, 1.0], abs=1e-5)
    distribution = np.zeros(vocabulary.size, dtype=np.float32)
    network.distribution(model, np.full(12, 0.3, dtype=np.float32), np.zeros(network.MAX_DIRECT_ORDER, np.int64),
                         1.0, distribution)
    assert distribution.sum() == pytest.approx(1.0, abs=1e-5)


def test_nce_training_is_reproducible_and_seed_dependent(trained, tmp_path):
    models = [train(trained["train"], str(tmp_path / f"m{seed}{k}"), trained["valid"],
                    RnnlmConfig(**dict(CONFIG, rand_seed=seed)), max_iter=2, debug=0)
              for seed, k in ((3, 0), (3, 1), (4, 0))]
    np.testing.assert_array_equal(models[0].output_weights, models[1].output_weights)
    assert not np.array_equal(models[0].output_weights, models[2].output_weights)


def test_nce_checkpoint_resumes_exactly_with_its_noise_sampler(trained, tmp_path):
    train_file = write_text(tmp_path / "big.txt", pattern_corpus(3000, seed=5))
    assert_interrupted_training_resumes_exactly(train_file, trained["valid"], RnnlmConfig(**CONFIG), tmp_path)


def test_nce_with_direct_connections_learns_bigrams(tmp_path):
    train_file, valid_file = successor_corpus(tmp_path)
    tiny = dict(CONFIG, hidden_size=2)
    with_direct = train(train_file, str(tmp_path / "me"), valid_file,
                        RnnlmConfig(**dict(tiny, direct_size=100_000, direct_order=2)), max_iter=4, debug=0)
    without = train(train_file, str(tmp_path / "rnn"), valid_file, RnnlmConfig(**tiny), max_iter=4, debug=0)
    assert evaluate_file(with_direct, valid_file).perplexity < 0.7 * evaluate_file(without, valid_file).perplexity


def test_commands_and_conflicts(trained, capsys, tmp_path):
    model = trained["model"]
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", trained["test"]], capsys)
    assert code == 0 and "PPL net:" in out and "normalised over: all 12 words" in out, err
    code, out, err = run_cli(["gen", "-rnnlm", model, "-gen", "30"], capsys)
    assert code == 0 and out.strip(), err
    code, out, err = run_cli(["info", "-rnnlm", model], capsys)
    assert code == 0 and "NCE" in out, err
    code, out, err = run_cli(["convert", "-rnnlm", model, "-to", "rnnlm-binary", "-o", str(tmp_path / "c")], capsys)
    assert code == 2 and "NCE" in err
    code, out, err = run_cli(["train", "-train", trained["train"], "-rnnlm", str(tmp_path / "x"), "-hs", "-nce", "5"],
                             capsys)
    assert code == 2 and "either -hs or -nce" in err
    for bad in (["-nce", "0"], ["-nce", "5", "-nce-lnz", "nan"], ["-nce", "5", "-nce-unigram-power", "-1"]):
        code, out, err = run_cli(["train", "-train", trained["train"], "-rnnlm", str(tmp_path / "x"), *bad], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err

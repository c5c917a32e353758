"""Hierarchical softmax (-hs) end to end: it learns, scores normalised probabilities, and works with every command."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, train
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.cpp_format import write_rnnlm
from rnnlmpy.rnnlm.evaluation import score_tokens
from rnnlmpy.rnnlm.sampling import generate

from helpers import assert_interrupted_training_resumes_exactly, pattern_corpus, run_cli, write_text

import reference_hs

CONFIG = dict(hidden_size=12, bptt=4, bptt_block=5, rand_seed=3, output_layer="hs")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hs")
    files = {"train": write_text(folder / "train.txt", pattern_corpus(1500, seed=1)),
             "valid": write_text(folder / "valid.txt", pattern_corpus(100, seed=2)),
             "test": write_text(folder / "test.txt", pattern_corpus(100, seed=3)), "folder": folder}
    files["model"] = str(folder / "hs.model")
    train(files["train"], files["model"], files["valid"], RnnlmConfig(**CONFIG), debug=0)
    return files


def test_hs_training_learns_the_long_range_pattern(trained):
    model = load_model(trained["model"])
    assert model.config.output_layer == "hs" and model.class_weights.shape == (0, 12)
    assert model.output_weights.shape == (model.vocabulary.size - 1, 12)
    history = model.training.history
    assert history[-1]["valid_entropy"] < history[0]["valid_entropy"] - 0.2
    right = score_tokens(model, "alpha x y z one </s>".split()).probabilities[4]
    wrong = score_tokens(model, "alpha x y z two </s>".split()).probabilities[4]
    assert right > 3 * wrong


def test_hs_scores_are_the_tree_probabilities_and_sum_to_one(trained):
    model = load_model(trained["model"])
    tree = model.vocabulary.huffman_tree
    hidden = np.random.default_rng(0).random(12).astype(np.float32)
    distribution = np.zeros(model.vocabulary.size, dtype=np.float32)
    network.distribution(model, hidden, np.zeros(network.MAX_DIRECT_ORDER, dtype=np.int64), 1.0, distribution)
    assert distribution.sum() == pytest.approx(1.0, abs=1e-5)
    for word in range(model.vocabulary.size):
        nodes, codes = tree.path(word)
        expected = reference_hs.probability(model.output_weights.astype(np.float64), nodes, codes,
                                            hidden.astype(np.float64), np.zeros(0), np.zeros(20, dtype=np.int64), 0)
        assert distribution[word] == pytest.approx(expected, rel=1e-4)


def test_scoring_agrees_with_training_probabilities(trained):
    model = load_model(trained["model"])
    result = evaluate_file(model, trained["test"])
    assert 1.0 < result.perplexity < model.vocabulary.size


def test_hs_with_direct_connections_learns_what_a_tiny_hidden_layer_cannot(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]  # each word is followed by the next one: a bigram model says it all
    lines = [" ".join(words[(start + k) % 30] for k in range(6)) for start in rng.integers(0, 30, size=1500)]
    train_file = write_text(tmp_path / "t.txt", lines)
    valid_file = write_text(tmp_path / "v.txt", lines[:100])
    tiny = dict(CONFIG, hidden_size=2)
    with_direct = train(train_file, str(tmp_path / "me"), valid_file,
                        RnnlmConfig(**dict(tiny, direct_size=100_000, direct_order=2)), max_iter=4, debug=0)
    without = train(train_file, str(tmp_path / "rnn"), valid_file, RnnlmConfig(**tiny), max_iter=4, debug=0)
    assert np.any(with_direct.direct != 0)
    assert evaluate_file(with_direct, valid_file).perplexity < 0.7 * evaluate_file(without, valid_file).perplexity


def test_every_command_reads_an_hs_model(trained, capsys, tmp_path):
    model = trained["model"]
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", trained["test"], "-debug", "2"], capsys)
    assert code == 0 and "PPL net:" in out, err
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", trained["test"], "-dynamic", "0.05"], capsys)
    assert code == 0 and "PPL net:" in out, err
    nbest = write_text(tmp_path / "nbest.txt", ["1 alpha x one", "1 alpha x two"])
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", nbest, "-nbest"], capsys)
    scores = [float(line) for line in out.split()]
    assert code == 0 and scores[0] > scores[1], err
    code, out, err = run_cli(["gen", "-rnnlm", model, "-gen", "50"], capsys)
    assert code == 0 and out.strip(), err
    code, out, err = run_cli(["info", "-rnnlm", model], capsys)
    assert code == 0 and "hierarchical softmax" in out, err
    code, out, err = run_cli(["ensemble", "-rnnlm", model, "-rnnlm", model, "-weights", "0.5,0.5", "-test",
                              trained["test"]], capsys)
    assert code == 0, err
    code, out, err = run_cli(["convert", "-rnnlm", model, "-to", "rnnlm-text", "-o", str(tmp_path / "c.txt")], capsys)
    assert code == 2 and "class-factored softmax" in err and len(err.strip().splitlines()) == 1


def test_generation_is_reproducible(trained):
    model = load_model(trained["model"])
    assert generate(model, 100, seed=4) == generate(model, 100, seed=4)


def test_hs_refuses_classes_and_the_cpp_format(trained, tmp_path):
    with pytest.raises(RnnlmpyError, match="-class has no meaning with -hs"):
        train(trained["train"], str(tmp_path / "x"), trained["valid"],
              RnnlmConfig(**dict(CONFIG, class_count=5)), max_iter=1, debug=0)
    with pytest.raises(RnnlmpyError, match="class-factored softmax"):
        write_rnnlm(load_model(trained["model"]), str(tmp_path / "cpp.txt"))


def test_hs_checkpoint_resumes_exactly(trained, tmp_path):
    train_file = write_text(tmp_path / "big.txt", pattern_corpus(3000, seed=5))
    assert_interrupted_training_resumes_exactly(train_file, trained["valid"], RnnlmConfig(**CONFIG), tmp_path)
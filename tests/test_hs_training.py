"""Hierarchical softmax (-hs) end to end: it learns, scores normalised probabilities, and works with every command."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, load_model, train
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.cpp_format import write_rnnlm

from helpers import TRAINING_VARIANTS, run_cli, write_text

import reference_hs

CONFIG = TRAINING_VARIANTS["hs"]


@pytest.fixture(scope="module")
def trained(trained_model):
    return trained_model(CONFIG)


def test_hs_model_has_a_node_per_inner_tree_node_and_learns(trained):
    model = load_model(trained["model"])
    assert model.config.output_layer == "hs" and model.class_weights.shape == (0, 12)
    assert model.output_weights.shape == (model.vocabulary.size - 1, 12)
    history = model.training.history
    assert history[-1]["valid_entropy"] < history[0]["valid_entropy"] - 0.2


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


def test_hs_scores_nbest_lists_and_ensembles(trained, capsys, tmp_path):
    model = trained["model"]
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", trained["test"], "-debug", "2"], capsys)
    assert code == 0 and "PPL net:" in out, err
    nbest = write_text(tmp_path / "nbest.txt", ["1 alpha x one", "1 alpha x two"])
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", nbest, "-nbest"], capsys)
    scores = [float(line) for line in out.split()]
    assert code == 0 and scores[0] > scores[1], err
    code, out, err = run_cli(["ensemble", "-rnnlm", model, "-rnnlm", model, "-weights", "0.5,0.5", "-test",
                              trained["test"]], capsys)
    assert code == 0, err


def test_hs_refuses_classes_and_the_cpp_format(trained, tmp_path):
    with pytest.raises(RnnlmpyError, match="-class has no meaning with -hs"):
        train(trained["train"], str(tmp_path / "x"), trained["valid"],
              RnnlmConfig(**dict(CONFIG, class_count=5)), max_iter=1, debug=0)
    with pytest.raises(RnnlmpyError, match="class-factored softmax"):
        write_rnnlm(load_model(trained["model"]), str(tmp_path / "cpp.txt"))

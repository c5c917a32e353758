"""GRU hidden units (-hidden-type gru) end to end: they learn, resume exactly and work with every command."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, train
from rnnlmpy.rnnlm.evaluation import score_tokens
from rnnlmpy.rnnlm.model import new_model
from rnnlmpy.rnnlm.vocab import build_vocabulary

from helpers import assert_interrupted_training_resumes_exactly, pattern_corpus, run_cli, write_text

CONFIG = dict(hidden_size=12, class_count=4, bptt=4, bptt_block=5, rand_seed=3, activation="gru")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gru")
    files = {"train": write_text(folder / "train.txt", pattern_corpus(1500, seed=1)),
             "valid": write_text(folder / "valid.txt", pattern_corpus(100, seed=2)),
             "test": write_text(folder / "test.txt", pattern_corpus(100, seed=3)), "folder": folder}
    files["model"] = str(folder / "gru.model")
    train(files["train"], files["model"], files["valid"], RnnlmConfig(**CONFIG), debug=0)
    return files


def test_gru_learns_the_long_range_pattern(trained):
    model = load_model(trained["model"])
    assert model.input_weights.shape[1] == 36 and model.recurrent.shape == (36, 12) and model.gate_bias.shape == (36,)
    right = score_tokens(model, "alpha x y z one </s>".split()).probabilities[4]
    wrong = score_tokens(model, "alpha x y z two </s>".split()).probabilities[4]
    assert right > 3 * wrong


@pytest.mark.parametrize("bptt", [0, 2])
def test_gru_trains_with_and_without_bptt(trained, tmp_path, bptt):
    model = train(trained["train"], str(tmp_path / "m"), trained["valid"], RnnlmConfig(**dict(CONFIG, bptt=bptt)),
                  max_iter=3, debug=0)
    history = model.training.history
    assert history[-1]["valid_entropy"] < history[0]["valid_entropy"]
    assert np.any(model.gate_bias != 0)


def test_gru_checkpoint_resumes_exactly(trained, tmp_path):
    train_file = write_text(tmp_path / "big.txt", pattern_corpus(3000, seed=5))
    assert_interrupted_training_resumes_exactly(train_file, trained["valid"], RnnlmConfig(**CONFIG), tmp_path)


def test_diagonal_initialization_sets_every_recurrent_block():
    vocabulary = build_vocabulary("a b c </s>".split(), 1)
    for activation, blocks in (("sigmoid", 1), ("gru", 3)):
        model = new_model(RnnlmConfig(hidden_size=4, activation=activation, diagonal_initialization=0.5), vocabulary)
        np.testing.assert_array_equal(model.recurrent, np.vstack([0.5 * np.eye(4)] * blocks))


def test_every_command_reads_a_gru_model(trained, capsys, tmp_path):
    model = trained["model"]
    for argv in (["ppl", "-rnnlm", model, "-test", trained["test"], "-dynamic", "0.05"],
                 ["gen", "-rnnlm", model, "-gen", "30"], ["info", "-rnnlm", model]):
        code, out, err = run_cli(argv, capsys)
        assert code == 0 and out.strip(), err
    assert "gru" in out
    nbest = write_text(tmp_path / "nbest.txt", ["1 alpha x one", "1 alpha x two"])
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", nbest, "-nbest"], capsys)
    assert code == 0 and len(out.split()) == 2, err
    code, out, err = run_cli(["convert", "-rnnlm", model, "-to", "rnnlm-text", "-o", str(tmp_path / "c")], capsys)
    assert code == 2 and "sigmoid" in err
    assert evaluate_file(load_model(model), trained["test"]).perplexity < 6

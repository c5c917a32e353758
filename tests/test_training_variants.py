"""What every output layer and cell must do end to end, one parametrised test per property: learn, score
consistently, generate reproducibly, resume exactly, read back in every command. What is specific to one
variant stays in its own file (test_hs_training.py, test_nce_training.py, test_gru_training.py)."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, train
from rnnlmpy.rnnlm.evaluation import score_tokens
from rnnlmpy.rnnlm.sampling import generate

from helpers import (TRAINING_VARIANTS, assert_interrupted_training_resumes_exactly, pattern_corpus, run_cli,
                     successor_corpus, write_text)

VARIANTS = sorted(TRAINING_VARIANTS)

# variant -> (what `info` names it by, the C++ format `convert` refuses, what the refusal names)
DESCRIPTIONS = {"hs": ("hierarchical softmax", "rnnlm-text", "class-factored softmax"),
                "nce": ("NCE", "rnnlm-binary", "NCE"),
                "gru": ("gru", "rnnlm-text", "sigmoid")}


@pytest.fixture(params=VARIANTS)
def variant(request, trained_model):
    """(variant name, its config, its trained model's files), once per variant."""
    return request.param, TRAINING_VARIANTS[request.param], trained_model(TRAINING_VARIANTS[request.param])


@pytest.mark.parametrize("name", ["hs", "gru"])
def test_training_learns_the_long_range_pattern(trained_model, name):
    model = load_model(trained_model(TRAINING_VARIANTS[name])["model"])
    right = score_tokens(model, "alpha x y z one </s>".split()).probabilities[4]
    wrong = score_tokens(model, "alpha x y z two </s>".split()).probabilities[4]
    assert right > 3 * wrong


def test_scoring_agrees_with_training_probabilities(variant):
    _, _, trained = variant
    model = load_model(trained["model"])
    result = evaluate_file(model, trained["test"])
    assert 1.0 < result.perplexity < model.vocabulary.size


def test_generation_is_reproducible(variant):
    model = load_model(variant[2]["model"])
    assert generate(model, 100, seed=4) == generate(model, 100, seed=4)


def test_checkpoint_resumes_exactly(variant, tmp_path):
    _, config, trained = variant
    train_file = write_text(tmp_path / "big.txt", pattern_corpus(3000, seed=5))
    assert_interrupted_training_resumes_exactly(train_file, trained["valid"], RnnlmConfig(**config), tmp_path)


@pytest.mark.parametrize("name", ["hs", "nce"])
def test_direct_connections_learn_what_a_tiny_hidden_layer_cannot(tmp_path, name):
    train_file, valid_file = successor_corpus(tmp_path)
    tiny = dict(TRAINING_VARIANTS[name], hidden_size=2)
    with_direct = train(train_file, str(tmp_path / "me"), valid_file,
                        RnnlmConfig(**dict(tiny, direct_size=100_000, direct_order=2)), max_iter=4, debug=0)
    without = train(train_file, str(tmp_path / "rnn"), valid_file, RnnlmConfig(**tiny), max_iter=4, debug=0)
    assert np.any(with_direct.direct != 0)
    assert evaluate_file(with_direct, valid_file).perplexity < 0.7 * evaluate_file(without, valid_file).perplexity


def test_every_command_reads_the_model(variant, capsys, tmp_path):
    name, _, trained = variant
    model = trained["model"]
    described, cpp_format, refusal = DESCRIPTIONS[name]
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", trained["test"], "-dynamic", "0.05"], capsys)
    assert code == 0 and "PPL net:" in out, err
    code, out, err = run_cli(["gen", "-rnnlm", model, "-gen", "30"], capsys)
    assert code == 0 and out.strip(), err
    code, out, err = run_cli(["info", "-rnnlm", model], capsys)
    assert code == 0 and described in out, err
    nbest = write_text(tmp_path / "nbest.txt", ["1 alpha x one", "1 alpha x two"])
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", nbest, "-nbest"], capsys)
    assert code == 0 and len(out.split()) == 2, err
    code, out, err = run_cli(["convert", "-rnnlm", model, "-to", cpp_format, "-o", str(tmp_path / "c")], capsys)
    assert code == 2 and refusal in err and len(err.strip().splitlines()) == 1

"""GRU hidden units (-hidden-type gru) end to end: they learn, resume exactly and work with every command."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, train
from rnnlmpy.rnnlm.model import new_model
from rnnlmpy.rnnlm.vocab import build_vocabulary

from helpers import TRAINING_VARIANTS

CONFIG = TRAINING_VARIANTS["gru"]


@pytest.fixture(scope="module")
def trained(trained_model):
    return trained_model(CONFIG)


def test_gru_model_has_three_blocks_of_weights(trained):
    model = load_model(trained["model"])
    assert model.input_weights.shape[1] == 36 and model.recurrent.shape == (36, 12) and model.gate_bias.shape == (36,)


@pytest.mark.parametrize("bptt", [0, 2])
def test_gru_trains_with_and_without_bptt(trained, tmp_path, bptt):
    model = train(trained["train"], str(tmp_path / "m"), trained["valid"], RnnlmConfig(**dict(CONFIG, bptt=bptt)),
                  max_iter=3, debug=0)
    history = model.training.history
    assert history[-1]["valid_entropy"] < history[0]["valid_entropy"]
    assert np.any(model.gate_bias != 0)


def test_diagonal_initialization_sets_every_recurrent_block():
    vocabulary = build_vocabulary("a b c </s>".split(), 1)
    for activation, blocks in (("sigmoid", 1), ("gru", 3)):
        model = new_model(RnnlmConfig(hidden_size=4, activation=activation, diagonal_initialization=0.5), vocabulary)
        np.testing.assert_array_equal(model.recurrent, np.vstack([0.5 * np.eye(4)] * blocks))


def test_gru_model_scores_the_test_text_well(trained):
    assert evaluate_file(load_model(trained["model"]), trained["test"]).perplexity < 6

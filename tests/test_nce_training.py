"""NCE (-nce K) end to end: it learns, ppl normalises over the vocabulary, training is reproducible and resumes exactly."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, train
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.evaluation import score_tokens

from helpers import TRAINING_VARIANTS, run_cli, successor_corpus

CONFIG = TRAINING_VARIANTS["nce"]


@pytest.fixture(scope="module")
def trained(trained_model):
    return trained_model(CONFIG)


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


def test_nce_ppl_normalises_and_training_options_conflict(trained, capsys, tmp_path):
    model = trained["model"]
    code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", trained["test"]], capsys)
    assert code == 0 and "PPL net:" in out and "normalised over: all 12 words" in out, err
    code, out, err = run_cli(["train", "-train", trained["train"], "-rnnlm", str(tmp_path / "x"), "-hs", "-nce", "5"],
                             capsys)
    assert code == 2 and "either -hs or -nce" in err
    for bad in (["-nce", "0"], ["-nce", "5", "-nce-lnz", "nan"], ["-nce", "5", "-nce-unigram-power", "-1"]):
        code, out, err = run_cli(["train", "-train", trained["train"], "-rnnlm", str(tmp_path / "x"), *bad], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err

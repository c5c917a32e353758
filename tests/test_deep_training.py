"""The batched engine end to end on tiny made-up text: training with every optimiser, scoring through every
command (ppl and its -debug 2 lines, -independent, -nbest, -dynamic, gen), reproducibility and exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnlmpy import train
from rnnlmpy.rnnlm import RnnlmConfig, load_model, score_sentence_batch, score_tokens
from rnnlmpy.rnnlm.evaluation import score
from rnnlmpy.rnnlm.model import OPTIMIZERS

from helpers import assert_interrupted_training_resumes_exactly, pattern_corpus, run_cli, write_text


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deep_texts")
    return (write_text(folder / "train.txt", pattern_corpus(1000, seed=1)),
            write_text(folder / "valid.txt", pattern_corpus(40, seed=2)))


def lstm_config(**settings) -> RnnlmConfig:
    """A tiny two-layer LSTM with a full softmax."""
    return RnnlmConfig(**{"activation": "lstm", "layers": 2, "hidden_size": 8, "class_count": 1, "batch": 4,
                          "bptt": 5, **settings})


RATES = {"momentum": 0.3}  # this tiny model leaves its first plateau sooner at this rate than at the default


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_two_layer_lstm_learns_with_every_optimiser(texts, tmp_path, optimizer):
    train_file, valid_file = texts
    config = lstm_config(optimizer=optimizer, alpha=RATES.get(optimizer), min_improvement=0.0)  # no halving
    model = train(train_file, str(tmp_path / "m"), valid_file, config, max_iter=6, debug=0)
    assert model.config.batched and model.recurrent.shape == (2, 2, 32, 8)
    history = model.training.history
    assert len(history) == 6 and all(math.isfinite(record["train_entropy"]) for record in history)
    uniform_ppl = model.vocabulary.size
    assert min(record["valid_ppl"] for record in history) < 0.8 * uniform_ppl, history
    loaded = load_model(str(tmp_path / "m"))
    for name, array in model.weights().items():
        np.testing.assert_array_equal(getattr(loaded, name), array, err_msg=name)


def test_ppl_is_the_sum_of_the_debug_2_lines_and_the_same_with_threads(texts, tmp_path, capsys):
    train_file, valid_file = texts
    path = str(tmp_path / "m")
    train(train_file, path, valid_file, lstm_config(independent=True), max_iter=2, debug=0)
    code, out, _ = run_cli(["ppl", "-rnnlm", path, "-test", valid_file, "-debug", "2", "-threads", "1"], capsys)
    assert code in (0, None)
    rows = [line.split("\t") for line in out.splitlines() if line[:1].isdigit() and "\t" in line]
    total = sum(math.log10(float(row[1])) for row in rows if int(row[0]) >= 0)
    stated = float(next(line for line in out.splitlines() if line.startswith("test log probability:")).split()[-1])
    assert total == pytest.approx(stated, abs=1e-3)
    code, out_threads, _ = run_cli(["ppl", "-rnnlm", path, "-test", valid_file, "-debug", "2", "-threads", "2"],
                                   capsys)
    assert out_threads == out  # an independent model's sentences scored side by side give the same numbers


def test_sentences_scored_side_by_side_match_one_stream(texts, tmp_path):
    train_file, valid_file = texts
    model = train(train_file, str(tmp_path / "m"), valid_file, lstm_config(independent=True), max_iter=1, debug=0)
    lines = ["alpha x one", "beta y z two", "gamma three", "alpha u v x one"]
    whole = score_tokens(model, "\n".join(lines))
    ids = model.vocabulary.encode(" ".join(lines).split())
    batch = score_sentence_batch(model, ids, np.array([len(line.split()) for line in lines]), bos=True, eos=True)
    np.testing.assert_allclose(batch, whole.probabilities, rtol=1e-5)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_the_same_command_twice_writes_the_same_bytes(texts, tmp_path, capsys, threads):
    train_file, valid_file = texts
    files = []
    for name in ("a", "b"):
        path = str(tmp_path / name)
        code, _, err = run_cli(["train", "-train", train_file, "-valid", valid_file, "-rnnlm", path, "-hidden-type",
                                "lstm", "-layers", "2", "-hidden", "8", "-class", "1", "-batch", "4", "-bptt", "5",
                                "-dropout", "0.2", "-optimizer", "adam", "-max-iter", "2", "-debug", "0",
                                "-threads", threads], capsys)
        assert code in (0, None), err
        files.append(open(path, "rb").read())
    assert files[0] == files[1]


def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_model(tmp_path):
    train_file = write_text(tmp_path / "train.txt", pattern_corpus(3000, seed=3))  # > 10,000 words an epoch
    valid_file = write_text(tmp_path / "valid.txt", pattern_corpus(50, seed=4))
    config = RnnlmConfig(activation="lstm", layers=2, hidden_size=6, class_count=1, batch=8, bptt=7, dropout=0.1,
                         optimizer="adam")
    assert_interrupted_training_resumes_exactly(train_file, valid_file, config, tmp_path)


def test_a_signal_mid_epoch_saves_a_checkpoint_that_resumes(texts, tmp_path, monkeypatch):
    import os
    import signal

    from rnnlmpy.rnnlm import TrainingInterrupted, batched_training

    monkeypatch.setattr(batched_training, "PROGRESS_WORDS", 200)
    train_file, valid_file = texts
    config = lstm_config(optimizer="momentum")
    whole = train(train_file, str(tmp_path / "whole"), valid_file, config, max_iter=1, debug=0)
    path = str(tmp_path / "resumed")
    sent = []

    def interrupt(model):
        if not sent:
            sent.append(model.training.position)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        train(train_file, path, valid_file, config, max_iter=1, debug=0, on_progress=interrupt)
    checkpoint = load_model(path)
    assert 0 < checkpoint.training.position < whole.training.train_words
    assert "streams/state" in checkpoint.resume_state and any(
        name.startswith("optimizer/") for name in checkpoint.resume_state)
    resumed = train(train_file, path, valid_file, config, max_iter=1, debug=0)
    for name, array in whole.weights().items():
        np.testing.assert_array_equal(getattr(resumed, name), array, err_msg=name)


def test_a_signal_at_an_epoch_end_keeps_the_optimiser_state_for_the_next_epoch(texts, tmp_path):
    import os
    import signal

    from rnnlmpy.rnnlm import TrainingInterrupted

    train_file, valid_file = texts
    config = lstm_config(optimizer="adam")
    whole = train(train_file, str(tmp_path / "whole"), valid_file, config, max_iter=2, debug=0)
    path = str(tmp_path / "resumed")

    def interrupt(model):  # the first call comes at the end of epoch 0 (one round an epoch on this text)
        if model.training.epoch == 0:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        train(train_file, path, valid_file, config, max_iter=2, debug=0, on_progress=interrupt)
    saved = load_model(path)
    assert saved.training.position == 0 and len(saved.training.history) == 1
    assert saved.resume_state["optimizer/step"][0] > 0  # adam's moments and step count travel with the file
    resumed = train(train_file, path, valid_file, config, max_iter=2, debug=0)
    for name, array in whole.weights().items():
        np.testing.assert_array_equal(getattr(resumed, name), array, err_msg=name)
    assert not load_model(path).resume_state  # a finished model holds no optimiser state


def test_gen_nbest_dynamic_and_convert(texts, tmp_path, capsys):
    train_file, valid_file = texts
    path = str(tmp_path / "m")
    model = train(train_file, path, valid_file, lstm_config(tie_weights=True), max_iter=2, debug=0)
    assert model.output_weights.shape == (0, 8)
    code, out, err = run_cli(["gen", "-rnnlm", path, "-gen", "30", "-rand-seed", "3"], capsys)
    assert code in (0, None), err
    assert set(" ".join(out.split()).split()) <= set(model.vocabulary.words)
    nbest = write_text(tmp_path / "nbest.txt", ["0 alpha x one", "0 alpha x two", "0 alpha x one", "1 beta y two"])
    code, out, err = run_cli(["ppl", "-rnnlm", path, "-test", nbest, "-nbest"], capsys)
    assert code in (0, None), err
    scores = [float(line) for line in out.split()]
    assert len(scores) == 4 and all(-20 < value < 0 for value in scores)
    assert scores[0] == scores[2] and scores[0] != scores[1]  # an ID's hypotheses from the same start
    static = score(model, open(valid_file).read())
    dynamic = score(model, open(valid_file).read(), dynamic_alpha=0.1)
    assert static.perplexity != dynamic.perplexity and math.isfinite(dynamic.perplexity)
    code, _, err = run_cli(["convert", "-rnnlm", path, "-to", "rnnlm-text", "-o", str(tmp_path / "c.txt")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "batched engine" in err
    assert not (tmp_path / "c.txt").exists()

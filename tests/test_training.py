"""Training loop: learning, schedule, save/load, resume after interruption."""

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, save_model, score_tokens, train
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.text import read_corpus

from helpers import pattern_corpus, write_text


@pytest.fixture()
def pattern_files(tmp_path):
    return (write_text(tmp_path / "train.txt", pattern_corpus(1500, seed=1)),
            write_text(tmp_path / "valid.txt", pattern_corpus(100, seed=2)),
            write_text(tmp_path / "test.txt", pattern_corpus(100, seed=3)))


CONFIG = dict(hidden_size=12, class_count=4, bptt=4, bptt_block=5, rand_seed=3)


def test_training_lowers_validation_entropy_and_learns_the_pattern(pattern_files, tmp_path):
    train_file, valid_file, test_file = pattern_files
    model = train(train_file, str(tmp_path / "m"), valid_file, RnnlmConfig(**CONFIG), debug=0)
    history = model.training.history
    assert len(history) >= 3 and model.training.finished
    assert history[-1]["valid_entropy"] < history[0]["valid_entropy"] - 0.2
    # the closing word is predictable from the opener, several words back
    right = score_tokens(model, "alpha x y z one </s> gamma u three </s>".split()).probabilities
    wrong = score_tokens(model, "alpha x y z two </s> gamma u one </s>".split()).probabilities
    assert right[4] > 0.9 and wrong[4] < 0.05
    assert right[8] > 20 * wrong[8]  # after one middle word the sentence may go on, but not with "one"


def test_saved_model_gives_identical_perplexity(pattern_files, tmp_path):
    train_file, valid_file, test_file = pattern_files
    path = str(tmp_path / "m")
    model = train(train_file, path, valid_file, RnnlmConfig(**CONFIG), max_iter=2, debug=0)
    loaded = load_model(path)
    assert evaluate_file(loaded, test_file).log10_probability == evaluate_file(model, test_file).log10_probability
    assert loaded.training.history == model.training.history
    assert loaded.vocabulary.words == model.vocabulary.words


def test_rand_seed_fixes_every_result(pattern_files, tmp_path):
    train_file, valid_file, _ = pattern_files
    first = train(train_file, str(tmp_path / "a"), valid_file, RnnlmConfig(**CONFIG), max_iter=2, debug=0)
    second = train(train_file, str(tmp_path / "b"), valid_file, RnnlmConfig(**CONFIG), max_iter=2, debug=0)
    other = train(train_file, str(tmp_path / "c"), valid_file, RnnlmConfig(**{**CONFIG, "rand_seed": 4}),
                  max_iter=2, debug=0)
    assert np.array_equal(first.recurrent, second.recurrent)
    assert not np.array_equal(first.recurrent, other.recurrent)


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_model(tmp_path):
    lines = pattern_corpus(3000, seed=5)  # ~18,000 words: checkpoints fall inside epochs
    train_file = write_text(tmp_path / "train.txt", lines)
    valid_file = write_text(tmp_path / "valid.txt", pattern_corpus(100, seed=6))
    config = dict(CONFIG, hidden_size=8)
    whole = train(train_file, str(tmp_path / "whole"), valid_file, RnnlmConfig(**config), max_iter=3,
                  anti_kasparek=10_000, debug=0)

    calls = []

    def crash_mid_second_epoch(model):
        calls.append(model.training.position)
        if model.training.epoch == 1 and model.training.position > 10_000:
            raise Interrupt()

    path = str(tmp_path / "resumed")
    with pytest.raises(Interrupt):
        train(train_file, path, valid_file, RnnlmConfig(**config), max_iter=3, anti_kasparek=10_000, debug=0,
              on_progress=crash_mid_second_epoch)
    checkpoint = load_model(path)
    assert checkpoint.training.epoch == 1 and checkpoint.training.position == 10_000
    assert checkpoint.resume_state  # mid-epoch state travels with the checkpoint
    with pytest.raises(RnnlmpyError, match="other settings: hidden_size 8 \\(now 99\\)"):
        train(train_file, path, valid_file, RnnlmConfig(**dict(config, hidden_size=99)), max_iter=3,
              anti_kasparek=10_000, debug=0)  # a checkpoint resumes only with the same settings
    resumed = train(train_file, path, valid_file, RnnlmConfig(**config), max_iter=3, anti_kasparek=10_000, debug=0)
    assert resumed.config.hidden_size == 8
    for name, array in whole.weights().items():
        np.testing.assert_array_equal(getattr(resumed, name), array, err_msg=name)
    assert [r["valid_entropy"] for r in resumed.training.history] == \
        [r["valid_entropy"] for r in whole.training.history]


def test_finished_model_is_not_trained_again(pattern_files, tmp_path):
    train_file, valid_file, _ = pattern_files
    path = str(tmp_path / "m")
    train(train_file, path, valid_file, RnnlmConfig(**CONFIG), one_iter=True, debug=0)
    with pytest.raises(RnnlmpyError, match="finished training"):
        train(train_file, path, valid_file, RnnlmConfig(**CONFIG), debug=0)


def test_one_iter_needs_no_validation_and_stops_after_one_pass(pattern_files, tmp_path):
    train_file, _, _ = pattern_files
    model = train(train_file, str(tmp_path / "m"), config=RnnlmConfig(**CONFIG), one_iter=True, debug=0)
    assert len(model.training.history) == 1 and model.training.history[0]["valid_entropy"] is None


def test_worse_epoch_restores_previous_weights(pattern_files, tmp_path):
    train_file, valid_file, _ = pattern_files
    # a huge learning rate makes some epoch worse; its weights must not survive
    model = train(train_file, str(tmp_path / "m"), valid_file, RnnlmConfig(**{**CONFIG, "alpha": 3.0}),
                  max_iter=6, debug=0)
    history = model.training.history
    assert any(not record["accepted"] for record in history)


def test_oov_without_unk_is_excluded_and_counted(pattern_files, tmp_path):
    train_file, valid_file, _ = pattern_files
    model = train(train_file, str(tmp_path / "m"), valid_file, RnnlmConfig(**CONFIG), max_iter=1, debug=0)
    result = score_tokens(model, "alpha x NEVERSEEN one </s>".split())
    assert result.oov_count == 1 and result.scored_count == 4
    assert result.probabilities[2] == 0


def test_model_written_atomically_leaves_no_temporary_files(pattern_files, tmp_path):
    train_file, valid_file, _ = pattern_files
    model = train(train_file, str(tmp_path / "m"), valid_file, RnnlmConfig(**CONFIG), max_iter=1, debug=0)
    save_model(model, str(tmp_path / "m"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m.history.jsonl", "test.txt", "train.txt",
                                                          "valid.txt"]


def test_training_anew_starts_a_new_history(pattern_files, tmp_path):
    # -force (or a deleted model) must not append a new model's epochs to the old model's history
    train_file, valid_file, _ = pattern_files
    path = str(tmp_path / "m")
    train(train_file, path, valid_file, RnnlmConfig(**CONFIG), max_iter=2, debug=0)
    with open(path + ".history.jsonl") as handle:
        assert len(handle.readlines()) == 2
    train(train_file, path, valid_file, RnnlmConfig(**CONFIG), max_iter=1, debug=0, force=True)
    with open(path + ".history.jsonl") as handle:
        assert len(handle.readlines()) == 1


def test_progress_goes_to_the_log_and_debug_zero_is_silent(pattern_files, tmp_path, capsys):
    import io
    train_file, valid_file, _ = pattern_files
    log = io.StringIO()
    train(train_file, str(tmp_path / "a"), valid_file, RnnlmConfig(**CONFIG), max_iter=2, debug=1, log=log)
    text = log.getvalue()
    assert "Iter:   0" in text and "VALID entropy" in text and "Words/sec" in text
    silent = io.StringIO()
    train(train_file, str(tmp_path / "b"), valid_file, RnnlmConfig(**CONFIG), max_iter=2, debug=0, log=silent)
    assert silent.getvalue() == ""
    assert read_corpus(train_file)  # files untouched

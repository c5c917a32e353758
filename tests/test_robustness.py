"""Nothing lost, no traceback, no silent nonsense (issue 13): outputs, resume, locks, full disks, ranges, Ctrl-C."""

import errno
import os
import signal

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, evaluate_file, load_model, train
from rnnlmpy.base import files, store
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm import epoch, network
from rnnlmpy.rnnlm.sampling import generate_lines
from rnnlmpy.rnnlm.training import TrainingInterrupted

from helpers import pattern_corpus, run_cli, train_until_crash, write_text

CONFIG = dict(hidden_size=8, class_count=3, bptt=2, bptt_block=5, rand_seed=3)


@pytest.fixture()
def corpus(tmp_path):
    return {"train": write_text(tmp_path / "train.txt", pattern_corpus(600, seed=1)),
            "valid": write_text(tmp_path / "valid.txt", pattern_corpus(60, seed=2)),
            "folder": tmp_path}


@pytest.fixture(scope="module")
def trained(trained_model):
    return trained_model(CONFIG, sentences=(600, 60, 60), max_iter=2)


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- outputs never replace what is not theirs

@pytest.mark.parametrize("command", [
    ["ngram", "-train", "{train}", "-order", "3", "-arpa", "{victim}"],
    ["convert", "-rnnlm", "{model}", "-to", "rnnlm-text", "-o", "{victim}"],
    ["plot", "{model}", "-o", "{victim}"],
    ["train", "-train", "{train}", "-rnnlm", "{victim}", "-one-iter"],
])
def test_an_output_never_replaces_a_file_of_another_kind(command, trained, capsys, tmp_path):
    victim = write_text(tmp_path / "notes.txt", ["my only copy"])
    argv = [part.format(victim=victim, **trained) for part in command]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "refusing to replace it" in one_error_line(err)
    assert open(victim).read() == "my only copy\n"


def test_force_replaces_a_foreign_file_but_never_an_input(trained, capsys, tmp_path):
    victim = write_text(tmp_path / "notes.txt", ["not an arpa file"])
    code, _, err = run_cli(["ngram", "-train", trained["train"], "-arpa", victim, "-force"], capsys)
    assert code == 0 and files.sniff(victim) == files.ARPA
    before = open(trained["train"], "rb").read()
    code, _, err = run_cli(["ngram", "-train", trained["train"], "-arpa", trained["train"], "-force"], capsys)
    assert code == 2 and "also an input" in one_error_line(err)
    code, _, err = run_cli(["train", "-train", trained["train"], "-rnnlm", trained["train"], "-force"], capsys)
    assert code == 2 and "also an input" in one_error_line(err)
    assert open(trained["train"], "rb").read() == before


def test_an_output_may_replace_its_own_kind(trained, capsys, tmp_path):
    arpa = str(tmp_path / "lm.arpa")
    for _ in range(2):
        code, _, err = run_cli(["ngram", "-train", trained["train"], "-order", "2", "-arpa", arpa], capsys)
        assert code == 0, err


# ---------------------------------------------------------------- resume only the same corpus and settings

def interrupted_checkpoint(corpus, path, config=CONFIG):
    """Train until the first checkpoint of epoch 1, then stop as a crash would."""
    lines = pattern_corpus(3000, seed=5)
    train_file = write_text(corpus["folder"] / "big.txt", lines)
    train_until_crash(train_file, path, corpus["valid"], RnnlmConfig(**config), position=10_000, epoch=1,
                      max_iter=3, anti_kasparek=10_000)
    assert load_model(path).training.position == 10_000
    return train_file


def test_a_checkpoint_refuses_another_corpus_with_the_same_word_count(corpus, tmp_path):
    path = str(tmp_path / "m")
    train_file = interrupted_checkpoint(corpus, path)
    text = open(train_file).read()
    swapped = text.replace("alpha", "ALPHA")  # same number of words, other text
    other = write_text(tmp_path / "other.txt", swapped.splitlines())
    with pytest.raises(RnnlmpyError, match="checkpoint of training on other text"):
        train(other, path, corpus["valid"], RnnlmConfig(**CONFIG), max_iter=3, anti_kasparek=10_000, debug=0)


def test_a_checkpoint_refuses_another_held_out_split(corpus, tmp_path):
    path = str(tmp_path / "m")
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(3000, seed=5))

    def crash(model):
        if model.training.position >= 10_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(train_file, path, None, RnnlmConfig(**CONFIG), anti_kasparek=10_000, debug=0, on_progress=crash)
    with pytest.raises(RnnlmpyError, match="other text|other settings"):
        train(train_file, path, None, RnnlmConfig(**dict(CONFIG, rand_seed=4)), anti_kasparek=10_000, debug=0)


@pytest.mark.parametrize("change", [dict(hidden_size=9), dict(class_count=4), dict(bptt=3), dict(activation="tanh")])
def test_a_checkpoint_refuses_other_settings_unless_forced(corpus, tmp_path, change):
    path = str(tmp_path / "m")
    train_file = interrupted_checkpoint(corpus, path)
    with pytest.raises(RnnlmpyError, match="other settings"):
        train(train_file, path, corpus["valid"], RnnlmConfig(**dict(CONFIG, **change)), max_iter=1, debug=0)
    model = train(train_file, path, corpus["valid"], RnnlmConfig(**dict(CONFIG, **change)), max_iter=1, debug=0,
                  force=True)
    assert all(getattr(model.config, name) == value for name, value in change.items())


# ---------------------------------------------------------------- one writer at a time; full disks; stray files

def test_a_second_run_on_the_same_model_path_is_refused(corpus, tmp_path):
    path = str(tmp_path / "m")
    with files.exclusive_lock(path):
        with pytest.raises(RnnlmpyError, match="another rnnlmpy run is writing"):
            train(corpus["train"], path, corpus["valid"], RnnlmConfig(**CONFIG), max_iter=1, debug=0)
    train(corpus["train"], path, corpus["valid"], RnnlmConfig(**CONFIG), max_iter=1, debug=0)
    assert not os.path.exists(path + ".lock")


def test_a_full_disk_is_one_line_and_no_history_for_the_unsaved_epoch(corpus, tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "m")
    saves = []
    real_write = store.write_npz

    def write_until_full(handle, arrays):
        saves.append(1)
        if len(saves) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(handle, arrays)

    monkeypatch.setattr(store, "write_npz", write_until_full)
    code, _, err = run_cli(["train", "-train", corpus["train"], "-valid", corpus["valid"], "-rnnlm", path,
                            "-hidden", "8", "-class", "3", "-max-iter", "3", "-debug", "0"], capsys)
    assert code == 2 and "No space left on device" in one_error_line(err)
    with open(path + ".history.jsonl") as handle:
        assert len(handle.readlines()) == 1  # epoch 0 was saved; epoch 1 was not, so it is not in the history
    assert load_model(path).training.epoch == 1
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_a_killed_save_leaves_no_stray_temporary_file(corpus, tmp_path):
    path = str(tmp_path / "m")
    stray = tmp_path / "m.x1y2z3.tmp"
    stray.write_bytes(b"half a model")
    unrelated = tmp_path / "other.tmp"
    unrelated.write_bytes(b"someone else's")
    train(corpus["train"], path, corpus["valid"], RnnlmConfig(**CONFIG), max_iter=1, debug=0)
    assert not stray.exists() and unrelated.exists()


# ---------------------------------------------------------------- Ctrl-C saves the state; resuming is exact

def test_ctrl_c_saves_a_checkpoint_that_resumes_to_the_same_model(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(epoch, "PROGRESS_CHUNK", 2_000)  # Ctrl-C is seen between kernel calls
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(3000, seed=5))
    whole = train(train_file, str(tmp_path / "whole"), corpus["valid"], RnnlmConfig(**CONFIG), max_iter=2, debug=0)

    def press_ctrl_c(model):
        if model.training.epoch == 1 and model.training.position >= 5_000:
            os.kill(os.getpid(), signal.SIGINT)

    path = str(tmp_path / "m")
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN where pytest runs as a background job
    signal.signal(signal.SIGINT, signal.default_int_handler)  # so that the Ctrl-C below reaches training
    with pytest.raises(TrainingInterrupted, match="rerun the same command to resume"):
        train(train_file, path, corpus["valid"], RnnlmConfig(**CONFIG), max_iter=2, debug=0, on_progress=press_ctrl_c)
    assert load_model(path).training.position > 0
    resumed = train(train_file, path, corpus["valid"], RnnlmConfig(**CONFIG), max_iter=2, debug=0)
    for name, array in whole.weights().items():
        np.testing.assert_array_equal(getattr(resumed, name), array, err_msg=name)
    try:
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


# ---------------------------------------------------------------- out-of-range numbers and conflicts

@pytest.mark.parametrize("options, expected", [
    (["-rand-seed", "-1"], "-rand-seed"),
    (["-alpha", "inf"], "-alpha"),
    (["-alpha", "nan"], "-alpha"),
    (["-beta", "nan"], "-beta"),
    (["-direct", "nan"], "-direct"),
    (["-direct", "inf"], "-direct"),
    (["-direct", "1e12"], "-direct"),
    (["-hidden", "10000000"], "memory"),
    (["-bptt", "1000000000"], "-bptt"),
    (["-one-iter", "-max-iter", "3"], "-one-iter"),
])
def test_out_of_range_training_options_are_one_line(options, expected, corpus, capsys):
    code, _, err = run_cli(["train", "-train", corpus["train"], "-rnnlm", str(corpus["folder"] / "m"), *options],
                           capsys)
    assert code == 2 and expected in one_error_line(err)
    assert not os.path.exists(corpus["folder"] / "m")


@pytest.mark.parametrize("argv, expected", [
    (["ppl", "-rnnlm", "{model}", "-test", "{train}", "-dynamic", "nan"], "-dynamic"),
    (["ppl", "-rnnlm", "{model}", "-test", "{train}", "-dynamic", "inf"], "-dynamic"),
    (["ppl", "-rnnlm", "{model}", "-test", "{nbest}", "-nbest", "-dynamic", "0.5"], "-dynamic"),
    (["ensemble", "-rnnlm", "{model}", "-rnnlm", "{model}", "-test", "{train}", "-weights", "nan,nan"], "-weights"),
])
def test_options_that_would_be_ignored_or_meaningless_are_one_line(argv, expected, trained, capsys):
    nbest = write_text(trained["folder"] / "nbest.txt", ["1 alpha x one", "1 beta y two"])
    code, _, err = run_cli([part.format(nbest=nbest, **trained) for part in argv], capsys)
    assert code == 2 and expected in one_error_line(err)


def test_more_classes_than_words_and_a_slow_output_layer_are_said(tmp_path, capsys):
    words = [f"w{i}" for i in range(200)]
    lines = [" ".join(words[(i * 7) % 200:(i * 7) % 200 + 10]) for i in range(300)]
    train_file = write_text(tmp_path / "t.txt", lines)
    for classes, expected in (("100000", "every word gets a class of its own"), ("1", "x the work of -class 14")):
        code, _, err = run_cli(["train", "-train", train_file, "-rnnlm", str(tmp_path / f"m{classes}"), "-class",
                                classes, "-hidden", "5", "-one-iter", "-debug", "0"], capsys)
        assert code == 0 and f"warning: -class {int(classes):,}" in err and expected in err, err


# ---------------------------------------------------------------- divergence keeps the last good weights

@pytest.mark.parametrize("hidden_type", ["sigmoid", "relu"])
def test_divergent_training_restores_good_weights_and_halves_alpha(tmp_path, capsys, hidden_type):
    words = [f"w{i}" for i in range(300)]
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, size=12)) for _ in range(1500)]
    train_file = write_text(tmp_path / "t.txt", lines)
    valid_file = write_text(tmp_path / "v.txt", lines[:100])
    path = str(tmp_path / "m")
    code, _, err = run_cli(["train", "-train", train_file, "-valid", valid_file, "-rnnlm", path, "-hidden", "10",
                            "-class", "17", "-alpha", "30", "-max-iter", "3", "-debug", "0", "-hidden-type",
                            hidden_type], capsys)
    assert code == 0 and "diverged" in err and "restored the last good weights" in err, err
    model = load_model(path)
    assert any(record.get("diverged") for record in model.training.history)
    assert all(np.isfinite(array).all() for array in model.weights().values())
    assert evaluate_file(model, valid_file).perplexity < 300 * 1.5


# ---------------------------------------------------------------- the rest of the friction

def test_generation_streams_and_checks_its_arguments_at_once(trained):
    model = load_model(trained["model"])
    with pytest.raises(RnnlmpyError, match="-temperature"):
        generate_lines(model, 10, temperature=float("nan"))
    lines = generate_lines(model, 10**12)  # lazily: the first line comes at once
    assert isinstance(next(lines), str)


def test_warm_up_compiles_without_changing_anything(trained):
    model = load_model(trained["model"])
    before = {name: array.copy() for name, array in model.weights().items()}
    state = network.KernelState.fresh(model.config)
    state_before = {name: array.copy() for name, array in state.arrays().items()}
    from rnnlmpy.rnnlm.streams import language_model_stream
    stream = language_model_stream(model.vocabulary.encode("alpha x one </s>".split()))
    network.warm_up(model, stream, stream, state)
    for name, array in model.weights().items():
        np.testing.assert_array_equal(array, before[name])
    for name, array in state.arrays().items():
        np.testing.assert_array_equal(array, state_before[name])


def test_results_print_short(trained):
    model = load_model(trained["model"])
    result = evaluate_file(model, trained["train"])
    assert len(repr(result)) < 120 and "perplexity=" in repr(result)
    assert len(repr(model)) < 200 and len(repr(model.vocabulary)) < 80


def test_a_crashing_training_member_is_one_line(corpus, capsys):
    prefix = str(corpus["folder"] / "ens")
    os.mkdir(prefix + ".seed2")  # member 2 cannot be written
    code, _, err = run_cli(["train", "-train", corpus["train"], "-valid", corpus["valid"], "-rnnlm", prefix,
                            "-rand-seed", "1,2", "-jobs", "2", "-hidden", "5", "-class", "3", "-max-iter", "1"],
                           capsys)
    assert code == 2 and "seed 2" in err.strip().splitlines()[-1] and "Traceback" not in err

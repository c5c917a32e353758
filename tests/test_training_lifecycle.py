"""A training run from start to end (issue 21, sections 3-5): SIGTERM saves the state like Ctrl-C, a failed
save with -force loses nothing of the old run, an error is the only line after the command, progress in a
log is whole lines, and the run ends with one summary line saying why it stopped."""

import io
import json
import os
import pickle
import resource
import signal
import subprocess
import sys

import pytest

from rnnlmpy import RnnlmConfig, load_model, train
from rnnlmpy.base.errors import Terminated
from rnnlmpy.base.progress import ProgressReporter
from rnnlmpy.rnnlm import epoch
from rnnlmpy.rnnlm.training import TrainingInterrupted

from helpers import pattern_corpus, run_cli, write_text

SCRIPT = os.path.join(os.path.dirname(sys.executable), "rnnlmpy")
SMALL = ["-hidden", "8", "-class", "3", "-bptt", "2", "-bptt-block", "5"]


@pytest.fixture()
def corpus(tmp_path):
    return {"train": write_text(tmp_path / "train.txt", pattern_corpus(600, seed=1)),
            "valid": write_text(tmp_path / "valid.txt", pattern_corpus(60, seed=2)),
            "folder": tmp_path}


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- SIGTERM: saved like Ctrl-C, exit 143

# The rnnlmpy command, except that training waits after its first progress line until the SIGTERM the test
# sends has come (so where the signal lands does not depend on the machine's speed; if no signal comes in
# WAIT seconds, training goes on and the test fails); the rest is the command.
TRAIN_UNTIL_SIGTERM = """
import signal, sys, time
from rnnlmpy.base import progress
from rnnlmpy_cli.main import main

install, came = signal.signal, []

def noting(number, handler):
    if number == signal.SIGTERM and callable(handler):
        def noted(signum, frame):
            came.append(signum)
            handler(signum, frame)
        return install(number, noted)
    return install(number, handler)

draw = progress.ProgressReporter.running

def draw_then_wait(self, *args):
    draw(self, *args)
    waited = 0
    while not came and waited < 6_000:  # WAIT: 60 s
        time.sleep(0.01)
        waited += 1
    came.append(0)

signal.signal, progress.ProgressReporter.running = noting, draw_then_wait
main(sys.argv[1:])
"""


def test_sigterm_saves_the_state_and_the_rerun_ends_with_the_uninterrupted_model(tmp_path):
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(8000, seed=5))  # more words than one kernel call
    valid_file = write_text(tmp_path / "v.txt", pattern_corpus(60, seed=2))

    def command(model: str) -> list[str]:
        return ["train", "-train", train_file, "-valid", valid_file, "-rnnlm", model, *SMALL, "-max-iter", "2"]

    whole = subprocess.run([SCRIPT, *command("whole")], cwd=tmp_path, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    process = subprocess.Popen([sys.executable, "-c", TRAIN_UNTIL_SIGTERM, *command("m"), "-debug", "2"],
                               cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "Progress:" in line:
            process.send_signal(signal.SIGTERM)
            break
    rest = process.stderr.read()
    assert process.wait() == 143, "".join(seen) + rest
    assert rest.strip().splitlines()[-1].startswith("rnnlmpy: terminated (SIGTERM): saved the training state in m")
    assert "rerun the same command to resume exactly there" in rest
    saved = load_model(str(tmp_path / "m"))
    assert not saved.training.finished and saved.training.position > 0
    again = subprocess.run([SCRIPT, *command("m")], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0 and "Resuming m at epoch 0" in again.stderr, again.stderr
    assert (tmp_path / "m").read_bytes() == (tmp_path / "whole").read_bytes()


def test_sigterm_in_training_is_exit_status_143_and_the_handlers_come_back(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(epoch, "PROGRESS_CHUNK", 2_000)
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(3000, seed=5))

    def terminate(model):
        if model.training.position >= 4_000:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)  # SIGINT: SIG_IGN in a background job
    with pytest.raises(TrainingInterrupted, match=r"terminated \(SIGTERM\): saved the training state") as stopped:
        train(train_file, str(tmp_path / "m"), corpus["valid"], RnnlmConfig(hidden_size=5, class_count=3),
              max_iter=1, debug=0, on_progress=terminate)
    assert stopped.value.exit_status == 143
    assert pickle.loads(pickle.dumps(stopped.value)).exit_status == 143  # as a grid's worker process sends it
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.parametrize("number, raised", [(signal.SIGTERM, Terminated), (signal.SIGINT, KeyboardInterrupt)])
def test_a_second_signal_stops_at_once_as_what_it_is(number, raised, corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(epoch, "PROGRESS_CHUNK", 2_000)
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(3000, seed=5))

    def signal_twice(model):
        if model.training.position >= 4_000:
            os.kill(os.getpid(), number)
            os.kill(os.getpid(), number)

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(raised) as stopped:
        train(train_file, str(tmp_path / "m"), corpus["valid"], RnnlmConfig(hidden_size=5, class_count=3),
              max_iter=1, debug=0, on_progress=signal_twice)
    assert isinstance(stopped.value, Terminated) == (number == signal.SIGTERM)  # exit 143 for SIGTERM, else 130
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# ---------------------------------------------------------------- nothing of the old run lost

def limit_file_size(size: int):
    """For a child process: files larger than ``size`` bytes cannot be written (EFBIG), as on a full disk."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


def test_a_forced_run_that_cannot_save_keeps_the_old_model_and_its_history(corpus):
    folder = corpus["folder"]
    base = ["train", "-train", corpus["train"], "-valid", corpus["valid"], "-rnnlm", "m", "-max-iter", "2"]
    old = subprocess.run([SCRIPT, *base, "-hidden", "5"], cwd=folder, capture_output=True, text=True)
    assert old.returncode == 0, old.stderr
    model, history = (folder / "m").read_bytes(), (folder / "m.history.jsonl").read_bytes()
    assert len(model) < 40_000 and len(history.splitlines()) == 2
    bigger = [*base, "-hidden", "200", "-force", "-debug", "0"]  # its model file would be over 160 kB
    full = subprocess.run([SCRIPT, *bigger], cwd=folder, capture_output=True, text=True,
                          preexec_fn=limit_file_size(64_000))
    assert full.returncode == 2 and "nothing was replaced" in one_line(full.stderr)
    assert (folder / "m").read_bytes() == model and (folder / "m.history.jsonl").read_bytes() == history
    assert not [name for name in os.listdir(folder) if name.endswith(".tmp")]
    done = subprocess.run([SCRIPT, *bigger], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (folder / "m.history.jsonl").read_text().splitlines()]
    assert len(records) == len(load_model(str(folder / "m")).training.history) == 2  # the new model's only


# ---------------------------------------------------------------- what the user reads

def test_an_error_after_the_held_out_notice_is_the_only_line(corpus, capsys, monkeypatch):
    """Without -valid, training says which lines it holds out, but only once the model and the checkpoint
    have passed every check: a refusal is the one line the command prints."""
    path = str(corpus["folder"] / "m")
    argv = ["train", "-train", corpus["train"], "-rnnlm", path, *SMALL, "-max-iter", "1"]
    assert run_cli(argv, capsys)[0] == 0
    code, _, err = run_cli(argv, capsys)  # finished: refused
    assert code == 2 and "has finished training" in one_line(err)
    monkeypatch.setattr(epoch, "PROGRESS_CHUNK", 500)
    config = RnnlmConfig(hidden_size=8, class_count=3, bptt=2, bptt_block=5)
    with pytest.raises(TrainingInterrupted):  # an unfinished model: a checkpoint of one thread
        train(corpus["train"], path, None, config, max_iter=1, debug=0, force=True,
              on_progress=lambda model: os.kill(os.getpid(), signal.SIGINT))
    for other in (["-threads", "2"], ["-hidden", "9"]):
        code, _, err = run_cli([*argv, *other], capsys)
        assert code == 2 and "is a checkpoint" in one_line(err)
    code, _, err = run_cli([*argv, "-threads", "1"], capsys)
    assert code == 0 and "Resuming" in err and "holding out" in err


def test_debug_2_into_a_log_writes_whole_lines(corpus, capsys):
    code, _, err = run_cli(["train", "-train", corpus["train"], "-valid", corpus["valid"], "-rnnlm",
                            str(corpus["folder"] / "m"), *SMALL, "-max-iter", "2", "-debug", "2"], capsys)
    assert code == 0 and "\r" not in err
    progress = [line for line in err.splitlines() if "Progress:" in line]
    assert progress and all(line.startswith("Iter:") and "ETA:" in line for line in progress)


def test_progress_lines_are_redrawn_on_a_terminal_and_whole_in_a_file():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    shown = {}
    for name, stream in (("terminal", Terminal()), ("file", io.StringIO())):
        reporter = ProgressReporter(debug=2, stream=stream)
        reporter.running(0, 0.1, 7.5, 0.25, 1000.0, 30.0)
        reporter.running(0, 0.1, 7.4, 0.5, 1000.0, 15.0)  # at once after the first: not drawn
        reporter.message("done")
        shown[name] = stream.getvalue()
    assert shown["terminal"].startswith("\rIter:") and shown["terminal"].count("Progress:") == 1
    assert shown["file"].startswith("Iter:") and "\r" not in shown["file"] and shown["file"].count("Progress:") == 1
    assert shown["file"].splitlines() == [shown["file"].splitlines()[0], "done"] and "25.00%" in shown["file"]
    quiet = ProgressReporter(debug=1, stream=io.StringIO())  # debug 1 into a file: the epoch lines only
    quiet.running(0, 0.1, 7.5, 0.25, 1000.0, 30.0)
    assert quiet.stream.getvalue() == ""


@pytest.mark.parametrize("options, reason", [
    (["-max-iter", "2"], "stopped: -max-iter 2 reached"),
    (["-one-iter"], "stopped: -one-iter (one pass, no validation)"),
    ([], "stopped: converged (validation improved by less than -min-improvement 1.003 a second time)"),
])
def test_training_ends_with_one_summary_line_saying_why_it_stopped(corpus, capsys, options, reason):
    path = str(corpus["folder"] / "m")
    code, _, err = run_cli(["train", "-train", corpus["train"], "-valid", corpus["valid"], "-rnnlm", path, *SMALL,
                            *options], capsys)
    last = err.strip().splitlines()[-1]
    history = load_model(path).training.history
    assert code == 0 and last.startswith(f"Trained {path}: {len(history)} epoch") and reason in last
    assert sum(line.startswith("Trained ") for line in err.splitlines()) == 1
    if options == ["-one-iter"]:
        assert "no validation" in last
    else:
        best = min((r for r in history if r["accepted"]), key=lambda r: r["valid_ppl"])
        assert f"best validation PPL {best['valid_ppl']:.2f} (epoch {best['epoch']})" in last
    assert "on 1 thread;" in last

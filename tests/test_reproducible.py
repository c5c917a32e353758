"""The same command gives the same model (issue 21, section 1): `train` runs on one thread unless told, the
model file holds no clock, and the thread count a model was trained with is printed, stored and shown."""

import json
import os
import re
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, load_model
from rnnlmpy.base import store
from rnnlmpy.base.system import THREADS_VARIABLE, TRAINING_THREADS, default_threads_text
from rnnlmpy.rnnlm.grid import grid_members, train_grid

from helpers import pattern_corpus, run_cli, write_text

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(os.path.dirname(sys.executable), "rnnlmpy")


def readme() -> str:
    with open(os.path.join(CHECKOUT, "README.md"), encoding="utf-8") as handle:
        return handle.read()


def quick_start_train_command() -> list[str]:
    """The first command of the README's quick start (``rnnlmpy train -train corpus.txt``), as words."""
    text = readme()
    block = re.search(r"```sh\n(.*?)```", text[text.index("Quick start"):], re.DOTALL).group(1)
    words = block.strip().splitlines()[0].split("#")[0].split()
    assert words[:2] == ["rnnlmpy", "train"]
    return words[1:]


def without_thread_setting() -> dict:
    """This process's environment without $RNNLMPY_THREADS (the tests set it to 1): a new user's defaults."""
    return {name: value for name, value in os.environ.items() if name != THREADS_VARIABLE}


def test_the_readme_train_command_run_twice_writes_the_same_bytes(tmp_path):
    write_text(tmp_path / "corpus.txt", pattern_corpus(400, seed=4))
    command = quick_start_train_command()
    models = []
    for run in ("first", "second"):
        done = subprocess.run([SCRIPT, *command], cwd=tmp_path, capture_output=True, text=True,
                              env=without_thread_setting())
        assert done.returncode == 0, done.stderr
        assert "Threads: 1 (the same command trains the same model" in done.stderr
        model = tmp_path / "corpus.rnnlm"
        models.append(model.read_bytes())
        model.rename(tmp_path / f"{run}.rnnlm")  # so that the second run trains anew, exactly as the first
        (tmp_path / "corpus.rnnlm.history.jsonl").rename(tmp_path / f"{run}.history.jsonl")
    assert models[0] == models[1]
    assert load_model(str(tmp_path / "first.rnnlm")).training.threads == TRAINING_THREADS == 1
    timings = [[json.loads(line)["seconds"] for line in (tmp_path / f"{run}.history.jsonl").read_text().splitlines()]
               for run in ("first", "second")]
    assert all(seconds > 0 for run in timings for seconds in run)  # the timings are in the history file


def test_a_container_holds_no_clock(tmp_path, monkeypatch):
    """Written at different times, the same header and arrays are the same bytes; every member is dated
    ZIP_MEMBER_TIME."""
    arrays = {"weights": np.arange(12, dtype=np.float32).reshape(3, 4), "words": np.frombuffer(b"a\nb", np.uint8)}
    store.write_store(str(tmp_path / "a"), "rnnlm", {"note": 1}, arrays)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # 2033
    monkeypatch.setattr(time, "localtime", lambda *when: time.gmtime(2_000_000_000))
    store.write_store(str(tmp_path / "b"), "rnnlm", {"note": 1}, arrays)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    with zipfile.ZipFile(tmp_path / "b") as archive:
        assert {member.date_time for member in archive.infolist()} == {store.ZIP_MEMBER_TIME}
        assert sorted(archive.namelist()) == ["header.npy", "weights.npy", "words.npy"]
    header, read = store.read_store(str(tmp_path / "b"), "rnnlm")
    assert header["note"] == 1 and np.array_equal(read["weights"], arrays["weights"])


def test_the_thread_count_is_printed_stored_shown_and_logged(tmp_path, capsys):
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(400, seed=1))
    path = str(tmp_path / "m")
    code, _, err = run_cli(["train", "-train", train_file, "-rnnlm", path, "-hidden", "8", "-class", "3",
                            "-max-iter", "2", "-threads", "2"], capsys)
    assert code == 0 and "Threads: 2 (hogwild" in err
    assert load_model(path).training.threads == 2
    records = [json.loads(line) for line in open(path + ".history.jsonl", encoding="utf-8")]
    assert len(records) == 2 and all(record["threads"] == 2 for record in records)
    code, out, _ = run_cli(["info", "-rnnlm", path], capsys)
    assert code == 0 and "threads: 2 (hogwild" in out
    history = out[out.index("history:"):].splitlines()[2:]
    assert len(history) == 2 and all(re.search(r"\d:\d\d", line) for line in history)  # timings from the history
    assert all("seconds" not in record for record in load_model(path).training.history)


def test_an_older_model_without_a_thread_count_says_so(tmp_path, capsys):
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(200, seed=1))
    path = str(tmp_path / "m")
    assert run_cli(["train", "-train", train_file, "-rnnlm", path, "-hidden", "5", "-max-iter", "1"], capsys)[0] == 0
    header, arrays = store.read_store(path, "rnnlm")
    del header["training"]["threads"]
    store.write_store(path, "rnnlm", {k: v for k, v in header.items() if k not in ("format", "kind", "version")},
                      arrays)
    code, out, _ = run_cli(["info", "-rnnlm", path], capsys)
    assert code == 0 and "threads: not recorded" in out


def test_the_default_thread_count_is_one_for_train_and_every_core_for_scoring(capsys):
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0 and f"[default: {default_threads_text(every_core=False)}]" in " ".join(out.split())
    assert default_threads_text(every_core=False).endswith("else 1")
    for command in ("ppl", "ensemble"):
        code, out, _ = run_cli([command, "--help"], capsys)
        assert code == 0 and f"[default: {default_threads_text(every_core=True)}]" in " ".join(out.split())


def test_the_documented_option_table_lists_threads():
    with open(os.path.join(CHECKOUT, "docs", "rnnlm.md"), encoding="utf-8") as handle:
        text = handle.read()
    table = text[text.index("| option | default | meaning |"):]
    table = table[:table.index("\n\n")]
    row = next((line for line in table.splitlines() if line.startswith("| `-threads")), None)
    assert row is not None and "1" in row.split("|")[2]


def test_grid_members_train_on_one_thread_unless_told(tmp_path, monkeypatch):
    """A grid divides no cores among its members: each trains as ``train`` would (one thread), so the same
    grid command gives the same members."""
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(300, seed=1))
    config = RnnlmConfig(hidden_size=5, class_count=3, bptt=2)
    members = grid_members(str(tmp_path / "g"), config, {"rand_seed": [1, 2]})
    results = list(train_grid(train_file, str(tmp_path / "g"), members, jobs=1, max_iter=1))
    assert [result.status for result in results] == ["trained", "trained"]
    assert [load_model(member.path).training.threads for member in members] == [1, 1]


@pytest.mark.parametrize("stored, asked, expected", [(2, None, 2), (0, None, 1), (0, 3, 3)])
def test_resuming_keeps_the_checkpoints_thread_count(stored, asked, expected):
    """An unfinished model resumes on the threads it was started with; one written before the count was kept
    takes the count asked for (or the default)."""
    from rnnlmpy.rnnlm.model import TrainingProgress
    from rnnlmpy.rnnlm.session import training_threads as _training_threads
    progress = TrainingProgress(threads=stored)
    assert _training_threads(progress, asked, "m") == expected == progress.threads

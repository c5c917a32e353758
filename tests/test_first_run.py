"""The first-run experience: defaults, the README's commands as printed, help, info, plot, progress."""

import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, train
from rnnlmpy.base.progress import ProgressReporter
from rnnlmpy.rnnlm.training_text import read_training_text
from rnnlmpy_cli.main import cli

from helpers import pattern_corpus, write_text
from test_cli import run

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
SCRIPT = os.path.join(os.path.dirname(sys.executable), "rnnlmpy")


def readme_block(after: str, language: str) -> str:
    text = open(README, encoding="utf-8").read()
    start = text.index(after)
    match = re.search(rf"```{language}\n(.*?)```", text[start:], re.DOTALL)
    return match.group(1)


def test_readme_quick_start_runs_as_printed_in_an_empty_folder(tmp_path):
    write_text(tmp_path / "corpus.txt", pattern_corpus(300, seed=4))
    outputs = []
    for line in readme_block("Quick start", "sh").strip().splitlines():
        argv = line.split("#")[0].split()
        assert argv[0] == "rnnlmpy"
        result = subprocess.run([SCRIPT, *argv[1:]], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, (line, result.stderr)
        outputs.append(result)
    train_result, ppl_result, info_result, _ = outputs
    assert "Model: corpus.rnnlm (named after the corpus" in train_result.stderr
    assert re.search(r"holding out 15 of the 300 training lines", train_result.stderr)
    assert re.search(r"^PPL net: [\d.]+$", ppl_result.stdout, re.MULTILINE)
    assert "kind: RNN language model" in info_result.stdout and "final validation perplexity" in info_result.stdout
    png = (tmp_path / "curve.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    history = [json.loads(line) for line in (tmp_path / "corpus.rnnlm.history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == list(range(len(history))) and len(history) >= 3
    assert {"alpha", "train_entropy", "valid_entropy", "words_per_second", "seconds"} <= set(history[0])


def test_held_out_slice_is_deterministic_for_a_seed(tmp_path):
    lines = pattern_corpus(400, seed=9)
    path = write_text(tmp_path / "corpus.txt", lines)
    first = read_training_text(path, None, 1, False)
    again = read_training_text(path, None, 1, False)
    other = read_training_text(path, None, 2, False)
    assert first.held_lines.tolist() == again.held_lines.tolist()
    assert np.array_equal(first.train.type_ids, again.train.type_ids) and first.fingerprint == again.fingerprint
    assert first.held_lines.tolist() != other.held_lines.tolist() and first.fingerprint != other.fingerprint
    assert len(first.held_lines) == 20 and first.line_count == 400

    def tokens(part):
        return [part.types[i] for i in part.type_ids[1:]]

    held = set(first.held_lines.tolist())
    assert tokens(first.valid) == [t for i in sorted(held) for t in (*lines[i].split(), "</s>")]
    assert tokens(first.train) == [t for i, line in enumerate(lines) if i not in held for t in (*line.split(), "</s>")]


def test_refuses_to_clobber_an_unrelated_file_without_force(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_text(tmp_path / "corpus.txt", pattern_corpus(100, seed=4))
    (tmp_path / "corpus.rnnlm").write_text("my precious notes\n")
    code, _, err = run(["train", "-train", "corpus.txt", "-hidden", "5", "-max-iter", "1"], capsys)
    assert code == 2 and "-force" in err
    assert (tmp_path / "corpus.rnnlm").read_text() == "my precious notes\n"
    code, _, err = run(["train", "-train", "corpus.txt", "-hidden", "5", "-max-iter", "1", "-force"], capsys)
    assert code == 0 and (tmp_path / "corpus.rnnlm").read_bytes().startswith(b"PK")
    code, _, err = run(["train", "-train", "corpus.txt", "-hidden", "5", "-max-iter", "1"], capsys)
    assert code == 2 and "finished training" in err and "-force" in err


def test_progress_is_plain_lines_off_a_terminal_and_live_on_one(tmp_path):
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(3000, seed=1))
    log = io.StringIO()
    train(train_file, str(tmp_path / "a"), config=RnnlmConfig(hidden_size=5, class_count=3), max_iter=2, log=log)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.split()[1] for line in lines if line.startswith("Iter:")] == ["0", "1"]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    reporter = ProgressReporter(debug=1, stream=Terminal())
    reporter.running(0, 0.1, 7.5, 0.5, 1000.0, 30.0)
    shown = reporter.stream.getvalue()
    assert shown.startswith("\rIter:") and "50.00%" in shown and "ETA: 0:30" in shown and "\n" not in shown
    silent = ProgressReporter(debug=0, stream=Terminal())
    silent.running(0, 0.1, 7.5, 0.5, 1000.0, 30.0)
    assert silent.stream.getvalue() == ""


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_help_ends_with_an_example(command, capsys):
    code, out, _ = run([command, "--help"], capsys)
    lines = out.rstrip().splitlines()
    assert code == 0 and "Examples:" in out
    assert lines[-1].strip().startswith("rnnlmpy") or lines[-1].startswith("        ")


def test_top_level_help_lists_every_command_with_its_purpose(capsys):
    code, out, _ = run(["--help"], capsys)
    for name in cli.commands:
        assert re.search(rf"^  {re.escape(name)} +\S.*\.$", out, re.MULTILINE), name
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("rnnlmpy, version")


def test_info_describes_a_tagger_and_an_arpa_file(tmp_path, capsys):
    from rnnlmpy.ngram import train_ngram, write_arpa
    corpus = write_text(tmp_path / "c.txt", pattern_corpus(200, seed=3))
    model, _ = train_ngram(corpus, 3)
    write_arpa(model, str(tmp_path / "c.arpa"))
    code, out, _ = run(["info", "-rnnlm", str(tmp_path / "c.arpa")], capsys)
    assert code == 0 and "kind: backoff n-gram model (ARPA)" in out and "3-grams:" in out
    tagged = write_text(tmp_path / "t.pos", ["the_DT dog_NN", "a_DT cat_NN"] * 5)
    code, _, _ = run(["tag-train", "-train", tagged, "-model", str(tmp_path / "tg"), "-hidden", "4", "-iter", "2",
                      "-ensemble", "2", "-debug", "0"], capsys)
    code, out, _ = run(["info", "-rnnlm", str(tmp_path / "tg")], capsys)
    assert code == 0 and "RNN part-of-speech tagger" in out and "2 network(s)" in out


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch, capsys):
    corpus = write_text(tmp_path / "c.txt", pattern_corpus(100, seed=3))
    train(corpus, str(tmp_path / "m"), config=RnnlmConfig(hidden_size=4, class_count=2), max_iter=1, debug=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(["plot", str(tmp_path / "m"), "-o", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "pip install 'rnnlmpy[plot]'" in err
    assert not (tmp_path / "x.png").exists()

"""CLI-wide friction: option typos suggest the option as typed, and a closed pipe (`| head`) ends quietly."""

import os
import subprocess
import sys

import pytest

from rnnlmpy.base.compiling import NOTICE
from rnnlmpy_cli.common import Command, Group
from rnnlmpy_cli.main import cli

from helpers import pattern_corpus, run_cli as run, write_text

SCRIPT = os.path.join(os.path.dirname(sys.executable), "rnnlmpy")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny trained model and a test text long enough that ``ppl -debug 2`` overflows a pipe's buffer."""
    folder = tmp_path_factory.mktemp("friction")
    train = write_text(folder / "train.txt", pattern_corpus(300, seed=1))
    test = write_text(folder / "test.txt", pattern_corpus(3000, seed=3))
    model = str(folder / "tiny.rnnlm")
    result = subprocess.run([SCRIPT, "train", "-train", train, "-rnnlm", model, "-hidden", "8", "-class", "3",
                             "-bptt", "2", "-max-iter", "1", "-debug", "0"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return {"train": train, "test": test, "model": model, "folder": folder}


def test_every_command_uses_the_shared_command_class():
    assert isinstance(cli, Group)
    assert cli.commands and all(isinstance(command, Command) for command in cli.commands.values())


TYPOS = {
    "single-dash typo": (["train", "-train", "{train}", "-hiden", "50"],
                         "rnnlmpy train: error: No such option '-hiden'; did you mean -hidden or -hidden-type?"),
    "single-dash typo with =": (["train", "-train", "{train}", "-hiden=50"],
                                "rnnlmpy train: error: No such option '-hiden'; did you mean -hidden or -hidden-type?"),
    "double-dash typo": (["train", "--train", "{train}", "--hiden", "50"],
                         "rnnlmpy train: error: No such option '--hiden'; did you mean --hidden or --hidden-type?"),
    "hyphenated option": (["train", "-train", "{train}", "-bptt-blok", "5"],
                          "No such option '-bptt-blok'; did you mean -bptt-block"),
    "typo of a help option": (["ngram", "-train", "{train}", "-hepl"], "No such option '-hepl'; did you mean -help?"),
    "another command's options": (["ngram", "-train", "{train}", "-ordr", "3"],
                                  "rnnlmpy ngram: error: No such option '-ordr'; did you mean -order?"),
    "on/off flag pair": (["tag-train", "-train", "{train}", "-bidirectionl"],
                         "No such option '-bidirectionl'; did you mean -bidirectional"),
    "on/off flag pair, double dash": (["tag-train", "-train", "{train}", "--unidirectionl"],
                                      "No such option '--unidirectionl'; did you mean --unidirectional"),
    "nothing close": (["ppl", "-rnnlm", "{model}", "-test", "{test}", "-zzzzzz"],
                      "rnnlmpy ppl: error: No such option '-zzzzzz' (see rnnlmpy ppl --help)"),
    "group option": (["-verison"], "rnnlmpy: error: No such option '-verison'; did you mean -version?"),
    "value missing at the end": (["ppl", "-test", "{test}", "-rnnlm"],
                                 "rnnlmpy ppl: error: Option '-rnnlm' requires an argument."),
    "value missing before another option": (["ppl", "-rnnlm", "-test", "{test}"],
                                            "rnnlmpy ppl: error: Option '-rnnlm' requires an argument ('-test' is "
                                            "an option)."),
    "unknown command": (["trian"], "rnnlmpy: error: No such command 'trian'. Did you mean 'train'?"),
}


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_option_errors_are_one_line_naming_the_option_as_typed(case, files, capsys):
    argv, expected = TYPOS[case]
    before = sorted(os.listdir(files["folder"]))
    code, out, err = run([arg.format(**files) for arg in argv], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err, err
    assert "'-i'" not in err and "'-e'" not in err  # not click's reading as clustered short options
    assert sorted(os.listdir(files["folder"])) == before


def test_short_option_with_its_value_attached_still_parses(files, tmp_path, capsys):
    """``-ofile`` is a short option and its value: the typo finder leaves it to click."""
    pytest.importorskip("matplotlib")
    code, _, err = run(["plot", files["model"], f"-o{tmp_path / 'curve.png'}"], capsys)
    assert code == 0, err
    assert (tmp_path / "curve.png").exists()


def quit_reading_after_one_line(argv):
    """Run ``rnnlmpy argv`` into a pipe, read one line, close the pipe (what ``head -1`` does)."""
    process = subprocess.Popen([SCRIPT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    return first, process.wait(timeout=300), without_compile_notice(stderr.decode())


def without_compile_notice(stderr: str) -> str:
    """``stderr`` less the line saying kernels are compiling (on a cold Numba cache, whatever else ran before)."""
    return "".join(line for line in stderr.splitlines(keepends=True) if line.strip() != NOTICE)


def test_gen_into_a_closed_pipe_exits_0_silently(files):
    first, code, stderr = quit_reading_after_one_line(["gen", "-rnnlm", files["model"], "-gen", "100000"])
    assert first.strip()
    assert (code, stderr) == (0, "")


def test_ppl_debug_2_into_a_closed_pipe_exits_0_silently(files):
    first, code, stderr = quit_reading_after_one_line(["ppl", "-rnnlm", files["model"], "-test", files["test"],
                                                       "-debug", "2"])
    assert first.startswith(b"Index")
    assert (code, stderr) == (0, "")


def test_output_that_fits_the_buffer_into_a_pipe_closed_before_it_is_flushed(files):
    """Everything is buffered, so the pipe breaks only when Python flushes stdout on the way out."""
    process = subprocess.Popen([SCRIPT, "gen", "-rnnlm", files["model"], "-gen", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = without_compile_notice(process.stderr.read().decode())
    process.stderr.close()
    assert (process.wait(timeout=300), stderr) == (0, "")


def test_shell_pipeline_into_head(files):
    """As typed in a shell: ``rnnlmpy gen ... | head -1``; the status of rnnlmpy itself is 0, stderr empty."""
    command = f'"{SCRIPT}" gen -rnnlm "{files["model"]}" -gen 100000 | head -1; exit "${{PIPESTATUS[0]}}"'
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert len(result.stdout.splitlines()) == 1
    assert (result.returncode, result.stderr) == (0, "")


def test_help_into_a_closed_pipe(files):
    process = subprocess.Popen([SCRIPT, "train", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = without_compile_notice(process.stderr.read().decode())
    process.stderr.close()
    assert (process.wait(timeout=300), stderr) == (0, "")

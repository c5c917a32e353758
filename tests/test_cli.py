"""The command line: output lines, and one-line errors with exit status 2 for bad input."""

import os
import subprocess
import sys

import pytest


from helpers import pattern_corpus, run_cli as run, write_text


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    train = write_text(folder / "train.txt", pattern_corpus(400, seed=1))
    valid = write_text(folder / "valid.txt", pattern_corpus(50, seed=2))
    test = write_text(folder / "test.txt", pattern_corpus(50, seed=3) + ["alpha NEWWORD one"])
    model = str(folder / "model")
    code = subprocess.run([sys.executable, "-m", "rnnlmpy", "train", "-train", train, "-valid", valid, "-rnnlm", model,
                           "-hidden", "8", "-class", "3", "-bptt", "2", "-max-iter", "2", "-debug", "0"],
                          capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    return {"train": train, "valid": valid, "test": test, "model": model, "folder": folder}


def test_ppl_prints_rnnlm_lines_and_counts(files, capsys):
    code, out, err = run(["ppl", "-rnnlm", files["model"], "-test", files["test"]], capsys)
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert float(lines["test log probability"]) < 0
    assert float(lines["PPL net"]) > 1
    assert lines["OOV"].startswith("1 ")
    total = sum(len(line.split()) + 1 for line in open(files["test"], encoding="utf-8"))
    assert int(lines["words"]) == total - 1


def test_ppl_debug_2_prints_one_line_per_token(files, capsys):
    code, out, _ = run(["ppl", "-rnnlm", files["model"], "-test", files["test"], "-debug", "2"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Index") and set(lines[1]) == {"-"}
    tokens = [line.split("\t") for line in lines[2:] if "\t" in line]
    total = sum(len(line.split()) + 1 for line in open(files["test"], encoding="utf-8"))
    assert len(tokens) == total
    assert ["-1", "0", "", "OOV"] in tokens
    index, probability, word = tokens[0]
    assert word == open(files["test"], encoding="utf-8").read().split()[0] and 0 < float(probability) < 1


def test_double_dash_spelling_also_works(files, capsys):
    code, out, _ = run(["ppl", "--rnnlm", files["model"], "--test", files["test"]], capsys)
    assert code == 0 and "PPL net" in out


BAD_CASES = {
    "missing training file": (["train", "-train", "{folder}/nope.txt", "-valid", "{valid}", "-rnnlm", "{folder}/m1"],
                              "does not exist"),
    "directory as training file": (["train", "-train", "{folder}", "-valid", "{valid}", "-rnnlm", "{folder}/m2"],
                                   "is a directory"),
    "empty training file": (["train", "-train", "{folder}/empty.txt", "-valid", "{valid}", "-rnnlm", "{folder}/m3"],
                            "empty"),
    "invalid UTF-8": (["train", "-train", "{folder}/latin1.txt", "-valid", "{valid}", "-rnnlm", "{folder}/m4"],
                      "not valid UTF-8"),
    "negative hidden": (["train", "-train", "{train}", "-valid", "{valid}", "-rnnlm", "{folder}/m5", "-hidden", "-5"],
                        "-hidden must be at least 1"),
    "class zero": (["train", "-train", "{train}", "-valid", "{valid}", "-rnnlm", "{folder}/m6", "-class", "0"],
                   "use -class 1 for a full softmax"),
    "non-numeric option": (["train", "-train", "{train}", "-valid", "{valid}", "-rnnlm", "{folder}/m7",
                            "-alpha", "fast"], "not a valid float"),
    "missing model": (["ppl", "-rnnlm", "{folder}/none", "-test", "{test}"], "does not exist"),
    "text file as model": (["ppl", "-rnnlm", "{train}", "-test", "{test}"], "not an rnnlmpy model"),
    "C++ rnnlm model": (["ppl", "-rnnlm", "{folder}/cpp.model", "-test", "{test}"], "C++ rnnlm model"),
    "wrong model version": (["ppl", "-rnnlm", "{folder}/future.model", "-test", "{test}"], "format version"),
    "wrong model kind": (["ppl", "-rnnlm", "{folder}/tagger.model", "-test", "{test}"], "not a language model"),
    "truncated model": (["ppl", "-rnnlm", "{folder}/truncated.model", "-test", "{test}"], "corrupt"),
    "directory as model": (["ppl", "-rnnlm", "{folder}", "-test", "{test}"], "is a directory"),
    "missing test file": (["ppl", "-rnnlm", "{model}", "-test", "{folder}/nope.txt"], "does not exist"),
    "unknown option": (["ppl", "-rnnlm", "{model}", "-test", "{test}", "-bogus", "1"], "No such option"),
    "refuse to overwrite a foreign file": (["train", "-train", "{train}", "-valid", "{valid}", "-rnnlm", "{test}"],
                                           "not an rnnlmpy model"),
}


def rewrite_model(source, target, change):
    """Copy an rnnlmpy model, changing its JSON header."""
    import json

    import numpy as np
    with np.load(source) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(bytes(arrays["header"]).decode())
    change(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(target, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.fixture(scope="module")
def bad_files(files):
    folder = files["folder"]
    write_text(folder / "empty.txt", [])
    (folder / "latin1.txt").write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    (folder / "cpp.model").write_text("version: 10\nfile format: 0\n")
    rewrite_model(files["model"], folder / "future.model", lambda h: h.update(version=99))
    rewrite_model(files["model"], folder / "tagger.model", lambda h: h.update(kind="tagger"))
    data = open(files["model"], "rb").read()
    (folder / "truncated.model").write_bytes(data[: len(data) // 2])
    return files


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_gives_one_line_and_exit_2(case, bad_files, capsys):
    argv, expected = BAD_CASES[case]
    before = sorted(os.listdir(bad_files["folder"]))
    test_before = open(bad_files["test"], "rb").read()
    code, out, err = run([arg.format(**bad_files) for arg in argv], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err and "Traceback" not in err
    assert sorted(os.listdir(bad_files["folder"])) == before  # no partial model left behind
    assert open(bad_files["test"], "rb").read() == test_before


def test_console_script_error_has_no_traceback(bad_files):
    script = os.path.join(os.path.dirname(sys.executable), "rnnlmpy")
    result = subprocess.run([script, "ppl", "-rnnlm", bad_files["train"], "-test", bad_files["test"]],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr

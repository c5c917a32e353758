"""corpora/locate.py: $RNNLMPY_CORPORA, when set, is the only place searched and downloaded into."""

import os
import subprocess
import sys

import pytest

from helpers import CHECKOUT, load_locator

SCRIPT = os.path.join(CHECKOUT, "corpora", "locate.py")


@pytest.fixture()
def locate():
    return load_locator()


def run_script(*args, corpora=None):
    """Run corpora/locate.py with RNNLMPY_CORPORA set to ``corpora`` (unset when None)."""
    env = {name: value for name, value in os.environ.items() if name != "RNNLMPY_CORPORA"}
    if corpora is not None:
        env["RNNLMPY_CORPORA"] = str(corpora)
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env, timeout=60)


def fill(folder, corpus, locate):
    """Write every file of ``corpus`` under ``folder``; return the corpus folder."""
    target = folder / corpus
    target.mkdir(parents=True)
    for name in locate.CORPORA[corpus]:
        (target / name).write_text("a b c\n", encoding="utf-8")
    return str(target)


def test_a_missing_folder_is_an_error_naming_the_variable(locate, tmp_path, monkeypatch):
    missing = tmp_path / "nonexistent"
    monkeypatch.setenv("RNNLMPY_CORPORA", str(missing))
    assert locate.candidates() == [str(missing)]  # no silent fallback to ../shared/corpora
    for look in (lambda: locate.find_corpus("ptb"), locate.find_corpora, lambda: locate.fetch("wiki-en-pos")):
        with pytest.raises(locate.CorporaError, match="RNNLMPY_CORPORA=.*nonexistent: no such folder"):
            look()
    assert not missing.exists()  # fetch did not create it


@pytest.mark.parametrize("fetch", [False, True])
def test_the_script_says_so_in_one_line_and_downloads_nothing(tmp_path, fetch):
    missing = tmp_path / "nonexistent"
    result = run_script(*(["--fetch"] if fetch else []), corpora=missing)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"RNNLMPY_CORPORA={missing}: no such folder" in result.stderr
    assert "downloading" not in result.stderr and not missing.exists()


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "file").write_text("x\n")
    result = run_script("--corpus", "ptb", corpora=tmp_path / "file")
    assert result.returncode == 1 and "RNNLMPY_CORPORA=" in result.stderr and "not a folder" in result.stderr


def test_a_set_folder_is_the_only_place_searched(locate, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLMPY_CORPORA", str(tmp_path))
    assert locate.candidates() == [str(tmp_path)]
    assert locate.find_corpus("ptb") is None  # even where ../shared/corpora holds it
    expected = fill(tmp_path, "ptb", locate)
    assert locate.find_corpus("ptb") == expected
    assert locate.find_corpora() is None  # the other corpora are not there
    for corpus in locate.CORPORA:
        if corpus != "ptb":
            fill(tmp_path, corpus, locate)
    assert locate.find_corpora() == str(tmp_path)


def test_a_corpus_missing_from_the_set_folder_names_it(tmp_path):
    result = run_script("--corpus", "ptb", corpora=tmp_path)
    assert result.returncode == 1
    assert f"corpus 'ptb' not found in $RNNLMPY_CORPORA ({tmp_path})" in result.stderr
    assert "../shared" not in result.stderr and "corpora/data" not in result.stderr


def test_fetch_downloads_into_the_set_folder(locate, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLMPY_CORPORA", str(tmp_path))
    monkeypatch.setattr(locate, "_download", lambda url: f"{url}\n".encode())
    monkeypatch.setattr(sys, "argv", ["locate.py", "--fetch", "--corpus", "nlptutorial-05"])
    assert locate.main() == 0
    folder = tmp_path / "nlptutorial-05"
    assert capsys.readouterr().out.strip() == str(folder)
    assert sorted(os.listdir(folder)) == sorted(locate.CORPORA["nlptutorial-05"])


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_searches_beside_the_checkout(locate, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("RNNLMPY_CORPORA", raising=False)
    else:
        monkeypatch.setenv("RNNLMPY_CORPORA", value)
    assert locate.candidates() == [os.path.join(os.path.dirname(CHECKOUT), "shared", "corpora"), locate.DOWNLOAD_DIR]
    assert locate.download_folder() == locate.DOWNLOAD_DIR
    locate.find_corpus("ptb")  # no error, whatever is there


def test_tools_get_a_found_corpus_or_one_line_when_the_download_fails(locate, tmp_path, monkeypatch):
    """``find_or_fetch`` (the benchmarks' way to a corpus) returns a corpus it finds without downloading, and
    stops with one line naming the folder and the variable when the download fails (no traceback)."""
    monkeypatch.setenv("RNNLMPY_CORPORA", str(tmp_path))
    found = fill(tmp_path, "ptb", locate)

    def offline(url):
        raise OSError("network is unreachable")

    monkeypatch.setattr(locate, "_download", offline)
    assert locate.find_or_fetch("ptb") == found
    with pytest.raises(SystemExit) as stopped:
        locate.find_or_fetch("wiki-en-pos")
    message = str(stopped.value)
    assert len(message.splitlines()) == 1 and "'wiki-en-pos'" in message and str(tmp_path) in message
    assert "network is unreachable" in message and "RNNLMPY_CORPORA" in message

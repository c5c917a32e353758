"""A new user's first hour and a hostile user's options: one line on stderr and exit status 2, never a traceback.

Covers: tag-train's numeric options, stdout on a full device, -rand-seed out of range in gen, an unusable
Matplotlib backend, an unreachable Dask scheduler, corpora that cannot be downloaded, and token sequences
given as a string.
"""

from __future__ import annotations

import os
import sys

import pytest

from helpers import load_locator


# ---------------------------------------------------------------- corpora that are nowhere and cannot be fetched

def test_a_failed_download_names_every_folder_searched_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """``make demo`` without corpora and without network: one line naming $RNNLMPY_CORPORA, ../shared/corpora
    and corpora/data, and no empty corpus folder left where the download would have gone."""
    locate = load_locator()
    downloads = tmp_path / "data"
    monkeypatch.delenv("RNNLMPY_CORPORA", raising=False)
    monkeypatch.setattr(locate, "DOWNLOAD_DIR", str(downloads))
    monkeypatch.setattr(locate, "is_complete", lambda folder, corpus: False)  # whatever ../shared holds

    def offline(url):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(locate, "_download", offline)
    monkeypatch.setattr(sys, "argv", ["locate.py", "--fetch", "--corpus", "rnnlm-example"])
    assert locate.main() == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for searched in ("$RNNLMPY_CORPORA", os.path.join("shared", "corpora"), str(downloads),
                     "name resolution", "'rnnlm-example'"):
        assert searched in lines[0]
    assert not downloads.exists()


def test_a_failed_download_into_the_set_folder_leaves_it_as_it_was(tmp_path, monkeypatch):
    locate = load_locator()
    monkeypatch.setenv("RNNLMPY_CORPORA", str(tmp_path))

    def offline(url):
        raise OSError("network is unreachable")

    monkeypatch.setattr(locate, "_download", offline)
    for corpus in ("ptb", "wiki-en-pos"):  # a tarball and raw files
        with pytest.raises(OSError):
            locate.fetch(corpus)
    assert os.listdir(tmp_path) == []

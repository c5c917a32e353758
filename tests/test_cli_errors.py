"""A new user's first hour and a hostile user's options: one line on stderr and exit status 2, never a traceback.

Covers: tag-train's numeric options, stdout on a full device, -rand-seed out of range in gen, an unusable
Matplotlib backend, an unreachable Dask scheduler, corpora that cannot be downloaded, and token sequences
given as a string.
"""

from __future__ import annotations

import os
import sys

import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.tagger import TaggerConfig

from helpers import load_locator, run_cli, write_text


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


# ---------------------------------------------------------------- tag-train's settings: range, finiteness, memory

TAGGED = ["the_DT dog_NN runs_VBZ", "a_DT cat_NN sleeps_VBZ", "dogs_NNS run_VBP fast_RB"] * 5


def one_error_line(code, out, err):
    """The exit status is 2 and stderr is one error line (no traceback); returns that line."""
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("options, expected", [
    (["-alpha", "inf"], "-alpha must be a finite number"),
    (["-ensemble", "100000000"], "would need"),  # ~2 TB: more than any machine running the tests
    (["-hidden", "100000000"], "would need"),
    (["-rand-seed", "-1"], "-rand-seed must be between 0 and 2^63 - 1"),
    (["-rand-seed", str(2**63)], "-rand-seed must be between 0 and 2^63 - 1"),
])
def test_tag_train_refuses_settings_out_of_range_before_reading(tmp_path, capsys, options, expected):
    train = write_text(tmp_path / "train.pos", TAGGED)
    model = tmp_path / "m.tagger"
    line = one_error_line(*run_cli(["tag-train", "-train", train, "-model", str(model), *options], capsys))
    assert expected in line
    assert not model.exists()


def test_tag_train_that_diverges_writes_no_tagger(tmp_path, capsys):
    """A finite -alpha can still overflow the float32 weights: no tagger is written that ``tag`` would refuse."""
    train = write_text(tmp_path / "train.pos", TAGGED)
    model = tmp_path / "m.tagger"
    line = one_error_line(*run_cli(["tag-train", "-train", train, "-model", str(model), "-alpha", "1e300",
                                    "-iter", "1", "-ensemble", "1", "-debug", "0"], capsys))
    assert "diverged" in line and "-alpha" in line
    assert not model.exists()


@pytest.mark.parametrize("setting", ["alpha_decay", "gradient_cutoff", "init_scale", "word_dropout"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_tagger_settings_the_command_line_does_not_show_are_checked_too(setting, value):
    with pytest.raises(RnnlmpyError, match=setting):
        TaggerConfig(**{setting: value}).validate()

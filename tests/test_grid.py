"""Grids of trainings (comma lists, cross-validation folds) on local processes, and the manifest."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, train
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm.grid import grid_members, read_manifest, train_grid
from rnnlmpy.rnnlm.model_file import load_model
from rnnlmpy.rnnlm.training_text import fold_lines, read_training_text

from helpers import pattern_corpus, run_cli, write_text


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grid")
    return dict(folder=folder, train=write_text(folder / "train.txt", pattern_corpus(400, seed=1)),
                valid=write_text(folder / "valid.txt", pattern_corpus(40, seed=2)),
                test=write_text(folder / "test.txt", pattern_corpus(40, seed=3)))


def test_member_names_show_what_varies():
    config = RnnlmConfig(hidden_size=5)
    seeds = grid_members("p", config, {"rand_seed": [1, 2]})
    assert [m.path for m in seeds] == ["p.seed1", "p.seed2"] and seeds[1].config.rand_seed == 2
    grid = grid_members("p", config, {"rand_seed": [1, 2], "hidden_size": [5, 8]})
    assert [m.path for m in grid] == ["p.hidden5-seed1", "p.hidden5-seed2", "p.hidden8-seed1", "p.hidden8-seed2"]
    assert grid[2].config.hidden_size == 8 and grid[2].settings == {"hidden": 8, "seed": 1}
    folds = grid_members("p", config, {}, cv_folds=3)
    assert [m.path for m in folds] == ["p.fold1", "p.fold2", "p.fold3"] and folds[2].fold == 2
    mixed = grid_members("p", config, {"activation": ["tanh", "gru"]}, cv_folds=2)
    assert [m.path for m in mixed] == ["p.typetanh-fold1", "p.typetanh-fold2", "p.typegru-fold1", "p.typegru-fold2"]
    for bad, message in ((dict(grid={"rand_seed": [1, 1]}), "repeat"), (dict(grid={"alpha": [1]}), "cannot vary"),
                         (dict(grid={"hidden_size": [0, 5]}), "-hidden"), (dict(grid={}, cv_folds=1), "cv-folds")):
        with pytest.raises(RnnlmpyError, match=message):
            grid_members("p", config, **bad)


def test_folds_are_disjoint_and_cover_every_line(texts):
    folds = [fold_lines(103, 4, k, seed=7) for k in range(4)]
    assert sorted(np.concatenate(folds).tolist()) == list(range(103))
    assert all(len(f) in (25, 26) for f in folds)
    text = read_training_text(texts["train"], None, None, False, cross_validation=(1, 4, 7))
    assert len(text.held_lines) == 100 and text.held_lines.tolist() == fold_lines(400, 4, 1, 7).tolist()
    with pytest.raises(RnnlmpyError, match="fewer than -cv-folds"):
        fold_lines(3, 4, 0, 1)


def test_grid_trains_each_member_as_alone_and_keeps_a_manifest(texts, tmp_path):
    prefix = str(tmp_path / "g")
    config = RnnlmConfig(hidden_size=5, class_count=3, bptt=2)
    members = grid_members(prefix, config, {"rand_seed": [1, 2], "hidden_size": [5, 7]})
    results = list(train_grid(texts["train"], prefix, members, texts["valid"], jobs=2, max_iter=2, threads=1))
    assert sorted(r.path for r in results) == sorted(m.path for m in members)
    assert all(r.status == "trained" and r.valid_ppl > 1 and r.worker for r in results)
    alone = train(texts["train"], str(tmp_path / "alone"), texts["valid"],
                  RnnlmConfig(hidden_size=7, class_count=3, bptt=2, rand_seed=2), max_iter=2, debug=0, threads=1)
    np.testing.assert_array_equal(load_model(prefix + ".hidden7-seed2").recurrent, alone.recurrent)
    records = read_manifest(prefix + ".manifest.json")
    assert [r["name"] for r in records] == ["hidden5-seed1", "hidden5-seed2", "hidden7-seed1", "hidden7-seed2"]
    assert all(r["status"] == "trained" and r["valid_ppl"] > 1 and r["epochs"] == 2 for r in records)
    # rerun: only the missing member is trained
    os.remove(prefix + ".hidden5-seed2")
    again = {r.path: r.status for r in train_grid(texts["train"], prefix, members, texts["valid"], jobs=1,
                                                   max_iter=2, threads=1)}
    assert again[prefix + ".hidden5-seed2"] == "trained"
    assert sorted(status for status in again.values()) == ["kept", "kept", "kept", "trained"]


def test_a_member_run_again_after_it_finished_only_reports_it(texts, tmp_path):
    """What Dask does when the worker holding a finished member's result dies: run the task again."""
    from rnnlmpy.rnnlm.grid import train_member
    member = grid_members(str(tmp_path / "again"), RnnlmConfig(hidden_size=5, class_count=3), {"rand_seed": [1, 2]})[0]
    first = train_member(texts["train"], member, texts["valid"], 0, 1, dict(max_iter=2, threads=1))
    written = os.path.getmtime(member.path)
    again = train_member(texts["train"], member, texts["valid"], 0, 1, dict(max_iter=2, threads=1))
    assert again.status == first.status == "trained" and again.valid_ppl == first.valid_ppl and again.epochs == 2
    assert os.path.getmtime(member.path) == written  # not trained a second time


def test_cross_validation_members_validate_on_their_own_fold(texts, tmp_path):
    prefix = str(tmp_path / "cv")
    members = grid_members(prefix, RnnlmConfig(hidden_size=5, class_count=3), {}, cv_folds=3)
    results = list(train_grid(texts["train"], prefix, members, None, cv_folds=3, fold_seed=1, max_iter=2,
                              threads=1))
    assert len(results) == 3 and all(r.status == "trained" for r in results)
    names = [load_model(m.path).training.valid_file for m in members]
    assert names == [f"cross-validation fold {k} of 3: {len(fold_lines(400, 3, k - 1, 1))} lines (seed 1)"
                     for k in (1, 2, 3)]
    with pytest.raises(RnnlmpyError, match="either -valid or -cv-folds"):
        list(train_grid(texts["train"], prefix, members, texts["valid"], cv_folds=3))


def test_cli_grid_manifest_and_ensemble(texts, tmp_path, capsys):
    prefix = str(tmp_path / "cli")
    code, _, err = run_cli(["train", "-train", texts["train"], "-valid", texts["valid"], "-rnnlm", prefix,
                            "-hidden", "5,6", "-class", "3", "-max-iter", "1", "-rand-seed", "3", "-debug", "0"],
                           capsys)
    assert code == 0, err
    assert "member hidden 5:" in err and "member hidden 6:" in err and "manifest" in err
    manifest = prefix + ".manifest.json"
    assert json.load(open(manifest))["members"][1]["config"]["hidden_size"] == 6
    code, out, err = run_cli(["ensemble", "-manifest", manifest, "-valid", texts["valid"], "-test", texts["test"]],
                             capsys)
    assert code == 0 and "cli.hidden5" in out and "cli.hidden6" in out, err
    code, _, err = run_cli(["train", "-train", texts["train"], "-valid", texts["valid"], "-rnnlm", prefix,
                            "-hidden", "5,6", "-class", "3", "-max-iter", "1", "-rand-seed", "3", "-debug", "0"],
                           capsys)
    assert code == 0 and err.count("(already trained)") == 2  # a rerun of a finished grid trains nothing
    code, _, err = run_cli(["train", "-train", texts["train"], "-hidden", "5,x"], capsys)
    assert code == 2 and "-hidden must be an integer" in err and len(err.strip().splitlines()) == 1


def test_a_failed_member_is_reported_and_the_others_kept(texts, tmp_path, capsys):
    prefix = str(tmp_path / "f")
    write_text(tmp_path / "f.seed2", ["not a model"])  # train refuses to replace it
    code, _, err = run_cli(["train", "-train", texts["train"], "-valid", texts["valid"], "-rnnlm", prefix,
                            "-rand-seed", "1,2", "-hidden", "5", "-class", "3", "-max-iter", "1", "-debug", "0"],
                           capsys)
    assert code == 2 and "FAILED" in err and "1 of 2 members failed" in err
    assert load_model(prefix + ".seed1").training.finished
    statuses = {r["name"]: r["status"] for r in read_manifest(prefix + ".manifest.json")}
    assert statuses == {"seed1": "trained", "seed2": "failed"}


def test_scheduler_without_distributed_is_one_clear_line(texts, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    code, _, err = run_cli(["train", "-train", texts["train"], "-rnnlm", str(tmp_path / "d"), "-rand-seed", "1,2",
                            "-scheduler", "tcp://127.0.0.1:1", "-max-iter", "1", "-debug", "0"], capsys)
    assert code == 2 and "pip install 'rnnlmpy[dask]'" in err and len(err.strip().splitlines()) == 1

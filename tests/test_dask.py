"""A real Dask cluster on 127.0.0.1: a scheduler and two workers, started and torn down by the fixture.

The grid trained on it must equal the same grid trained locally, and a worker
killed in the middle of a run must not stop the run. Skipped (with the reason)
where Dask's distributed is not installed; CI installs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig
from rnnlmpy.rnnlm.grid import grid_members, read_manifest, train_grid
from rnnlmpy.rnnlm.model_file import load_model

from helpers import pattern_corpus, write_text

distributed = pytest.importorskip("distributed", reason="Dask's distributed is not installed: "
                                                        "pip install 'rnnlmpy[dask]'")
START_TIMEOUT_SECONDS = 90


def _start(command: list[str], log) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RNNLMPY_THREADS": "1"},
                            start_new_session=True)


def _stop(processes: list[subprocess.Popen]) -> None:
    """Stop the workers, then the scheduler (a worker whose scheduler is gone waits for it)."""
    processes = list(reversed(processes))
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, [worker processes]): a scheduler and two single-threaded workers without nannies."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = str(folder / "scheduler.json")
    log = open(folder / "cluster.log", "w")
    processes = [_start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--no-dashboard", "--scheduler-file", scheduler_file], log)]
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not os.path.exists(scheduler_file) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert os.path.exists(scheduler_file), "the Dask scheduler did not start"
        for _ in range(2):
            processes.append(_start([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                     scheduler_file, "--nthreads", "1", "--no-nanny", "--no-dashboard"], log))
        address = json.load(open(scheduler_file))["address"]
        with distributed.Client(address, timeout=START_TIMEOUT_SECONDS) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_SECONDS)
        yield address, processes[1:]
    finally:
        _stop(processes)
        log.close()


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask-texts")
    return dict(folder=folder, train=write_text(folder / "train.txt", pattern_corpus(1500, seed=1)),
                valid=write_text(folder / "valid.txt", pattern_corpus(100, seed=2)))


def test_a_grid_on_the_cluster_equals_the_local_grid(cluster, texts, tmp_path):
    address, _ = cluster
    config = RnnlmConfig(hidden_size=6, class_count=3, bptt=2)
    grid = {"rand_seed": [1, 2]}
    remote = list(train_grid(texts["train"], str(tmp_path / "remote"),
                             grid_members(str(tmp_path / "remote"), config, grid), texts["valid"], scheduler=address,
                             max_iter=2, threads=1))
    local_members = grid_members(str(tmp_path / "local"), config, grid)
    local = list(train_grid(texts["train"], str(tmp_path / "local"), local_members, texts["valid"], jobs=1,
                            max_iter=2, threads=1))
    assert sorted(r.status for r in remote) == sorted(r.status for r in local) == ["trained", "trained"]
    assert all(r.worker.startswith("tcp://127.0.0.1:") for r in remote)
    for seed in (1, 2):
        a, b = load_model(str(tmp_path / f"remote.seed{seed}")), load_model(str(tmp_path / f"local.seed{seed}"))
        for name, array in a.weights().items():
            np.testing.assert_array_equal(getattr(b, name), array, err_msg=name)
    assert {r["worker"] for r in read_manifest(str(tmp_path / "remote.manifest.json"))} <= {r.worker for r in remote}


def test_shipped_data_trains_the_same_models(cluster, texts, tmp_path):
    address, _ = cluster
    from rnnlmpy.rnnlm.grid import SHIPPED_FOLDER
    config = RnnlmConfig(hidden_size=6, class_count=3, bptt=2)
    members = grid_members(str(tmp_path / "shipped"), config, {"rand_seed": [1, 2]})
    results = list(train_grid(texts["train"], str(tmp_path / "shipped"), members, texts["valid"], scheduler=address,
                              ship_data=True, max_iter=2, threads=1))
    assert sorted(r.status for r in results) == ["trained", "trained"]
    local = list(train_grid(texts["train"], str(tmp_path / "local"), grid_members(str(tmp_path / "local"), config,
                                                                                   {"rand_seed": [1, 2]}),
                            texts["valid"], max_iter=2, threads=1))
    assert len(local) == 2
    for seed in (1, 2):
        shipped = load_model(str(tmp_path / f"shipped.seed{seed}"))
        assert SHIPPED_FOLDER in shipped.training.train_file  # the worker read the copy that came with the task
        np.testing.assert_array_equal(shipped.recurrent, load_model(str(tmp_path / f"local.seed{seed}")).recurrent)
        history = (tmp_path / f"shipped.seed{seed}.history.jsonl").read_text().splitlines()
        assert len(history) == 2


def test_scoring_on_the_cluster_is_byte_identical_to_here(cluster, texts, tmp_path, capsys):
    address, _ = cluster
    from rnnlmpy import train
    from helpers import run_cli

    model = str(tmp_path / "independent.model")
    train(texts["train"], model, texts["valid"], RnnlmConfig(hidden_size=6, class_count=3, independent=True,
                                                             direct_size=20_000), max_iter=2, debug=0, threads=1)
    other = str(tmp_path / "other.model")
    train(texts["train"], other, texts["valid"], RnnlmConfig(hidden_size=5, class_count=3, rand_seed=2), max_iter=2,
          debug=0, threads=1)
    test = write_text(tmp_path / "test.txt", pattern_corpus(300, seed=5) + ["alpha NEWWORD one"])
    lines = pattern_corpus(200, seed=6)
    nbest = write_text(tmp_path / "nbest.txt", [f"{i // 6} {line}" for i, line in enumerate(lines)])
    runs = {"ppl": ["ppl", "-rnnlm", model, "-test", test],
            "nbest": ["ppl", "-rnnlm", other, "-test", nbest, "-nbest"],
            "ensemble": ["ensemble", "-rnnlm", model, "-rnnlm", other, "-valid", texts["valid"], "-test", test]}
    for name, argv in runs.items():
        code, here, err = run_cli(argv + ["-threads", "1"], capsys)
        assert code == 0, err
        code, there, err = run_cli(argv + ["-scheduler", address], capsys)
        assert code == 0, err
        assert there == here, name
    code, _, err = run_cli(["ppl", "-rnnlm", other, "-test", test, "-scheduler", address], capsys)
    assert code == 2 and "not an -independent model" in err
    for where, extra in (("here", []), ("there", ["-scheduler", address])):
        code, _, err = run_cli(["ngram", "-train", texts["train"], "-order", "4", "-arpa", str(tmp_path / where),
                                *extra], capsys)
        assert code == 0, err
    assert (tmp_path / "here").read_bytes() == (tmp_path / "there").read_bytes()


def test_a_killed_worker_does_not_stop_the_run(cluster, texts, tmp_path):
    address, workers = cluster
    prefix = str(tmp_path / "fault")
    members = grid_members(prefix, RnnlmConfig(hidden_size=20, class_count=3, bptt=3), {"rand_seed": [1, 2, 3, 4]})
    results = []
    killed = False
    for result in train_grid(texts["train"], prefix, members, texts["valid"], scheduler=address, max_iter=4,
                             threads=1):
        results.append(result)
        if not killed:  # one member is done: the others are running or queued; kill a worker under them
            victim = workers[0]
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=30)
            killed = True
    assert killed and len(results) == 4
    assert all(r.status == "trained" for r in results), [r.error for r in results]
    assert all(load_model(m.path).training.finished for m in members)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]  # no half-written model

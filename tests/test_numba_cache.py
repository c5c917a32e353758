"""Numba's kernel caches are dropped, all together, when any kernel source changes (Numba checks one file only)."""

import os

import rnnlmpy
from rnnlmpy.base.numba_cache import STAMP, drop_stale_kernel_caches, sources_digest


def make_package(folder):
    (folder / "cell.py").write_text("def step(): return 1\n")
    (folder / "lm.py").write_text("from .cell import step\n")
    cache = folder / "__pycache__"
    cache.mkdir(exist_ok=True)
    for name in ("lm.train-1.py311.nbi", "lm.train-1.py311.1.nbc", "cell.step-1.py311.nbi"):
        (cache / name).write_bytes(b"machine code")
    (cache / "lm.cpython-311.pyc").write_bytes(b"bytecode")
    return cache


def test_caches_go_when_any_source_changes_and_stay_otherwise(tmp_path):
    cache = make_package(tmp_path)
    assert len(drop_stale_kernel_caches(str(tmp_path))) == 3  # no stamp yet: caches of unknown origin go
    assert (cache / STAMP).read_text() == sources_digest(str(tmp_path))
    make_package(tmp_path)
    assert drop_stale_kernel_caches(str(tmp_path)) == []  # same sources: caches stay
    assert len(os.listdir(cache)) == 5
    (tmp_path / "cell.py").write_text("def step(): return 2\n")  # only cell.py changes: lm.py's caches go too
    removed = drop_stale_kernel_caches(str(tmp_path))
    assert sorted(os.path.basename(path) for path in removed) == sorted(
        ["lm.train-1.py311.nbi", "lm.train-1.py311.1.nbc", "cell.step-1.py311.nbi"])
    assert (cache / "lm.cpython-311.pyc").exists()


def test_importing_rnnlmpy_stamps_its_kernel_caches():
    kernels = os.path.join(os.path.dirname(rnnlmpy.__file__), "kernels")
    stamp = os.path.join(kernels, "__pycache__", STAMP)
    if os.access(kernels, os.W_OK):
        with open(stamp) as handle:
            assert handle.read() == sources_digest(kernels)

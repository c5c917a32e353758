"""Kernels compiled ahead of use: the package build's hook and ``rnnlmpy compile-kernels``.

Each test compiles into a cache of its own (a copied package's in-tree cache, or
its own NUMBA_CACHE_DIR) and then checks, in fresh processes, that the commands
the set names start without compiling: the compile notice is the observable.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from rnnlmpy.base.compiling import NOTICE

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_backend():
    """tools/packaging/backend.py, the build backend (not a package: loaded by path, as pip does)."""
    spec = importlib.util.spec_from_file_location("rnnlmpy_build_backend",
                                                  os.path.join(CHECKOUT, "tools", "packaging", "backend.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_package(build_lib) -> str:
    """What ``build_py`` leaves in its build folder: rnnlmpy/ and cli/ as rnnlmpy_cli/, sources only."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(CHECKOUT, "rnnlmpy"), os.path.join(build_lib, "rnnlmpy"), ignore=ignore)
    shutil.copytree(os.path.join(CHECKOUT, "cli"), os.path.join(build_lib, "rnnlmpy_cli"), ignore=ignore)
    return str(build_lib)


def run(argv, cwd, **environment):
    """``python -m rnnlmpy_cli.main ARGV`` in a fresh process; NUMBA_CACHE_DIR and PYTHONPATH only as given."""
    env = {key: value for key, value in os.environ.items() if key not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env.update(environment)
    done = subprocess.run([sys.executable, "-m", "rnnlmpy_cli.main", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done


def tiny_corpus(folder):
    from rnnlmpy_cli.precompile import write_tiny_corpus

    os.makedirs(folder)
    write_tiny_corpus(str(folder))
    return folder


@pytest.mark.parametrize("value, expected", [(None, ""), ("", ""), ("all", "all"), (" Tagger ", "tagger"),
                                             ("0", None), ("off", None), ("no", None)])
def test_the_build_compiles_the_set_the_environment_names(monkeypatch, value, expected):
    backend = load_backend()
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    if value is None:
        monkeypatch.delenv(backend.PRECOMPILE, raising=False)
    else:
        monkeypatch.setenv(backend.PRECOMPILE, value)
    assert backend.kernel_set() == expected


def test_the_compiler_packages_join_the_build_only_when_it_compiles(monkeypatch):
    backend = load_backend()
    monkeypatch.setattr(backend.build_meta, "get_requires_for_build_wheel", lambda settings=None: ["wheel-tool"])
    monkeypatch.setenv(backend.PRECOMPILE, "0")
    assert backend.get_requires_for_build_wheel() == ["wheel-tool"]
    monkeypatch.setenv(backend.PRECOMPILE, "default")
    assert backend.get_requires_for_build_wheel() == ["wheel-tool", *backend.COMPILER_PACKAGES]


def test_a_build_with_precompiling_off_leaves_no_cache(tmp_path, monkeypatch):
    backend = load_backend()
    build_lib = copy_package(tmp_path / "lib")
    left = os.path.join(build_lib, "rnnlmpy", "kernels", "__pycache__")
    os.makedirs(left)  # an earlier build's cache, left in the build folder (pip builds in the source tree)
    for name in ("lm.score_span-1.py311.nbi", "lm.score_span-1.py311.1.nbc"):
        open(os.path.join(left, name), "wb").close()
    monkeypatch.setenv(backend.PRECOMPILE, "0")
    assert backend.compile_kernels_into(build_lib) is False
    assert not glob.glob(os.path.join(left, "*.nb[ic]"))


def test_a_set_that_fails_to_compile_does_not_fail_the_build(tmp_path, monkeypatch):
    backend = load_backend()
    build_lib = copy_package(tmp_path / "lib")
    monkeypatch.setenv(backend.PRECOMPILE, "no-such-set")
    assert backend.compile_kernels_into(build_lib) is False


def test_the_build_hook_fills_the_copied_package_and_its_commands_start_without_compiling(tmp_path, monkeypatch):
    backend = load_backend()
    built = copy_package(tmp_path / "built")
    monkeypatch.setenv(backend.PRECOMPILE, "tagger")
    assert backend.compile_kernels_into(built) is True
    assert glob.glob(os.path.join(built, "rnnlmpy", "kernels", "__pycache__", "tagger.*.nbi"))
    corpus = tiny_corpus(tmp_path / "corpus")
    imported = subprocess.run([sys.executable, "-c", "import rnnlmpy, rnnlmpy_cli; print(rnnlmpy.__file__); "
                               "print(rnnlmpy_cli.__file__)"], cwd=corpus, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": built}, check=True).stdout.split()
    assert all(path.startswith(built) for path in imported)  # the copy's package and cache, not the checkout's
    trained = run(["tag-train", "-train", "tagged.txt", "-model", "pos.tagger", "-iter", "2", "-hidden", "12",
                   "-ensemble", "2"], corpus, PYTHONPATH=built)
    tagged = run(["tag", "-model", "pos.tagger", "-test", "train.txt"], corpus, PYTHONPATH=built)
    assert NOTICE not in trained.stderr and NOTICE not in tagged.stderr


def test_compile_kernels_covers_the_first_commands_of_its_set(tmp_path):
    cache = str(tmp_path / "numba-cache")
    corpus = tiny_corpus(tmp_path / "corpus")
    compiled = run(["compile-kernels", "-set", "rnnlm"], tmp_path, NUMBA_CACHE_DIR=cache)
    assert "compiled" in compiled.stderr and os.listdir(cache)
    again = run(["compile-kernels", "-set", "rnnlm"], tmp_path, NUMBA_CACHE_DIR=cache)
    assert "compiled 0 kernels" in again.stderr
    # a user's first commands, with other sizes and settings than the set's own: nothing left to compile
    first = [["train", "-train", "train.txt", "-rnnlm", "user.rnnlm", "-hidden", "5", "-class", "7", "-bptt", "2",
              "-bptt-block", "3", "-max-iter", "2", "-rand-seed", "3"],
             ["ppl", "-rnnlm", "user.rnnlm", "-test", "valid.txt"],
             ["ppl", "-rnnlm", "user.rnnlm", "-test", "nbest.txt", "-nbest"],
             ["gen", "-rnnlm", "user.rnnlm", "-gen", "5"]]
    for argv in first:
        assert NOTICE not in run(argv, corpus, NUMBA_CACHE_DIR=cache).stderr, argv


def test_the_gradients_set_covers_a_users_gradients_commands(tmp_path):
    cache = str(tmp_path / "numba-cache")
    corpus = tiny_corpus(tmp_path / "corpus")
    run(["compile-kernels", "-set", "gradients"], tmp_path, NUMBA_CACHE_DIR=cache)
    for argv in (["train", "-train", "train.txt", "-rnnlm", "user.rnnlm", "-hidden", "6", "-class", "5",
                  "-max-iter", "1"],
                 ["tag-train", "-train", "tagged.txt", "-model", "user.tagger", "-hidden-type", "lstm", "-hidden", "7",
                  "-iter", "1", "-ensemble", "1"]):
        run(argv, corpus, NUMBA_CACHE_DIR=cache)
    for argv in (["gradients", "-rnnlm", "user.rnnlm", "-test", "valid.txt", "-steps", "5"],
                 ["gradients", "-model", "user.tagger", "-test", "tagged.txt", "-steps", "4"]):
        done = run(argv, corpus, NUMBA_CACHE_DIR=cache)
        assert NOTICE not in done.stderr and "0 " in done.stdout, argv


def test_the_build_keeps_the_build_environments_search_path_after_the_copied_package(tmp_path, monkeypatch):
    """pip's isolated build environment (pip 23, for one) reaches its packages through PYTHONPATH: the compiling
    process must see them, behind the package being built."""
    backend = load_backend()
    seen = {}

    def run(command, cwd, env):
        seen.update(env)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(backend.subprocess, "run", run)
    monkeypatch.setenv(backend.PRECOMPILE, "tagger")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/build-env/site", "/build-env/overlay"]))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert backend.compile_kernels_into(str(tmp_path / "lib")) is True
    assert seen["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "lib"), "/build-env/site", "/build-env/overlay"]
    assert "NUMBA_CACHE_DIR" not in seen  # the cache goes into the package, not where the builder's points

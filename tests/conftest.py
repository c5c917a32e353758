"""Test set-up: a Numba cache folder per kernel source, a corpus cache folder per test session, the real
corpora for integration tests, and trained models shared by the test files that read them."""

from __future__ import annotations

import atexit
import glob
import hashlib
import os
import shutil
import tempfile

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _kernel_cache_folder() -> str:
    """A Numba cache folder named after the kernels' source.

    Numba's on-disk cache checks only the file of the function it compiled, so a
    kernel that calls one in another file (lm.py calls cell.py) would keep stale
    machine code after that file changes. Keying the folder on every kernel file
    makes the tests (and the commands they run) recompile after any kernel edit.
    """
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(CHECKOUT, "rnnlmpy", "kernels", "*.py"))):
        with open(path, "rb") as handle:
            digest.update(handle.read())
    return os.path.join(CHECKOUT, ".venv", "numba-cache", digest.hexdigest()[:16])


os.environ.setdefault("NUMBA_CACHE_DIR", _kernel_cache_folder())  # before anything imports numba


def _corpus_cache_folder() -> str:
    """A temporary folder for this session's corpus caches (``rnnlmpy.corpus``), deleted at exit; never ~/.cache."""
    folder = tempfile.mkdtemp(prefix="rnnlmpy-test-corpus-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


if "RNNLMPY_CACHE_DIR" not in os.environ:
    os.environ["RNNLMPY_CACHE_DIR"] = _corpus_cache_folder()  # setdefault, without making a folder it would not use

# Scoring uses every core unless told (training one thread); the tests keep to one thread unless a test asks.
os.environ.setdefault("RNNLMPY_THREADS", "1")

import pytest  # noqa: E402

from helpers import load_locator, pattern_corpus, write_text  # noqa: E402


@pytest.fixture(scope="session")
def corpus_dir():
    """Return a function ``corpus_dir(name)`` giving a real corpus folder.

    Missing corpora skip the test locally but fail it under CI=true.
    """
    locator = load_locator()

    def find(name: str) -> str:
        folder = locator.find_corpus(name)
        if folder is None:
            message = f"corpus {name!r} not found (searched {locator.candidates()}); run `make corpora`"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
        return folder

    return find


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """Return a function ``trained_model(config, ...)`` giving a trained model and its text files.

    ``trained_model(config, sentences=(1500, 100, 100), max_iter=None, extra_test_lines=())`` trains an
    ``RnnlmConfig(**config)`` on ``pattern_corpus`` files (train, valid and test: that many sentences, seeds
    1, 2 and 3; ``extra_test_lines`` appended to the test text) and returns a new dict with the paths
    ``train``, ``valid``, ``test``, ``model`` (str) and ``folder`` (the model's own tmp folder). Each set of
    arguments trains once per session: files that ask for the same model share it, so tests must only read
    the model and may add files to ``folder`` under names of their own.
    """
    from rnnlmpy import RnnlmConfig, train

    models: dict = {}

    def make(config: dict, sentences=(1500, 100, 100), max_iter=None, extra_test_lines=()) -> dict:
        key = (tuple(sorted(config.items())), tuple(sentences), max_iter, tuple(extra_test_lines))
        if key not in models:
            folder = tmp_path_factory.mktemp("trained")
            texts = [pattern_corpus(count, seed=seed) for seed, count in enumerate(sentences, start=1)]
            files = {"folder": folder, "model": str(folder / "model"),
                     "train": write_text(folder / "train.txt", texts[0]),
                     "valid": write_text(folder / "valid.txt", texts[1]),
                     "test": write_text(folder / "test.txt", texts[2] + list(extra_test_lines))}
            schedule = {} if max_iter is None else {"max_iter": max_iter}
            train(files["train"], files["model"], files["valid"], RnnlmConfig(**config), **schedule, debug=0)
            models[key] = files
        return dict(models[key])

    return make


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh corpus-cache folder in ``tmp_path`` that every file, however small, goes through."""
    from rnnlmpy.corpus import encoding
    folder = tmp_path / "cache"
    monkeypatch.setenv("RNNLMPY_CACHE_DIR", str(folder))
    monkeypatch.setattr(encoding, "CACHE_MIN_BYTES", 0)
    return folder

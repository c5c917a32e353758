"""Test set-up: a Numba cache folder per kernel source, a corpus cache folder per test session, and the real
corpora for integration tests."""

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

from helpers import load_locator  # noqa: E402


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

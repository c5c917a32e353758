"""Keep Numba's on-disk kernel cache consistent with the kernels' source.

Numba checks only the file of the function it compiled when it decides whether
a cached machine-code file is still valid, but rnnlmpy's kernels call each other
across files (``lm.py`` calls ``cell.py`` and ``output.py``): after an edit of
one file, another file's cached kernel would keep the old code. So the caches
in the kernels' ``__pycache__`` are kept beside a SHA-256 of all kernel sources
and dropped, all together, when that changes. An installed package never
changes, so this costs one hash of a few source files per start (about 1 ms).
A ``NUMBA_CACHE_DIR`` elsewhere is the user's to manage (the tests key theirs
on the same hash).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os

STAMP = "kernels.sha256"  # in the kernels' __pycache__: the hash of the sources its caches were built from


def sources_digest(folder: str) -> str:
    """SHA-256 (hex) of every ``*.py`` file of ``folder``, in name order."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "*.py"))):
        with open(path, "rb") as handle:
            digest.update(os.path.basename(path).encode() + b"\0" + handle.read())
    return digest.hexdigest()


def drop_stale_kernel_caches(folder: str) -> list[str]:
    """Delete ``folder/__pycache__``'s Numba cache files if the sources changed since they were written.

    Returns the files removed. Failures to read or write (a read-only install) are ignored.
    """
    cache = os.path.join(folder, "__pycache__")
    stamp = os.path.join(cache, STAMP)
    current = sources_digest(folder)
    with contextlib.suppress(OSError), open(stamp, encoding="ascii") as handle:
        if handle.read() == current:
            return []
    removed = []
    for stale in glob.glob(os.path.join(glob.escape(cache), "*.nb[ic]")):
        with contextlib.suppress(OSError):
            os.unlink(stale)
            removed.append(stale)
    with contextlib.suppress(OSError):
        os.makedirs(cache, exist_ok=True)
        with open(stamp, "w", encoding="ascii") as handle:
            handle.write(current)
    return removed

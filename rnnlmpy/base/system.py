"""What the machine can hold: memory checks before allocating, and the number of threads to use."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from .errors import RnnlmpyError


def available_memory_bytes() -> int:
    """Memory this process can still use, in bytes (Linux MemAvailable; else the physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(needed_bytes: float, what: str) -> None:
    """RnnlmpyError naming ``what`` when ``needed_bytes`` exceed the memory available now."""
    available = available_memory_bytes()
    if needed_bytes > available:
        raise RnnlmpyError(f"{what} would need {needed_bytes / 2**30:,.1f} GiB of memory; this machine has "
                           f"{available / 2**30:,.1f} GiB available")


THREADS_VARIABLE = "RNNLMPY_THREADS"  # the default of -threads, when set (like OMP_NUM_THREADS)
MAX_THREADS = 1024
TRAINING_THREADS = 1  # train's default: one thread gives the same model for the same command, as rnnlm's


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(every_core: bool) -> int:
    """Threads a command uses unless told: ``$RNNLMPY_THREADS`` if set; else every available core for work
    whose output is the same on any number of threads (``every_core``: scoring), else TRAINING_THREADS
    (training, whose model depends on the thread count)."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return available_cores() if every_core else TRAINING_THREADS
    try:
        return check_threads(int(value))
    except ValueError:
        raise RnnlmpyError(f"{THREADS_VARIABLE} must be a whole number of threads (got {value!r})") from None


def default_threads_text(every_core: bool) -> str:
    """``default_threads``'s rule in words, for the help of ``-threads``."""
    return f"${THREADS_VARIABLE}, else {'every core' if every_core else TRAINING_THREADS}"


def resolve_threads(threads: Optional[int], every_core: bool) -> int:
    """The number of threads to use: ``threads`` if given (checked), else ``default_threads(every_core)``."""
    return default_threads(every_core) if threads is None else check_threads(threads)


def check_threads(threads: int) -> int:
    """``threads`` if it is between 1 and MAX_THREADS, else RnnlmpyError."""
    if not 1 <= threads <= MAX_THREADS:
        raise RnnlmpyError(f"-threads must be between 1 and {MAX_THREADS} (got {threads})")
    return threads


def thread_map(function: Callable, items: Sequence, threads: int) -> list:
    """``[function(item) for item in items]``, run by up to ``threads`` threads (results in input order).

    Worth it for functions that spend their time in kernels that release the
    GIL; one thread (or one item) runs in the calling thread.
    """
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(function, items))


def split_evenly(bounds: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Cut the sorted cut points ``bounds`` (int, (K,), from 0 to the total) into at most ``parts`` ranges
    of about equal length, each from one cut point to another: [(begin, end), ...] covering 0..total."""
    total = int(bounds[-1])
    if parts <= 1 or len(bounds) <= 2:
        return [(0, total)]
    wanted = (total * np.arange(1, parts)) // parts
    cuts = bounds[np.minimum(np.searchsorted(bounds, wanted), len(bounds) - 1)]
    points = sorted({0, total, *(int(cut) for cut in cuts)})
    return list(zip(points, points[1:]))


BLAS_THREAD_SETTERS = ("scipy_openblas_set_num_threads", "openblas_set_num_threads")  # the OpenBLAS builds Numba's
BLAS_THREAD_GETTERS = ("scipy_openblas_get_num_threads", "openblas_get_num_threads")  # matrix products call


def _openblas_libraries() -> list:
    """The OpenBLAS libraries loaded in this process (ctypes handles), found by name in /proc/self/maps (Linux;
    elsewhere none)."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as handle:
            paths = sorted({line.split()[-1] for line in handle if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    libraries = []
    for path in paths:
        try:
            libraries.append(ctypes.CDLL(path))
        except OSError:
            continue
    return libraries


@contextlib.contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` threads in every loaded OpenBLAS (the one Numba's ``np.dot`` calls, loaded
    by importing ``scipy.linalg.cython_blas`` first), and put the earlier counts back after it. Where no
    OpenBLAS is found (another BLAS, another system), the block runs with the library's own threads."""
    restore = []
    for library in _openblas_libraries():
        setter = next((getattr(library, name) for name in BLAS_THREAD_SETTERS if hasattr(library, name)), None)
        getter = next((getattr(library, name) for name in BLAS_THREAD_GETTERS if hasattr(library, name)), None)
        if setter is None or getter is None:
            continue
        restore.append((setter, int(getter())))
        setter(int(count))
    try:
        yield
    finally:
        for setter, previous in restore:
            setter(previous)

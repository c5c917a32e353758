"""One way to run independent work: local worker processes, or a Dask cluster.

``open_executor`` gives a ``concurrent.futures.Executor``: a pool of ``jobs``
local processes (spawned, so each has its own Numba state), or, when a
scheduler address is given (``-scheduler ADDRESS`` or ``$RNNLMPY_SCHEDULER``),
a Dask ``distributed`` client's executor. Dask is an optional extra
(``pip install 'rnnlmpy[dask]'``); without it, asking for a scheduler is one
clear error. On a cluster, a task whose worker dies is run again on another
worker by the scheduler; submitted functions must be importable top-level
functions and their arguments picklable.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import socket
from typing import Iterator, Optional

from .errors import RnnlmpyError

SCHEDULER_VARIABLE = "RNNLMPY_SCHEDULER"  # the default of -scheduler
CONNECT_TIMEOUT_SECONDS = 20
SHARDS_PER_WORKER = 4  # tasks per worker slot when work is split: enough to balance, few enough to amortise loads


def scheduler_address(option: Optional[str]) -> Optional[str]:
    """The Dask scheduler to use: ``option`` if given, else ``$RNNLMPY_SCHEDULER`` (None: run locally)."""
    address = option if option is not None else os.environ.get(SCHEDULER_VARIABLE, "")
    return address.strip() or None


def require_distributed():
    """The ``distributed`` module, or RnnlmpyError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise RnnlmpyError("-scheduler needs Dask's distributed package: pip install 'rnnlmpy[dask]'") from None
    return distributed


@contextlib.contextmanager
def open_executor(jobs: int, scheduler: Optional[str] = None) -> Iterator[concurrent.futures.Executor]:
    """An executor for independent tasks: ``jobs`` local processes, or the Dask cluster at ``scheduler``."""
    if scheduler is None:
        if jobs < 1:
            raise RnnlmpyError(f"-jobs must be at least 1 (got {jobs})")
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            yield pool
        return
    distributed = require_distributed()
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RnnlmpyError(f"cannot reach the Dask scheduler at {scheduler!r}: {reason}") from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


def worker_slots(executor: concurrent.futures.Executor) -> int:
    """How many tasks the executor runs at once: its processes, or the Dask cluster's worker threads now."""
    client = getattr(executor, "_client", None)
    if client is not None:
        return max(1, sum(worker.get("nthreads", 1) for worker in client.scheduler_info()["workers"].values()))
    return max(1, getattr(executor, "_max_workers", 1))


def worker_name() -> str:
    """Who is running this task: the Dask worker's address, or host and process id."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()} pid {os.getpid()}"

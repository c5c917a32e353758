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
import logging
import multiprocessing
import os
import socket
import threading
from typing import Iterator, Optional

from .errors import RnnlmpyError

SCHEDULER_VARIABLE = "RNNLMPY_SCHEDULER"  # the default of -scheduler
CONNECT_TIMEOUT_SECONDS = 20
CLOSE_TIMEOUT_SECONDS = 2  # a client that never connected has nothing to wait for
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
    check_reachable(scheduler)
    with quiet_dask_logs():
        client = connect_client(distributed, scheduler)
        try:
            yield client.get_executor(pure=False)
        except RnnlmpyError:
            raise
        except Exception as error:
            if client.status == "running":
                raise
            raise RnnlmpyError(f"lost the Dask scheduler at {scheduler!r} ({type(error).__name__}); rerun when it "
                               "is back") from None
        finally:
            with contextlib.suppress(Exception):  # a lost scheduler: closing has nothing left to say
                client.close(timeout=CLOSE_TIMEOUT_SECONDS)


@contextlib.contextmanager
def quiet_dask_logs() -> Iterator[None]:
    """Dask's own log lines off (but for CRITICAL) while the block runs.

    A lost scheduler makes the client log "Failed to reconnect" and the
    tracebacks of its clean-up on stderr; what failed reaches the caller through
    the tasks' futures instead, as one line.
    """
    loggers = [logging.getLogger("distributed")]
    loggers += [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                if name.startswith("distributed.")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def connect_client(distributed, scheduler: str):
    """A ``distributed.Client`` connected to ``scheduler``, or RnnlmpyError within about
    CONNECT_TIMEOUT_SECONDS: refused, timed out, or something that is not a Dask scheduler.

    The client is made in a helper thread: against a server that is not Dask's
    (an HTTP server, the dashboard's port) its handshake waits for ever, its
    timeout notwithstanding. Such a thread is left behind, asleep (a daemon).
    """
    made: dict = {}

    def connect():
        try:
            made["client"] = quiet_client_class(distributed)(scheduler, timeout=CONNECT_TIMEOUT_SECONDS,
                                                             set_as_default=False)
        except BaseException as error:  # noqa: B036 (reported in the calling thread)
            made["error"] = error

    thread = threading.Thread(target=connect, name="rnnlmpy-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_SECONDS + CLOSE_TIMEOUT_SECONDS)
    if "client" in made:
        return made["client"]
    if isinstance(made.get("error"), MemoryError):  # another server's answer, read as the length of a frame
        raise RnnlmpyError(f"what answered at {scheduler!r} is not a Dask scheduler (a scheduler's port is usually "
                           "8786, its dashboard's 8787)")
    if "error" in made:  # refused, timed out
        raise RnnlmpyError(f"cannot reach the Dask scheduler at {scheduler!r}: {first_line(made['error'])}")
    raise RnnlmpyError(f"no Dask scheduler answered at {scheduler!r} in {CONNECT_TIMEOUT_SECONDS} s (something "
                       "else listens there: a scheduler's port is usually 8786, its dashboard's 8787)")


def quiet_client_class(distributed):
    """``distributed.Client`` whose clean-up, when its constructor failed half-way, neither waits (Dask's
    waits 40 s) nor prints "Exception ignored in Client.__del__" with a traceback at exit."""

    class QuietClient(distributed.Client):
        def __del__(self):
            with contextlib.suppress(Exception):
                self.close(timeout=CLOSE_TIMEOUT_SECONDS)

    return QuietClient


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_reachable(scheduler: str) -> None:
    """RnnlmpyError, at once, when ``scheduler`` is not a Dask address (``tcp://HOST:PORT``, ``HOST:PORT``,
    ``tls://``, ``ws://``) or nothing accepts a connection there.

    Handing such an address to ``distributed.Client`` fails only after its
    timeout, or fails at once but leaves a half-made client whose clean-up at
    exit waits 40 s and prints a traceback; a plain TCP connection says it
    first (refused, unknown host) without waiting.
    """
    from distributed.comm.addressing import get_address_host_port
    try:
        host, port = get_address_host_port(scheduler)
    except ValueError as error:  # no port, unknown scheme (http://, unix://), a port that is not a number
        raise RnnlmpyError(f"-scheduler {scheduler!r} is not a Dask scheduler address such as tcp://HOST:8786 "
                           f"({first_line(error)})") from None
    if not host or not 0 < port < 65536:
        raise RnnlmpyError(f"-scheduler {scheduler!r} is not a Dask scheduler address such as tcp://HOST:8786 "
                           f"({'no host' if not host else f'port {port} is not between 1 and 65535'})")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:  # refused, unknown host, unreachable network, timed out
        if isinstance(error, TimeoutError):
            reason = f"no answer in {CONNECT_TIMEOUT_SECONDS} s"
        else:
            reason = error.strerror or first_line(error)
        raise RnnlmpyError(f"cannot reach the Dask scheduler at {scheduler!r}: {reason}") from None


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

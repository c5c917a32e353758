"""Saying when Numba compiles the kernels, and keeping the time it takes out of every speed figure.

The kernels are compiled on their first use on a machine (10-70 s) and loaded
from Numba's on-disk cache afterwards. ``compiling`` listens to Numba's own
events: "numba:compile" fires only for a real compilation, never for a load
from the cache, so the notice is printed exactly when the user waits for the
compiler, however fast or busy the machine is; the compiler lock is held while
a kernel is compiled, loaded or saved, and that time (``seconds``) is what
speed figures leave out.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Callable, Iterator, Optional

NOTICE = "compiling kernels (once per machine; later runs start at once) ..."
_COMPILE_EVENT = "numba:compile"  # a kernel is compiled (never fired for a load from the cache)
_LOCK_EVENT = "numba:compiler_lock"  # the compiler lock, held to compile, load or save a kernel

_lock = threading.Lock()
_open: list["Compilation"] = []  # the blocks now open, outermost first


class Compilation:
    """What happened to the kernels within one ``compiling`` block."""

    def __init__(self, say: Optional[Callable[[str], None]]):
        self.say = say
        self.seconds = 0.0  # wall-clock time spent getting kernels ready (compiling, loading, saving) in the block
        self.compiled = 0  # kernels (signatures) compiled, nested ones included
        self.announced = False  # the notice was said (kept on the outermost block: once per outermost block)


class _CompileListener:
    """"numba:compile" (a real compilation, not a cache load) -> the notice, at the first one in the outermost
    open block, through the innermost block that has a ``say``; and the count of every open block."""

    def on_start(self, ev):
        with _lock:
            blocks = list(_open)
            speakers = [block.say for block in blocks if block.say is not None]
            say = speakers[-1] if speakers and not blocks[0].announced else None
            if say is not None:
                blocks[0].announced = True
            for block in blocks:
                block.compiled += 1
        if say is not None:
            say(NOTICE)

    def on_end(self, ev):
        pass


class _LockListener:
    """"numba:compiler_lock", held while a kernel is compiled, loaded from the cache or saved to it -> the
    seconds of every open block. Nested and concurrent holds count once: the wall-clock time during which
    any thread is getting a kernel ready."""

    def __init__(self):
        self._depth = 0
        self._started = 0.0

    def on_start(self, ev):
        with _lock:
            self._depth += 1
            if self._depth == 1:
                self._started = time.perf_counter()

    def on_end(self, ev):
        with _lock:
            self._depth -= 1
            if self._depth == 0:
                spent = time.perf_counter() - self._started
                for block in _open:
                    block.seconds += spent


_watching = False


def watch_numba() -> None:
    """Listen to Numba's compile and compiler-lock events from now on (idempotent; imports Numba).

    The modules that call kernels run this when they are imported, so that
    commands which never use a kernel never import Numba. The listeners stay for
    the life of the process (with no block open they do nothing), so that a
    compilation running while the first block opens or the last one closes
    keeps the lock count consistent.
    """
    global _watching
    with _lock:
        if _watching:
            return
        _watching = True
    from numba.core import event

    for kind, listener in ((_COMPILE_EVENT, _CompileListener), (_LOCK_EVENT, _LockListener)):
        event.register(kind, type(listener.__name__, (listener, event.Listener), {})())


@contextlib.contextmanager
def compiling(say: Optional[Callable[[str], None]] = None) -> Iterator[Compilation]:
    """Within the block, the first real compilation of a kernel calls ``say(NOTICE)``, once in the outermost
    block (the ``rnnlmpy`` command's: once a run); the Compilation it yields counts the seconds spent getting
    kernels ready.

    Blocks nest: the notice goes through the innermost block that has a ``say``
    (None: the enclosing block's; none at all: silent), and every open block
    counts the time. A speed figure divides by the elapsed time minus ``seconds``.
    """
    if "numba" in sys.modules:  # code compiled by anyone (not only rnnlmpy's kernels) is seen
        watch_numba()
    block = Compilation(say)
    with _lock:
        _open.append(block)
    try:
        yield block
    finally:
        with _lock:
            _open.remove(block)


def say_on_stderr(text: str) -> None:
    """A ``say`` for ``compiling``: the text as a line on stderr."""
    print(text, file=sys.stderr, flush=True)


def mute() -> None:
    """No notice in the blocks open now (``-debug 0``): as if it had been said."""
    with _lock:
        if _open:
            _open[0].announced = True

"""Files: reading bytes with clear errors, atomic writes, and the one place that tells file kinds apart."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import tempfile
from typing import Callable, Iterable, Iterator, Optional

from .errors import RnnlmpyError

# What sniff() can say about a file.
CONTAINER = "rnnlmpy"  # an rnnlmpy model file (npz container; its header names the kind: rnnlm, tagger)
RNNLM_CPP = "rnnlm-cpp"  # a C++ rnnlm model, text or binary
ARPA = "arpa"  # a backoff n-gram model
HMM = "hmm"  # the NLP programming tutorial's HMM tagger (T/E lines)
PNG = "png"  # an image (``rnnlmpy plot``)
UNKNOWN = "unknown"

SNIFF_BYTES = 4096


def read_file_bytes(path: Optional[str], what: str = "file", limit: int = -1) -> bytes:
    """The bytes of ``path`` (the first ``limit`` bytes when ``limit`` >= 0); RnnlmpyError naming ``what`` if unreadable."""
    if path is None:
        raise RnnlmpyError(f"no {what} given")
    if os.path.isdir(path):
        raise RnnlmpyError(f"{what} {path!r} is a directory, not a file")
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except FileNotFoundError:
        raise RnnlmpyError(f"{what} {path!r} does not exist") from None
    except OSError as error:
        raise RnnlmpyError(f"cannot read {what} {path!r}: {error.strerror}") from None


def sniff(path: str, what: str = "model file") -> str:
    """The kind of file at ``path`` from its first bytes: CONTAINER, RNNLM_CPP, ARPA, HMM or UNKNOWN.

    Raises RnnlmpyError (naming ``what``) for a missing, unreadable or directory path.
    """
    start = read_file_bytes(path, what, SNIFF_BYTES)
    if start.startswith(b"PK"):
        return CONTAINER
    if start.startswith(b"version:"):
        return RNNLM_CPP
    if start[:2] in (b"T ", b"E "):
        return HMM
    if start.lstrip().startswith(b"\\data\\"):
        return ARPA
    if start.startswith(b"\x89PNG\r\n"):
        return PNG
    return UNKNOWN


def check_output(path: str, kinds: Iterable[str], inputs: Iterable[Optional[str]] = (), force: bool = False,
                 what: str = "an output file") -> None:
    """Refuse to write ``path`` where that would destroy something that is not this command's own output.

    An existing ``path`` may be replaced only when ``sniff`` finds one of
    ``kinds`` there (an earlier output of the same kind), or with ``force``; it is
    never replaced when it is one of this run's ``inputs``, force or not. Also
    refuses a directory and a missing folder. ``what`` names the output with its
    article ("an rnnlmpy model", "a PNG image"). Raises RnnlmpyError, one line.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RnnlmpyError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise RnnlmpyError(f"output path {path!r} is a directory")
    if not os.path.exists(path):
        return
    for source in inputs:
        if source is not None and os.path.exists(source) and os.path.samefile(source, path):
            raise RnnlmpyError(f"output path {path!r} is also an input of this command; choose another path")
    if force:
        return
    found = sniff(path, "output file")
    if found not in set(kinds):
        described = "a file rnnlmpy does not recognise" if found == UNKNOWN else f"a {found} file"
        raise RnnlmpyError(f"{path!r} exists and is not {what} ({described}); refusing to replace it "
                           "(choose another path, or add -force)")


@contextlib.contextmanager
def exclusive_lock(path: str, what: str = "model") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (via ``path + ".lock"``) for the duration; a second holder is refused.

    The lock dies with the process (``flock``), so a killed run never leaves a
    stale lock; the lock file is removed on a normal exit.
    """
    lock_path = path + ".lock"
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise RnnlmpyError(f"cannot lock {what} {path!r}: {error.strerror}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise RnnlmpyError(f"another rnnlmpy run is writing {what} {path!r} (it holds {lock_path!r}); "
                           "wait for it to finish or choose another path") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(descriptor)


def remove_stale_temporaries(path: str) -> list[str]:
    """Delete the temporary files an interrupted ``write_atomically(path, ...)`` left beside ``path``.

    Call it only while holding ``exclusive_lock(path)``; returns the names removed.
    """
    folder = os.path.dirname(os.path.abspath(path))
    pattern = os.path.join(glob.escape(folder), glob.escape(os.path.basename(path)) + ".*.tmp")
    removed = []
    for stale in glob.glob(pattern):
        with contextlib.suppress(OSError):
            os.unlink(stale)
            removed.append(stale)
    return removed


def write_atomically(path: str, write: Callable) -> None:
    """Call ``write(binary_handle)`` on a temporary file beside ``path``, then rename it to ``path``.

    A crash or an error leaves ``path`` as it was; the temporary file is removed.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise RnnlmpyError(f"output path {path!r} is a directory")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as error:
        raise RnnlmpyError(f"cannot write {path!r}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, path)
    except OSError as error:
        _remove_quietly(temporary)
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES):
            raise RnnlmpyError(f"cannot write {path!r}: {error.strerror} (nothing was replaced)") from None
        raise
    except BaseException:
        _remove_quietly(temporary)
        raise


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

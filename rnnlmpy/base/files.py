"""Files: reading bytes with clear errors, atomic writes, and the one place that tells file kinds apart."""

from __future__ import annotations

import os
import tempfile
from typing import Callable, Optional

from .errors import RnnlmpyError

# What sniff() can say about a file.
CONTAINER = "rnnlmpy"  # an rnnlmpy model file (npz container; its header names the kind: rnnlm, tagger)
RNNLM_CPP = "rnnlm-cpp"  # a C++ rnnlm model, text or binary
ARPA = "arpa"  # a backoff n-gram model
HMM = "hmm"  # the NLP programming tutorial's HMM tagger (T/E lines)
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
    return UNKNOWN


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
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

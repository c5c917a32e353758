"""Files: reading inputs (plain or compressed) with clear errors, atomic locked writes, and the one place that
tells file kinds apart.

Inputs are regular files only (a FIFO, device or socket would block or never end), read as SRILM and KenLM
read them: a file compressed with gzip, bzip2 or xz (told by its first bytes, never by its name) is
decompressed on the fly. Outputs are regular files only, written to a temporary file beside the target
and renamed over it while the writer holds the target's lock.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import fcntl
import gzip
import lzma
import os
import re
import stat
import tempfile
import threading
import zlib
from typing import BinaryIO, Callable, Iterable, Iterator, Optional

from .errors import RnnlmpyError

# What sniff() can say about a file (its content, after decompression).
CONTAINER = "rnnlmpy"  # an rnnlmpy model file (npz container; its header names the kind: rnnlm, tagger)
RNNLM_CPP = "rnnlm-cpp"  # a C++ rnnlm model, text or binary
ARPA = "arpa"  # a backoff n-gram model
NGRAM_BINARY = "ngram-binary"  # a backoff n-gram model in rnnlmpy's memory-mapped binary format (ngram.binary)
HMM = "hmm"  # the NLP programming tutorial's HMM tagger (T/E lines)
PNG = "png"  # an image (``rnnlmpy plot``)
UNKNOWN = "unknown"

KIND_NAMES = {CONTAINER: "an rnnlmpy model", RNNLM_CPP: "a C++ rnnlm model", ARPA: "an ARPA model",
              NGRAM_BINARY: "an rnnlmpy binary n-gram model",
              HMM: "an HMM tagger (the tutorial's text format)", PNG: "a PNG image",
              UNKNOWN: "a file rnnlmpy does not recognise"}

# Compressions an input may have, by the magic bytes that open the file.
GZIP, BZIP2, XZ = "gzip", "bzip2", "xz"
MAGIC_BYTES = {GZIP: b"\x1f\x8b", BZIP2: b"BZh", XZ: b"\xfd7zXZ\x00"}
_OPENERS = {GZIP: lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"), BZIP2: lambda raw: bz2.BZ2File(raw, "rb"),
            XZ: lambda raw: lzma.LZMAFile(raw, "rb")}

# The first bytes of a binary n-gram model: a non-ASCII byte first (no text file opens so), the name, and a
# CR LF and a SUB, so that a transfer that rewrites line ends or stops at ^Z spoils the magic (as PNG's does).
NGRAM_BINARY_MAGIC = b"\x89rnnlmpy-ngram\r\n\x1a\n"

SNIFF_BYTES = 4096
ACCEPTED_INPUTS = "rnnlmpy reads regular files (plain, or compressed with gzip, bzip2 or xz)"
_TEMPORARY_NAME = r"\.[A-Za-z0-9_]+\.tmp"  # write_atomically's temporary file: PATH.RANDOM.tmp (mkstemp)


def file_type_name(mode: int) -> str:
    """What a stat mode is, in words ("a FIFO (named pipe)", "a character device", ...)."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a special file"


def check_input(path: Optional[str], what: str = "file") -> os.stat_result:
    """The stat of input ``path`` (symbolic links followed) if it is a regular file; else RnnlmpyError, one line.

    Never opens the file, so a FIFO or device is refused without blocking.
    """
    if path is None:
        raise RnnlmpyError(f"no {what} given")
    try:
        found = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise RnnlmpyError(f"{what} {path!r} is a symbolic link to a missing file") from None
        raise RnnlmpyError(f"{what} {path!r} does not exist") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RnnlmpyError(f"{what} {path!r} is a symbolic link loop") from None
        raise RnnlmpyError(f"cannot read {what} {path!r}: {error.strerror}") from None
    if stat.S_ISDIR(found.st_mode):
        raise RnnlmpyError(f"{what} {path!r} is a directory, not a file")
    if not stat.S_ISREG(found.st_mode):
        raise RnnlmpyError(f"{what} {path!r} is {file_type_name(found.st_mode)}, not a regular file; "
                           f"{ACCEPTED_INPUTS}")
    return found


def compression_of(start: bytes) -> Optional[str]:
    """GZIP, BZIP2 or XZ when ``start`` (a file's first bytes) opens with that compression's magic bytes, else None."""
    for name, magic in MAGIC_BYTES.items():
        if start.startswith(magic):
            return name
    return None


class InputFile:
    """An input opened for reading: ``read`` gives the (decompressed) bytes; errors are one-line RnnlmpyErrors.

    ``compression`` is GZIP, BZIP2, XZ or None; ``fileno()`` and ``os.fstat`` refer to the file on disk.
    """

    def __init__(self, raw: BinaryIO, path: str, what: str) -> None:
        self.raw, self.path, self.what = raw, path, what
        self.compression = compression_of(self._guarded(lambda: raw.peek(8)[:8]))
        self.stream = _OPENERS[self.compression](raw) if self.compression else raw

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that are left when ``size`` < 0), decompressed."""
        return self._guarded(lambda: self.stream.read(size))

    def fileno(self) -> int:
        """The descriptor of the file on disk."""
        return self.raw.fileno()

    def close(self) -> None:
        """Close the stream and the file."""
        with contextlib.suppress(Exception):
            self.stream.close()
        self.raw.close()

    def __enter__(self) -> "InputFile":
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def _guarded(self, read: Callable[[], bytes]) -> bytes:
        try:
            return read()
        except MemoryError:  # a huge file, or a small compressed one that inflates beyond memory
            unpacked = f" ({self.compression}-compressed)" if self.compression else ""
            raise RnnlmpyError(f"{self.what} {self.path!r}{unpacked} does not fit in this machine's memory") from None
        except (EOFError, lzma.LZMAError, zlib.error, OSError) as error:
            if self.compression is None or isinstance(error, OSError) and error.errno is not None:
                raise RnnlmpyError(f"cannot read {self.what} {self.path!r}: "  # an I/O error, not bad compressed data
                                   f"{getattr(error, 'strerror', None) or error}") from None
            detail = str(error) or error.__class__.__name__
            raise RnnlmpyError(f"{self.what} {self.path!r} is a corrupt or truncated {self.compression} file "
                               f"({detail})") from None


def open_input(path: Optional[str], what: str = "file") -> InputFile:
    """Open input ``path`` for reading, decompressing gzip, bzip2 or xz (told by the magic bytes).

    Refuses (RnnlmpyError naming ``what``) what ``check_input`` refuses; the file is
    opened non-blocking and checked again, so a FIFO swapped in meanwhile cannot block.
    """
    check_input(path, what)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise RnnlmpyError(f"cannot read {what} {path!r}: {error.strerror}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise RnnlmpyError(f"{what} {path!r} is {file_type_name(mode)}, not a regular file; {ACCEPTED_INPUTS}")
    os.set_blocking(descriptor, True)
    raw = os.fdopen(descriptor, "rb")
    try:
        return InputFile(raw, path, what)
    except BaseException:
        raw.close()
        raise


def read_file_bytes(path: Optional[str], what: str = "file", limit: int = -1) -> bytes:
    """The bytes of input ``path``, decompressed (the first ``limit`` of them when ``limit`` >= 0).

    RnnlmpyError naming ``what`` if it is missing, not a regular file, unreadable or corrupt compressed data.
    """
    with open_input(path, what) as handle:
        return handle.read(limit)


def sniff(path: str, what: str = "model file") -> str:
    """The kind of file at ``path`` from its first bytes (decompressed): CONTAINER, RNNLM_CPP, ARPA, NGRAM_BINARY,
    HMM, PNG or UNKNOWN.

    Raises RnnlmpyError (naming ``what``) for a missing, unreadable or non-regular path.
    """
    return kind_of(read_file_bytes(path, what, SNIFF_BYTES))


def kind_of(start: bytes) -> str:
    """The kind of file that opens with ``start`` (its first SNIFF_BYTES, decompressed): see ``sniff``."""
    if start.startswith(b"PK"):
        return CONTAINER
    if start.startswith(b"version:"):
        return RNNLM_CPP
    if start[:2] in (b"T ", b"E "):
        return HMM
    if start.lstrip().startswith(b"\\data\\"):
        return ARPA
    if start.startswith(NGRAM_BINARY_MAGIC):
        return NGRAM_BINARY
    if start.startswith(b"\x89PNG\r\n"):
        return PNG
    return UNKNOWN


def describe_file(path: str, what: str = "file") -> str:
    """What ``path`` holds, in words with an article ("an rnnlmpy model", "a gzip-compressed ARPA model")."""
    with open_input(path, what) as handle:
        compression = handle.compression
    name = KIND_NAMES[sniff(path, what)]
    if compression is None:
        return name
    return f"{'an' if compression == XZ else 'a'} {compression}-compressed {name.split(' ', 1)[1]}"


def output_target(path: str) -> str:
    """The file that writing ``path`` replaces: ``path`` itself, or the file a symbolic link there points to
    (a link is written through and kept)."""
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


def check_writable(path: str) -> Optional[os.stat_result]:
    """The stat of the regular file an output ``path`` would replace (None for a new path); RnnlmpyError for a
    symbolic link loop, a dangling link, a directory or anything that is not a regular file, force or not."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise RnnlmpyError(f"output path {path!r} is a symbolic link to a missing file; refusing to write "
                               "through it (remove the link or choose another path)") from None
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RnnlmpyError(f"output path {path!r} is a symbolic link loop; refusing to replace it "
                               "(remove it or choose another path)") from None
        raise RnnlmpyError(f"cannot write {path!r}: {error.strerror}") from None
    if stat.S_ISDIR(found.st_mode):
        raise RnnlmpyError(f"output path {path!r} is a directory")
    if not stat.S_ISREG(found.st_mode):
        raise RnnlmpyError(f"output path {path!r} is {file_type_name(found.st_mode)}; rnnlmpy writes only regular "
                           "files and never replaces anything else, even with -force (choose another path)")
    return found


def check_output(path: str, kinds: Iterable[str], inputs: Iterable[Optional[str]] = (), force: bool = False,
                 what: str = "an output file") -> None:
    """Refuse to write ``path`` where that would destroy something that is not this command's own output.

    An existing ``path`` may be replaced only when ``sniff`` finds one of
    ``kinds`` there (an earlier output of the same kind), or with ``force``; it is
    never replaced when it is one of this run's ``inputs``, force or not. Outputs
    are regular files only: a directory, FIFO, device, socket, symbolic link loop
    or dangling link is refused even with ``force``, and so is a missing folder;
    a link to a regular file is written through. ``what`` names the output with
    its article ("an rnnlmpy model", "a PNG image"). Raises RnnlmpyError, one line.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RnnlmpyError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if check_writable(path) is None:
        return
    for source in inputs:
        if source is not None and os.path.exists(source) and os.path.samefile(source, path):
            raise RnnlmpyError(f"output path {path!r} is also an input of this command; choose another path")
    if force:
        return
    found = sniff(path, "output file")
    if found not in set(kinds):
        raise RnnlmpyError(f"{path!r} exists and is not {what} ({describe_file(path, 'output file')}); refusing to "
                           "replace it (choose another path, or add -force)")


_held_locks: set[str] = set()  # the lock files this process holds
_held_locks_guard = threading.Lock()


@contextlib.contextmanager
def exclusive_lock(path: str, what: str = "model") -> Iterator[None]:
    """Hold an exclusive lock on output ``path`` (via ``TARGET.lock`` beside the file it names) for the duration;
    a second holder, in this process or another, is refused.

    The lock dies with the process (``flock``), so a killed run never leaves a
    stale lock; the lock file is removed on a normal exit.
    """
    lock_path = output_target(path) + ".lock"
    descriptor = _acquire(lock_path, path, what)
    with _held_locks_guard:
        _held_locks.add(lock_path)
    try:
        yield
    finally:
        with _held_locks_guard:
            _held_locks.discard(lock_path)
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(descriptor)


def holds_lock(path: str) -> bool:
    """Whether this process holds ``exclusive_lock(path)``."""
    with _held_locks_guard:
        return output_target(path) + ".lock" in _held_locks


def _acquire(lock_path: str, path: str, what: str) -> int:
    """A descriptor holding ``flock`` on ``lock_path``, the file now at that name (not one a releaser unlinked)."""
    for _ in range(10):
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as error:
            raise RnnlmpyError(f"cannot lock {what} {path!r}: {error.strerror}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise RnnlmpyError(f"another rnnlmpy run is writing {what} {path!r} (it holds {lock_path!r}); "
                               "wait for it to finish or choose another path") from None
        with contextlib.suppress(OSError):
            if os.stat(lock_path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        os.close(descriptor)  # the holder released and removed the file between our open and flock: again
    raise RnnlmpyError(f"cannot lock {what} {path!r}: {lock_path!r} keeps changing")


def remove_stale_temporaries(path: str) -> list[str]:
    """Delete the temporary files an interrupted ``write_atomically(path, ...)`` left beside ``path``.

    Only regular files named as write_atomically names them (``NAME.RANDOM.tmp``,
    not another output's ``NAME.OTHER.RANDOM.tmp``). Call it only while holding
    ``exclusive_lock(path)``; returns the names removed.
    """
    target = output_target(path)
    folder, name = os.path.split(target)
    pattern = re.compile(re.escape(name) + _TEMPORARY_NAME + r"\Z")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if pattern.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.path)
    return sorted(removed)


@contextlib.contextmanager
def claimed_output(path: str, kinds: Iterable[str], inputs: Iterable[Optional[str]] = (), force: bool = False,
                   what: str = "an output file") -> Iterator[list[str]]:
    """What every command that writes ``path`` does first: ``check_output``, then hold ``exclusive_lock(path)``
    for the duration and remove the temporaries an interrupted earlier write left.

    Yields the paths of the temporaries removed (for the command to report).
    """
    check_output(path, kinds, inputs, force, what)
    noun = what.split(" ", 1)[1] if what.startswith(("a ", "an ")) else what
    with exclusive_lock(path, noun):
        yield remove_stale_temporaries(path)


def write_atomically(path: str, write: Callable) -> None:
    """Call ``write(binary_handle)`` on a temporary file beside ``path``, then rename it to ``path``.

    Holds ``exclusive_lock(path)`` meanwhile unless this process already does. A crash or an error leaves ``path``
    as it was; the temporary file is removed. Only a regular file (or nothing) at
    ``path`` is replaced, checked again just before the rename; a symbolic link
    to a regular file is written through and kept.
    """
    check_writable(path)
    target = output_target(path)
    folder = os.path.dirname(target)
    with contextlib.nullcontext() if holds_lock(path) else exclusive_lock(path, "output"):
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=os.path.basename(target) + ".", suffix=".tmp",
                                                     dir=folder)
        except OSError as error:
            raise RnnlmpyError(f"cannot write {path!r}: {error.strerror}") from None
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write(handle)
            os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual permissions
            check_writable(target)
            os.replace(temporary, target)
        except OSError as error:
            _remove_quietly(temporary)
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES):
                raise RnnlmpyError(f"cannot write {path!r}: {error.strerror} (nothing was replaced)") from None
            raise
        except BaseException:
            _remove_quietly(temporary)
            raise


def append_bytes(path: str, data: bytes) -> None:
    """Append ``data`` to the regular file ``path``, creating it if missing (a history file's JSON lines).

    Appending cannot be atomic, so the checks of an output are made on the file itself: anything but a regular
    file (a FIFO, a device, a link loop) is refused without blocking, and a full disk is one RnnlmpyError line.
    """
    check_writable(path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as error:
        raise RnnlmpyError(f"cannot write {path!r}: {error.strerror}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):  # swapped in between the check and the open
            raise RnnlmpyError(f"output path {path!r} is {file_type_name(mode)}; rnnlmpy writes only regular files")
        with os.fdopen(os.dup(descriptor), "ab") as handle:  # writes all of data, however long
            handle.write(data)
    except OSError as error:
        raise RnnlmpyError(f"cannot write {path!r}: {error.strerror}") from None
    finally:
        os.close(descriptor)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

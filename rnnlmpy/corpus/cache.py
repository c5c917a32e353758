"""The on-disk cache of encoded corpora: one folder per corpus file, memory-mapped on later runs.

An entry lives in ``cache_folder()`` under a name hashed from the corpus's
absolute path and holds three files: ``manifest.json`` (format, path, size,
mtime_ns, ctime_ns, inode, device, sha256, token, line and type counts),
``ids.i32`` (the token ids, raw little-endian int32) and ``types.txt`` (the
types in number order, UTF-8, each followed by a LF; tokens never hold LF,
space or tab). An entry is used only when its manifest matches the file's
current ``file_state``, its files have the sizes the manifest says, its types
start with ``</s>`` and are distinct, and every id numbers one of them (the
last ``</s>``); anything else is rebuilt. Entries are
built in a temporary folder beside their final name and renamed into place, so
a reader never sees half an entry; when two runs race, the first rename wins.
A cache that cannot be written is never an error: the caller gets None and
encodes in memory.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base.text import SENTENCE_END

FORMAT_VERSION = 1
KIND = "rnnlmpy corpus cache"
MANIFEST_FILE = "manifest.json"
IDS_FILE = "ids.i32"
TYPES_FILE = "types.txt"
IDS_DTYPE = "<i4"
ID_BYTES = 4
TEMPORARY_SUFFIX = ".tmp"  # an entry being written: ENTRY.PID.RANDOM.tmp
STALE_SUFFIX = ".stale"  # an entry moved aside to be deleted: ENTRY.PID.RANDOM.stale
SENTENCE_END_TYPE = 0  # type 0 of every entry is </s>, and the last token closes the last line
HEX_DIGITS = set("0123456789abcdef")


class CacheWriteError(Exception):
    """Writing a cache entry failed (full disk, read-only folder); the caller falls back to memory."""


@dataclass
class CachedCorpus:
    """What an entry holds: types (T,), token ids (N,) int32 read-only, the file's SHA-256 (hex) and line count."""

    types: list[str]
    type_ids: np.ndarray
    sha256: str
    line_count: int


def cache_folder() -> Optional[str]:
    """Where entries go: $RNNLMPY_CACHE_DIR, else $XDG_CACHE_HOME/rnnlmpy/corpora, else ~/.cache/rnnlmpy/corpora.

    None (no caching) when RNNLMPY_CACHE_DIR is set but empty, or no home folder is known.
    """
    chosen = os.environ.get("RNNLMPY_CACHE_DIR")
    if chosen is not None:
        return os.path.abspath(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base.startswith("~"):
        return None
    return os.path.join(os.path.abspath(base), "rnnlmpy", "corpora")


def entry_path(folder: str, absolute_path: str) -> str:
    """The entry folder of the corpus at ``absolute_path`` inside ``folder``."""
    name = hashlib.sha256(os.fsencode(absolute_path)).hexdigest()[:32]
    return os.path.join(folder, name)


def file_state(stat: os.stat_result) -> dict:
    """The parts of a file's stat that an entry must match: size (bytes), mtime_ns, and the inode's number,
    device and change time (ctime_ns), which ``touch`` cannot set back, so that a file rewritten in place
    and given its old size and mtime again is still seen as changed."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
            "inode": stat.st_ino, "device": stat.st_dev}


def load_entry(entry: str, absolute_path: str, stat: os.stat_result) -> Optional[CachedCorpus]:
    """The entry's corpus, ids memory-mapped read-only; None when it is missing, corrupt, truncated or stale."""
    try:
        with open(os.path.join(entry, MANIFEST_FILE), encoding="utf-8") as handle:
            manifest = json.load(handle)
        if (manifest.get("kind") != KIND or manifest.get("format") != FORMAT_VERSION
                or manifest.get("path") != absolute_path
                or any(manifest.get(key) != value for key, value in file_state(stat).items())):
            return None
        token_count, type_count = int(manifest["tokens"]), int(manifest["types"])
        ids_path = os.path.join(entry, IDS_FILE)
        if os.path.getsize(ids_path) != ID_BYTES * token_count:
            return None
        with open(os.path.join(entry, TYPES_FILE), "rb") as handle:
            types = handle.read().decode("utf-8").split("\n")
        if (types.pop() != "" or len(types) != type_count or types[:1] != [SENTENCE_END]
                or len(set(types)) != type_count):
            return None
        sha256, lines = manifest["sha256"], manifest["lines"]
        if not (isinstance(sha256, str) and len(sha256) == 64 and set(sha256) <= HEX_DIGITS
                and type(lines) is int and 0 <= lines <= token_count):
            return None
        type_ids = map_ids(ids_path, token_count)
        if token_count and not (0 <= int(type_ids.min()) and int(type_ids.max()) < type_count
                                and int(type_ids[-1]) == SENTENCE_END_TYPE):
            return None  # ids edited in place: each must number one of the entry's types, the last close a line
        return CachedCorpus(types, type_ids, sha256, lines)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # JSON and UTF-8 errors are ValueErrors
        return None


def map_ids(ids_path: str, token_count: int) -> np.ndarray:
    """The token ids of an ids file as a read-only memory map (int32 (token_count,))."""
    if token_count == 0:  # an empty file cannot be mapped
        empty = np.empty(0, dtype=IDS_DTYPE)
        empty.setflags(write=False)
        return empty
    return np.memmap(ids_path, dtype=IDS_DTYPE, mode="r", shape=(token_count,))


class EntryWriter:
    """An entry being written: ids appended as they come, then ``install`` renames it into place.

    ``open`` returns None when the cache folder cannot be created or written.
    Every method raises CacheWriteError for a write that fails; ``discard``
    removes whatever was written.
    """

    def __init__(self, entry: str, temporary: str, ids_handle) -> None:
        self.entry = entry
        self.temporary = temporary
        self.ids_handle = ids_handle
        self.token_count = 0

    @classmethod
    def open(cls, entry: str) -> Optional["EntryWriter"]:
        """Start writing ``entry`` in a temporary folder beside it; None if the cache cannot be written."""
        temporary = sibling_name(entry, TEMPORARY_SUFFIX)
        try:
            os.makedirs(os.path.dirname(entry), exist_ok=True)
            remove_abandoned(entry)
            os.mkdir(temporary)
        except OSError:
            return None
        try:
            return cls(entry, temporary, open(os.path.join(temporary, IDS_FILE), "wb"))
        except OSError:
            remove_folder(temporary)
            return None

    def write_ids(self, ids: np.ndarray) -> None:
        """Append token ids (int32 (n,)) to the entry's ids file."""
        try:
            self.ids_handle.write(memoryview(np.ascontiguousarray(ids, dtype=IDS_DTYPE)))
        except OSError as error:
            raise CacheWriteError(str(error)) from None
        self.token_count += len(ids)

    def install(self, absolute_path: str, stat: os.stat_result, types_text: bytes, sha256: str, line_count: int,
                type_count: int) -> CachedCorpus:
        """Finish the entry (types, manifest), rename it into place and return it memory-mapped.

        ``types_text`` is the types, each followed by a LF, in number order. If
        another run installed a valid entry first, that one is used and ours
        dropped; a stale one in the way is replaced.
        """
        manifest = {"kind": KIND, "format": FORMAT_VERSION, "path": absolute_path, **file_state(stat),
                    "sha256": sha256, "tokens": self.token_count, "lines": line_count, "types": type_count}
        try:
            self.ids_handle.close()
            with open(os.path.join(self.temporary, TYPES_FILE), "wb") as handle:
                handle.write(types_text)
            with open(os.path.join(self.temporary, MANIFEST_FILE), "w", encoding="utf-8") as handle:
                json.dump(manifest, handle, indent=1)
        except OSError as error:
            raise CacheWriteError(str(error)) from None
        if not self._rename_into_place(absolute_path, stat):
            return self._detached(types_text, sha256, line_count)
        installed = load_entry(self.entry, absolute_path, stat)
        if installed is None:  # replaced or damaged between our rename and this read
            raise CacheWriteError(f"cache entry {self.entry!r} changed while it was installed")
        return installed

    def _rename_into_place(self, absolute_path: str, stat: os.stat_result) -> bool:
        """Rename the temporary folder to the entry; False if that failed and ours is still in its place."""
        for _ in range(2):
            try:
                os.rename(self.temporary, self.entry)
                return True
            except OSError:
                if load_entry(self.entry, absolute_path, stat) is not None:  # another run won the race
                    remove_folder(self.temporary)
                    return True
                with contextlib.suppress(OSError):  # stale or corrupt: move it aside, then try again
                    aside = sibling_name(self.entry, STALE_SUFFIX)
                    os.rename(self.entry, aside)
                    remove_folder(aside)
        return False

    def _detached(self, types_text: bytes, sha256: str, line_count: int) -> CachedCorpus:
        """Our entry mapped from its temporary folder, which is then deleted (the mapping keeps the data)."""
        try:
            type_ids = map_ids(os.path.join(self.temporary, IDS_FILE), self.token_count)
        except OSError as error:
            raise CacheWriteError(str(error)) from None
        finally:
            remove_folder(self.temporary)
        return CachedCorpus(types_text.decode("utf-8").split("\n")[:-1], type_ids, sha256, line_count)

    def discard(self) -> None:
        """Close and delete the unfinished entry."""
        with contextlib.suppress(OSError):
            self.ids_handle.close()
        remove_folder(self.temporary)


def sibling_name(entry: str, suffix: str) -> str:
    """A unique name beside ``entry``: ENTRY.PID.RANDOM followed by ``suffix``."""
    return f"{entry}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"


def remove_abandoned(entry: str) -> list[str]:
    """Delete the temporary and stale folders of ``entry`` whose writing process is gone; returns their paths."""
    removed = []
    for suffix in (TEMPORARY_SUFFIX, STALE_SUFFIX):
        for folder in glob.glob(glob.escape(entry) + ".*" + suffix):
            parts = os.path.basename(folder).split(".")
            if len(parts) == 4 and parts[1].isdigit() and not process_alive(int(parts[1])):
                remove_folder(folder)
                removed.append(folder)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_folder(folder: str) -> None:
    """Delete a folder and its files, ignoring errors."""
    shutil.rmtree(folder, ignore_errors=True)

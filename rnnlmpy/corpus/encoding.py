"""Corpus files as int32 token ids: read in chunks, tokenised by a Numba hash table, cached on disk.

``encode_file`` gives exactly what ``rnnlmpy.base.text.read_corpus`` gives (the
same tokens, the same errors) as a list of types and one int32 id per token,
without a Python object per token: the file is read in chunks of CHUNK_BYTES
cut after their last LF (decompressed first when the file is compressed with
gzip, bzip2 or xz), each chunk is hashed (SHA-256), checked as UTF-8
(whole characters, since a chunk ends at a LF), stripped of CR bytes and
tokenised by ``rnnlmpy.kernels.tokens``. Peak memory is about one chunk, the
types and 4 bytes per token. A file of at least CACHE_MIN_BYTES is kept in the
cache (``rnnlmpy.corpus.cache``): its ids are appended to the entry as they are
produced and memory-mapped at the end, and a later call maps them without
reading the text while the file is unchanged (``cache.file_state``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Iterator, Optional

import numpy as np

from ..base.compiling import watch_numba
from ..base.errors import RnnlmpyError
from ..base.files import open_input, read_file_bytes
from ..base.text import SENTENCE_END, char_tokens, decode_utf8, refuse_binary_kind, text_lines
from ..kernels import tokens
from . import cache as corpus_cache
from .cache import cache_folder

watch_numba()  # this module's kernels say when they compile (base.compiling)

CACHE_MIN_BYTES = 4 * 2**20  # smaller files are encoded in memory, never cached
CHUNK_BYTES = 4 * 2**20  # bytes read at a time (a chunk grows to the end of its last line)
FLUSH_TOKENS = 2**20  # token ids buffered before they are appended to a cache entry
INITIAL_TYPE_CAPACITY = 4096  # types the hash table holds before it first grows (a power of two)
INITIAL_POOL_BYTES = 64 * 2**10  # bytes of type text before the pool first grows
TOKENS_PER_BYTE_GUESS = 0.25  # first capacity of an in-memory id array, per byte of the file
GROWTH = 2  # factor by which a full array grows
SENTENCE_END_TYPE = 0  # type 0 of every encoded corpus is </s>, which closes each line

__all__ = ["CACHE_MIN_BYTES", "SENTENCE_END_TYPE", "EncodedCorpus", "TokenSequence", "cache_folder", "encode_file",
           "line_bounds", "type_counts"]


@dataclass(repr=False)
class EncodedCorpus:
    """A corpus file as types and token ids.

    ``types[0]`` is ``</s>``, then each distinct token in order of first
    appearance; ``type_ids`` (int32 (N,), read-only; an ``np.memmap`` when it
    came from the cache) holds the file's tokens, every line closed by type 0;
    ``sha256`` is the hex SHA-256 of the file's text (decompressed bytes).
    """

    path: str
    types: list[str]
    type_ids: np.ndarray
    sha256: str
    line_count: int

    def __len__(self) -> int:
        """N, the number of tokens (``</s>`` included)."""
        return len(self.type_ids)

    def tokens(self) -> "TokenSequence":
        """The tokens as a read-only sequence of strings (made when read, not stored)."""
        return TokenSequence(self.types, self.type_ids)

    def __repr__(self) -> str:
        source = ", from cache" if isinstance(self.type_ids, np.memmap) else ""
        return (f"EncodedCorpus({self.path!r}: {len(self):,} tokens, {self.line_count:,} lines, "
                f"{len(self.types):,} types{source})")


def line_bounds(type_ids: np.ndarray) -> np.ndarray:
    """Token offsets where the lines of an encoded corpus start, then its length (int64, (lines + 1,));
    every line ends with type 0 (``</s>``)."""
    return np.concatenate([[0], np.flatnonzero(np.asarray(type_ids) == SENTENCE_END_TYPE) + 1]).astype(np.int64)


class TokenSequence(Sequence):
    """The tokens of ``types``/``type_ids`` as a read-only sequence of strings, made one at a time when asked
    (a list of N strings would cost about 60 bytes a token)."""

    def __init__(self, types: list[str], type_ids: np.ndarray):
        self.types, self.type_ids = types, type_ids

    def __len__(self) -> int:
        return len(self.type_ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.types[i] for i in self.type_ids[index].tolist()]
        return self.types[self.type_ids[index]]

    def __iter__(self):
        types = self.types
        for begin in range(0, len(self.type_ids), 2**16):
            yield from (types[i] for i in self.type_ids[begin:begin + 2**16].tolist())

    def __repr__(self) -> str:
        return f"TokenSequence({len(self):,} tokens)"


def encode_file(path: str, what: str = "corpus", allow_empty: bool = False, char_level: bool = False,
                cache: bool = True) -> EncodedCorpus:
    """Read a corpus file as types and int32 token ids; ``[types[i] for i in type_ids] == read_corpus(...)``.

    Arguments and errors as ``read_corpus``: ``what`` names the file in
    RnnlmpyError messages (missing, unreadable, not UTF-8, or empty unless
    ``allow_empty``); ``char_level`` makes every character a token (encoded in
    memory from the decoded text, never cached). With ``cache`` a file of at
    least CACHE_MIN_BYTES goes through the on-disk cache (``cache_folder()``).
    """
    if char_level:
        return _encode_characters(path, what, allow_empty)
    read_file_bytes(path, what, limit=0)  # read_corpus's errors for a missing, unreadable or non-regular path
    corpus = None
    folder = cache_folder() if cache else None
    if folder is not None and os.path.getsize(path) >= CACHE_MIN_BYTES:
        corpus = _encode_cached(path, what, folder)
    if corpus is None:
        corpus = _encode_in_memory(path, what)
    if not allow_empty and len(corpus.types) == 1:  # only </s>: no words (a literal "</s>" is type 0 too)
        raise RnnlmpyError(f"{what} {path!r} is empty (no words)")
    return corpus


def type_counts(type_ids: np.ndarray, type_count: int, begin: int = 0,
                end: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Occurrences of each type in ``type_ids[begin:end]`` (int32 ids in 0..type_count-1), in one pass.

    Returns ``(counts, first_position)``, both int64 (type_count,):
    ``first_position[t]`` is the index into ``type_ids`` (not relative to
    ``begin``) of t's first occurrence in the range, -1 where it does not occur.
    Raises ValueError for a bad range or an id out of range.
    """
    type_ids = np.asarray(type_ids)
    end = len(type_ids) if end is None else end
    if type_ids.ndim != 1 or not 0 <= begin <= end <= len(type_ids):
        raise ValueError(f"range {begin}:{end} is not within type ids of shape {type_ids.shape}")
    if type_ids.dtype != np.int32:
        type_ids = type_ids.astype(np.int32)
    return tokens.type_counts(type_ids=type_ids, begin=begin, end=end, type_count=type_count)


class _Vocabulary:
    """The growing arrays of the tokeniser's hash table (see ``rnnlmpy.kernels.tokens``), type 0 = ``</s>``."""

    def __init__(self, type_capacity: int, pool_bytes: int) -> None:
        self.table = np.full(2 * type_capacity, tokens.EMPTY_SLOT, dtype=np.int32)
        self.type_starts = np.zeros(type_capacity, dtype=np.int64)
        self.type_lengths = np.zeros(type_capacity, dtype=np.int64)
        self.type_hashes = np.zeros(type_capacity, dtype=np.uint64)
        self.pool = np.zeros(pool_bytes, dtype=np.uint8)
        self.pool_used = 0
        self.type_count = 0
        self.add(np.frombuffer(SENTENCE_END.encode(), dtype=np.uint8), _MemoryIds(0))  # type 0

    def add(self, data: np.ndarray, sink) -> None:
        """Tokenise ``data`` (uint8, CR-free) into ``sink``, growing the table, type arrays and pool as needed.

        ``sink`` (_MemoryIds or _CachedIds) receives ids in ``sink.ids[sink.count:]``
        and ``sink.make_room()`` empties or enlarges ``sink.ids`` when it is full.
        """
        position = 0
        while True:
            status, position, self.pool_used, self.type_count, sink.count = tokens.tokenize_bytes(
                data=data, position=position, end=len(data), table=self.table, type_starts=self.type_starts,
                type_lengths=self.type_lengths, type_hashes=self.type_hashes, type_limit=len(self.type_hashes),
                pool=self.pool, pool_used=self.pool_used, type_count=self.type_count, ids=sink.ids,
                id_count=sink.count)
            if status == tokens.DONE:
                return
            if status == tokens.IDS_FULL:
                sink.make_room()
            elif status == tokens.TYPES_FULL:
                self._grow_types()
            else:
                self.pool = _grown(self.pool, self.pool_used)

    def _grow_types(self) -> None:
        self.type_starts = _grown(self.type_starts, self.type_count)
        self.type_lengths = _grown(self.type_lengths, self.type_count)
        self.type_hashes = _grown(self.type_hashes, self.type_count)
        self.table = tokens.build_table(type_hashes=self.type_hashes, type_count=self.type_count,
                                        table_size=2 * len(self.type_hashes))

    def types_text(self) -> bytes:
        """The types in number order, each followed by a LF (UTF-8)."""
        return self.pool[:self.pool_used].tobytes()

    def types(self) -> list[str]:
        """The types in number order."""
        return self.types_text().decode("utf-8").split("\n")[:-1]


def _grown(array: np.ndarray, used: int) -> np.ndarray:
    """A GROWTH times longer copy of ``array`` holding its first ``used`` entries."""
    bigger = np.zeros(GROWTH * len(array), dtype=array.dtype)
    bigger[:used] = array[:used]
    return bigger


class _MemoryIds:
    """Token ids kept in memory: one int32 array grown in place (realloc), trimmed at the end."""

    def __init__(self, file_bytes: int) -> None:
        self.ids = np.empty(int(file_bytes * TOKENS_PER_BYTE_GUESS) + 16, dtype=np.int32)
        self.count = 0

    def make_room(self) -> None:
        self.ids.resize(GROWTH * len(self.ids), refcheck=False)  # no other reference to the array exists

    def finish(self) -> np.ndarray:
        """The ids, int32 (count,), read-only."""
        self.ids.resize(self.count, refcheck=False)
        self.ids.setflags(write=False)
        return self.ids


class _CachedIds:
    """Token ids appended to a cache entry each time FLUSH_TOKENS of them are buffered."""

    def __init__(self, writer: corpus_cache.EntryWriter) -> None:
        self.writer = writer
        self.ids = np.empty(FLUSH_TOKENS, dtype=np.int32)
        self.count = 0

    def make_room(self) -> None:
        self.writer.write_ids(self.ids[:self.count])
        self.count = 0

    def finish(self) -> None:
        """Append the ids still buffered."""
        self.make_room()


@dataclass
class _Stream:
    """What one pass over a corpus file found."""

    vocabulary: _Vocabulary
    sha256: str
    line_count: int
    stat_before: os.stat_result
    stat_after: os.stat_result


def _encode_in_memory(path: str, what: str) -> EncodedCorpus:
    """The corpus with its ids in memory (no cache)."""
    sink = _MemoryIds(os.path.getsize(path))
    stream = _tokenize_file(path, what, sink)
    return EncodedCorpus(path, stream.vocabulary.types(), sink.finish(), stream.sha256, stream.line_count)


def _encode_cached(path: str, what: str, folder: str) -> Optional[EncodedCorpus]:
    """The corpus from its cache entry, building the entry when it is missing or stale; None if it cannot be written."""
    absolute_path = os.path.abspath(path)
    entry = corpus_cache.entry_path(folder, absolute_path)
    found = corpus_cache.load_entry(entry, absolute_path, os.stat(path))
    if found is None:
        writer = corpus_cache.EntryWriter.open(entry)
        if writer is None:
            return None
        try:
            sink = _CachedIds(writer)
            stream = _tokenize_file(path, what, sink)
            sink.finish()
            if corpus_cache.file_state(stream.stat_before) != corpus_cache.file_state(stream.stat_after):
                raise corpus_cache.CacheWriteError(f"{path!r} changed while it was read")
            found = writer.install(absolute_path, stream.stat_before, stream.vocabulary.types_text(), stream.sha256,
                                   stream.line_count, stream.vocabulary.type_count)
        except corpus_cache.CacheWriteError:
            writer.discard()
            return None
        except BaseException:
            writer.discard()
            raise
    return EncodedCorpus(path, found.types, found.type_ids, found.sha256, found.line_count)


def _tokenize_file(path: str, what: str, sink) -> _Stream:
    """One pass over the file: SHA-256, UTF-8 check, CR removal and tokenisation of each chunk into ``sink``."""
    vocabulary = _Vocabulary(INITIAL_TYPE_CAPACITY, INITIAL_POOL_BYTES)
    digest = hashlib.sha256()
    bytes_before = lines_before = 0
    final_line = 0  # 1 when the last line has no LF of its own
    try:
        with open_input(path, what) as handle:  # decompresses gzip, bzip2 and xz
            stat_before = os.fstat(handle.fileno())
            for piece in _line_chunks(handle, CHUNK_BYTES, digest):
                _check_utf8(piece, path, what, bytes_before, lines_before)
                bytes_before += len(piece)
                lines_before += piece.count(b"\n")
                if b"\r" in piece:
                    piece = piece.replace(b"\r", b"")
                if piece and not piece.endswith(b"\n"):  # only the last chunk can end without a LF
                    piece += b"\n"
                    final_line = 1
                vocabulary.add(np.frombuffer(piece, dtype=np.uint8), sink)
            stat_after = os.fstat(handle.fileno())
    except OSError as error:
        raise RnnlmpyError(f"cannot read {what} {path!r}: {error.strerror}") from None
    return _Stream(vocabulary, digest.hexdigest(), lines_before + final_line, stat_before, stat_after)


def _line_chunks(handle, chunk_bytes: int, digest) -> Iterator[bytes]:
    """The file's bytes in pieces of about ``chunk_bytes`` that end just after a LF (the last may not), hashing them."""
    pending: list[bytes] = []
    while True:
        block = handle.read(chunk_bytes)
        if not block:
            break
        digest.update(block)
        cut = block.rfind(b"\n") + 1
        if cut == 0:  # no line ends in this block: a longer chunk
            pending.append(block)
            continue
        yield b"".join([*pending, memoryview(block)[:cut]])
        pending = [block[cut:]]
    rest = b"".join(pending)
    if rest:
        yield rest


def _check_utf8(piece: bytes, path: str, what: str, bytes_before: int, lines_before: int) -> None:
    """Raise read_corpus's RnnlmpyError (line and byte counted in the whole file) if ``piece`` is not UTF-8."""
    if piece.isascii():
        return
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError as error:
        if bytes_before == 0:
            refuse_binary_kind(piece, path, what)
        line = lines_before + piece.count(b"\n", 0, error.start) + 1
        raise RnnlmpyError(f"{what} {path!r} is not valid UTF-8: line {line}, byte {bytes_before + error.start} "
                           f"(0x{piece[error.start]:02x})") from None


def _encode_characters(path: str, what: str, allow_empty: bool) -> EncodedCorpus:
    """``encode_file(..., char_level=True)``: read_corpus's character tokens, numbered with a dict, in memory."""
    data = read_file_bytes(path, what)
    text = decode_utf8(data, path, what)
    numbers = {SENTENCE_END: 0}
    type_ids: list[int] = []
    lines = text_lines(text)
    for line in lines:
        type_ids.extend(numbers.setdefault(token, len(numbers)) for token in char_tokens(line))
        type_ids.append(0)
    if not allow_empty and len(numbers) == 1:
        raise RnnlmpyError(f"{what} {path!r} is empty (no words)")
    ids = np.array(type_ids, dtype=np.int32)
    ids.setflags(write=False)
    return EncodedCorpus(path, list(numbers), ids, hashlib.sha256(data).hexdigest(), len(lines))

"""rnnlmpy's binary n-gram format: a backoff model that is memory-mapped on load and scored by a compiled trie walk.

The model is a trie of sorted arrays, the shape of KenLM's trie (without its bit packing): every n-gram has
one entry, the unigrams first (entry = word id), then the bigrams, and so on; within an order the entries
are sorted by (context entry, last word), so the n-grams that extend an entry by one word are one run of the
order above, found by a binary search on their last words (``rnnlmpy.kernels.ngram``). The trie runs forward,
context first, as the ARPA file and ``NgramModel`` do, so a text is scored with one search per order and token. Bigrams, whose runs are the longest (the
children of a frequent word), are found through a hash table instead (linear probing, KenLM's probing hash
for one order).

File layout (little-endian; every array starts at a multiple of 64 bytes, so that it maps in place):

- ``base.files.NGRAM_BINARY_MAGIC`` (18 bytes), the format version (uint32), the header's length H (uint32);
- the header: H bytes of JSON, ``{"order": N, "counts": [c1, ..., cN], "vocabulary_bytes": B,
  "values": "int32" or "float64", "scale": S, "bigram_bits": K, "bigram_slots": L}``;
- the vocabulary: B bytes, the words in UTF-8 joined by newlines (a word's id is its line);
- ``last_word``, int32 (E,) with E = c1 + ... + cN: the last word of every entry (a unigram's is its own id);
- ``prob``, (E,) of the values' type: log10 P(last word | context) times S;
- ``backoff``, (E - cN,): the log10 backoff weight of every entry of orders 1..N-1, times S;
- ``children``, uint32 (c1 + 1 + ... + c(N-1) + 1,): for each order n < N, c_n + 1 run boundaries in the
  order above: the children of the j-th n-gram are entries ``children[j]`` to ``children[j + 1]`` of order n + 1;
- ``bigram_table``, uint32 (L,): bigram numbers (within the order) by slot, 0xFFFFFFFF for an empty slot;
  bigram (c, w) is found by probing from slot ``((c * V + w) * 0x9E3779B97F4A7C15 mod 2^64) >> (64 - K)``
  upwards until an empty slot (L >= 2^K: the probes never wrap; K = L = 0 for a unigram model).

The file ends with ``bigram_table``: its size follows from the header, so a truncated file is told at once.
Values are integers (S = 10^6 ... 10^9) when every value is a decimal with that many places that fits in
int32, as the ARPA files' values are: ``k / S`` is then the very float64 the ARPA text gives, so the
binary model scores exactly as its ARPA file does; other values are kept as float64 (S = 1). Everything
read from a file is checked (sizes, ranges, order, finiteness) before the kernel sees it.
"""

from __future__ import annotations

import functools
import json
import math
import mmap
import struct
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..base.compiling import watch_numba
from ..base.errors import RnnlmpyError
from ..base.files import NGRAM_BINARY, NGRAM_BINARY_MAGIC, describe_file, open_input, sniff, write_atomically
from ..kernels.ngram import score_trie
from .arpa import read_arpa
from .kneser_ney import MAX_ORDER, NgramModel, NgramOrder, SentenceStream

watch_numba()  # this module's kernel says when it compiles (base.compiling)

VERSION = 1
PREFIX = struct.Struct("<II")  # after the magic: the format version, the header's length in bytes
ALIGNMENT = 64  # every array starts at a multiple of this many bytes
MAX_HEADER_BYTES = 1 << 16
VALUE_SCALES = (10 ** 6, 10 ** 7, 10 ** 8, 10 ** 9)  # decimal places tried for integer values, fewest first
INT32_LIMIT = 2 ** 31 - 1
MAX_ORDER_ENTRIES = 2 ** 32 - 1  # children are uint32 positions within an order
HEADER_KEYS = {"order", "counts", "vocabulary_bytes", "values", "scale", "bigram_bits", "bigram_slots"}
HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top K bits of key * 2^64 / phi
EMPTY_SLOT = np.uint32(0xFFFFFFFF)
SLOTS_PER_BIGRAM = 1.25  # the table has at least this many slots per bigram (a power of two, then overflow)
WHAT = "binary n-gram model"


@dataclass
class NgramTrie:
    """A backoff n-gram model as the binary format holds it: arrays of one trie (see the module's docstring).

    Made from an ``NgramModel`` (``from_model``) or mapped from a file (``read_binary``); scored by
    ``score_sentences`` like an ``NgramModel``. The arrays are read-only.
    """

    words: list[str]
    counts: tuple[int, ...]  # n-grams per order
    last_word: np.ndarray  # int32 (entries,)
    prob: np.ndarray  # int32 or float64 (entries,): log10 P times scale
    backoff: np.ndarray  # like prob, (entries of orders 1..N-1,)
    children: np.ndarray  # uint32: per order n < N, counts[n-1] + 1 run boundaries in order n + 1
    scale: float  # prob and backoff are log10 values times this
    bigram_table: np.ndarray  # uint32 (slots,): bigram number by slot, EMPTY_SLOT where none
    bigram_bits: int  # the hash gives a slot below 2^bigram_bits

    def __post_init__(self) -> None:
        self.first_entry = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.child_start = np.concatenate([[0], np.cumsum(np.asarray(self.counts[:-1], dtype=np.int64) + 1)]
                                          ).astype(np.int64)
        for array in (self.last_word, self.prob, self.backoff, self.children, self.bigram_table):
            array.flags.writeable = False  # mapped arrays are read-only: one kernel signature for both

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Word -> id."""
        return {word: i for i, word in enumerate(self.words)}

    @property
    def order(self) -> int:
        """The highest n-gram order."""
        return len(self.counts)

    @property
    def vocab_size(self) -> int:
        """Number of words, ``<s>`` and ``</s>`` included."""
        return self.counts[0]

    def score_stream(self, stream: SentenceStream) -> tuple[np.ndarray, np.ndarray]:
        """log10 P (float64 (T,)) and the matched order (int64 (T,)) of every token of ``stream``, as
        ``kneser_ney.score_stream`` computes them for an ``NgramModel`` (the same floats)."""
        if len(stream.ids) != len(stream.position):
            raise RnnlmpyError(f"a stream of {len(stream.ids)} word ids has {len(stream.position)} positions")
        log10_prob = np.empty(len(stream.ids))
        matched = np.empty(len(stream.ids), dtype=np.int64)
        score_trie(np.ascontiguousarray(stream.ids, dtype=np.int32),
                   np.ascontiguousarray(stream.position, dtype=np.int32), self.first_entry, self.child_start,
                   self.children, self.last_word, self.prob, self.backoff, float(self.scale), self.bigram_table,
                   max(self.bigram_bits, 1), log10_prob, matched)
        return log10_prob, matched

    def order_slice(self, n: int) -> slice:
        """The entries of order ``n`` (1-based)."""
        return slice(int(self.first_entry[n - 1]), int(self.first_entry[n]))

    def run_bounds(self, n: int) -> np.ndarray:
        """The children runs of order ``n`` < N: counts[n-1] + 1 boundaries within order n + 1."""
        start = int(self.child_start[n - 1])
        return self.children[start:start + self.counts[n - 1] + 1]

    def to_model(self) -> NgramModel:
        """The same model as an ``NgramModel`` (float64 values, keys context * V + word), e.g. to write ARPA."""
        vocab_size = self.vocab_size
        orders = []
        for n in range(1, self.order + 1):
            part = self.order_slice(n)
            if n == 1:
                keys = np.arange(vocab_size, dtype=np.int64)
            else:
                runs = self.run_bounds(n - 1).astype(np.int64)
                context = np.repeat(np.arange(self.counts[n - 2], dtype=np.int64), np.diff(runs))
                keys = context * vocab_size + self.last_word[part]
            backoff = (self.backoff[part] / self.scale if n < self.order else np.zeros(self.counts[n - 1]))
            orders.append(NgramOrder(keys=keys, log10_prob=self.prob[part] / self.scale, log10_backoff=backoff))
        return NgramModel(words=list(self.words), orders=orders)

    @classmethod
    def from_model(cls, model: NgramModel, decimals: Optional[int] = None) -> "NgramTrie":
        """The trie of ``model``; with ``decimals``, its values rounded as an ARPA file with that many decimal
        places holds them (so that the trie scores exactly as that file). RnnlmpyError for a value that is not
        finite, a log10 probability above 0 or an order too large for the format."""
        vocab_size = model.vocab_size
        counts = tuple(len(order) for order in model.orders)
        if max(counts) > MAX_ORDER_ENTRIES:
            raise RnnlmpyError(f"the model has {max(counts):,} n-grams of one order; the binary format holds at "
                               f"most {MAX_ORDER_ENTRIES:,}")
        last_word = np.concatenate([np.arange(vocab_size, dtype=np.int64)]
                                   + [order.keys % vocab_size for order in model.orders[1:]]).astype(np.int32)
        prob = np.concatenate([order.log10_prob for order in model.orders]).astype(np.float64)
        backoff = np.concatenate([np.zeros(0)] + [order.log10_backoff for order in model.orders[:-1]]
                                 ).astype(np.float64)
        if decimals is not None:
            prob, backoff = np.round(prob, decimals), np.round(backoff, decimals)
        if not np.all((prob <= 0) & (prob > -np.inf)):
            raise RnnlmpyError("the model has a log10 probability that is not a finite number <= 0")
        if not np.all(np.isfinite(backoff)):
            raise RnnlmpyError("the model has a log10 backoff weight that is not a finite number")
        runs = [np.searchsorted(model.orders[n].keys // vocab_size, np.arange(counts[n - 1] + 1)).astype(np.uint32)
                for n in range(1, len(counts))]
        children = np.concatenate([np.zeros(0, dtype=np.uint32)] + runs)
        scale, prob, backoff = encode_values(prob, backoff)
        table, bits = (bigram_hash_table(model.orders[1].keys // vocab_size, model.orders[1].keys % vocab_size,
                                         vocab_size) if len(counts) > 1 else (np.zeros(0, dtype=np.uint32), 0))
        return cls(words=list(model.words), counts=counts, last_word=last_word, prob=prob, backoff=backoff,
                   children=children, scale=scale, bigram_table=table, bigram_bits=bits)


def bigram_slot(contexts: np.ndarray, words: np.ndarray, vocab_size: int, bits: int) -> np.ndarray:
    """The home slot (int64) of each bigram (context word, word): the kernel's hash, on arrays."""
    keys = contexts.astype(np.uint64) * np.uint64(vocab_size) + words.astype(np.uint64)
    return ((keys * HASH_MULTIPLIER) >> np.uint64(64 - bits)).astype(np.int64)


def bigram_hash_table(contexts: np.ndarray, words: np.ndarray, vocab_size: int) -> tuple[np.ndarray, int]:
    """(table, bits): the bigrams (their numbers within the order) placed by linear probing, on arrays: sorted
    by home slot, each goes to the first free slot at or after its home (a running maximum)."""
    count = len(contexts)
    bits = max(1, math.ceil(math.log2(max(2.0, count * SLOTS_PER_BIGRAM))))
    home = bigram_slot(contexts, words, vocab_size, bits)
    by_home = np.argsort(home, kind="stable")
    rank = np.arange(count, dtype=np.int64)
    slot = np.maximum.accumulate(home[by_home] - rank) + rank if count else rank
    table = np.full(max(1 << bits, int(slot[-1]) + 1 if count else 0), EMPTY_SLOT, dtype=np.uint32)
    table[slot] = by_home
    return table, bits


def encode_values(prob: np.ndarray, backoff: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, prob, backoff) as the file stores them: int32 times the first of VALUE_SCALES that gives back every
    value exactly, else float64 (scale 1)."""
    values = np.concatenate([prob, backoff])
    for scale in VALUE_SCALES:
        scaled = np.rint(values * scale)
        if np.all(np.abs(scaled) <= INT32_LIMIT) and np.array_equal(scaled / scale, values):
            return float(scale), scaled[:len(prob)].astype(np.int32), scaled[len(prob):].astype(np.int32)
    return 1.0, prob.astype(np.float64), backoff.astype(np.float64)


def aligned(offset: int) -> int:
    """``offset`` rounded up to a multiple of ALIGNMENT."""
    return -(-offset // ALIGNMENT) * ALIGNMENT


def layout(counts: tuple[int, ...], vocabulary_bytes: int, header_bytes: int, value_type: str,
           bigram_slots: int) -> tuple[dict[str, tuple[int, np.dtype, int]], int]:
    """Where each part of a file lies: {name: (offset, dtype, length)} and the file's size in bytes."""
    entries = sum(counts)
    value = np.dtype("<i4" if value_type == "int32" else "<f8")
    parts = [("vocabulary", np.dtype(np.uint8), vocabulary_bytes), ("last_word", np.dtype("<i4"), entries),
             ("prob", value, entries), ("backoff", value, entries - counts[-1]),
             ("children", np.dtype("<u4"), sum(count + 1 for count in counts[:-1])),
             ("bigram_table", np.dtype("<u4"), bigram_slots)]
    placed = {}
    offset = len(NGRAM_BINARY_MAGIC) + PREFIX.size + header_bytes
    for name, dtype, length in parts:
        offset = aligned(offset)
        placed[name] = (offset, dtype, length)
        offset += dtype.itemsize * length
    return placed, offset


def write_binary(model: Union[NgramModel, NgramTrie], path: str, decimals: Optional[int] = None) -> None:
    """Write ``model`` to ``path`` in the binary format, atomically (temporary file, then rename).

    ``decimals``: round an ``NgramModel``'s values as an ARPA file with that many decimals holds them
    (``arpa.ARPA_DECIMALS`` for a model just built, so that the binary file scores as its ARPA file).
    """
    trie = model if isinstance(model, NgramTrie) else NgramTrie.from_model(model, decimals)
    vocabulary = "\n".join(trie.words).encode("utf-8")
    value_type = "int32" if trie.prob.dtype == np.int32 else "float64"
    header = json.dumps({"order": trie.order, "counts": list(trie.counts), "vocabulary_bytes": len(vocabulary),
                         "values": value_type, "scale": int(trie.scale), "bigram_bits": trie.bigram_bits,
                         "bigram_slots": len(trie.bigram_table)}).encode("utf-8")
    placed, _ = layout(trie.counts, len(vocabulary), len(header), value_type, len(trie.bigram_table))
    contents = {"vocabulary": np.frombuffer(vocabulary, dtype=np.uint8), "last_word": trie.last_word,
                "prob": trie.prob, "backoff": trie.backoff, "children": trie.children,
                "bigram_table": trie.bigram_table}

    def write(handle) -> None:
        handle.write(NGRAM_BINARY_MAGIC + PREFIX.pack(VERSION, len(header)) + header)
        written = len(NGRAM_BINARY_MAGIC) + PREFIX.size + len(header)
        for name, (offset, dtype, length) in placed.items():
            handle.write(b"\0" * (offset - written))
            data = np.ascontiguousarray(contents[name], dtype=dtype)
            handle.write(memoryview(data).cast("B"))
            written = offset + dtype.itemsize * length

    write_atomically(path, write)


def read_ngram(path: str) -> Union[NgramModel, NgramTrie]:
    """The n-gram model at ``path``: a binary model (told by its magic bytes, memory-mapped) or an ARPA file
    (plain or compressed). RnnlmpyError, one line, for anything else or anything damaged."""
    if sniff(path, "n-gram model") == NGRAM_BINARY:
        return read_binary(path)
    return read_arpa(path)


def read_binary(path: str) -> NgramTrie:
    """Map the binary n-gram model at ``path`` (a compressed one is read into memory) and check it whole.

    RnnlmpyError, one line, for another kind of file, another version, a truncated or damaged file.
    """
    with open_input(path, WHAT) as handle:
        if handle.compression is None:
            try:
                buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as error:  # ValueError: an empty file
                raise RnnlmpyError(f"cannot map {WHAT} {path!r}: {getattr(error, 'strerror', None) or error}"
                                   ) from None
        else:
            buffer = handle.read()
    return trie_of_buffer(buffer, path)


def trie_of_buffer(buffer, path: str) -> NgramTrie:
    """The checked trie whose file's bytes are ``buffer`` (bytes or an mmap; the arrays are views of it)."""
    def damaged(reason: str) -> RnnlmpyError:
        return RnnlmpyError(f"{WHAT} {path!r} is damaged: {reason}")

    size = len(buffer)
    start = len(NGRAM_BINARY_MAGIC) + PREFIX.size
    if bytes(buffer[:len(NGRAM_BINARY_MAGIC)]) != NGRAM_BINARY_MAGIC:
        raise RnnlmpyError(f"{path!r} is {describe_file(path, WHAT)}, not a {WHAT}")
    if size < start:
        raise RnnlmpyError(f"{WHAT} {path!r} is truncated ({size} bytes: not even its header)")
    version, header_bytes = PREFIX.unpack(bytes(buffer[len(NGRAM_BINARY_MAGIC):start]))
    if version != VERSION:
        raise RnnlmpyError(f"{WHAT} {path!r} has format version {version}; this rnnlmpy reads version {VERSION} "
                           "(write it again from its ARPA file with this rnnlmpy)")
    if header_bytes > MAX_HEADER_BYTES:
        raise damaged(f"its header claims {header_bytes:,} bytes")
    if size < start + header_bytes:
        raise RnnlmpyError(f"{WHAT} {path!r} is truncated ({size:,} bytes: its header is cut)")
    header = parse_header(bytes(buffer[start:start + header_bytes]), damaged)
    counts = tuple(header["counts"])
    placed, end = layout(counts, header["vocabulary_bytes"], header_bytes, header["values"], header["bigram_slots"])
    if size < end:
        raise RnnlmpyError(f"{WHAT} {path!r} is truncated ({size:,} bytes; its header describes {end:,})")
    if size > end:
        raise damaged(f"{size - end:,} bytes after the end its header describes")
    arrays = {name: np.frombuffer(buffer, dtype=dtype, count=length, offset=offset)
              for name, (offset, dtype, length) in placed.items()}
    words = check_vocabulary(arrays["vocabulary"], counts[0], damaged)
    check_arrays(counts, arrays, header["values"], damaged)
    if len(counts) > 1:
        check_bigram_table(counts, arrays, header["bigram_bits"], damaged)
    return NgramTrie(words=words, counts=counts, last_word=arrays["last_word"], prob=arrays["prob"],
                     backoff=arrays["backoff"], children=arrays["children"], scale=float(header["scale"]),
                     bigram_table=arrays["bigram_table"], bigram_bits=header["bigram_bits"])


def parse_header(data: bytes, damaged) -> dict:
    """The header's fields, each checked for type and range (``damaged(reason)`` makes the error)."""
    try:
        header = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise damaged("its header is not JSON") from None
    if not isinstance(header, dict) or set(header) != HEADER_KEYS:
        raise damaged(f"its header must have exactly the fields {', '.join(sorted(HEADER_KEYS))}")
    order, counts = header["order"], header["counts"]
    if type(order) is not int or not 1 <= order <= MAX_ORDER:
        raise damaged(f"order {order!r} (1 to {MAX_ORDER})")
    if (not isinstance(counts, list) or len(counts) != order
            or any(type(count) is not int or not 0 <= count <= MAX_ORDER_ENTRIES for count in counts)
            or counts[0] < 1):
        raise damaged(f"n-gram counts {str(counts)[:80]} (one per order, at least one unigram)")
    if type(header["vocabulary_bytes"]) is not int or header["vocabulary_bytes"] < 0:
        raise damaged("vocabulary size")
    scales = {"int32": set(VALUE_SCALES), "float64": {1}}
    if header["values"] not in scales or type(header["scale"]) is not int or header["scale"] not in scales[
            header["values"]]:
        raise damaged(f"value type {str(header['values'])[:20]!r} with scale {str(header['scale'])[:20]}")
    bits, slots = header["bigram_bits"], header["bigram_slots"]
    if type(bits) is not int or type(slots) is not int or not (
            (order == 1 and bits == slots == 0)
            or (order > 1 and 1 <= bits <= 40 and 1 << bits <= slots <= min((1 << bits) + counts[1], 2 ** 32))):
        raise damaged(f"bigram table of {str(slots)[:20]} slots, {str(bits)[:20]} hash bits")
    return header


def check_vocabulary(data: np.ndarray, vocab_size: int, damaged) -> list[str]:
    """The words of the vocabulary bytes: ``vocab_size`` distinct non-empty UTF-8 words without space or tab."""
    if np.any((data == ord(" ")) | (data == ord("\t"))):
        raise damaged("a word of its vocabulary holds a space or a tab")
    try:
        words = data.tobytes().decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise damaged("its vocabulary is not UTF-8") from None
    if len(words) != vocab_size:
        raise damaged(f"its vocabulary has {len(words):,} words, its header says {vocab_size:,}")
    if "" in words:
        raise damaged("its vocabulary has an empty word")
    if len(set(words)) != vocab_size:
        raise damaged("its vocabulary has a word twice")
    return words


def check_arrays(counts: tuple[int, ...], arrays: dict[str, np.ndarray], value_type: str, damaged) -> None:
    """Everything the kernel relies on: runs that tile each order in order, word ids inside the vocabulary and
    increasing within each run, unigrams numbered as their words; values finite, log10 probabilities <= 0."""
    vocab_size, order = counts[0], len(counts)
    last_word, children = arrays["last_word"], arrays["children"]
    if not np.array_equal(last_word[:vocab_size], np.arange(vocab_size, dtype=np.int32)):
        raise damaged("its unigrams are not numbered as their words")
    higher = last_word[vocab_size:].view(np.uint32)  # a negative id reads as one above 2^31: one pass checks both
    if len(higher) and higher.max() >= vocab_size:
        raise damaged("a word id outside the vocabulary")
    run_start, entry_start = 0, vocab_size
    for n in range(1, order):
        runs = children[run_start:run_start + counts[n - 1] + 1]
        if runs[0] != 0 or runs[-1] != counts[n] or not np.all(runs[1:] >= runs[:-1]):
            raise damaged(f"the runs of {n + 1}-grams do not tile that order")
        words = last_word[entry_start:entry_start + counts[n]]
        increasing = words[1:] > words[:-1]
        boundaries = runs[(runs > 0) & (runs < counts[n])].astype(np.int64) - 1
        increasing[boundaries] = True  # a new run may start lower
        if not np.all(increasing):
            raise damaged(f"the {n + 1}-grams of one context are not in word order (or one is there twice)")
        run_start += counts[n - 1] + 1
        entry_start += counts[n]
    prob, backoff = arrays["prob"], arrays["backoff"]
    if value_type == "float64":
        if not np.all((prob <= 0) & (prob > -np.inf)):
            raise damaged("a log10 probability that is not a finite number <= 0")
        if not np.all(np.isfinite(backoff)):
            raise damaged("a log10 backoff weight that is not a finite number")
    elif not np.all(prob <= 0):
        raise damaged("a log10 probability above 0")


def check_bigram_table(counts: tuple[int, ...], arrays: dict[str, np.ndarray], bits: int, damaged) -> None:
    """The bigram table holds every bigram once, each reachable by probing from its home slot: no empty slot
    between its home and where it lies (the runs were checked: the bigrams' contexts come from them)."""
    table, bigrams, vocab_size = arrays["bigram_table"], counts[1], counts[0]
    filled = table != EMPTY_SLOT
    numbers = table[filled]
    where = np.full(bigrams, -1, dtype=np.int64)
    if len(numbers) != bigrams or (bigrams and numbers.max() >= bigrams):
        raise damaged("its bigram table does not hold each bigram once")
    where[numbers] = np.flatnonzero(filled)
    if bigrams and where.min() < 0:  # as many numbers as bigrams, one missing: another is there twice
        raise damaged("its bigram table does not hold each bigram once")
    runs = arrays["children"][:vocab_size + 1].astype(np.int64)
    contexts = np.repeat(np.arange(vocab_size, dtype=np.int64), np.diff(runs))
    home = bigram_slot(contexts, arrays["last_word"][vocab_size:vocab_size + bigrams], vocab_size, bits)
    empty_before = np.concatenate([[0], np.cumsum(~filled)])
    if np.any(home > where) or np.any(empty_before[where + 1] != empty_before[home]):
        raise damaged("a bigram lies where probing from its hash does not reach")


def ngram_counts(model: Union[NgramModel, NgramTrie]) -> tuple[int, ...]:
    """The number of n-grams of each order of either kind of model."""
    return model.counts if isinstance(model, NgramTrie) else tuple(len(order) for order in model.orders)


def describe_binary(trie: NgramTrie) -> list[str]:
    """What ``rnnlmpy info`` says of a binary model: its order, counts, vocabulary and value encoding."""
    values = (f"int32 log10 values times {int(trie.scale):,} (exact)" if trie.prob.dtype == np.int32
              else "float64 log10 values")
    return ["kind: backoff n-gram model (rnnlmpy binary, memory-mapped)", f"order: {trie.order}",
            f"vocabulary: {trie.vocab_size:,} words (<s> and </s> included)", f"values: {values}"] + \
           [f"{n}-grams: {count:,}" for n, count in enumerate(trie.counts, start=1)]


"""Reading and writing ARPA backoff language models (the format SRILM, KenLM and IRSTLM share).

Layout: a ``\\data\\`` section with one ``ngram N=COUNT`` line per order, then
for each order a ``\\N-grams:`` section of COUNT lines
``log10prob<TAB>w1 ... wN[<TAB>log10backoff]``, then ``\\end\\``. Words are
separated by spaces or tabs; probabilities and backoff weights are log10.
"""

from __future__ import annotations

import gc
import itertools
import os
import re

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import ARPA, UNKNOWN, describe_file, sniff, write_atomically
from ..base.text import read_text
from .kneser_ney import NO_PROBABILITY, SENTENCE_START, NgramModel, NgramOrder

ARPA_DECIMALS = 6  # decimal places of the log10 values rnnlmpy writes (the writer below formats exactly 6)
NGRAM_COUNT = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
SECTION = re.compile(r"^\\(\d+)-grams:$")


def ngram_texts(model: NgramModel) -> list[list[str]]:
    """The words of every n-gram, joined by spaces, order by order, in table order."""
    texts = [list(model.words)]
    vocab_size = model.vocab_size
    for order in model.orders[1:]:
        below = texts[-1]
        contexts = (order.keys // vocab_size).tolist()
        words = (order.keys % vocab_size).tolist()
        vocabulary = model.words
        texts.append([below[c] + " " + vocabulary[w] for c, w in zip(contexts, words)])
    return texts


ROWS_PER_CHUNK = 1 << 14  # rows joined at once when writing: bounds the index arrays to a few MB
ROWS_PER_WRITE = 1 << 17  # lines put together, then written, at once


def write_arpa(model: NgramModel, path: str) -> None:
    """Write ``model`` as an ARPA file, atomically (temporary file, then rename).

    Numbers are written as ``"%.6f" % round(value, 6)``. The lines are put together
    as bytes with NumPy, order by order and ROWS_PER_WRITE lines at a time: an
    n-gram's words are its context's words (the order below, joined once and kept
    until the next order is written), a space and its last word.
    """
    vocabulary = [word.encode("utf-8") for word in model.words]
    word_lengths = np.fromiter(map(len, vocabulary), dtype=np.int64, count=len(vocabulary))
    words = (np.frombuffer(b"".join(vocabulary), dtype=np.uint8), np.cumsum(word_lengths) - word_lengths,
             word_lengths)

    def write(handle) -> None:
        out = ["\\data\\\n"] + [f"ngram {n + 1}={len(order)}\n" for n, order in enumerate(model.orders)]
        handle.write("".join(out).encode("utf-8"))
        below = None  # the joined words of the order below: (pool, starts, lengths)
        for n, order in enumerate(model.orders):
            handle.write(f"\n\\{n + 1}-grams:\n".encode("utf-8"))
            if n == 0:
                texts = [words]
            else:
                context, last = order.keys // model.vocab_size, order.keys % model.vocab_size
                texts = [(below[0], below[1][context], below[2][context]), b" ",
                         (words[0], words[1][last], words[2][last])]
                del context, last
            for begin in range(0, len(order), ROWS_PER_WRITE):
                end = min(len(order), begin + ROWS_PER_WRITE)
                parts = [fixed_decimals(order.log10_prob[begin:end]), b"\t", *_rows(texts, begin, end)]
                if n + 1 < model.order:
                    parts += [b"\t", fixed_decimals(order.log10_backoff[begin:end])]
                handle.write(join_rows(parts + [b"\n"], end - begin)[0])
            below = join_rows(texts, len(order)) if n + 1 < model.order and n > 0 else words
        handle.write(b"\n\\end\\\n")

    write_atomically(path, write)


def _rows(parts: list, begin: int, end: int) -> list:
    """Rows ``begin:end`` of each part (see ``join_rows``)."""
    return [part if isinstance(part, bytes) else (part[0], part[1][begin:end], part[2][begin:end]) for part in parts]


def fixed_decimals(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``"%.6f" % round(v, 6)`` of every value, as bytes: (pool uint8, starts, lengths), value i's text being
    ``pool[starts[i]:starts[i] + lengths[i]]``.

    Digit by digit from the integer rint(v * 1e6) (what round(v, 6) rounds), the
    sign from its sign bit ("-0.000000" as printf writes it); values that are not
    finite or too large for that go through Python's formatting.
    """
    count = len(values)
    if count == 0 or not np.all(np.abs(values) < 1e12):
        texts = [("%.6f" % value).encode("ascii") for value in np.round(values, 6).tolist()]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=count)
        return np.frombuffer(b"".join(texts), dtype=np.uint8), np.cumsum(lengths) - lengths, lengths
    scaled = np.rint(values * 1e6)
    negative = np.signbit(scaled)
    integer, fraction = np.divmod(np.abs(scaled).astype(np.int64), 1_000_000)
    integer_digits = len(str(int(integer.max())))
    width = integer_digits + 8  # sign, integer digits, point, six decimals
    text = np.empty((count, width), dtype=np.uint8)
    for j in range(6):
        fraction, digit = np.divmod(fraction, 10)
        text[:, width - 1 - j] = digit + 48
    text[:, width - 7] = ord(".")
    digits = np.ones(count, dtype=np.int64)
    rest = integer
    for j in range(integer_digits):
        rest, digit = np.divmod(rest, 10)
        text[:, width - 8 - j] = digit + 48
        if j > 0:
            digits += integer >= 10 ** j
    lengths = 7 + digits + negative
    starts = np.arange(count, dtype=np.int64) * width + width - lengths
    pool = text.reshape(-1)
    pool[starts[negative]] = ord("-")
    return pool, starts, lengths


def join_rows(parts: list, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row i of the result is every part's i-th piece, one after the other: (pool uint8, starts, lengths).

    A part is bytes (the same in every row) or (pool, starts, lengths) as
    ``fixed_decimals`` gives them. The bytes are copied ROWS_PER_CHUNK rows at a time.
    """
    lengths = np.zeros(rows, dtype=np.int64)
    for part in parts:
        lengths += len(part) if isinstance(part, bytes) else part[2]
    starts = np.cumsum(lengths) - lengths
    pool = np.empty(int(lengths.sum()), dtype=np.uint8)
    for begin in range(0, rows, ROWS_PER_CHUNK):
        end = min(rows, begin + ROWS_PER_CHUNK)
        position = starts[begin:end].copy()
        for part in parts:
            if isinstance(part, bytes):
                for offset, byte in enumerate(part):
                    pool[position + offset] = byte
                position += len(part)
                continue
            source, source_starts, source_lengths = part[0], part[1][begin:end], part[2][begin:end]
            total = int(source_lengths.sum())
            step = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(source_lengths) - source_lengths,
                                                                 source_lengths)
            pool[np.repeat(position, source_lengths) + step] = source[np.repeat(source_starts, source_lengths) + step]
            position += source_lengths
    return pool, starts, lengths


def read_arpa(path: str) -> NgramModel:
    """Read an ARPA file, plain or compressed (gzip, bzip2, xz); raise RnnlmpyError naming the file and line for
    anything malformed, and naming what the file is when it is another kind of model."""
    if sniff(path, "ARPA file") not in (ARPA, UNKNOWN):
        raise RnnlmpyError(f"{path!r} is {describe_file(path, 'ARPA file')}, not an ARPA model")
    collecting = gc.isenabled()
    gc.disable()  # millions of small lists: the cyclic collector would triple the reading time
    try:
        return _read_arpa(path)
    finally:
        if collecting:
            gc.enable()


def _parse_regular_section(lines: list[str], start: int, count: int, order: int):
    """Fast path for a section of exactly ``count`` lines, every one with or every one without a backoff.

    Returns (log10 probs, ``order`` lists of words, log10 backoffs), or None when the
    section is laid out otherwise or holds a bad number (the careful path then names the line).
    The lines are joined with a newline field between them (lines never hold a newline), so
    that a line with a field too many next to one with a field too few cannot pass as regular.
    """
    end = start + count
    if count == 0 or end > len(lines) or (end < len(lines) and lines[end].strip()
                                          and not lines[end].startswith("\\")):
        return None
    fields = " \n ".join(lines[start:end]).replace("\t", " ").split(" ")
    if "" in fields:
        fields = [f for f in fields if f]
    width = (len(fields) + 1) // count - 1  # fields per line, the newline field not counted
    if width not in (order + 1, order + 2) or len(fields) != (width + 1) * count - 1:
        return None
    if fields[width::width + 1].count("\n") != count - 1:
        return None
    try:
        probs = np.array(fields[0::width + 1], dtype=np.float64)
        backoffs = (np.array(fields[order + 1::width + 1], dtype=np.float64) if width == order + 2
                    else np.zeros(count))
    except ValueError:
        return None
    return probs, [fields[1 + k::width + 1] for k in range(order)], backoffs


class _LazyEntries:
    """(line number, fields) of a section's j-th line, computed only for error messages."""

    def __init__(self, lines: list[str], start: int, count: int):
        self.lines, self.start, self.count = lines, start, count

    def __getitem__(self, j: int):
        line = self.lines[self.start + j]
        return self.start + j + 1, [f for f in line.replace("\t", " ").split(" ") if f]


def _check_numbers(path: str, order: int, probs: np.ndarray, backoffs: np.ndarray, first_words: list[str],
                   entries) -> None:
    """Reject log10 probabilities that are NaN, infinite or positive and backoff weights that are not finite.

    Checked over the whole section at once; only a bad section looks for its line. ``<s>`` may
    have a unigram log10 probability of -inf (it is never predicted; it becomes -99).
    """
    bad = np.flatnonzero(~((probs <= 0) & (probs > -np.inf)))
    for j in bad.tolist():
        if order == 1 and probs[j] == -np.inf and first_words[j] == SENTENCE_START:
            probs[j] = NO_PROBABILITY
            continue
        line_number, fields = entries[j]
        raise RnnlmpyError(f"{path}:{line_number}: the log10 probability must be a finite number <= 0 "
                           f"(found {fields[0]!r})")
    bad = np.flatnonzero(~np.isfinite(backoffs))
    if len(bad):
        line_number, fields = entries[int(bad[0])]
        raise RnnlmpyError(f"{path}:{line_number}: the log10 backoff weight must be a finite number "
                           f"(found {fields[-1]!r})")


def _read_arpa(path: str) -> NgramModel:
    text = read_text(path, "ARPA file")
    if "\r" in text:
        text = text.replace("\r", "")  # CRLF line ends
    lines = text.split("\n")
    name = os.path.basename(path)

    def fail(line_number: int, message: str) -> RnnlmpyError:
        return RnnlmpyError(f"{path}:{line_number}: {message}")

    number = 0
    while number < len(lines) and lines[number].strip() != "\\data\\":
        number += 1
    if number == len(lines):
        raise RnnlmpyError(f"{path}: not an ARPA file (no \\data\\ section)")
    number += 1
    declared: dict[int, int] = {}
    while number < len(lines) and not lines[number].strip().startswith("\\"):
        line = lines[number].strip()
        if line:
            match = NGRAM_COUNT.match(line)
            if not match:
                raise fail(number + 1, f"expected 'ngram N=COUNT', found {line[:60]!r}")
            if int(match.group(1)) in declared:
                raise fail(number + 1, f"the \\data\\ section declares the {match.group(1)}-grams twice")
            declared[int(match.group(1))] = int(match.group(2))
        number += 1
    if not declared or sorted(declared) != list(range(1, len(declared) + 1)):
        raise fail(number + 1, f"the \\data\\ section must declare orders 1..N (found {sorted(declared)})")
    if declared[1] == 0:
        raise fail(number, "the \\data\\ section declares no unigrams ('ngram 1=0'): the model is empty")

    words: list[str] = []
    word_index: dict[str, int] = {}
    orders: list[NgramOrder] = []
    for order in range(1, len(declared) + 1):
        while number < len(lines) and not lines[number].strip():
            number += 1
        header = SECTION.match(lines[number].strip()) if number < len(lines) else None
        if header is None or int(header.group(1)) != order:
            found = lines[number].strip()[:40] if number < len(lines) else "end of file"
            raise fail(number + 1, f"expected the \\{order}-grams: section, found {found!r}")
        number += 1
        first_line = number + 1
        fast = _parse_regular_section(lines, number, declared[order], order)
        if fast is not None:  # the usual layout: exactly COUNT lines, all with (or all without) a backoff
            probs, columns, backoffs = fast
            number += declared[order]
            entries = _LazyEntries(lines, first_line - 1, declared[order])
        else:
            entries = []  # (line number, fields)
            while number < len(lines):
                line = lines[number]
                if line.startswith("\\") or line.strip().startswith("\\"):
                    break
                fields = line.replace("\t", " ").split(" ")
                if "" in fields:
                    fields = [f for f in fields if f]
                if fields:
                    entries.append((number + 1, fields))
                number += 1
            if len(entries) != declared[order]:
                truncated = f" ({name} may be truncated)" if number >= len(lines) else ""
                raise fail(first_line, f"\\data\\ declares {declared[order]} {order}-grams but the section has "
                                       f"{len(entries)}{truncated}")
            for line_number, fields in entries:
                if len(fields) not in (order + 1, order + 2):
                    raise fail(line_number, f"a {order}-gram line needs a probability, {order} word(s) and an "
                                            f"optional backoff weight; found {len(fields)} fields")
            try:
                probs = np.array([fields[0] for _, fields in entries], dtype=np.float64)
                backoffs = np.array([fields[order + 1] if len(fields) == order + 2 else "0"
                                     for _, fields in entries], dtype=np.float64)
            except ValueError:
                for line_number, fields in entries:
                    try:
                        [float(f) for f in (fields[0], *fields[order + 1:])]
                    except ValueError:
                        raise fail(line_number, f"not a number in {' '.join(fields)[:60]!r}") from None
                raise
            columns = [[fields[1 + k] for _, fields in entries] for k in range(order)]
        _check_numbers(path, order, probs, backoffs, columns[0], entries)
        if order == 1:
            for j, word in enumerate(columns[0]):
                if word in word_index:
                    raise fail(entries[j][0], f"duplicate unigram {word!r}")
                word_index[word] = len(words)
                words.append(word)
            orders.append(NgramOrder(keys=np.arange(len(words), dtype=np.int64), log10_prob=probs,
                                     log10_backoff=backoffs))
            continue
        get = word_index.get
        count = len(columns[0])
        grams = np.stack([np.fromiter(map(get, column, itertools.repeat(-1)), dtype=np.int64, count=count)
                          for column in columns], axis=1)
        missing = np.flatnonzero(np.any(grams < 0, axis=1))
        if len(missing):
            line_number, fields = entries[missing[0]]
            unknown = next(w for w in fields[1:order + 1] if w not in word_index)
            raise fail(line_number, f"the word {unknown!r} is not among the unigrams")
        partial = NgramModel(words=words, orders=orders)
        context = grams[:, 0]
        for k in range(1, order - 1):
            context = partial.lookup(k + 1, context, grams[:, k])
        missing = np.flatnonzero(context < 0)
        if len(missing):
            line_number, fields = entries[missing[0]]
            raise fail(line_number, f"the context {' '.join(fields[1:order])!r} of this {order}-gram is not among "
                                    f"the {order - 1}-grams")
        keys = context * len(words) + grams[:, -1]
        sort = np.argsort(keys, kind="stable")
        keys = keys[sort]
        duplicate = np.flatnonzero(np.diff(keys) == 0)
        if len(duplicate):
            line_number, fields = entries[sort[duplicate[0] + 1]]
            raise fail(line_number, f"duplicate {order}-gram {' '.join(fields[1:order + 1])!r}")
        orders.append(NgramOrder(keys=keys, log10_prob=probs[sort], log10_backoff=backoffs[sort]))
    while number < len(lines) and not lines[number].strip():
        number += 1
    if number >= len(lines) or lines[number].strip() != "\\end\\":
        raise fail(number + 1, f"expected \\end\\ after the {len(declared)}-grams ({name} may be truncated)")
    return NgramModel(words=words, orders=orders)


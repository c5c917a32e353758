"""The C++ rnnlm's model files (version 10), text and binary, read and written.

Layout, in our words:

- A text header of ``name: value`` lines in a fixed order (version, file format
  0 = text / 1 = binary, training and validation file names, the last
  validation log10 probability, finished iterations, training position and
  log probability, the checkpoint interval, the number of training words,
  layer sizes -- input V+H, hidden H, compression, output V+C --, the number of
  direct weights and their order, bptt B (= the number of steps back + 1),
  the bptt block, V, C, old classes, independent mode, starting and current
  learning rate, and whether halving has started).
- ``Vocabulary:`` then one line per word: index, count, word, class.
- The weights. Text: sections ``Hidden layer activation:`` (H values),
  ``Weights 0->1:`` (H rows of V+H values: the V word columns, then the H
  recurrent ones), ``Weights 1->2:`` (V+C rows of H values: words, then
  classes) and ``Direct connections:`` (D values), one value per line with 4
  decimals (2 for direct weights). Binary: the same arrays as little-endian
  float32, straight after the newline that ends the vocabulary.

Models with a compression layer are not supported.
"""

from __future__ import annotations

import io
import math
import re
from typing import Optional

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import read_file_bytes, write_atomically
from ..base.text import SENTENCE_END, split_tokens
from .model import RnnlmConfig, RnnlmModel, TrainingProgress
from .vocab import vocabulary_from_classes

VERSION = 10
HEADER_FIELDS = [
    "version", "file format", None, "training data file", "validation data file", None,
    "last probability of validation data", "number of finished iterations", "current position in training data",
    "current probability of training data", "save after processing # words", "# of training words",
    "input layer size", "hidden layer size", "compression layer size", "output layer size", "direct connections",
    "direct order", "bptt", "bptt block", "vocabulary size", "class size", "old classes",
    "independent sentences mode", "starting learning rate", "current learning rate", "learning rate decrease",
]
FIELD = re.compile(rb"^([^:\n]+):[ \t]*(.*)$")
TITLE = re.compile(rb"\n([^\n:]*):[ \t]*(?=\n|\Z)")  # a weight section's title line, with the newline before it
CHUNK_BYTES = 1 << 20  # text weights are parsed this many bytes at a time
WHITESPACE = re.compile(rb"\s")  # the bytes that bytes.split() splits on
SECTION_TITLES = ("Hidden layer activation", "Weights 0->1", "Weights 1->2", "Direct connections")


def read_rnnlm(path: str) -> RnnlmModel:
    """Read a C++ rnnlm model file (text or binary); RnnlmpyError naming the file and line for anything it cannot use.

    Every number is checked: header sizes must be consistent with each other and with the
    file's length, vocabulary lines must be ``index count word class`` (split on ASCII space
    and tab only, so words may hold other spaces), and every weight must be finite.
    """
    data = read_file_bytes(path, "model file")
    position, line_number = 0, 0
    header: dict[str, tuple[int, str]] = {}  # name -> (line number, value)
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            raise RnnlmpyError(f"{path}: C++ rnnlm model ends inside its header (truncated?)")
        line = data[position:end]
        position = end + 1
        line_number += 1
        if line.strip() == b"Vocabulary:":
            break
        match = FIELD.match(line)
        if match:
            name = match.group(1).decode("utf-8", "replace").strip()
            header.setdefault(name, (line_number, match.group(2).decode("utf-8", "replace").strip()))
    read = _HeaderReader(path, header)
    version = read.integer("version", 0)
    if version != VERSION:
        raise RnnlmpyError(f"{path}: C++ rnnlm model version {_short(version)}; rnnlmpy reads version {VERSION}")
    if read.integer("compression layer size", 0) != 0:
        raise RnnlmpyError(f"{path}: C++ rnnlm models with a compression layer are not supported")
    binary = read.integer("file format", 0, 1) == 1
    vocab_size, class_count = read.integer("vocabulary size", 1), read.integer("class size", 1)
    hidden_size, direct_size = read.integer("hidden layer size", 1), read.integer("direct connections", 0)
    read.equals("input layer size", vocab_size + hidden_size, "vocabulary size + hidden layer size")
    read.equals("output layer size", vocab_size + class_count, "vocabulary size + class size")
    sizes = [hidden_size, hidden_size * (vocab_size + hidden_size), (vocab_size + class_count) * hidden_size,
             direct_size]
    if len(data) - position < (4 * sum(sizes) if binary else 2 * sum(sizes) - 1) + 8 * vocab_size:
        raise RnnlmpyError(f"{path}: C++ rnnlm model of {len(data):,} bytes is too short for the {vocab_size:,} "
                           f"words and {sum(sizes):,} weights its header declares (truncated, or a corrupted size?)")
    config = RnnlmConfig(hidden_size=hidden_size, class_count=class_count, bptt=max(read.integer("bptt", 0) - 1, 0),
                         bptt_block=read.integer("bptt block", 0), alpha=read.real("starting learning rate"),
                         independent=bool(read.integer("independent sentences mode", 0, 1)),
                         old_classes=bool(read.integer("old classes", 0, 1)), direct_size=direct_size,
                         direct_order=read.integer("direct order", 0))
    try:
        config.validate()
    except RnnlmpyError as error:
        raise RnnlmpyError(f"{path}: C++ rnnlm header holds an unusable setting: {error}") from None
    training = TrainingProgress(epoch=read.integer("number of finished iterations", 0),
                                alpha=read.real("current learning rate"),
                                halving=bool(read.integer("learning rate decrease", 0, 1)),
                                last_valid_log10=read.real("last probability of validation data", allow_inf=True),
                                finished=True, train_file=header.get("training data file", (0, ""))[1],
                                valid_file=header.get("validation data file", (0, ""))[1],
                                train_words=read.integer("# of training words", 0))

    words, counts, classes = [], [], []
    seen: set[str] = set()
    for index in range(vocab_size):
        end = data.find(b"\n", position)
        if end < 0:
            raise RnnlmpyError(f"{path}: C++ rnnlm vocabulary ends after {index} of {vocab_size} words (truncated?)")
        line = data[position:end]
        position = end + 1
        line_number += 1
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RnnlmpyError(f"{path}:{line_number}: vocabulary line is not valid UTF-8 (byte {error.start + 1} "
                               f"of the line)") from None
        word, count, word_class = _vocabulary_line(path, line_number, text, index, class_count)
        if word in seen:
            raise RnnlmpyError(f"{path}:{line_number}: the word {word!r} is in the vocabulary twice")
        seen.add(word)
        words.append(word)
        counts.append(count)
        classes.append(word_class)
    if words[0] != SENTENCE_END:
        raise RnnlmpyError(f"{path}:{line_number - vocab_size + 1}: the first vocabulary word must be {SENTENCE_END}, "
                           f"not {words[0]!r}")
    try:
        vocabulary = vocabulary_from_classes(words, np.array(counts, dtype=np.int64), np.array(classes), class_count)
    except RnnlmpyError as error:
        raise RnnlmpyError(f"{path}: C++ rnnlm vocabulary: {error}") from None
    if binary:
        needed = 4 * sum(sizes)
        if len(data) - position != needed:
            why = "truncated?" if len(data) - position < needed else "a corrupted size in the header?"
            raise RnnlmpyError(f"{path}: binary C++ rnnlm model has {len(data) - position} bytes of weights, "
                               f"expected {needed} ({why})")
        values = np.frombuffer(data, dtype="<f4", count=sum(sizes), offset=position).astype(np.float32)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            section = int(np.searchsorted(np.cumsum(sizes), bad[0], side="right"))
            raise RnnlmpyError(f"{path}: binary C++ rnnlm model has a NaN or infinite weight in section "
                               f"'{SECTION_TITLES[section]}'")
    else:
        values = _text_values(path, data, position - 1, line_number + 1, sizes)
    hidden, syn0, syn1, direct = np.split(values, np.cumsum(sizes)[:-1])
    syn0 = syn0.reshape(hidden_size, vocab_size + hidden_size)
    syn1 = syn1.reshape(vocab_size + class_count, hidden_size)
    return RnnlmModel(config=config, vocabulary=vocabulary,
                      input_weights=np.ascontiguousarray(syn0[:, :vocab_size].T),
                      recurrent=np.ascontiguousarray(syn0[:, vocab_size:]),
                      class_weights=np.ascontiguousarray(syn1[vocab_size:]),
                      output_weights=np.ascontiguousarray(syn1[:vocab_size]),
                      direct=np.ascontiguousarray(direct), hidden_state=hidden.copy(), training=training)


class _HeaderReader:
    """Typed, range-checked values of a C++ rnnlm header; errors name the file and the line."""

    def __init__(self, path: str, header: dict[str, tuple[int, str]]):
        self.path, self.header = path, header

    def _field(self, name: str) -> tuple[int, str]:
        if name not in self.header:
            raise RnnlmpyError(f"{self.path}: C++ rnnlm header has no '{name}:' line")
        return self.header[name]

    def integer(self, name: str, minimum: int, maximum: Optional[int] = None) -> int:
        line, text = self._field(name)
        try:
            value = int(text)
        except ValueError:
            raise RnnlmpyError(f"{self.path}:{line}: '{name}' must be an integer (found {text[:40]!r})") from None
        if value < minimum or (maximum is not None and value > maximum):
            allowed = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise RnnlmpyError(f"{self.path}:{line}: '{name}' must be {allowed} (found {text[:40]})")
        return value

    def real(self, name: str, allow_inf: bool = False) -> float:
        line, text = self._field(name)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise RnnlmpyError(f"{self.path}:{line}: '{name}' must be a finite number (found {text[:40]!r})")
        return value

    def equals(self, name: str, expected: int, meaning: str) -> None:
        line, _ = self._field(name)
        value = self.integer(name, 0)
        if value != expected:
            raise RnnlmpyError(f"{self.path}:{line}: '{name}' is {_short(value)}, but {meaning} is {_short(expected)} "
                               f"(a corrupted header?)")


def _short(number: int) -> str:
    """An integer for a message: digits, or its size when it is absurdly long."""
    text = str(number)
    return text if len(text) <= 24 else f"a {len(text)}-digit number"


def _vocabulary_line(path: str, line_number: int, text: str, index: int, class_count: int) -> tuple[str, int, int]:
    """(word, count, class) of the vocabulary line ``index count word class`` (fields split on ASCII space/tab)."""
    fields = split_tokens(text)
    expected = "a vocabulary line is 'index count word class'"
    if len(fields) != 4:
        raise RnnlmpyError(f"{path}:{line_number}: {expected}; found {len(fields)} fields in {text[:60]!r}")
    try:
        line_index, count, word_class = int(fields[0]), int(fields[1]), int(fields[3])
    except ValueError:
        raise RnnlmpyError(f"{path}:{line_number}: {expected} with an integer index, count and class; "
                           f"found {text[:60]!r}") from None
    if line_index != index:
        raise RnnlmpyError(f"{path}:{line_number}: vocabulary line {index + 1} has the index {line_index}, "
                           f"expected {index}")
    if count < 0:
        raise RnnlmpyError(f"{path}:{line_number}: the count of {fields[2]!r} is negative ({count})")
    if not 0 <= word_class < class_count:
        raise RnnlmpyError(f"{path}:{line_number}: the class of {fields[2]!r} is {word_class}, outside 0.."
                           f"{class_count - 1} ('class size: {class_count}')")
    return fields[2], count, word_class


def _text_values(path: str, data: bytes, start: int, first_line: int, sizes: list[int]) -> np.ndarray:
    """The numbers of the text weight sections, in order, as float32: each section by its title, its length and
    every value checked.

    The sections follow ``data[start]``, the newline that ends the vocabulary, from line ``first_line`` of the
    file on (read in place: a model's text is not copied). Numbers may be separated by any whitespace.
    """
    text = data
    titles = _section_titles(text, start)
    names = [match.group(1).decode("utf-8", "replace").strip() for match in titles]
    expected = list(SECTION_TITLES)
    if names == expected[:3] and sizes[3] == 0:
        expected = expected[:3]  # no direct weights: the last section may be left out

    def line_of(offset: int) -> int:  # the line of ``text[offset]``
        return first_line + text.count(b"\n", start + 1, max(offset, start + 1))

    if names != expected:
        for k, name in enumerate(expected):
            if k == len(names):
                raise RnnlmpyError(f"{path}: C++ rnnlm text model lacks the section '{name}:' (truncated?)")
            if names[k] != name:
                raise RnnlmpyError(f"{path}:{line_of(titles[k].start() + 1)}: expected the section '{name}:', "
                                   f"found {names[k][:40]!r}")
        raise RnnlmpyError(f"{path}:{line_of(titles[len(expected)].start() + 1)}: unexpected section "
                           f"{names[len(expected)][:40]!r} after the weights")
    before = text[start:titles[0].start()]
    if before.strip():
        offset = start + len(before) - len(before.lstrip())
        found = before.lstrip().split(b"\n", 1)[0].decode("utf-8", "replace")
        raise RnnlmpyError(f"{path}:{line_of(offset)}: unexpected {found[:40]!r} after the vocabulary "
                           f"(is 'vocabulary size' right?)")
    values = np.empty(sum(sizes), dtype=np.float32)
    ends = [match.start() for match in titles[1:]] + [len(text)]
    for name, title, end, size, offset in zip(expected, titles, ends, sizes, np.cumsum([0] + sizes[:-1])):
        section = values[offset:offset + size]
        if _read_fixed_point(text, title.end(), end, section):
            continue
        found, not_a_number, first_infinite = 0, False, None
        begin = title.end()
        while begin < end:  # a chunk at a time: a few MB of token objects at most, whatever the model's size
            cut = _chunk_end(text, begin, end)
            tokens = text[begin:cut].split()  # numbers: any ASCII whitespace separates them
            if not not_a_number and found + len(tokens) <= size:
                try:
                    numbers = np.array(tokens, dtype=np.float64)
                except ValueError:
                    not_a_number = True
                else:
                    with np.errstate(over="ignore"):  # checked after the cast: 1e39 is finite, but not as a float32
                        section[found:found + len(tokens)] = numbers
                    bad = np.flatnonzero(~np.isfinite(section[found:found + len(tokens)]))
                    if len(bad) and first_infinite is None:
                        first_infinite = found + int(bad[0])
            found += len(tokens)
            begin = cut
        if found != size:
            raise RnnlmpyError(f"{path}:{line_of(title.start() + 1)}: section '{name}' has {found} values, "
                               f"expected {size} (truncated?)")
        if not_a_number or first_infinite is not None:
            _raise_bad_value(path, name, text[title.end():end], line_of(title.start() + 1),
                             None if not_a_number else first_infinite)
    return values


def _read_fixed_point(text: bytes, begin: int, end: int, out: np.ndarray) -> bool:
    """Fill ``out`` with the numbers of ``text[begin:end]``, a chunk at a time, when the text is in rnnlm's
    layout (``_fixed_point_numbers``) and holds exactly ``len(out)`` of them; False otherwise (``out`` is then
    partly written, for the general parser to overwrite)."""
    filled = 0
    while begin < end:
        cut = _chunk_end(text, begin, end)
        numbers = _fixed_point_numbers(text[begin:cut])
        if numbers is None or filled + len(numbers) > len(out):
            return False
        out[filled:filled + len(numbers)] = numbers
        filled, begin = filled + len(numbers), cut
    return filled == len(out)


def _fixed_point_numbers(content: bytes) -> Optional[np.ndarray]:
    """The numbers of ``content`` when it is what rnnlm writes -- one ``[-]digits.decimals`` per line, the same
    number of decimals on every line, at most 15 digits -- parsed in bulk (float64, each exactly the nearest
    double, as float() gives); None for anything else, which the general parser then reads and checks.

    Each number is the integer of its digits divided by a power of ten: both are exact doubles, so the quotient
    is the correctly rounded value of the decimal, as strtod's is. Bulk parsing takes a few vector operations
    per character column instead of one Python object per number (PTB hidden 100: 0.5 s -> 0.05 s).
    """
    body = content.strip()
    if not body:
        return np.zeros(0)
    first_end = body.find(b"\n")
    first = body if first_end < 0 else body[:first_end]
    decimals = len(first) - 1 - first.find(b".") if b"." in first else 0
    if not 1 <= decimals <= 9:
        return None
    chars = np.frombuffer(body, dtype=np.uint8)
    ends = np.append(np.flatnonzero(chars == ord("\n")), len(chars))  # each line's end (exclusive)
    starts = np.concatenate(([0], ends[:-1] + 1))
    negative = chars[starts] == ord("-")
    integer_digits = ends - decimals - 1 - starts - negative
    if integer_digits.min() < 1 or integer_digits.max() + decimals > 15 or (chars[ends - decimals - 1] != ord(".")).any():
        return None
    mantissa = np.zeros(len(ends), dtype=np.int64)
    for column in range(integer_digits.max()):  # integer digits, left to right; shorter lines are done sooner
        active = integer_digits > column
        digit = chars[np.where(active, starts + negative + column, 0)].astype(np.int64) - ord("0")
        if ((digit < 0) | (digit > 9))[active].any():
            return None
        mantissa = np.where(active, mantissa * 10 + digit, mantissa)
    for column in range(decimals):
        digit = chars[ends - decimals + column].astype(np.int64) - ord("0")
        if ((digit < 0) | (digit > 9)).any():
            return None
        mantissa = mantissa * 10 + digit
    numbers = mantissa / float(10 ** decimals)
    return np.where(negative, -numbers, numbers)


def _chunk_end(text: bytes, begin: int, end: int) -> int:
    """Where the chunk of ``text[begin:end]`` that starts at ``begin`` ends: at the first whitespace after
    CHUNK_BYTES, so that no number is cut in two."""
    if end - begin <= CHUNK_BYTES:
        return end
    space = WHITESPACE.search(text, begin + CHUNK_BYTES, end)
    return space.start() if space else end


def _section_titles(text: bytes, start: int = 0) -> list[re.Match]:
    """Every match of TITLE in ``text[start:]``, found from the colons: numbers hold none, so a file of millions
    of weight lines has only its few title lines to look at (a regex scan tries every line)."""
    titles, colon, line_starts = [], text.find(b":", start), set()
    while colon >= 0:
        line_start = text.rfind(b"\n", start, colon)
        if line_start >= 0 and line_start not in line_starts:
            line_starts.add(line_start)
            match = TITLE.match(text, line_start)
            if match:
                titles.append(match)
        line_end = text.find(b"\n", colon)
        colon = text.find(b":", line_end) if line_end >= 0 else -1
    return titles


def _raise_bad_value(path: str, name: str, content: bytes, first_line: int, bad_index: Optional[int]) -> None:
    """Name the line of the first value of a section that is not a number (``bad_index`` None) or not finite."""
    index = 0
    for offset, line in enumerate(content.split(b"\n")):
        for token in line.split():
            try:
                value = float(token)
            except ValueError:
                value = None
            if (bad_index is None and value is None) or index == bad_index:
                what = ("not a number" if value is None else "not a finite number" if not math.isfinite(value)
                        else "outside the range of a float32 weight")
                raise RnnlmpyError(f"{path}:{first_line + offset}: {token.decode('utf-8', 'replace')[:40]!r} in "
                                   f"section '{name}' is {what}")
            index += 1
    raise RnnlmpyError(f"{path}: section '{name}' holds a value that is not a finite number")


def write_rnnlm(model: RnnlmModel, path: str, binary: bool = False) -> None:
    """Write ``model`` as a C++ rnnlm model file (text, or binary weights), atomically."""
    config, vocabulary, training = model.config, model.vocabulary, model.training
    if config.batched:
        raise RnnlmpyError(f"the C++ rnnlm has one sigmoid layer trained word by word; this model is the batched "
                           f"engine's ({config.layers} x {config.hidden_size} {config.activation}), which it cannot "
                           "hold: keep it in rnnlmpy's format")
    if config.output_layer != "class":
        raise RnnlmpyError(f"the C++ rnnlm has only the class-factored softmax; this model uses "
                           f"{'hierarchical softmax' if config.output_layer == 'hs' else 'NCE'}")
    if config.activation != "sigmoid":
        raise RnnlmpyError(f"the C++ rnnlm has sigmoid hidden units only; this model uses {config.activation}")
    vocab_size, hidden_size = vocabulary.size, config.hidden_size
    class_count = vocabulary.class_count
    values = {
        "version": VERSION, "file format": int(binary),
        "training data file": training.train_file or "-", "validation data file": training.valid_file or "-",
        "last probability of validation data": f"{training.last_valid_log10:f}",
        "number of finished iterations": training.epoch, "current position in training data": 0,
        "current probability of training data": "0.000000", "save after processing # words": 0,
        "# of training words": training.train_words, "input layer size": vocab_size + hidden_size,
        "hidden layer size": hidden_size, "compression layer size": 0, "output layer size": vocab_size + class_count,
        "direct connections": config.direct_size, "direct order": config.direct_order, "bptt": config.bptt + 1,
        "bptt block": config.bptt_block, "vocabulary size": vocab_size, "class size": class_count,
        "old classes": int(config.old_classes), "independent sentences mode": int(config.independent),
        "starting learning rate": f"{config.alpha:f}", "current learning rate": f"{training.alpha:f}",
        "learning rate decrease": int(training.halving),
    }
    out = io.StringIO()
    for name in HEADER_FIELDS:
        out.write("\n" if name is None else f"{name}: {values[name]}\n")
    out.write("\n\nVocabulary:\n")
    for index, (word, count, word_class) in enumerate(zip(vocabulary.words, vocabulary.counts.tolist(),
                                                          vocabulary.word_class.tolist())):
        out.write(f"{index:6d}\t{count:10d}\t{word}\t{word_class}\n")
    syn0 = np.hstack([model.input_weights.T, model.recurrent]).astype(np.float32)
    syn1 = np.vstack([model.output_weights, model.class_weights]).astype(np.float32)
    arrays = [model.hidden_state.astype(np.float32), syn0.ravel(), syn1.ravel(), model.direct.astype(np.float32)]

    def write(handle) -> None:
        handle.write(out.getvalue().encode("utf-8"))
        if binary:
            for array in arrays:
                handle.write(array.astype("<f4").tobytes())
            return
        for title, array, digits in zip(["\nHidden layer activation:\n", "\nWeights 0->1:\n", "\n\nWeights 1->2:\n",
                                         "\nDirect connections:\n"], arrays, [4, 4, 4, 2]):
            handle.write(title.encode("ascii"))
            handle.write("".join(f"{v:.{digits}f}\n" for v in array.tolist()).encode("ascii"))

    write_atomically(path, write)

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
import re

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import read_file_bytes, write_atomically
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


def read_rnnlm(path: str) -> RnnlmModel:
    """Read a C++ rnnlm model file (text or binary); RnnlmpyError for anything it cannot use."""
    data = read_file_bytes(path, "model file")
    position = 0
    header: dict[str, str] = {}
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            raise RnnlmpyError(f"{path}: C++ rnnlm model ends inside its header (truncated?)")
        line = data[position:end]
        position = end + 1
        if line.strip() == b"Vocabulary:":
            break
        match = FIELD.match(line)
        if match:
            header[match.group(1).decode("utf-8", "replace").strip()] = match.group(2).decode("utf-8", "replace")

    def number(name: str, kind=int):
        try:
            return kind(header[name].strip())
        except (KeyError, ValueError):
            raise RnnlmpyError(f"{path}: C++ rnnlm header has no valid '{name}:' line") from None

    if number("version") != VERSION:
        raise RnnlmpyError(f"{path}: C++ rnnlm model version {header.get('version')}; rnnlmpy reads version 10")
    if number("compression layer size") != 0:
        raise RnnlmpyError(f"{path}: C++ rnnlm models with a compression layer are not supported")
    binary = number("file format") == 1
    vocab_size, class_count = number("vocabulary size"), number("class size")
    hidden_size, direct_size = number("hidden layer size"), number("direct connections")
    words, counts, classes = [], [], []
    for index in range(vocab_size):
        end = data.find(b"\n", position)
        if end < 0:
            raise RnnlmpyError(f"{path}: C++ rnnlm vocabulary ends after {index} of {vocab_size} words (truncated?)")
        fields = data[position:end].decode("utf-8", "replace").split()
        position = end + 1
        if len(fields) != 4:
            raise RnnlmpyError(f"{path}: vocabulary line {index + 1} should be 'index count word class'")
        words.append(fields[2])
        counts.append(int(fields[1]))
        classes.append(int(fields[3]))
    sizes = [hidden_size, hidden_size * (vocab_size + hidden_size), (vocab_size + class_count) * hidden_size,
             direct_size]
    if binary:
        needed = 4 * sum(sizes)
        if len(data) - position < needed:
            raise RnnlmpyError(f"{path}: binary C++ rnnlm model has {len(data) - position} bytes of weights, "
                               f"expected {needed} (truncated?)")
        values = np.frombuffer(data, dtype="<f4", count=sum(sizes), offset=position)
    else:
        values = _text_values(path, data[position:], sizes)
    hidden, syn0, syn1, direct = np.split(values.astype(np.float32), np.cumsum(sizes)[:-1])
    syn0 = syn0.reshape(hidden_size, vocab_size + hidden_size)
    syn1 = syn1.reshape(vocab_size + class_count, hidden_size)
    config = RnnlmConfig(hidden_size=hidden_size, class_count=class_count, bptt=max(number("bptt") - 1, 0),
                         bptt_block=number("bptt block"), alpha=number("starting learning rate", float),
                         independent=bool(number("independent sentences mode")),
                         old_classes=bool(number("old classes")), direct_size=direct_size,
                         direct_order=number("direct order"))
    vocabulary = vocabulary_from_classes(words, np.array(counts), np.array(classes), class_count)
    training = TrainingProgress(epoch=number("number of finished iterations"),
                                alpha=number("current learning rate", float),
                                halving=bool(number("learning rate decrease")),
                                last_valid_log10=number("last probability of validation data", float),
                                finished=True, train_file=header.get("training data file", "").strip(),
                                valid_file=header.get("validation data file", "").strip(),
                                train_words=number("# of training words"))
    return RnnlmModel(config=config, vocabulary=vocabulary,
                      input_weights=np.ascontiguousarray(syn0[:, :vocab_size].T),
                      recurrent=np.ascontiguousarray(syn0[:, vocab_size:]),
                      class_weights=np.ascontiguousarray(syn1[vocab_size:]),
                      output_weights=np.ascontiguousarray(syn1[:vocab_size]),
                      direct=np.ascontiguousarray(direct), hidden_state=hidden.copy(), training=training)


def _text_values(path: str, body: bytes, sizes: list[int]) -> np.ndarray:
    """The numbers of the text sections, in order, checking each section's length."""
    sections = re.split(rb"\n[^\n:]*:[ \t]*\n", b"\n" + body)
    sections = [s for s in sections if s.strip()]
    names = ["Hidden layer activation", "Weights 0->1", "Weights 1->2", "Direct connections"]
    if len(sections) < 3:
        raise RnnlmpyError(f"{path}: C++ rnnlm text model lacks weight sections (truncated?)")
    sections = sections + [b""] * (4 - len(sections))
    arrays = []
    for name, section, size in zip(names, sections, sizes):
        values = np.array(section.split(), dtype=np.float64)
        if len(values) != size:
            raise RnnlmpyError(f"{path}: section '{name}' has {len(values)} values, expected {size} (truncated?)")
        arrays.append(values)
    return np.concatenate(arrays)


def write_rnnlm(model: RnnlmModel, path: str, binary: bool = False) -> None:
    """Write ``model`` as a C++ rnnlm model file (text, or binary weights), atomically."""
    config, vocabulary, training = model.config, model.vocabulary, model.training
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

"""An RNNLM's word vectors in word2vec's text format (``rnnlmpy export-embeddings``).

A word's vector is its row of the input weights (V, H): what the hidden layer adds when it reads the word
(for a GRU, the 3H weights into its update gate, reset gate and candidate, in that order). The file is
word2vec's text format, which gensim's ``KeyedVectors.load_word2vec_format`` reads: a first line
``WORDS DIMENSIONS``, then one line per word, ``word v1 ... vD``, in vocabulary order (``</s>`` first, as
word2vec writes it).
"""

from __future__ import annotations

import re

import numpy as np

from ..base.files import read_file_bytes, write_atomically
from .model import RnnlmModel

FLOAT_FORMAT = "%.9g"  # enough digits to read a float32 back exactly
_HEADER = re.compile(rb"^(\d+) (\d+)\n")


def word_vectors(model: RnnlmModel) -> tuple[list[str], np.ndarray]:
    """(the words, their vectors (V, D)): the rows of the input weights, in vocabulary order."""
    return list(model.vocabulary.words), model.input_weights


def write_word2vec(model: RnnlmModel, path: str) -> None:
    """Write the model's word vectors to ``path`` in word2vec's text format, atomically."""
    words, vectors = word_vectors(model)

    def write(handle) -> None:
        handle.write(f"{vectors.shape[0]} {vectors.shape[1]}\n".encode("utf-8"))
        for start in range(0, len(words), 4096):  # a block of lines at a time: little memory, few writes
            block = vectors[start:start + 4096].astype(np.float64)
            numbers = np.char.mod(FLOAT_FORMAT, block)
            lines = [word + " " + " ".join(row) + "\n" for word, row in zip(words[start:start + 4096],
                                                                           numbers.tolist())]
            handle.write("".join(lines).encode("utf-8"))

    write_atomically(path, write)


def looks_like_word2vec(path: str) -> bool:
    """Whether the file at ``path`` opens as a word2vec text file: a ``WORDS DIMENSIONS`` line, then a word and
    that many numbers (what ``export-embeddings`` may replace without -force)."""
    start = read_file_bytes(path, "output file", 65536)
    header = _HEADER.match(start)
    if header is None:
        return False
    first = start[header.end():].split(b"\n", 1)[0].split(b" ")
    if len(first) != int(header.group(2)) + 1:
        return False
    try:
        [float(value) for value in first[1:]]
    except ValueError:
        return False
    return True

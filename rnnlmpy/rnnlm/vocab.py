"""Vocabulary and output classes of a word-level RNNLM.

Index 0 is always ``</s>``; the other words follow by descending training
frequency, ties kept in order of first appearance (a stable sort, where the C++
rnnlm's selection sort is not). Output classes are contiguous index ranges built
by walking the words and cutting at equal shares of cumulative square-root
frequency (or plain frequency with ``old_classes``), as in rnnlm.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.text import SENTENCE_END, as_tokens
from .huffman import HuffmanTree, build_huffman_tree
from .noise import alias_table, log_probabilities, noise_distribution

UNKNOWN_WORD = "<unk>"


@dataclass
class Vocabulary:
    """Words, their training counts and their output classes.

    ``words[i]`` has count ``counts[i]`` and class ``word_class[i]``; class ``c``
    holds the word indices ``class_start[c] <= i < class_end[c]`` (empty when equal).
    """

    words: list[str]
    counts: np.ndarray  # int64, shape (vocab_size,)
    word_class: np.ndarray  # int32, shape (vocab_size,)
    class_start: np.ndarray  # int32, shape (class_count,)
    class_end: np.ndarray  # int32, shape (class_count,)
    index: dict[str, int] = field(init=False, repr=False)
    _noise_tables: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {word: i for i, word in enumerate(self.words)}

    def __repr__(self) -> str:
        return f"Vocabulary({self.size:,} words, {self.class_count} classes)"

    def noise_table(self, power: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """NCE noise from the counts raised to ``power``: (alias accept (V,), alias index (V,), ln q (V,)), kept."""
        if power not in self._noise_tables:
            probabilities = noise_distribution(self.counts, power)
            accept, alias = alias_table(probabilities)
            self._noise_tables[power] = (accept, alias, log_probabilities(probabilities))
        return self._noise_tables[power]

    @functools.cached_property
    def huffman_tree(self) -> HuffmanTree:
        """The Huffman tree of the word counts (hierarchical softmax), built on first use."""
        return build_huffman_tree(self.counts)

    @property
    def size(self) -> int:
        """Number of words, ``</s>`` included."""
        return len(self.words)

    @property
    def class_count(self) -> int:
        """Number of output classes (some may be empty when there are few words)."""
        return len(self.class_start)

    @property
    def unknown_index(self) -> int:
        """Index of ``<unk>``, or -1 when the vocabulary has no ``<unk>``."""
        return self.index.get(UNKNOWN_WORD, -1)

    def encode(self, tokens: list[str]) -> np.ndarray:
        """Map tokens to word indices (int32, shape (len(tokens),)).

        A token outside the vocabulary becomes ``<unk>`` if the vocabulary has
        one, otherwise -1 (an OOV that evaluation skips and reports). A ``str`` is text
        (``base.text.as_tokens``), never a sequence of characters.
        """
        tokens = as_tokens(tokens)
        unknown = self.unknown_index
        lookup = self.index.get
        return np.fromiter((lookup(token, unknown) for token in tokens), dtype=np.int32, count=len(tokens))


def count_words(tokens: list[str]) -> tuple[list[str], np.ndarray]:
    """Return the distinct tokens in order of first appearance and their counts."""
    counts: dict[str, int] = {SENTENCE_END: 0}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    return list(counts), np.fromiter(counts.values(), dtype=np.int64, count=len(counts))


def assign_classes(counts: np.ndarray, class_count: int, old_classes: bool = False) -> np.ndarray:
    """Class of each word (int32, shape (vocab_size,)) for words already in vocabulary order.

    Walks the words accumulating each word's share of the total (square root of
    its relative frequency, normalised; or the relative frequency itself with
    ``old_classes``) and moves to the next class once the running share exceeds
    ``(class + 1) / class_count``.
    """
    if class_count < 1:
        raise RnnlmpyError("the number of classes must be at least 1; use -class 1 for a full softmax")
    relative = counts.astype(np.float64) / max(int(counts.sum()), 1)
    share = relative if old_classes else np.sqrt(relative)
    total = share.sum()
    share = share / total if total > 0 else np.full_like(share, 1.0 / len(share))
    word_class = np.empty(len(counts), dtype=np.int32)
    running = 0.0
    current = 0
    for i, value in enumerate(share):
        running = min(running + value, 1.0)
        word_class[i] = current
        if running > (current + 1) / class_count and current < class_count - 1:
            current += 1
    return word_class


def build_vocabulary(tokens: list[str], class_count: int, old_classes: bool = False) -> Vocabulary:
    """Build the vocabulary of a training token stream (``</s>`` first, then by frequency)."""
    words, counts = count_words(tokens)
    order = 1 + np.argsort(-counts[1:], kind="stable")
    order = np.concatenate([[0], order])
    return vocabulary_from_counts([words[i] for i in order], counts[order], class_count, old_classes)


def vocabulary_from_counts(words: list[str], counts: np.ndarray, class_count: int,
                           old_classes: bool = False) -> Vocabulary:
    """The Vocabulary of ``words`` already in vocabulary order (``</s>`` first, then by descending count) with
    their ``counts`` (int64, (V,)), in ``class_count`` classes."""
    return vocabulary_from_classes(words, counts, assign_classes(counts, class_count, old_classes))


def vocabulary_from_classes(words: list[str], counts: np.ndarray, word_class: np.ndarray,
                            class_count: Optional[int] = None) -> Vocabulary:
    """Assemble a Vocabulary from per-word classes numbered 0, 1, 2, ... over contiguous index ranges.

    Unlike rnnlm, rnnlmpy never makes empty classes: asking for more classes than
    words gives one class per word, so no probability mass is lost. A
    ``class_count`` above the highest class (a C++ rnnlm model's) keeps that many
    classes, the extra ones empty, so such a model scores exactly as it was trained.
    """
    word_class = np.asarray(word_class, dtype=np.int32)
    steps = np.diff(word_class)
    if len(word_class) == 0 or word_class[0] != 0 or np.any((steps != 0) & (steps != 1)):
        raise RnnlmpyError("word classes must be numbered 0, 1, 2, ... over contiguous index ranges")
    used = int(word_class[-1]) + 1
    if class_count is not None and class_count < used:
        raise RnnlmpyError(f"words use {used} classes but the model has {class_count}")
    classes = np.arange(used if class_count is None else class_count)
    class_start = np.searchsorted(word_class, classes, side="left").astype(np.int32)
    class_end = np.searchsorted(word_class, classes, side="right").astype(np.int32)
    return Vocabulary(list(words), np.asarray(counts, dtype=np.int64), word_class, class_start, class_end)

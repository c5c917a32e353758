"""The NLP programming tutorial's bigram HMM tagger (the baseline), in its text model format.

Decoding is the shared Viterbi kernel (``rnn.best_paths``) on dense arrays built
once per model: log transitions (T+1, T+1) with -inf where the model has no
transition, and log emissions per (word, tag), smoothed as the tutorial does.
Its tie-breaking reproduces the tutorial's loops over dictionaries exactly.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import write_atomically
from ..base.text import as_sentences, read_text, text_lines
from .rnn import best_paths

START, END = "<s>", "</s>"
HMM_LAMBDA, HMM_VOCABULARY = 0.95, 1_000_000  # the tutorial's emission smoothing


@dataclass
class HmmArrays:
    """An HMM as the Viterbi kernel reads it (built once per model by ``HmmTagger.arrays``)."""

    tags: list[str]  # the tags that are targets of transitions (</s> excluded), sorted: indices 0..T-1
    log_transition: np.ndarray  # (T+1, T+1) log P(tag | previous); index T = <s> (row) / </s> (column); -inf: none
    word_index: dict  # word -> row of log_emission
    log_emission: np.ndarray  # (words + 1, T) log(0.95 P(word | tag) + 0.05 / 1,000,000); the last row: unseen words


@dataclass
class HmmTagger:
    """Bigram HMM: P(tag | previous tag) and P(word | tag), maximum likelihood, as the tutorial."""

    transition: dict[tuple[str, str], float]  # (previous tag, tag) -> P(tag | previous); <s> and </s> included
    emission: dict[tuple[str, str], float]  # (tag, word) -> P(word | tag)
    _arrays: Optional[HmmArrays] = field(default=None, init=False, repr=False, compare=False)

    def write(self, path: str) -> None:
        """Write the tutorial's model format (``T prev next p`` and ``E tag word p`` lines, sorted), atomically."""
        lines = [f"T {a} {b} {p:f}\n" for (a, b), p in sorted(self.transition.items())]
        lines += [f"E {a} {b} {p:f}\n" for (a, b), p in sorted(self.emission.items())]
        write_atomically(path, lambda handle: handle.write("".join(lines).encode("utf-8")))

    @classmethod
    def read(cls, path: str) -> "HmmTagger":
        """Read the tutorial's model format; RnnlmpyError names a bad line."""
        text = read_text(path, "model file")
        transition, emission = {}, {}
        for number, line in enumerate(text_lines(text), start=1):
            fields_ = line.split(" ")
            if len(fields_) != 4 or fields_[0] not in ("T", "E"):
                raise RnnlmpyError(f"{path}:{number}: not an HMM model line (expected 'T|E a b probability')")
            try:
                probability = float(fields_[3])
            except ValueError:
                raise RnnlmpyError(f"{path}:{number}: not a probability: {fields_[3]!r}") from None
            if not 0 < probability <= 1:  # also refuses nan; inf is > 1
                raise RnnlmpyError(f"{path}:{number}: probability {fields_[3]!r} is not in (0, 1]")
            (transition if fields_[0] == "T" else emission)[(fields_[1], fields_[2])] = probability
        if not transition:
            raise RnnlmpyError(f"HMM model {path!r} has no transitions")
        return cls(transition, emission)

    def arrays(self) -> HmmArrays:
        """The model as dense arrays for the Viterbi kernel, built on first use and kept.

        (Change ``transition`` or ``emission`` after tagging and the kept arrays are stale:
        build a new HmmTagger instead.) Logs are taken with ``math.log`` on the values
        the tutorial's loops use, so every path score is the same float as theirs.
        """
        if self._arrays is None:
            for kind, table in (("transition", self.transition), ("emission", self.emission)):
                for key, probability in table.items():
                    if not 0 < probability <= 1:
                        raise RnnlmpyError(f"HMM {kind} {key[0]} {key[1]} has probability {probability!r}; "
                                           f"it must be in (0, 1]")
            tags = sorted({b for (_, b) in self.transition} - {END})
            tag_index = {tag: i for i, tag in enumerate(tags)}
            boundary = len(tags)
            log_transition = np.full((boundary + 1, boundary + 1), -np.inf)
            for (a, b), probability in self.transition.items():
                # <s> as the previous tag is row T; a tag literally named "<s>" shares its transitions,
                # as it shares its dictionary key in the tutorial's loops
                rows = ([boundary] if a == START else []) + ([tag_index[a]] if a in tag_index else [])
                column = boundary if b == END else tag_index[b]
                for row in rows:
                    log_transition[row, column] = math.log(probability)
            words = sorted({word for (tag, word) in self.emission if tag in tag_index})
            word_index = {word: i for i, word in enumerate(words)}
            unseen = (1 - HMM_LAMBDA) / HMM_VOCABULARY  # = HMM_LAMBDA * 0.0 + (1 - HMM_LAMBDA) / HMM_VOCABULARY
            log_emission = np.full((len(words) + 1, boundary), math.log(unseen))
            for (tag, word), probability in self.emission.items():
                if tag in tag_index:
                    log_emission[word_index[word], tag_index[tag]] = math.log(HMM_LAMBDA * probability + unseen)
            self._arrays = HmmArrays(tags, log_transition, word_index, log_emission)
        return self._arrays

    def tag(self, sentences: list[list[str]]) -> list[list[str]]:
        """The best tag sequence of each sentence (Viterbi); the same call as ``RnnTagger.tag``.

        Emissions are smoothed as 0.95 P_ML + 0.05 / 1,000,000. A sentence the model
        has no path through raises RnnlmpyError naming it. Each token is one word id
        (its emissions are a row of ``log_emission``), so memory beyond the input's
        words is 8 bytes per token plus the kernel's back-pointers for the longest line. Sentences given as
        strings are split into words (``base.text.as_sentences``).
        """
        sentences = as_sentences(sentences)
        model = self.arrays()
        unseen_row = len(model.word_index)
        get = model.word_index.get
        sentence_start = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum([len(words) for words in sentences], out=sentence_start[1:])
        rows = np.fromiter((get(word, unseen_row) for words in sentences for word in words), dtype=np.int64,
                           count=int(sentence_start[-1]))
        paths = best_paths(model.log_emission, sentence_start, model.log_transition, "the HMM", rows).tolist()
        tags = model.tags
        return [[tags[i] for i in paths[sentence_start[k]:sentence_start[k + 1]]] for k in range(len(sentences))]

    def tag_sentence(self, words: list[str]) -> list[str]:
        """Viterbi decoding of one sentence (see ``tag``)."""
        return self.tag([words])[0]


def train_hmm(sentences: list[tuple[list[str], list[str]]]) -> HmmTagger:
    """The HMM of (words, tags) sentences: transition (with ``<s>``/``</s>``) and emission counts.

    Each count is divided by the count of its first tag (maximum likelihood).
    """
    context, transitions, emissions = Counter(), Counter(), Counter()
    for words, tags in sentences:
        previous = START
        context[START] += 1
        for word, tag in zip(words, tags):
            transitions[(previous, tag)] += 1
            context[tag] += 1
            emissions[(tag, word)] += 1
            previous = tag
        transitions[(previous, END)] += 1
    return HmmTagger({k: v / context[k[0]] for k, v in transitions.items()},
                     {k: v / context[k[0]] for k, v in emissions.items()})

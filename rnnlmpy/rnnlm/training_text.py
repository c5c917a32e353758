"""An RNNLM's training and validation text as word-id streams, built from encoded corpus files.

The files are read once each by ``rnnlmpy.corpus.encode_file`` (int32 ids of
types, memory-mapped from the corpus cache when the file was seen before).
Training keeps one int32 word id per training token (the stream's array) plus
the validation text; no Python object per token. Without a validation file, a
seeded 5% of the training lines are held out instead, cut from the ids by line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base.errors import RnnlmpyError
from ..corpus import EncodedCorpus, encode_file, line_bounds, type_counts
from .streams import SENTENCE_END_INDEX, TokenStream
from .vocab import Vocabulary

HOLD_OUT_SHARE = 0.05  # without -valid: this share of the training lines, at most HOLD_OUT_MAX_LINES
HOLD_OUT_MAX_LINES = 5_000
MAP_CHUNK = 2**20  # token ids mapped from types to words at a time (bounds the temporary arrays)


def held_out_lines(line_count: int, seed: int) -> np.ndarray:
    """Line numbers (0-based, ascending, int64) held out for validation: 5% of the lines, at least 1 and at
    most 5,000, chosen by ``seed`` (the same seed always holds out the same lines). A single line is an error."""
    if line_count < 2:
        raise RnnlmpyError("the training file has a single line: give -valid FILE (or -one-iter)")
    count = min(max(1, int(round(line_count * HOLD_OUT_SHARE))), HOLD_OUT_MAX_LINES)
    return np.sort(np.random.default_rng(seed).choice(line_count, size=count, replace=False))


def fold_lines(line_count: int, folds: int, fold: int, seed: int) -> np.ndarray:
    """Line numbers (0-based, ascending, int64) of cross-validation fold ``fold`` of ``folds``: the lines
    in an order shuffled by ``seed``, cut into ``folds`` nearly equal parts (the folds are disjoint)."""
    if not 0 <= fold < folds:
        raise RnnlmpyError(f"fold {fold + 1} does not exist among {folds} folds")
    if line_count < folds:
        raise RnnlmpyError(f"the training file has {line_count} lines, fewer than -cv-folds {folds}")
    order = np.random.default_rng(seed).permutation(line_count)
    return np.sort(np.array_split(order, folds)[fold]).astype(np.int64)


@dataclass(repr=False)
class TextPart:
    """Some lines of an encoded corpus: ``type_ids`` (int32 (N + 1,)): ``</s>`` (type 0), then the lines'
    type ids, ready to be mapped in place to word ids (``to_stream``); ``types`` names the type ids."""

    types: list[str]
    type_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.type_ids) - 1

    def __repr__(self) -> str:
        return f"TextPart({len(self):,} tokens, {len(self.types):,} types)"

    def vocabulary_counts(self) -> tuple[list[str], np.ndarray]:
        """The words in vocabulary order and their counts (int64): ``</s>`` first, then by descending
        count, ties in order of first appearance (as ``vocab.build_vocabulary`` orders a token list)."""
        counts, first = type_counts(self.type_ids[1:], len(self.types))
        present = np.flatnonzero(counts[1:] > 0) + 1
        by_appearance = present[np.argsort(first[present], kind="stable")]
        order = np.concatenate([[0], by_appearance[np.argsort(-counts[by_appearance], kind="stable")]])
        return [self.types[i] for i in order], counts[order]

    def to_stream(self, vocabulary: Vocabulary) -> TokenStream:
        """Map the type ids to ``vocabulary``'s word ids, in place (``<unk>`` or -1 for words outside it), and
        give the stream over them. The part's type ids are gone afterwards."""
        lookup = vocabulary.encode(self.types)
        words = self.type_ids
        for begin in range(0, len(words), MAP_CHUNK):
            chunk = words[begin:begin + MAP_CHUNK]
            chunk[:] = lookup[chunk]
        self.types = []
        return TokenStream(words)


def gather(corpus: EncodedCorpus, ranges: list[tuple[int, int]]) -> TextPart:
    """The token ranges ``[(begin, end), ...]`` of ``corpus`` as one TextPart (copied out of the cache's map)."""
    total = sum(end - begin for begin, end in ranges)
    type_ids = np.empty(total + 1, dtype=np.int32)
    type_ids[0] = SENTENCE_END_INDEX
    position = 1
    for begin, end in ranges:
        type_ids[position:position + end - begin] = corpus.type_ids[begin:end]
        position += end - begin
    return TextPart(corpus.types, type_ids)


@dataclass(repr=False)
class TrainingText:
    """What training reads: the training part, the validation part (None with ``one_iter``), which lines were
    held out (None when a validation file was given) and a fingerprint of it all (for resuming)."""

    train: TextPart
    valid: Optional[TextPart]
    held_lines: Optional[np.ndarray]
    line_count: int  # lines of the training file
    fingerprint: str


def read_training_text(train_file: str, valid_file: Optional[str], hold_out_seed: Optional[int],
                       char_level: bool, cross_validation: Optional[tuple[int, int, int]] = None) -> TrainingText:
    """Read the training file (and the validation file, or hold out lines of the training file chosen by
    ``hold_out_seed``; neither when both are None). ``cross_validation`` = (fold, folds, seed) holds out
    that fold's lines instead (see ``fold_lines``). RnnlmpyError for unreadable or empty files."""
    train = encode_file(train_file, "training file", char_level=char_level)
    bounds = line_bounds(train.type_ids)
    line_count = len(bounds) - 1
    digest = hashlib.sha256(f"rnnlmpy training text 2; train {train.sha256}".encode())
    held = None
    if valid_file is not None:
        valid_corpus = encode_file(valid_file, "validation file", char_level=char_level)
        digest.update(f"; valid {valid_corpus.sha256}".encode())
        train_part = gather(train, [(0, len(train))])
        valid_part = gather(valid_corpus, [(0, len(valid_corpus))])
    elif hold_out_seed is not None or cross_validation is not None:
        if cross_validation is not None:
            fold, folds, seed = cross_validation
            held = fold_lines(line_count, folds, fold, seed)
            digest.update(f"; fold {fold} of {folds} by seed {seed}".encode())
        else:
            held = held_out_lines(line_count, hold_out_seed)
            digest.update(f"; held out by seed {hold_out_seed}".encode())
        kept, previous = [], 0
        for line in held.tolist():
            if bounds[line] > previous:
                kept.append((previous, int(bounds[line])))
            previous = int(bounds[line + 1])
        if previous < len(train):
            kept.append((previous, len(train)))
        train_part = gather(train, kept)
        valid_part = gather(train, [(int(bounds[line]), int(bounds[line + 1])) for line in held.tolist()])
    else:
        train_part, valid_part = gather(train, [(0, len(train))]), None
    digest.update(b"; characters" if char_level else b"; words")
    return TrainingText(train_part, valid_part, held, line_count, digest.hexdigest())

"""N-gram counting split by line ranges (``ngram -train -scheduler``), merged into exactly one process's counts.

The vocabulary (``<s>``, ``</s>``, then the words in order of first
appearance, as ``train_ngram`` numbers them) comes from the encoded corpus
(``rnnlmpy.corpus``: one fast pass, cached). Each task counts the n-grams of
its whole lines with ``count_ngrams`` and returns them as word-id tuples with
their counts; the merge sums equal tuples and numbers every order's n-grams the
way ``count_ngrams`` numbers them for the whole text (an n-gram's id is its
rank among the sorted keys context-id * V + word), so the estimate and the
ARPA file are identical to a single process's.
"""

from __future__ import annotations

import concurrent.futures

import numpy as np

from ..base.system import split_evenly
from ..corpus import SENTENCE_END_TYPE, encode_file, line_bounds
from .kneser_ney import (DISCOUNT_FALLBACK, SENTENCE_START, NgramCounts, NgramModel, SentenceStream, check_order,
                         count_ngrams, estimate_kneser_ney, train_ngram)


def ngram_vocabulary(types: list[str]) -> tuple[list[str], np.ndarray]:
    """``train_ngram``'s word list from an encoded corpus's types, and each type's word id (int32 (T,))."""
    words = [SENTENCE_START, types[SENTENCE_END_TYPE]]
    index = {word: i for i, word in enumerate(words)}
    lookup = np.empty(len(types), dtype=np.int32)
    for type_id, token in enumerate(types):
        lookup[type_id] = index.setdefault(token, len(index))
        if lookup[type_id] == len(words):
            words.append(token)
    return words, lookup


def sentence_stream_of(type_ids: np.ndarray, lookup: np.ndarray, start_id: int, end_id: int) -> SentenceStream:
    """The non-empty lines of ``type_ids`` (each closed by type 0) as ``<s> w ... </s>`` word ids."""
    bounds = line_bounds(type_ids)
    begins, lengths = bounds[:-1], np.diff(bounds) - 1  # each line's words, without its </s>
    keep = lengths > 0  # empty lines are skipped, as SRILM does
    begins, lengths = begins[keep], lengths[keep]
    total = int(np.sum(lengths + 2))
    ids = np.empty(total, dtype=np.int32)
    out_begins = np.cumsum(lengths + 2) - (lengths + 2)
    ids[out_begins] = start_id
    ids[out_begins + lengths + 1] = end_id
    inner = np.ones(total, dtype=bool)
    inner[out_begins] = False
    inner[out_begins + lengths + 1] = False
    source = np.repeat(begins - out_begins - 1, lengths + 2)[inner] + np.flatnonzero(inner)
    ids[inner] = lookup[type_ids[source]]
    position = (np.arange(total) - np.repeat(out_begins, lengths + 2)).astype(np.int32)
    return SentenceStream(ids=ids, position=position, sentences=int(len(lengths)))


def count_lines_task(path: str, begin: int, end: int, order: int) -> list[tuple[np.ndarray, ...]]:
    """On a worker: the n-grams of orders 1..order of the file's tokens ``begin:end`` (whole lines), as
    [(word-id tuples (M, n) int32, counts (M,) int64, starts_sentence (M,) bool), ...] with global word ids;
    starts_sentence is ``count_ngrams``'s flag of the n-gram's first occurrence in these lines."""
    corpus = encode_file(path, "training file")
    words, lookup = ngram_vocabulary(corpus.types)
    stream = sentence_stream_of(np.asarray(corpus.type_ids[begin:end]), lookup, 0, 1)
    vocab_size = len(words)
    counted = count_ngrams(stream, order, vocab_size) if stream.sentences else []
    result, tuples = [], np.arange(vocab_size, dtype=np.int32)[:, None]
    for n, counts in enumerate(counted, start=1):
        if n > 1:  # an n-gram's key is (its context's rank among the (n-1)-grams) * V + its last word
            tuples = np.concatenate([tuples[counts.keys // vocab_size],
                                     (counts.keys % vocab_size).astype(np.int32)[:, None]], axis=1)
        present = counts.counts > 0
        result.append((tuples[present], counts.counts[present].astype(np.int64), counts.starts_sentence[present]))
    return result


def _ranks(tuples: np.ndarray, keys: list[np.ndarray], vocab_size: int) -> np.ndarray:
    """The rank of each row of ``tuples`` (M, m) among the sorted m-gram keys ``keys[m - 1]`` (every row is there)."""
    rank = tuples[:, 0].astype(np.int64)
    for j in range(1, tuples.shape[1]):
        rank = np.searchsorted(keys[j], rank * vocab_size + tuples[:, j])
    return rank


def merge_counts(shards: list[list[tuple[np.ndarray, ...]]], order: int, vocab_size: int,
                 start_id: int) -> list[NgramCounts]:
    """Sum the shards' n-gram counts (shards in text order) and number them as ``count_ngrams`` numbers one
    whole text's; an n-gram's starts_sentence flag is that of its first shard (its first occurrence)."""
    merged: list[NgramCounts] = []
    keys: list[np.ndarray] = []
    for n in range(1, order + 1):
        parts = [shard[n - 1] for shard in shards if len(shard) >= n]
        tuples = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, n), dtype=np.int32)
        counts = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        starts = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, dtype=bool)
        if n == 1:
            total = np.bincount(tuples[:, 0], weights=counts, minlength=vocab_size).astype(np.int64)
            merged.append(NgramCounts(keys=np.arange(vocab_size, dtype=np.int64), counts=total,
                                      suffix=np.full(vocab_size, -1, dtype=np.int64),
                                      starts_sentence=np.arange(vocab_size) == start_id))
            keys.append(merged[0].keys)
            continue
        row_keys = _ranks(tuples[:, :-1], keys, vocab_size) * vocab_size + tuples[:, -1]
        unique, first, inverse = np.unique(row_keys, return_index=True, return_inverse=True)
        summed = np.bincount(inverse.reshape(-1), weights=counts, minlength=len(unique)).astype(np.int64)
        representative = tuples[first]
        merged.append(NgramCounts(keys=unique, counts=summed, suffix=_ranks(representative[:, 1:], keys, vocab_size),
                                  starts_sentence=starts[first]))
        keys.append(unique)
    return merged


def train_ngram_sharded(path: str, order: int, executor: concurrent.futures.Executor, shards: int, cutoffs=None,
                        fallback=DISCOUNT_FALLBACK, say=None) -> tuple[NgramModel, list]:
    """``train_ngram`` with the counting split into ``shards`` tasks by line ranges; the same model. (A text
    with a literal ``</s>`` inside a line is counted here, in one piece.)"""
    check_order(order)
    corpus = encode_file(path, "training file")
    bounds = line_bounds(corpus.type_ids)
    if len(bounds) - 1 != corpus.line_count:  # a literal </s> inside a line: ids alone cannot tell it apart
        return train_ngram(path, order, cutoffs, fallback, say)
    words, _ = ngram_vocabulary(corpus.types)
    futures = [executor.submit(count_lines_task, path, begin, end, order)
               for begin, end in split_evenly(bounds, shards)]
    counted = merge_counts([future.result() for future in futures], order, len(words), 0)
    orders, discounts = estimate_kneser_ney(counted, len(words), 0, cutoffs, fallback, say)
    return NgramModel(words=words, orders=orders), discounts

"""N-gram counting split by line ranges gives exactly one process's model (the ARPA file byte for byte)."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from rnnlmpy.ngram.arpa import write_arpa
from rnnlmpy.ngram.kneser_ney import count_ngrams, sentence_stream, train_ngram
from rnnlmpy.ngram.sharded import ngram_vocabulary, sentence_stream_of, train_ngram_sharded
from rnnlmpy.corpus import encode_file

from helpers import write_text


def awkward_lines(count: int, seed: int, literal_end: bool = False) -> list[str]:
    """Lines with empty ones, repeated words, a literal <s> (and </s>), tabs and a Unicode space inside a word."""
    rng = np.random.default_rng(seed)
    words = ["a", "b", "c", "d", "<s>", "x\u00a0y", "é"] + (["</s>"] if literal_end else [])
    lines = []
    for _ in range(count):
        if rng.random() < 0.1:
            lines.append("")
            continue
        lines.append("\t".join(rng.choice(words, size=rng.integers(1, 9))) if rng.random() < 0.2
                     else " ".join(rng.choice(words, size=rng.integers(1, 9))))
    return lines


def test_the_vocabulary_and_streams_are_train_ngrams(tmp_path):
    path = write_text(tmp_path / "t.txt", awkward_lines(300, seed=1))
    from rnnlmpy.ngram.kneser_ney import read_sentences
    index: dict[str, int] = {}
    expected = sentence_stream(read_sentences(path), index, grow=True)
    corpus = encode_file(path)
    words, lookup = ngram_vocabulary(corpus.types)
    assert words == list(index)
    stream = sentence_stream_of(np.asarray(corpus.type_ids), lookup, 0, 1)
    np.testing.assert_array_equal(stream.ids, expected.ids)
    np.testing.assert_array_equal(stream.position, expected.position)
    assert stream.sentences == expected.sentences


@pytest.mark.parametrize("order,shards,literal_end", [(1, 3, False), (2, 1, False), (3, 4, False), (5, 7, False),
                                                      (3, 1000, False), (3, 4, True)])
def test_sharded_counting_writes_the_same_arpa_file(tmp_path, order, shards, literal_end):
    path = write_text(tmp_path / "t.txt", awkward_lines(400, seed=order, literal_end=literal_end))
    whole, whole_discounts = train_ngram(path, order)
    with concurrent.futures.ThreadPoolExecutor(3) as executor:
        split, split_discounts = train_ngram_sharded(path, order, executor, shards)
    write_arpa(whole, str(tmp_path / "whole.arpa"))
    write_arpa(split, str(tmp_path / "split.arpa"))
    assert (tmp_path / "whole.arpa").read_bytes() == (tmp_path / "split.arpa").read_bytes()
    np.testing.assert_array_equal(np.array(whole_discounts), np.array(split_discounts))


def test_counts_of_one_shard_are_count_ngrams(tmp_path):
    path = write_text(tmp_path / "t.txt", awkward_lines(100, seed=9))
    from rnnlmpy.ngram.sharded import count_lines_task, merge_counts
    corpus = encode_file(path)
    words, lookup = ngram_vocabulary(corpus.types)
    expected = count_ngrams(sentence_stream_of(np.asarray(corpus.type_ids), lookup, 0, 1), 4, len(words))
    merged = merge_counts([count_lines_task(path, 0, len(corpus), 4)], 4, len(words), 0)
    for mine, theirs in zip(merged, expected):
        present = theirs.counts > 0
        np.testing.assert_array_equal(mine.keys, theirs.keys[present] if len(mine.keys) < len(theirs.keys)
                                      else theirs.keys)
        np.testing.assert_array_equal(mine.counts[mine.counts > 0], theirs.counts[present])

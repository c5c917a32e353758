import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.text import read_corpus, split_tokens
from rnnlmpy.rnnlm.vocab import assign_classes, build_vocabulary, vocabulary_from_classes

from helpers import write_text


def test_split_only_on_ascii_space_and_tab():
    # U+00A0 (no-break space) and U+3000 (ideographic space) stay inside tokens
    assert split_tokens("a\u00a0b  c\td\u3000e ") == ["a\u00a0b", "c", "d\u3000e"]


def test_read_corpus_closes_lines_and_keeps_empty_ones(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"a b\r\n\nc")  # CR dropped, empty line gives </s>, unterminated last line kept
    assert read_corpus(str(path)) == ["a", "b", "</s>", "</s>", "c", "</s>"]


def test_read_corpus_rejects_bad_utf8_with_line_number(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nbad \xff byte\n")
    with pytest.raises(RnnlmpyError, match="line 2"):
        read_corpus(str(path))


def test_vocabulary_order_is_stable_by_descending_count():
    tokens = "b a c a b d </s> e".split()
    vocabulary = build_vocabulary(tokens, class_count=2)
    # </s> first; then counts 2 (b before a: first appearance), then 1 in order of appearance
    assert vocabulary.words == ["</s>", "b", "a", "c", "d", "e"]
    assert vocabulary.counts.tolist() == [1, 2, 2, 1, 1, 1]


def rule_classes(shares, class_count):
    """The class rule spelled out: cut when the running share passes (class + 1) / class_count."""
    expected, current, running = [], 0, 0.0
    for share in shares / shares.sum():
        running += share
        expected.append(current)
        if running > (current + 1) / class_count and current < class_count - 1:
            current += 1
    return expected


def test_sqrt_frequency_classes_follow_the_cumulative_rule():
    counts = np.array([16, 9, 4, 1, 1, 1])
    assert assign_classes(counts, 3).tolist() == rule_classes(np.sqrt(counts / counts.sum()), 3) == [0, 0, 1, 2, 2, 2]
    assert assign_classes(counts, 3, old_classes=True).tolist() == rule_classes(counts / counts.sum(), 3) == \
        [0, 1, 2, 2, 2, 2]


def test_classes_are_contiguous_ranges_covering_the_vocabulary():
    rng = np.random.default_rng(0)
    tokens = [f"w{int(i)}" for i in rng.zipf(1.3, 5000) if i < 400]
    vocabulary = build_vocabulary(tokens, class_count=20)
    assert vocabulary.class_start[0] == 0 and vocabulary.class_end[-1] == vocabulary.size
    assert np.all(vocabulary.class_start[1:] == vocabulary.class_end[:-1])
    for c in range(vocabulary.class_count):
        members = np.flatnonzero(vocabulary.word_class == c)
        assert members.tolist() == list(range(vocabulary.class_start[c], vocabulary.class_end[c]))


def test_class_zero_is_rejected_with_advice():
    with pytest.raises(RnnlmpyError, match="use -class 1 for a full softmax"):
        assign_classes(np.array([3, 2, 1]), 0)


def test_unknown_words_map_to_unk_only_when_present():
    with_unk = build_vocabulary("a b <unk> a".split(), class_count=1)
    without = build_vocabulary("a b a".split(), class_count=1)
    assert with_unk.encode(["a", "zzz"]).tolist() == [with_unk.index["a"], with_unk.index["<unk>"]]
    assert without.encode(["a", "zzz"]).tolist() == [without.index["a"], -1]


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(RnnlmpyError, match="empty"):
        read_corpus(write_text(tmp_path / "e.txt", ["", "  "]))


def test_more_classes_than_words_leaves_no_empty_class():
    vocabulary = build_vocabulary("a b </s> c a </s>".split(), class_count=100)
    assert vocabulary.class_count == vocabulary.size == 4
    assert np.all(vocabulary.class_end > vocabulary.class_start)


def test_gaps_in_class_numbers_are_rejected():
    with pytest.raises(RnnlmpyError, match="contiguous"):
        vocabulary_from_classes(["</s>", "a", "b"], np.array([1, 1, 1]), np.array([0, 2, 2]))

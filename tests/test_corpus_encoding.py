"""rnnlmpy.corpus: encode_file gives read_corpus's tokens and errors as int32 ids, type_counts, and the disk cache."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.text import read_corpus, text_lines
from rnnlmpy.corpus import cache as corpus_cache
from rnnlmpy.corpus import encoding
from rnnlmpy.corpus.encoding import encode_file, type_counts
from rnnlmpy.kernels import tokens

HAND_WRITTEN = [
    b"a b c\n",
    b"a b c",  # no final LF: the last line keeps its words
    b"  a\t\tb  \n\n c\n",
    b"a\r\nb\r\n",
    b"a\rb c\r\n\r",  # a CR inside a token is removed; a last "line" of CR only adds nothing
    b"x\n \n\t\n",  # lines of spaces still give </s>
    b"a\n ",  # a last line of spaces without LF: one more </s>
    b"a\n\r",
    "café naïve\u00a0x \u3000y\u3000 中文 a\u2003b\n".encode(),  # Unicode spaces stay inside tokens
    b"</s> a </s>\n\n",  # a literal </s> is type 0
    b"the cat\nthe dog\n\n\nthe end",
]
CHUNK_SIZES = [1, 2, 3, 7, 64, 4 * 2**20]
PIECES = ["a", "b", "ab", "word", " ", " ", "  ", "\t", "\r", "\n", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", "é",
          "中", "🙂", "</s>", "x\u00a0y"]


def write(tmp_path, data: bytes, name: str = "corpus.txt") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def tokens_of(corpus) -> list[str]:
    return [corpus.types[i] for i in corpus.type_ids]


def random_corpus(rng: random.Random, length: int, distinct_words: int) -> bytes:
    pieces = [rng.choice(PIECES) if rng.random() < 0.6 else f"w{rng.randrange(distinct_words)}" for _ in range(length)]
    return "".join(pieces).encode()


@pytest.fixture
def tiny_buffers(monkeypatch):
    """Every array of the encoder starts tiny, so each kind of growth and resumption happens on small files."""
    monkeypatch.setattr(encoding, "INITIAL_TYPE_CAPACITY", 1)
    monkeypatch.setattr(encoding, "INITIAL_POOL_BYTES", 1)
    monkeypatch.setattr(encoding, "TOKENS_PER_BYTE_GUESS", 0.0)
    monkeypatch.setattr(encoding, "FLUSH_TOKENS", 3)


def assert_same_as_read_corpus(path: str, corpus) -> None:
    data = open(path, "rb").read()
    expected = read_corpus(path, allow_empty=True)
    assert tokens_of(corpus) == expected
    assert corpus.types == list(dict.fromkeys(["</s>", *expected]))  # distinct, in order of first appearance
    assert corpus.type_ids.dtype == np.int32 and len(corpus) == len(expected)
    assert corpus.line_count == len(text_lines(data.decode()))
    assert corpus.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("chunk_bytes", CHUNK_SIZES)
@pytest.mark.parametrize("data", HAND_WRITTEN)
def test_hand_written_files_give_read_corpus_tokens(tmp_path, monkeypatch, tiny_buffers, data, chunk_bytes):
    monkeypatch.setattr(encoding, "CHUNK_BYTES", chunk_bytes)
    path = write(tmp_path, data)
    assert_same_as_read_corpus(path, encode_file(path, cache=False))


@pytest.mark.parametrize("chunk_bytes", [1, 5, 100, 4 * 2**20])
@pytest.mark.parametrize("seed", range(12))
def test_random_files_give_read_corpus_tokens(tmp_path, monkeypatch, tiny_buffers, seed, chunk_bytes):
    monkeypatch.setattr(encoding, "CHUNK_BYTES", chunk_bytes)
    rng = random.Random(seed)
    path = write(tmp_path, random_corpus(rng, rng.choice([0, 5, 200, 3000]), rng.choice([3, 50, 5000])))
    assert_same_as_read_corpus(path, encode_file(path, cache=False, allow_empty=True))


def test_many_distinct_types_grow_the_table(tmp_path, tiny_buffers):
    words = [f"t{i}" for i in range(20000)]
    path = write(tmp_path, ("\n".join(" ".join(words[i:i + 7]) for i in range(0, 20000, 7)) + "\n").encode())
    corpus = encode_file(path, cache=False)
    assert_same_as_read_corpus(path, corpus)
    assert len(corpus.types) == 20001


def test_a_line_longer_than_a_chunk_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(encoding, "CHUNK_BYTES", 16)
    long_token = "z" * 1000
    path = write(tmp_path, f"a {long_token} b {long_token}\nc\n".encode())
    corpus = encode_file(path, cache=False)
    assert_same_as_read_corpus(path, corpus)
    assert corpus.types == ["</s>", "a", long_token, "b", "c"]


def test_the_result_is_read_only(tmp_path):
    corpus = encode_file(write(tmp_path, b"a b\n"), cache=False)
    with pytest.raises(ValueError):
        corpus.type_ids[0] = 1
    assert len(corpus) == 3 and "3 tokens, 1 lines, 3 types" in repr(corpus)


def test_equal_hashes_alone_do_not_make_one_type():
    table = np.full(8, tokens.EMPTY_SLOT, dtype=np.int32)
    starts, lengths, hashes = (np.zeros(4, dtype=dtype) for dtype in (np.int64, np.int64, np.uint64))
    pool, ids = np.zeros(64, dtype=np.uint8), np.zeros(8, dtype=np.int32)
    arrays = dict(table=table, type_starts=starts, type_lengths=lengths, type_hashes=hashes, type_limit=4, pool=pool)
    data = np.frombuffer(b"xy", dtype=np.uint8)
    status, _, pool_used, type_count, id_count = tokens.tokenize_bytes(
        data=data, position=0, end=2, pool_used=0, type_count=0, ids=ids, id_count=0, **arrays)
    assert (status, pool_used, type_count, id_count) == (tokens.DONE, 3, 1, 1)
    pool[:2] = np.frombuffer(b"ab", dtype=np.uint8)  # type 0 now reads "ab" under the hash of "xy"
    status, _, pool_used, type_count, id_count = tokens.tokenize_bytes(
        data=data, position=0, end=2, pool_used=pool_used, type_count=type_count, ids=ids, id_count=id_count, **arrays)
    assert (status, type_count, ids[:id_count].tolist()) == (tokens.DONE, 2, [0, 1])
    assert pool[:pool_used].tobytes() == b"ab\nxy\n"


def same_error(call, expected_call) -> None:
    with pytest.raises(RnnlmpyError) as expected:
        expected_call()
    with pytest.raises(RnnlmpyError) as got:
        call()
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("chunk_bytes", [1, 4, 4 * 2**20])
@pytest.mark.parametrize("data", [
    b"ok\n\xff\n",
    b"a\nb\nc\xc3\n",  # a character cut by LF
    b"a b\nc \xe4\xb8",  # a character cut by the end of the file
    b"a\n\xc3\r\xa9\n",  # a CR inside a character: invalid before CR removal, as in read_corpus
    "é\n".encode() * 30 + b"x \xed\xa0\x80 y\n" + b"z\n" * 10,  # a surrogate, in a later chunk
])
def test_invalid_utf8_gives_read_corpus_error(tmp_path, monkeypatch, data, chunk_bytes):
    monkeypatch.setattr(encoding, "CHUNK_BYTES", chunk_bytes)
    path = write(tmp_path, data)
    same_error(lambda: encode_file(path, "training file", cache=False), lambda: read_corpus(path, "training file"))


@pytest.mark.parametrize("data", [b"", b"\n\n", b" \t \r\n", b"</s>\n</s>", b"\r\r"])
def test_empty_files_give_read_corpus_error_unless_allowed(tmp_path, data):
    path = write(tmp_path, data)
    same_error(lambda: encode_file(path, "test file"), lambda: read_corpus(path, "test file"))
    assert tokens_of(encode_file(path, allow_empty=True)) == read_corpus(path, allow_empty=True)


def test_missing_files_and_folders_give_read_corpus_error(tmp_path):
    for path in (str(tmp_path / "absent.txt"), str(tmp_path)):
        same_error(lambda: encode_file(path, "validation file"), lambda: read_corpus(path, "validation file"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_files_give_read_corpus_error(tmp_path):
    path = write(tmp_path, b"a\n")
    os.chmod(path, 0)
    same_error(lambda: encode_file(path), lambda: read_corpus(path))


@pytest.mark.parametrize("data", HAND_WRITTEN[:9] + [b"", b"\xff"])
def test_character_level_gives_read_corpus_tokens_and_errors(tmp_path, cache_dir, data):
    path = write(tmp_path, data)
    try:
        expected = read_corpus(path, "corpus", char_level=True)
    except RnnlmpyError:
        same_error(lambda: encode_file(path, char_level=True), lambda: read_corpus(path, char_level=True))
        return
    corpus = encode_file(path, char_level=True)
    assert tokens_of(corpus) == expected and corpus.types == list(dict.fromkeys(["</s>", *expected]))
    assert corpus.sha256 == hashlib.sha256(data).hexdigest()
    assert corpus.line_count == expected.count("</s>")
    assert not cache_dir.exists()  # never cached


def slow_type_counts(ids, type_count, begin, end):
    counts, first = np.zeros(type_count, dtype=np.int64), np.full(type_count, -1, dtype=np.int64)
    for position in range(begin, end):
        if first[ids[position]] < 0:
            first[ids[position]] = position
        counts[ids[position]] += 1
    return counts, first


@pytest.mark.parametrize("begin, end", [(0, None), (0, 0), (17, 17), (5, 300), (250, 1000), (999, 1000)])
def test_type_counts_match_bincount_and_a_python_loop(begin, end):
    ids = np.random.default_rng(3).integers(0, 40, size=1000).astype(np.int32) ** 2 // 40  # types 38, 39 unused
    counts, first = type_counts(ids, 45, begin, end)
    stop = len(ids) if end is None else end
    assert counts.dtype == np.int64 and first.dtype == np.int64 and counts.shape == first.shape == (45,)
    np.testing.assert_array_equal(counts, np.bincount(ids[begin:stop], minlength=45))
    expected_counts, expected_first = slow_type_counts(ids, 45, begin, stop)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(first, expected_first)


def test_type_counts_refuse_bad_ranges_and_ids():
    ids = np.array([0, 1, 2], dtype=np.int32)
    with pytest.raises(ValueError):
        type_counts(ids, 3, 2, 1)
    with pytest.raises(ValueError):
        type_counts(ids, 3, 0, 4)
    with pytest.raises(ValueError):
        type_counts(ids, 2)


def test_type_counts_of_an_encoded_file(tmp_path, cache_dir):
    path = write(tmp_path, b"a b a\nc a\n")
    corpus = encode_file(path)
    counts, first = type_counts(corpus.type_ids, len(corpus.types))
    assert corpus.types == ["</s>", "a", "b", "c"]
    assert counts.tolist() == [2, 3, 1, 1] and first.tolist() == [3, 0, 1, 4]


def entry_of(cache_dir, path: str) -> str:
    return corpus_cache.entry_path(str(cache_dir), os.path.abspath(path))


def count_reads(monkeypatch) -> list[str]:
    """Record every pass of the encoder over a file."""
    reads, original = [], encoding._tokenize_file

    def counted(path, what, sink):
        reads.append(path)
        return original(path, what, sink)

    monkeypatch.setattr(encoding, "_tokenize_file", counted)
    return reads


def assert_same_corpus(got, expected) -> None:
    assert got.types == expected.types and got.sha256 == expected.sha256 and got.line_count == expected.line_count
    np.testing.assert_array_equal(np.asarray(got.type_ids), np.asarray(expected.type_ids))


def leftovers(cache_dir) -> list[str]:
    return glob.glob(os.path.join(str(cache_dir), "*.*"))


def test_the_second_call_maps_the_cache_without_reading_the_file(tmp_path, cache_dir, tiny_buffers, monkeypatch):
    path = write(tmp_path, random_corpus(random.Random(7), 3000, 500))
    in_memory = encode_file(path, cache=False)
    first = encode_file(path)
    assert isinstance(first.type_ids, np.memmap) and "from cache" in repr(first)
    assert_same_corpus(first, in_memory)
    assert_same_as_read_corpus(path, first)
    monkeypatch.setattr(encoding, "_line_chunks", lambda *arguments: pytest.fail("the corpus was read again"))
    second = encode_file(path)
    assert isinstance(second.type_ids, np.memmap) and not second.type_ids.flags.writeable
    assert_same_corpus(second, in_memory)
    entry = entry_of(cache_dir, path)
    assert sorted(os.listdir(entry)) == sorted([corpus_cache.MANIFEST_FILE, corpus_cache.IDS_FILE,
                                                corpus_cache.TYPES_FILE])
    assert os.path.getsize(os.path.join(entry, corpus_cache.IDS_FILE)) == 4 * len(in_memory)
    assert leftovers(cache_dir) == []


def test_small_files_and_cache_false_write_nothing(tmp_path, cache_dir, monkeypatch):
    path = write(tmp_path, b"a b\n")
    assert not isinstance(encode_file(path, cache=False).type_ids, np.memmap)
    monkeypatch.setattr(encoding, "CACHE_MIN_BYTES", 5)
    assert not isinstance(encode_file(path).type_ids, np.memmap)
    assert not cache_dir.exists()
    monkeypatch.setenv("RNNLMPY_CACHE_DIR", "")  # set but empty: no cache
    monkeypatch.setattr(encoding, "CACHE_MIN_BYTES", 0)
    assert encoding.cache_folder() is None and not isinstance(encode_file(path).type_ids, np.memmap)


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNLMPY_CACHE_DIR", str(tmp_path / "here"))
    assert encoding.cache_folder() == str(tmp_path / "here")
    monkeypatch.delenv("RNNLMPY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert encoding.cache_folder() == str(tmp_path / "xdg" / "rnnlmpy" / "corpora")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert encoding.cache_folder() == str(tmp_path / "home" / ".cache" / "rnnlmpy" / "corpora")


def test_a_touched_or_changed_file_is_read_again(tmp_path, cache_dir, monkeypatch):
    path = write(tmp_path, b"a b c\n")
    reads = count_reads(monkeypatch)
    encode_file(path)
    encode_file(path)
    assert len(reads) == 1
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes
    assert tokens_of(encode_file(path)) == ["a", "b", "c", "</s>"] and len(reads) == 2
    with open(path, "wb") as handle:  # same size, other bytes
        handle.write(b"c b a\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    changed = encode_file(path)
    assert len(reads) == 3 and isinstance(changed.type_ids, np.memmap)
    assert_same_as_read_corpus(path, changed)
    assert leftovers(cache_dir) == []  # the stale entry was moved aside and deleted


@pytest.mark.parametrize("damage", ["truncate ids", "lengthen ids", "corrupt manifest", "manifest of a list",
                                    "drop a type", "remove types", "other format"])
def test_a_damaged_entry_is_rebuilt(tmp_path, cache_dir, monkeypatch, damage):
    path = write(tmp_path, b"a b c\nd e\n")
    expected = encode_file(path, cache=False)
    entry = entry_of(cache_dir, path)
    encode_file(path)
    manifest_path = os.path.join(entry, corpus_cache.MANIFEST_FILE)
    if damage == "truncate ids":
        with open(os.path.join(entry, corpus_cache.IDS_FILE), "r+b") as handle:
            handle.truncate(8)
    elif damage == "lengthen ids":
        with open(os.path.join(entry, corpus_cache.IDS_FILE), "ab") as handle:
            handle.write(b"\0" * 4)
    elif damage == "corrupt manifest":
        with open(manifest_path, "w") as handle:
            handle.write('{"kind": ')
    elif damage == "manifest of a list":
        with open(manifest_path, "w") as handle:
            handle.write("[1, 2]")
    elif damage == "drop a type":
        with open(os.path.join(entry, corpus_cache.TYPES_FILE), "wb") as handle:
            handle.write("\n".join(expected.types[:-1]).encode() + b"\n")
    elif damage == "remove types":
        os.unlink(os.path.join(entry, corpus_cache.TYPES_FILE))
    else:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
        with open(manifest_path, "w") as handle:
            json.dump({**manifest, "format": corpus_cache.FORMAT_VERSION + 1}, handle)
    reads = count_reads(monkeypatch)
    rebuilt = encode_file(path)
    assert reads == [path] and isinstance(rebuilt.type_ids, np.memmap)
    assert_same_corpus(rebuilt, expected)
    assert_same_corpus(encode_file(path), expected) and reads == [path]  # and the rebuilt entry is used


def test_an_unwritable_cache_folder_falls_back_to_memory(tmp_path, monkeypatch):
    blocker = write(tmp_path, b"", "a-file")
    monkeypatch.setenv("RNNLMPY_CACHE_DIR", os.path.join(blocker, "cache"))  # a folder inside a file
    monkeypatch.setattr(encoding, "CACHE_MIN_BYTES", 0)
    path = write(tmp_path, b"a b\n")
    corpus = encode_file(path)
    assert not isinstance(corpus.type_ids, np.memmap)
    assert_same_as_read_corpus(path, corpus)


def test_a_failed_cache_write_falls_back_to_memory(tmp_path, cache_dir, monkeypatch, tiny_buffers):
    def full_disk(self, ids):
        raise corpus_cache.CacheWriteError("No space left on device")

    monkeypatch.setattr(corpus_cache.EntryWriter, "write_ids", full_disk)
    path = write(tmp_path, b"a b c d e f g\nh\n")
    corpus = encode_file(path)
    assert not isinstance(corpus.type_ids, np.memmap)
    assert_same_as_read_corpus(path, corpus)
    assert os.listdir(cache_dir) == []  # the unfinished entry is gone


def test_bad_utf8_leaves_no_entry(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(encoding, "CHUNK_BYTES", 2)
    path = write(tmp_path, b"a\nb\n\xff\n")
    same_error(lambda: encode_file(path), lambda: read_corpus(path))
    assert os.listdir(cache_dir) == []


def test_a_file_changed_while_read_is_not_cached(tmp_path, cache_dir, monkeypatch):
    path = write(tmp_path, b"a b\nc\n")
    original = encoding._line_chunks

    def touching(handle, chunk_bytes, digest):
        yield from original(handle, chunk_bytes, digest)
        stat = os.stat(path)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    monkeypatch.setattr(encoding, "_line_chunks", touching)
    corpus = encode_file(path)
    assert not isinstance(corpus.type_ids, np.memmap) and tokens_of(corpus) == ["a", "b", "</s>", "c", "</s>"]
    assert os.listdir(cache_dir) == []


def test_when_another_run_installs_first_its_entry_is_used(tmp_path, cache_dir, monkeypatch):
    path = write(tmp_path, b"a b\nc\n")
    encode_file(path)  # the other run's entry
    real_load, calls = corpus_cache.load_entry, []

    def miss_first(*arguments):
        calls.append(arguments)
        return None if len(calls) == 1 else real_load(*arguments)  # we look before the other run has finished

    monkeypatch.setattr(corpus_cache, "load_entry", miss_first)
    corpus = encode_file(path)
    assert isinstance(corpus.type_ids, np.memmap) and tokens_of(corpus) == ["a", "b", "</s>", "c", "</s>"]
    assert len(calls) >= 2 and leftovers(cache_dir) == []


def test_abandoned_temporary_entries_are_removed(tmp_path, cache_dir):
    path = write(tmp_path, b"a\n")
    entry = entry_of(cache_dir, path)
    dead, alive = f"{entry}.999999999.0000.tmp", f"{entry}.{os.getpid()}.0000.tmp"
    for folder in (dead, alive):
        os.makedirs(folder)
    encode_file(path)
    assert not os.path.exists(dead) and os.path.exists(alive)  # a live run's entry is left to it


@pytest.mark.parametrize("data", [b"\n" * 10, b"\r" * 10])
def test_an_empty_cached_file_is_still_refused(tmp_path, cache_dir, data):
    path = write(tmp_path, data)
    for _ in range(2):  # building the entry, then from the entry
        same_error(lambda: encode_file(path, "corpus"), lambda: read_corpus(path, "corpus"))
        assert tokens_of(encode_file(path, allow_empty=True)) == read_corpus(path, allow_empty=True)


def test_token_sequence_reads_like_the_token_list(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b\n\nc a  b\td\nlast")
    expected = read_corpus(str(path))
    sequence = encode_file(str(path)).tokens()
    assert len(sequence) == len(expected) and list(sequence) == expected
    assert [sequence[i] for i in range(len(expected))] == expected and sequence[2:5] == expected[2:5]
    assert sequence[-1] == expected[-1] and "TokenSequence" in repr(sequence)


@pytest.mark.parametrize("char_level", [False, True])
def test_ppl_of_a_file_equals_scoring_its_token_list(tmp_path, char_level):
    from rnnlmpy import RnnlmConfig, train
    from rnnlmpy.rnnlm.evaluation import evaluate_file, score_tokens

    train_file = tmp_path / "train.txt"
    train_file.write_text("".join(f"w{i % 7} w{i % 5} w{i % 3}\n" for i in range(300)))
    test_file = tmp_path / "test.txt"
    test_file.write_text("w1 w2 unknown\n\nw3 w4\tw0\n")
    model = train(str(train_file), str(tmp_path / "m"), None, RnnlmConfig(hidden_size=5, char_level=char_level),
                  max_iter=1, debug=0, threads=1)
    from_file = evaluate_file(model, str(test_file))
    from_list = score_tokens(model, read_corpus(str(test_file), char_level=char_level))
    np.testing.assert_array_equal(from_file.word_ids, from_list.word_ids)
    np.testing.assert_array_equal(from_file.probabilities, from_list.probabilities)
    assert list(from_file.tokens) == list(from_list.tokens)
    assert from_file.oov_count == from_list.oov_count > 0  # "unknown" (its letters, for characters)

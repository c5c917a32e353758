"""The binary n-gram format: the same scores as the ARPA file, every reader accepts it, damaged files are one line."""

from __future__ import annotations

import gzip
import json
import os
import struct

import numpy as np
import pytest

from rnnlmpy.base import files
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.ngram import (NgramTrie, read_arpa, read_binary, read_ngram, score_sentences, train_ngram, write_arpa,
                           write_binary)
from rnnlmpy.ngram.binary import PREFIX, layout
from rnnlmpy.ngram.kneser_ney import SENTENCE_START, sentence_stream

from helpers import run_cli, write_text

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "rug", "fast", "slow", "big", "small", "red", "old"]
TEST_LINES = ["the cat sat on the mat", "a dog ran fast", "the zebra sat", "big red dog on a rug",
              "<s> the cat", "old old old cat"]  # an unknown word, a literal <s>, repeats


def corpus(sentences: int = 400, seed: int = 5) -> list[str]:
    """Random sentences over WORDS with some structure (a small vocabulary, many repeated n-grams)."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(sentences):
        length = int(rng.integers(2, 9))
        start = int(rng.integers(0, len(WORDS)))
        lines.append(" ".join(WORDS[(start + int(step)) % len(WORDS)] for step in
                              np.cumsum(rng.integers(0, 3, size=length))))
    return lines


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A 4-gram model: its training text, test text, ARPA file and binary file (converted from the ARPA)."""
    folder = tmp_path_factory.mktemp("binary")
    train = write_text(folder / "train.txt", corpus())
    test = write_text(folder / "test.txt", TEST_LINES + corpus(60, seed=9))
    arpa = str(folder / "kn4.arpa")
    model, _ = train_ngram(train, 4)
    write_arpa(model, arpa)
    binary = str(folder / "kn4.bin")
    write_binary(read_arpa(arpa), binary)
    return {"folder": folder, "train": train, "test": test, "arpa": arpa, "binary": binary}


def sentences_of(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8") as handle:
        return [line.split() for line in handle if line.split()]


def assert_same_scores(first, second) -> None:
    assert np.array_equal(first.log10_prob, second.log10_prob)  # equal floats, not close ones
    assert np.array_equal(first.matched_order, second.matched_order)
    assert np.array_equal(first.is_oov, second.is_oov) and first.tokens == second.tokens


# ---------------------------------------------------------------- the same scores

def test_the_binary_model_scores_exactly_as_its_arpa_file(built):
    trie = read_ngram(built["binary"])
    assert isinstance(trie, NgramTrie) and trie.prob.dtype == np.int32 and trie.scale == 1e6
    sentences = sentences_of(built["test"])
    from_arpa, from_binary = score_sentences(read_arpa(built["arpa"]), sentences), score_sentences(trie, sentences)
    assert_same_scores(from_arpa, from_binary)
    assert from_binary.oovs == 1 and set(from_binary.matched_order.tolist()) == {0, 1, 2, 3, 4}


def test_the_command_line_reports_the_same_for_both_files(built, capsys):
    reports = []
    for model in (built["arpa"], built["binary"]):
        code, out, err = run_cli(["ngram", "-lm", model, "-test", built["test"], "-debug", "2"], capsys)
        assert code == 0, err
        reports.append(out)
    assert reports[0] == reports[1] and "[4gram]" in reports[0]


def test_a_binary_written_while_building_is_the_binary_of_its_arpa_file(built, tmp_path, capsys):
    arpa, binary, converted = (str(tmp_path / name) for name in ("m.arpa", "m.bin", "converted.bin"))
    assert run_cli(["ngram", "-train", built["train"], "-order", "4", "-arpa", arpa, "-binary", binary], capsys)[0] == 0
    assert run_cli(["ngram", "-lm", arpa, "-binary", converted], capsys)[0] == 0
    with open(binary, "rb") as first, open(converted, "rb") as second:
        assert first.read() == second.read()
    assert files.sniff(binary) == files.NGRAM_BINARY


def test_converting_a_binary_again_gives_the_same_file(built, tmp_path, capsys):
    again = str(tmp_path / "again.bin")
    assert run_cli(["ngram", "-lm", built["binary"], "-binary", again], capsys)[0] == 0
    with open(built["binary"], "rb") as first, open(again, "rb") as second:
        assert first.read() == second.read()


def test_the_trie_gives_back_the_arpa_models_arrays(built):
    model, back = read_arpa(built["arpa"]), read_binary(built["binary"]).to_model()
    assert back.words == model.words
    for original, restored in zip(model.orders[:-1], back.orders[:-1]):
        for name in ("keys", "log10_prob", "log10_backoff"):
            assert np.array_equal(getattr(original, name), getattr(restored, name)), name
    assert np.array_equal(model.orders[-1].keys, back.orders[-1].keys)


ODD_ARPA = """\\data\\
ngram 1=5
ngram 2=3
ngram 3=0

\\1-grams:
-0.12345678\t</s>
-99\t<s>\t-0.30102999
-1.23456789\tx\t-0.11111111
-2.5\ty\t-0.25
-1.75\t<unk>

\\2-grams:
-0.01234567\t<s> x\t0
-0.5\tx y\t0
-0.25\ty </s>

\\3-grams:

\\end\\
"""


@pytest.mark.parametrize("values, expected_scale", [("odd", 1.0), ("seven", 1e7)])
def test_values_an_int32_decimal_cannot_hold_stay_float64_and_exact(values, expected_scale, tmp_path):
    text = ODD_ARPA if values == "odd" else ODD_ARPA.replace("-0.12345678", "-0.1234567").replace(
        "-1.23456789", "-1.2345678").replace("-0.01234567", "-0.0123456").replace("-0.30102999", "-0.3010299").replace(
        "-0.11111111", "-0.1111111")
    arpa = tmp_path / "odd.arpa"
    arpa.write_text(text, encoding="utf-8")
    binary = str(tmp_path / "odd.bin")
    write_binary(read_arpa(str(arpa)), binary)
    trie = read_ngram(binary)
    assert trie.scale == expected_scale and trie.counts == (5, 3, 0)
    lines = [["x", "y"], ["y", "x", "q"], ["x"]]  # q: read as <unk>
    assert_same_scores(score_sentences(read_arpa(str(arpa)), lines), score_sentences(trie, lines))


def test_a_unigram_model_and_gzip_compressed_binary_work(tmp_path):
    train = write_text(tmp_path / "train.txt", corpus(50))
    model, _ = train_ngram(train, 1)
    arpa, binary = str(tmp_path / "kn1.arpa"), str(tmp_path / "kn1.bin")
    write_arpa(model, arpa)
    write_binary(read_arpa(arpa), binary)
    packed = str(tmp_path / "kn1.bin.gz")
    with open(binary, "rb") as source, open(packed, "wb") as out:
        out.write(gzip.compress(source.read()))
    lines = [["the", "cat"], ["zebra"]]
    expected = score_sentences(read_arpa(arpa), lines)
    assert_same_scores(expected, score_sentences(read_ngram(binary), lines))
    assert_same_scores(expected, score_sentences(read_ngram(packed), lines))


def old_scores(model, sentences):
    """The scores as score_sentences computed them before ``scoring_stream``: through ``sentence_stream``."""
    index = dict(model.index)
    if "<unk>" in index:
        sentences = [[token if token in index else "<unk>" for token in sentence] for sentence in sentences]
    stream = sentence_stream(sentences, index, grow=False)
    stream.ids[stream.ids >= model.vocab_size] = -1
    log10_prob, matched = model.score_stream(stream)
    predicted = stream.position > 0
    return log10_prob[predicted], matched[predicted], stream.ids[predicted] < 0


WITHOUT_SENTENCE_END = """\\data\\
ngram 1=3
ngram 2=1

\\1-grams:
-99\t<s>\t-0.3
-1.2\tx\t-0.1
-2.5\ty

\\2-grams:
-0.5\tx y

\\end\\
"""


@pytest.mark.parametrize("variant", ["full", "no <unk>", "no </s>", "no <s>"])
def test_scoring_encodes_a_text_as_the_sentence_stream_did(variant, tmp_path):
    text = {"full": ODD_ARPA, "no <unk>": ODD_ARPA.replace("\n-1.75\t<unk>", "\n-1.75\tz"),
            "no </s>": WITHOUT_SENTENCE_END,
            "no <s>": WITHOUT_SENTENCE_END.replace("-99\t<s>\t-0.3", "-0.5\t</s>")}[variant]
    arpa = tmp_path / "m.arpa"
    arpa.write_text(text, encoding="utf-8")
    model = read_arpa(str(arpa))
    lines = [["x", "y"], ["q", "</s>", "x"], ["<s>", "y"], []]
    scores = score_sentences(model, lines)
    log10_prob, matched, is_oov = old_scores(model, lines)
    assert np.array_equal(scores.log10_prob[~scores.is_oov], log10_prob[~is_oov])
    assert np.array_equal(scores.matched_order, matched) and np.array_equal(scores.is_oov, is_oov)
    assert_same_scores(scores, score_sentences(NgramTrie.from_model(model), lines))


# ---------------------------------------------------------------- every reader takes it

def test_ensemble_and_info_read_the_binary_model(built, tmp_path, capsys):
    outputs = []
    same_length_name = str(tmp_path / "kn4.bbin")  # the report aligns its columns on the names
    with open(built["binary"], "rb") as source, open(same_length_name, "wb") as copy:
        copy.write(source.read())
    for second in (built["arpa"], same_length_name):
        code, out, err = run_cli(["ensemble", "-ngram", built["arpa"], "-ngram", second, "-test", built["test"],
                                  "-weights", "0.5,0.5"], capsys)
        assert code == 0, err
        outputs.append(out.replace("kn4.bbin", "kn4.arpa"))
    assert outputs[0] == outputs[1]
    code, out, err = run_cli(["info", "-rnnlm", built["binary"]], capsys)
    model = read_arpa(built["arpa"])
    assert code == 0 and "rnnlmpy binary" in out
    for n, order in enumerate(model.orders, start=1):
        assert f"{n}-grams: {len(order):,}" in out


def test_the_binary_file_is_an_output_of_its_own_kind(built, tmp_path, capsys):
    text = write_text(tmp_path / "notes.txt", ["my notes"])
    code, _, err = run_cli(["ngram", "-lm", built["arpa"], "-binary", text], capsys)
    assert code == 2 and "refusing to replace it" in err and open(text).read() == "my notes\n"
    target = str(tmp_path / "out.bin")
    for _ in range(2):  # an earlier binary model is replaced without -force
        assert run_cli(["ngram", "-lm", built["arpa"], "-binary", target], capsys)[0] == 0
    code, _, err = run_cli(["ngram", "-train", target, "-order", "2", "-arpa", str(tmp_path / "x.arpa")], capsys)
    assert code == 2 and "is an rnnlmpy binary n-gram model, not text" in err
    code, _, err = run_cli(["ngram", "-lm", built["arpa"], "-binary", target, "-arpa", target], capsys)
    assert code == 2 and "only for building" in err
    code, _, err = run_cli(["ngram", "-train", built["train"], "-arpa", target, "-binary", target], capsys)
    assert code == 2 and "name the same file" in err


# ---------------------------------------------------------------- damaged files: one line, never a crash

def header_of(data: bytes) -> tuple[dict, int]:
    start = len(files.NGRAM_BINARY_MAGIC) + PREFIX.size
    _, length = PREFIX.unpack(data[len(files.NGRAM_BINARY_MAGIC):start])
    return json.loads(data[start:start + length]), start + length


def with_header(data: bytes, header: dict) -> bytes:
    """``data`` with its header replaced (the arrays moved to where the new header puts them)."""
    old, old_end = header_of(data)
    encoded = json.dumps(header).encode()
    placed_old, _ = layout(tuple(old["counts"]), old["vocabulary_bytes"], old_end - 26, old["values"],
                           old["bigram_slots"])
    body = bytes(data[placed_old["vocabulary"][0]:])
    new_start = len(files.NGRAM_BINARY_MAGIC) + PREFIX.size + len(encoded)
    placed_new, _ = layout(tuple(old["counts"]), old["vocabulary_bytes"], len(encoded), old["values"],
                           old["bigram_slots"])
    padding = placed_new["vocabulary"][0] - new_start
    return (files.NGRAM_BINARY_MAGIC + PREFIX.pack(1, len(encoded)) + encoded + b"\0" * padding + body)


def array_of(data: bytearray, name: str) -> np.ndarray:
    """A writable view of one array of the file's bytes."""
    header, end = header_of(bytes(data))
    placed, _ = layout(tuple(header["counts"]), header["vocabulary_bytes"], end - 26, header["values"],
                       header["bigram_slots"])
    offset, dtype, length = placed[name]
    return np.frombuffer(data, dtype=dtype, count=length, offset=offset)


def damage(data: bytes, how: str) -> bytes:
    """``data`` (a binary model) damaged in one way."""
    header, _ = header_of(data)
    changed = bytearray(data)
    if how == "truncated":
        return data[:len(data) // 2]
    if how == "cut header":
        return data[:30]
    if how == "trailing bytes":
        return data + b"\0" * 64
    if how == "version":
        return data[:18] + PREFIX.pack(2, PREFIX.unpack(data[18:26])[1]) + data[26:]
    if how == "not json":
        return data[:26] + b"{" * (PREFIX.unpack(data[18:26])[1]) + data[26 + PREFIX.unpack(data[18:26])[1]:]
    if how == "huge header":
        return data[:18] + PREFIX.pack(1, 2 ** 31) + data[26:]
    if how == "counts":
        return with_header(data, dict(header, counts=[header["counts"][0], header["counts"][1] + 1,
                                                      *header["counts"][2:]]))
    if how == "swapped counts":
        counts = header["counts"]
        return with_header(data, dict(header, counts=[counts[0], counts[2], counts[1], *counts[3:]]))
    if how == "order":
        return with_header(data, dict(header, order=9))
    if how == "scale":
        return with_header(data, dict(header, scale=3))
    if how == "extra field":
        return with_header(data, dict(header, extra=1))
    if how == "word out of range":
        array_of(changed, "last_word")[-1] = 10 ** 6
    elif how == "negative word":
        array_of(changed, "last_word")[-1] = -1
    elif how == "unigram ids":
        array_of(changed, "last_word")[0] = 1
    elif how == "unsorted run":
        words = array_of(changed, "last_word")
        runs = array_of(changed, "children")
        first = header["counts"][0]
        long_run = int(np.argmax(np.diff(runs[:first + 1].astype(np.int64))))
        start = first + int(runs[long_run])
        words[start], words[start + 1] = words[start + 1], words[start]
    elif how == "run past the end":
        array_of(changed, "children")[header["counts"][0]] += 1
    elif how == "runs backwards":
        runs = array_of(changed, "children")
        runs[5] = runs[6] + 1
    elif how == "positive probability":
        array_of(changed, "prob")[3] = 5
    elif how == "vocabulary space":
        array_of(changed, "vocabulary")[0] = ord(" ")
    elif how == "vocabulary twice":
        vocabulary = array_of(changed, "vocabulary")
        words = vocabulary.tobytes().split(b"\n")
        starts = np.cumsum([0] + [len(word) + 1 for word in words])
        i, j = next((i, j) for i in range(len(words)) for j in range(i + 1, len(words))
                    if len(words[i]) == len(words[j]))
        vocabulary[starts[j]:starts[j] + len(words[j])] = np.frombuffer(words[i], dtype=np.uint8)
    elif how.startswith("bigram"):
        table = array_of(changed, "bigram_table")
        filled = np.flatnonzero(table != 0xFFFFFFFF)
        empty = np.flatnonzero(table == 0xFFFFFFFF)
        if how == "bigram twice":
            table[filled[0]] = table[filled[1]]
        elif how == "bigram out of range":
            table[filled[0]] = header["counts"][1] + 5
        elif how == "bigram before its home":  # moved to an empty slot below the slot its hash gives
            table[empty[0]], table[filled[-1]] = table[filled[-1]], 0xFFFFFFFF
        elif how == "bigram past a gap":  # moved beyond an empty slot: probing stops before it
            later = empty[empty > filled[0]]
            table[later[1]], table[filled[0]] = table[filled[0]], 0xFFFFFFFF
        elif how == "bigram bits":
            return with_header(data, dict(header, bigram_bits=header["bigram_bits"] + 1))
    elif how == "vocabulary not utf-8":
        array_of(changed, "vocabulary")[0] = 0xff
    elif how == "foreign":
        return b"PK\x03\x04" + data[4:]
    elif how == "empty":
        return b""
    return bytes(changed)


DAMAGES = ["truncated", "cut header", "trailing bytes", "version", "not json", "huge header", "counts",
           "swapped counts", "order", "scale", "extra field", "word out of range", "negative word", "unigram ids",
           "unsorted run", "run past the end", "runs backwards", "positive probability", "vocabulary space",
           "vocabulary twice", "vocabulary not utf-8", "foreign", "empty", "bigram twice", "bigram out of range",
           "bigram before its home", "bigram past a gap", "bigram bits"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_binary_model_is_one_line_and_status_2(how, built, tmp_path, capsys):
    with open(built["binary"], "rb") as handle:
        data = handle.read()
    damaged = damage(data, how)
    assert damaged != data
    path = tmp_path / "damaged.bin"
    path.write_bytes(damaged)
    with pytest.raises(RnnlmpyError, match="bigram" if how.startswith("bigram") else None):
        read_binary(str(path))
    code, out, err = run_cli(["ngram", "-lm", str(path), "-test", built["test"]], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and "Traceback" not in err, err


def test_a_nan_in_a_float64_model_is_refused(tmp_path):
    arpa = tmp_path / "odd.arpa"
    arpa.write_text(ODD_ARPA, encoding="utf-8")
    binary = tmp_path / "odd.bin"
    write_binary(read_arpa(str(arpa)), str(binary))
    for name, value in (("prob", np.nan), ("prob", -np.inf), ("backoff", np.nan), ("backoff", np.inf)):
        data = bytearray(binary.read_bytes())
        array_of(data, name)[1] = value
        path = tmp_path / f"{name}.bin"
        path.write_bytes(bytes(data))
        with pytest.raises(RnnlmpyError, match="not a finite number"):
            read_binary(str(path))


def test_random_mutations_give_an_error_or_a_model_that_scores(built, tmp_path):
    """Fuzz: bytes flipped anywhere (header, vocabulary, arrays) never crash the reader or the scorer."""
    with open(built["binary"], "rb") as handle:
        data = handle.read()
    rng = np.random.default_rng(24)
    sentences = sentences_of(built["test"])
    refused = 0
    for trial in range(300):
        changed = bytearray(data)
        where = int(rng.integers(0, 200)) if trial % 3 == 0 else int(rng.integers(0, len(data)))
        for offset in range(where, min(len(data), where + int(rng.integers(1, 5)))):
            changed[offset] = int(rng.integers(0, 256))
        path = tmp_path / "fuzzed.bin"
        path.write_bytes(bytes(changed))
        try:
            model = read_ngram(str(path))
        except RnnlmpyError as error:
            assert "\n" not in str(error)
            refused += 1
            continue
        scores = score_sentences(model, sentences)
        assert not np.any(np.isnan(scores.log10_prob[~scores.is_oov]))
    assert refused > 0


def test_a_model_that_the_format_cannot_hold_is_refused_when_written(tmp_path):
    model = read_arpa(str(write_text(tmp_path / "m.arpa", ODD_ARPA.split("\n"))))
    model.orders[0].log10_prob[2] = 0.5
    with pytest.raises(RnnlmpyError, match="finite number <= 0"):
        write_binary(model, str(tmp_path / "m.bin"))
    assert not os.path.exists(tmp_path / "m.bin")


def test_the_header_layout_is_the_documented_one(built):
    with open(built["binary"], "rb") as handle:
        data = handle.read()
    assert data.startswith(files.NGRAM_BINARY_MAGIC)
    version, length = struct.unpack("<II", data[18:26])
    header = json.loads(data[26:26 + length])
    assert version == 1 and set(header) == {"order", "counts", "vocabulary_bytes", "values", "scale", "bigram_bits",
                                            "bigram_slots"}
    placed, end = layout(tuple(header["counts"]), header["vocabulary_bytes"], length, header["values"],
                         header["bigram_slots"])
    assert end == len(data) and all(offset % 64 == 0 for offset, _, _ in placed.values())


def test_a_stream_whose_positions_do_not_match_its_words_is_refused(built):
    from rnnlmpy.ngram.kneser_ney import SentenceStream
    stream = SentenceStream(ids=np.zeros(10, dtype=np.int32), position=np.zeros(3, dtype=np.int32), sentences=1)
    with pytest.raises(RnnlmpyError, match="positions"):
        read_binary(built["binary"]).score_stream(stream)


@pytest.mark.integration
def test_ptb_kn5_binary_is_small_and_scores_as_its_arpa_file(corpus_dir, tmp_path, capsys):
    folder = corpus_dir("ptb")
    arpa, binary = str(tmp_path / "kn5.arpa"), str(tmp_path / "kn5.bin")
    code, _, err = run_cli(["ngram", "-train", os.path.join(folder, "ptb.train.txt"), "-order", "5", "-arpa", arpa,
                            "-binary", binary], capsys)
    assert code == 0, err
    assert os.path.getsize(binary) <= 0.4 * os.path.getsize(arpa)  # the goal for PTB KN5
    reports = []
    for model in (arpa, binary):
        code, out, err = run_cli(["ngram", "-lm", model, "-test", os.path.join(folder, "ptb.test.txt")], capsys)
        assert code == 0, err
        reports.append(out)
    assert reports[0] == reports[1] and "ppl= 141.18" in reports[1]


def test_compare_takes_built_and_read_models_and_interpolates_with_the_read_one(built, tmp_path, capsys):
    from rnnlmpy import RnnlmConfig, train
    rnn = str(tmp_path / "rnn.model")
    train(built["train"], rnn, built["test"], RnnlmConfig(hidden_size=6, class_count=3, bptt=2, rand_seed=1),
          max_iter=1, debug=0)
    code, out, err = run_cli(["compare", "-train", built["train"], "-orders", "4", "-ngram", built["binary"],
                              "-valid", built["test"], "-test", built["test"], "-rnnlm", rnn], capsys)
    assert code == 0, err
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    assert [row[0] for row in rows] == ["KN4", "kn4.bin", "rnn.model", "rnn.model"]
    assert rows[0][1:3] == rows[1][1:3]  # the built KN4 and the binary of its ARPA file: the same perplexities
    assert rows[3][:3] == ["rnn.model", "+", "kn4.bin"]
    code, out, err = run_cli(["compare", "-ngram", built["arpa"], "-valid", built["test"], "-test", built["test"]],
                             capsys)
    assert code == 0 and out.strip().splitlines()[1].split()[1:3] == rows[1][1:3], err
    code, _, err = run_cli(["compare", "-ngram", built["arpa"], "-orders", "3", "-valid", built["test"], "-test",
                            built["test"]], capsys)
    assert code == 2 and "-orders: only for the n-grams built from -train" in err
    code, _, err = run_cli(["compare", "-valid", built["test"], "-test", built["test"]], capsys)
    assert code == 2 and "-ngram MODEL" in err

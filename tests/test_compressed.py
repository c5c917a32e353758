"""Compressed inputs as SRILM and KenLM read them (gzip, bzip2, xz, told by magic bytes); files named as what they
are (issue 21)."""

import bz2
import gzip
import lzma
import os
import zipfile

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, load_model, train
from rnnlmpy.base import files
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.text import read_corpus, read_text
from rnnlmpy.corpus import encode_file
from rnnlmpy.ngram.arpa import read_arpa
from rnnlmpy.rnnlm.nbest import read_nbest
from rnnlmpy.tagger.files import read_tagged

from helpers import pattern_corpus, run_cli, write_text

COMPRESS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}
SUFFIX = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz"}


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def compressed_copy(path, kind, name=None):
    """``path`` compressed with ``kind`` beside it (as ``name``, else path + the usual suffix); returns the path."""
    target = name or str(path) + SUFFIX[kind]
    with open(path, "rb") as source, open(target, "wb") as out:
        out.write(COMPRESS[kind](source.read()))
    return target


@pytest.fixture()
def texts(tmp_path):
    return {"train": write_text(tmp_path / "train.txt", pattern_corpus(300, seed=1)),
            "test": write_text(tmp_path / "test.txt", pattern_corpus(40, seed=2))}


# ---------------------------------------------------------------- ARPA files and texts, each compression

@pytest.mark.parametrize("kind", COMPRESS)
def test_a_compressed_arpa_scores_exactly_as_the_plain_one(kind, texts, tmp_path, capsys):
    arpa = str(tmp_path / "kn.arpa")
    assert run_cli(["ngram", "-train", texts["train"], "-order", "3", "-arpa", arpa], capsys)[0] == 0
    code, plain, _ = run_cli(["ngram", "-lm", arpa, "-test", texts["test"], "-debug", "2"], capsys)
    code_packed, packed, err = run_cli(["ngram", "-lm", compressed_copy(arpa, kind), "-test", texts["test"],
                                        "-debug", "2"], capsys)
    assert code == code_packed == 0 and packed == plain and "ppl=" in plain, err


@pytest.mark.parametrize("kind", COMPRESS)
def test_compressed_training_and_test_texts_give_the_same_model_and_scores(kind, texts, tmp_path, capsys):
    outputs = []
    for train_file, test_file in ((texts["train"], texts["test"]),
                                  (compressed_copy(texts["train"], kind), compressed_copy(texts["test"], kind))):
        arpa = str(tmp_path / f"kn{len(outputs)}.arpa")
        code, report, err = run_cli(["ngram", "-train", train_file, "-order", "3", "-arpa", arpa, "-test",
                                     test_file], capsys)
        assert code == 0, err
        outputs.append((open(arpa, "rb").read(), report.split("\n", 1)[1]))  # the first line names the file
    assert outputs[0] == outputs[1]


def test_the_compression_is_told_by_its_magic_bytes_not_the_name(texts, tmp_path):
    disguised = compressed_copy(texts["train"], "gzip", str(tmp_path / "looks-plain.txt"))
    plain_named_gz = str(tmp_path / "plain.gz")
    with open(texts["train"], "rb") as source, open(plain_named_gz, "wb") as out:
        out.write(source.read())
    expected = read_corpus(texts["train"])
    assert read_corpus(disguised) == read_corpus(plain_named_gz) == expected
    assert files.open_input(disguised).compression == "gzip" and files.open_input(plain_named_gz).compression is None


@pytest.mark.parametrize("kind", COMPRESS)
def test_every_reader_of_text_reads_compressed_files(kind, tmp_path):
    tagged = write_text(tmp_path / "tagged.txt", ["the_DT cat_NN sat_VBD", "a_DT dog_NN"])
    nbest = write_text(tmp_path / "nbest.txt", ["0 the cat sat", "0 a cat sat", "1 a dog"])
    corpus = write_text(tmp_path / "corpus.txt", ["héllo wörld", "", "a  b\tc"])
    assert read_tagged(compressed_copy(tagged, kind)) == read_tagged(tagged)
    assert read_nbest(compressed_copy(nbest, kind)) == read_nbest(nbest)
    assert read_text(compressed_copy(corpus, kind)) == read_text(corpus)
    for char_level in (False, True):
        plain, packed = (encode_file(path, char_level=char_level, cache=False)
                         for path in (corpus, corpus + SUFFIX[kind]))
        assert packed.types == plain.types and packed.sha256 == plain.sha256
        np.testing.assert_array_equal(packed.type_ids, plain.type_ids)


def test_an_rnnlm_trains_on_compressed_texts_as_on_plain_ones(texts, tmp_path):
    config = RnnlmConfig(hidden_size=8, class_count=3, bptt=2, rand_seed=3)
    plain = train(texts["train"], str(tmp_path / "plain"), texts["test"], config, max_iter=1, debug=0)
    packed = train(compressed_copy(texts["train"], "gzip"), str(tmp_path / "packed"),
                   compressed_copy(texts["test"], "xz"), config, max_iter=1, debug=0)
    for name, array in plain.weights().items():
        np.testing.assert_array_equal(getattr(packed, name), array, err_msg=name)
    assert load_model(str(tmp_path / "packed")).training.corpus_sha256 == plain.training.corpus_sha256


# ---------------------------------------------------------------- the corpus cache

def test_a_compressed_corpus_is_cached_with_the_fingerprint_of_its_text(texts, cache_dir):
    packed = compressed_copy(texts["train"], "bzip2")
    first = encode_file(packed)
    again = encode_file(packed)
    plain = encode_file(texts["train"], cache=False)
    assert isinstance(again.type_ids, np.memmap) and len(os.listdir(cache_dir)) == 1
    assert first.sha256 == again.sha256 == plain.sha256 and again.types == plain.types
    np.testing.assert_array_equal(again.type_ids, plain.type_ids)
    with open(packed, "wb") as out:  # a new compressed text at the same path: the entry is rebuilt
        out.write(bz2.compress(b"other words entirely\n" * 50))
    changed = encode_file(packed)
    assert changed.types == ["</s>", "other", "words", "entirely"] and changed.sha256 != plain.sha256


@pytest.mark.parametrize("kind", COMPRESS)
@pytest.mark.parametrize("damage", ["truncated", "bit-flipped"])
def test_a_damaged_compressed_corpus_is_one_line_and_leaves_no_cache_entry(kind, damage, texts, cache_dir, tmp_path,
                                                                            capsys):
    data = COMPRESS[kind](open(texts["train"], "rb").read() * 20)
    if damage == "truncated":
        data = data[:len(data) // 2]
    else:
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
    bad = tmp_path / ("bad" + SUFFIX[kind])
    bad.write_bytes(data)
    with pytest.raises(RnnlmpyError, match=f"is a corrupt or truncated {kind} file"):
        encode_file(str(bad))
    assert not cache_dir.exists() or os.listdir(cache_dir) == []
    for argv in (["ngram", "-train", str(bad), "-arpa", str(tmp_path / "out.arpa")],
                 ["ngram", "-lm", str(bad), "-test", texts["test"]],
                 ["train", "-train", str(bad), "-rnnlm", str(tmp_path / "m"), "-hidden", "8", "-one-iter"]):
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and f"is a corrupt or truncated {kind} file" in one_error_line(err)
    assert not (tmp_path / "out.arpa").exists() and not (tmp_path / "m").exists()


# ---------------------------------------------------------------- a file of the wrong kind is named as what it is

def zip_file(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("header.npy", b"\x93NUMPY\xff not really")  # stored: the file is never valid UTF-8
    return str(path)


@pytest.mark.parametrize("make, expected", [
    (lambda folder: zip_file(folder / "model.rnnlm"), "is an rnnlmpy model, not an ARPA model"),
    (lambda folder: compressed_copy(zip_file(folder / "model.rnnlm"), "gzip"),
     "is a gzip-compressed rnnlmpy model, not an ARPA model"),
    (lambda folder: write_text(folder / "hmm.txt", ["T <s> DT 1.0", "E DT the 1.0"]), "is an HMM tagger"),
    (lambda folder: compressed_copy(write_text(folder / "cpp.txt", ["version: 10"]), "xz"),
     "is an xz-compressed C++ rnnlm model, not an ARPA model"),
])
def test_ngram_lm_names_what_a_file_of_another_kind_is(make, expected, texts, tmp_path, capsys):
    path = make(tmp_path)
    code, _, err = run_cli(["ngram", "-lm", path, "-test", texts["test"]], capsys)
    assert code == 2 and expected in one_error_line(err)


def test_an_output_of_another_kind_is_named_through_its_compression(texts, tmp_path, capsys):
    victim = compressed_copy(zip_file(tmp_path / "model.rnnlm"), "bzip2", str(tmp_path / "out.arpa"))
    code, _, err = run_cli(["ngram", "-train", texts["train"], "-arpa", victim], capsys)
    assert code == 2 and "(a bzip2-compressed rnnlmpy model)" in one_error_line(err)


@pytest.mark.parametrize("kind", COMPRESS)
def test_a_nan_in_a_compressed_arpa_names_the_file_and_line(kind, tmp_path):
    arpa = write_text(tmp_path / "nan.arpa", ["\\data\\", "ngram 1=3", "", "\\1-grams:", "-99\t<s>", "nan\t</s>",
                                              "-0.5\ta", "", "\\end\\"])
    packed = compressed_copy(arpa, kind)
    with pytest.raises(RnnlmpyError, match=f"^{packed}:6: the log10 probability .* 'nan'"):
        read_arpa(packed)


@pytest.mark.parametrize("command", [["ngram", "-train", "{model}", "-arpa", "{out}"],
                                     ["train", "-train", "{model}", "-rnnlm", "{out}", "-hidden", "8"],
                                     ["ppl", "-rnnlm", "{out}", "-test", "{model}"],
                                     ["tag-train", "-train", "{model}", "-model", "{out}"]])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_a_model_given_as_text_is_named_as_a_model(command, compression, tmp_path, capsys):
    model = zip_file(tmp_path / "model.rnnlm")
    if compression:
        model = compressed_copy(model, compression)
    out = str(tmp_path / "out")
    if command[0] == "ppl":
        out = str(tmp_path / "trained")
        train(write_text(tmp_path / "t.txt", pattern_corpus(50, seed=1)), out, None,
              RnnlmConfig(hidden_size=4, class_count=2), one_iter=True, debug=0)
    code, _, err = run_cli([part.format(model=model, out=out) for part in command], capsys)
    assert code == 2 and f"{model!r} is an rnnlmpy model, not text" in one_error_line(err)


def test_a_compressed_file_that_inflates_beyond_memory_is_one_line(tmp_path, monkeypatch):
    packed = tmp_path / "bomb.txt.gz"
    packed.write_bytes(gzip.compress(b"a b c\n" * 1000))

    def no_memory(self, size=-1):
        raise MemoryError

    monkeypatch.setattr(gzip.GzipFile, "read", no_memory)
    with pytest.raises(RnnlmpyError, match=r"bomb.txt.gz' \(gzip-compressed\) does not fit in this machine's memory"):
        read_text(str(packed), "text")


@pytest.mark.parametrize("kind", COMPRESS)
def test_a_compressed_rnnlmpy_model_is_named_and_not_read(kind, tmp_path, capsys):
    model = str(tmp_path / "m.rnnlm")
    train(write_text(tmp_path / "t.txt", pattern_corpus(50, seed=1)), model, None,
          RnnlmConfig(hidden_size=4, class_count=2), one_iter=True, debug=0)
    packed = compressed_copy(model, kind)
    code, _, err = run_cli(["ppl", "-rnnlm", packed, "-test", str(tmp_path / "t.txt")], capsys)
    assert code == 2 and "-compressed rnnlmpy model; decompress it first" in one_error_line(err)
    code, _, err = run_cli(["info", "-rnnlm", packed], capsys)
    assert code == 2 and "decompress it first" in one_error_line(err)

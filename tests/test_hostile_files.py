"""Hand-made bad files: every format rnnlmpy reads gives one clear line (file and line), never a traceback.

ARPA files (NaN, infinite or positive log10 probabilities, ``ngram 1=0``, misaligned lines,
truncation), empty test texts for ``ngram -test``, C++ rnnlm model files (corrupted numbers,
bad vocabulary lines, NaN weights, sizes that do not fit), and rnnlmpy's own container (a
header that is not a JSON object, NaN weights, arrays of the wrong shape or type).
"""

import io
import json
import zipfile

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.store import read_store
from rnnlmpy.ngram import NgramScores, read_arpa, read_sentences, score_sentences, train_ngram, write_arpa
from rnnlmpy.rnnlm.cpp_format import read_rnnlm, write_rnnlm
from rnnlmpy.rnnlm.model_file import load_model, save_model

from helpers import run_cli as run, tiny_model, write_text


def assert_one_line_error(code, err, *expected):
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err


def raises_one_line(call, *expected) -> str:
    """Call ``call()``; it must raise RnnlmpyError with a one-line message holding every ``expected``."""
    with pytest.raises(RnnlmpyError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for text in expected:
        assert text in message, message
    return message


# ---------------------------------------------------------------- ARPA

def arpa(unigrams, bigrams=None, counts=None):
    """An ARPA file's text from lists of lines (one per n-gram); ``counts`` overrides the declared counts."""
    sections = [unigrams] + ([bigrams] if bigrams is not None else [])
    counts = counts or [len(lines) for lines in sections]
    text = "\\data\\\n" + "".join(f"ngram {n}={count}\n" for n, count in enumerate(counts, start=1))
    for n, lines in enumerate(sections, start=1):
        text += f"\n\\{n}-grams:\n" + "".join(line + "\n" for line in lines)
    return text + "\n\\end\\\n"


UNIGRAMS = ["-99\t<s>\t-0.5", "-1.0\t</s>", "-0.6\ta\t-0.3", "-0.7\tb\t-0.2"]
BIGRAMS = ["-0.3\t<s> a", "-0.4\ta b", "-0.2\tb </s>"]
# line numbers: 1 \data\, 2-3 counts, 4 blank, 5 \1-grams:, 6-9 unigrams, 10 blank, 11 \2-grams:, 12-14 bigrams

BAD_NUMBERS = {
    "NaN probability": (1, "nan\ta\t-0.3", 8, "'nan'"),
    "+inf probability": (1, "inf\ta\t-0.3", 8, "'inf'"),
    "-inf probability of a word": (1, "-inf\ta\t-0.3", 8, "'-inf'"),
    "positive probability": (1, "0.25\ta\t-0.3", 8, "'0.25'"),
    "NaN backoff": (1, "-0.6\ta\tnan", 8, "backoff"),
    "infinite backoff": (1, "-0.6\ta\t-inf", 8, "backoff"),
    "NaN bigram": (2, "nan\ta b", 13, "'nan'"),
    "positive bigram": (2, "1e-3\ta b", 13, "'1e-3'"),
}


@pytest.mark.parametrize("regular", [True, False], ids=["fast path", "careful path"])
@pytest.mark.parametrize("case", sorted(BAD_NUMBERS))
def test_arpa_rejects_nan_infinite_and_positive_numbers_with_file_and_line(case, regular, tmp_path):
    order, bad_line, line_number, shown = BAD_NUMBERS[case]
    unigrams = [line + ("\t0" if line.count("\t") == 1 else "") for line in UNIGRAMS]  # every line with a backoff
    bigrams = list(BIGRAMS)
    if order == 1:
        unigrams[2] = bad_line
    else:
        bigrams[1] = bad_line
    text = arpa(unigrams, bigrams)
    if not regular:  # runs of spaces and a blank line send the section to the careful path: same answer
        text = text.replace("\t", "  ")
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    raises_one_line(lambda: read_arpa(str(path)), f"{path}:{line_number}:", shown)


def test_arpa_keeps_minus_99_for_sentence_start_and_positive_backoffs(tmp_path):
    path = tmp_path / "ok.arpa"
    path.write_text(arpa(["-99\t<s>\t0.7", "-1.0\t</s>", "-0.6\ta\t0.3", "-0.7\tb\t0.2"], BIGRAMS))
    model = read_arpa(str(path))
    assert model.orders[0].log10_prob[0] == -99 and model.orders[0].log10_backoff[0] == pytest.approx(0.7)
    scores = score_sentences(model, [["a", "b"]])
    assert np.all(np.isfinite(scores.log10_prob)) and scores.ppl > 1
    # -inf for <s> (never predicted) is read as -99
    path.write_text(arpa(["-inf\t<s>\t0.7", "-1.0\t</s>", "-0.6\ta\t0.3", "-0.7\tb\t0.2"], BIGRAMS))
    assert read_arpa(str(path)).orders[0].log10_prob[0] == -99


def test_arpa_with_no_unigrams_is_one_line(tmp_path, capsys):
    path = tmp_path / "zero.arpa"
    path.write_text("\\data\\\nngram 1=0\n\n\\1-grams:\n\n\\end\\\n")
    raises_one_line(lambda: read_arpa(str(path)), f"{path}:", "ngram 1=0")
    test = write_text(tmp_path / "test.txt", ["a b"])
    code, _, err = run(["ngram", "-lm", str(path), "-test", test], capsys)
    assert_one_line_error(code, err, str(path), "no unigrams")


def test_arpa_with_an_empty_higher_order_scores(tmp_path):
    path = tmp_path / "empty2.arpa"
    path.write_text(arpa(UNIGRAMS, [], counts=[4, 0]))
    model = read_arpa(str(path))
    scores = score_sentences(model, [["a", "b"], ["b"]])
    assert np.all(np.isfinite(scores.log10_prob)) and scores.oovs == 0


def test_arpa_without_sentence_markers_scores_them_as_oovs(tmp_path):
    path = tmp_path / "nomarkers.arpa"
    path.write_text(arpa(["-0.3\ta\t-0.1", "-0.3\tb"], ["-0.2\ta b"]))
    scores = score_sentences(read_arpa(str(path)), [["a", "b"]])
    assert scores.is_oov.tolist() == [False, False, True] and scores.logprob == pytest.approx(-0.5)


def test_arpa_line_missing_a_field_next_to_one_with_a_backoff_is_not_misread(tmp_path):
    """Two lines whose field counts differ but add up to a regular total must not pass the fast path."""
    path = tmp_path / "misaligned.arpa"
    path.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\t-0.5\n-1\n\n\\end\\\n")
    raises_one_line(lambda: read_arpa(str(path)), f"{path}:6:", "found 1 fields")


BROKEN_LAYOUT = {
    "counts above the section": ("\\data\\\nngram 1=5\n\n\\1-grams:\n-99\t<s>\n-1\t</s>\n-1\ta\n\n\\end\\\n",
                                 ":5:", "declares 5 1-grams but the section has 3"),
    "counts below the section": ("\\data\\\nngram 1=2\n\n\\1-grams:\n-99\t<s>\n-1\t</s>\n-1\ta\n\n\\end\\\n",
                                 ":5:", "declares 2 1-grams but the section has 3"),
    "truncated inside a section": ("\\data\\\nngram 1=3\n\n\\1-grams:\n-99\t<s>\n-1\t</s>\n", ":5:",
                                   "truncated"),
    "missing \\end\\": ("\\data\\\nngram 1=3\n\n\\1-grams:\n-99\t<s>\n-1\t</s>\n-1\ta\n", ":9:", "truncated"),
    "only the header": ("\\data\\\nngram 1=3\n", ":4:", "expected the \\1-grams: section"),
    "order declared twice": ("\\data\\\nngram 1=3\nngram 1=3\n\n\\1-grams:\n-99\t<s>\n\\end\\\n", ":3:", "twice"),
    "no orders": ("\\data\\\n\n\\end\\\n", ":", "orders 1..N"),
    "an extra section": ("\\data\\\nngram 1=2\n\n\\1-grams:\n-99\t<s>\n-1\t</s>\n\n\\2-grams:\n-1\t<s> </s>\n"
                         "\n\\end\\\n", ":8:", "expected \\end\\"),
    "not UTF-8": (b"\\data\\\nngram 1=2\n\n\\1-grams:\n-99\t<s>\n-1\t\xff\n\n\\end\\\n", "", "line 6"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_LAYOUT))
def test_broken_arpa_layouts_are_one_line(case, tmp_path, capsys):
    text, where, expected = BROKEN_LAYOUT[case]
    path = tmp_path / "broken.arpa"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    raises_one_line(lambda: read_arpa(str(path)), f"{path}{where}", expected)
    test = write_text(tmp_path / "test.txt", ["a b"])
    code, _, err = run(["ngram", "-lm", str(path), "-test", test], capsys)
    assert_one_line_error(code, err, str(path), expected)


def test_cli_rejects_a_nan_arpa_with_file_and_line(tmp_path, capsys):
    path = tmp_path / "nan.arpa"
    path.write_text(arpa(["-99\t<s>", "nan\t</s>", "-0.6\ta", "-0.7\tb"]))
    test = write_text(tmp_path / "test.txt", ["a b"])
    code, out, err = run(["ngram", "-lm", str(path), "-test", test], capsys)
    assert_one_line_error(code, err, f"{path}:6:", "'nan'")
    assert "ppl" not in out


def test_crlf_arpa_reads_like_lf(tmp_path):
    lf, crlf = tmp_path / "lf.arpa", tmp_path / "crlf.arpa"
    lf.write_text(arpa(UNIGRAMS, BIGRAMS))
    crlf.write_bytes(arpa(UNIGRAMS, BIGRAMS).replace("\n", "\r\n").encode())
    a, b = read_arpa(str(lf)), read_arpa(str(crlf))
    assert a.words == b.words
    for x, y in zip(a.orders, b.orders):
        np.testing.assert_array_equal(x.log10_prob, y.log10_prob)
        np.testing.assert_array_equal(x.log10_backoff, y.log10_backoff)


# ---------------------------------------------------------------- ngram -test with nothing to score

@pytest.fixture(scope="module")
def small_arpa(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ngram")
    train = write_text(folder / "train.txt", ["a b c", "b c a", "c a b a"])
    model, _ = train_ngram(train, 3)
    path = str(folder / "small.arpa")
    write_arpa(model, path)
    return {"train": train, "arpa": path, "model": model}


@pytest.mark.parametrize("lines, expected", [
    ([], "empty"),
    (["", "   ", "\t"], "empty"),
    (["zz yy", "xx"], "no word the model knows"),
], ids=["empty file", "blank lines", "only OOVs"])
def test_ngram_test_without_scorable_words_is_an_error(small_arpa, lines, expected, tmp_path, capsys):
    test = write_text(tmp_path / "test.txt", lines)
    code, out, err = run(["ngram", "-lm", small_arpa["arpa"], "-test", test], capsys)
    assert_one_line_error(code, err, test, expected)
    assert "ppl=" not in out
    code, _, err = run(["ngram", "-train", small_arpa["train"], "-test", test], capsys)
    fallback = "warning: modified Kneser-Ney discounts cannot be estimated"  # this tiny text's, before the error
    assert_one_line_error(code, "\n".join(line for line in err.splitlines() if not line.startswith(fallback)),
                          test, expected)


def test_empty_texts_in_the_library(small_arpa, tmp_path):
    empty = write_text(tmp_path / "empty.txt", ["", " "])
    raises_one_line(lambda: read_sentences(empty, "test file"), empty, "empty")
    assert read_sentences(empty, "test file", allow_empty=True) == []
    raises_one_line(lambda: score_sentences(small_arpa["model"], [], source=empty), empty, "empty")
    raises_one_line(lambda: score_sentences(small_arpa["model"], [["zz"]], source="t.txt"), "no word")
    assert score_sentences(small_arpa["model"], []).words == 0  # without a source (token streams): no error


def test_ngram_scores_have_a_short_repr(small_arpa):
    scores = score_sentences(small_arpa["model"], [["a", "b", "c"]] * 5000)
    text = repr(scores)
    assert isinstance(scores, NgramScores) and len(text) < 200, text
    assert "sentences=5000" in text and "words=15000" in text and "oovs=0" in text and "ppl=" in text


# ---------------------------------------------------------------- C++ rnnlm model files

@pytest.fixture
def cpp_model(tmp_path):
    """A tiny model written as C++ rnnlm text and binary files; returns (text path, binary path, its text)."""
    model = tiny_model(dtype="float32")
    text_path, binary_path = str(tmp_path / "t.rnnlm"), str(tmp_path / "b.rnnlm")
    write_rnnlm(model, text_path)
    write_rnnlm(model, binary_path, binary=True)
    return text_path, binary_path, open(text_path, encoding="utf-8").read()


# name: (old text, new text, expected line number (None: no line), expected words)
CPP_CORRUPTIONS = {
    "hidden size not a number": ("hidden layer size: 5", "hidden layer size: 5x", 14, "must be an integer"),
    "negative hidden size": ("hidden layer size: 5", "hidden layer size: -5", 14, "at least 1"),
    "negative vocabulary size": ("vocabulary size: 7", "vocabulary size: -7", 21, "at least 1"),
    "vocabulary size one short": ("vocabulary size: 7", "vocabulary size: 6", 13, "input layer size"),
    "zero classes": ("class size: 3", "class size: 0", 22, "at least 1"),
    "class size disagrees": ("class size: 3", "class size: 2", 16, "output layer size"),
    "negative direct size": ("direct connections: 0", "direct connections: -2", 17, "at least 0"),
    "odd direct size": ("direct connections: 0", "direct connections: 3", None, "direct weights"),
    "file format 2": ("file format: 0", "file format: 2", 2, "between 0 and 1"),
    "NaN learning rate": ("starting learning rate: 0.100000", "starting learning rate: nan", 25, "finite"),
    "version garbage": ("version: 10", "version: ten", 1, "must be an integer"),
    "count not a number": ("         5\tw2", "         x\tw2", 33, "index count word class"),
    "class not a number": ("w2\t1", "w2\tq", 33, "index count word class"),
    "fractional count": ("         5\tw2", "         5.5\tw2", 33, "index count word class"),
    "negative count": ("         5\tw2", "        -5\tw2", 33, "negative"),
    "class out of range": ("w2\t1", "w2\t7", 33, "outside 0..2"),
    "three fields": ("\tw2\t1", "\t1", 33, "index count word class"),
    "word with a space": ("\tw2\t", "\tw 2\t", 33, "index count word class"),
    "wrong index": ("     2\t         5", "     9\t         5", 33, "index 9"),
    "duplicate word": ("\tw2\t", "\tw1\t", 33, "twice"),
    "first word not </s>": ("\t</s>\t", "\tzz\t", 31, "</s>"),
    "classes not contiguous": ("w4\t2", "w4\t1", None, "contiguous"),
    "NaN weight": ("\nHidden layer activation:\n0.6575\n", "\nHidden layer activation:\nnan\n", 40, "'nan'"),
    "infinite weight": ("\n0.7638\n", "\n-inf\n", 41, "'-inf'"),
    "word among the weights": ("\n0.7638\n", "\n0.76x38\n", 41, "not a number"),
    "NaN recurrent weight": ("\nWeights 0->1:\n-0.5788\n", "\nWeights 0->1:\nNaN\n", 47, "'NaN'"),
    "a weight too many": ("\nHidden layer activation:\n", "\nHidden layer activation:\n0.5\n", 39, "6 values"),
    "missing section": ("Weights 0->1:", "Weights 0->7:", 46, "expected the section 'Weights 0->1:'"),
    "huge consistent sizes": (("input layer size: 12", "hidden layer size: 5"),
                              ("input layer size: 5000000007", "hidden layer size: 5000000000"), None, "too short"),
}


@pytest.mark.parametrize("case", sorted(CPP_CORRUPTIONS))
def test_corrupted_cpp_text_models_are_one_line(case, cpp_model, tmp_path):
    old, new, line, expected = CPP_CORRUPTIONS[case]
    text = cpp_model[2]
    for a, b in ([(old, new)] if isinstance(old, str) else zip(old, new)):
        assert a in text, a
        text = text.replace(a, b, 1)
    path = tmp_path / "bad.rnnlm"
    path.write_text(text, encoding="utf-8")
    where = f"{path}:{line}:" if line else f"{path}:"
    raises_one_line(lambda: read_rnnlm(str(path)), where, expected)
    raises_one_line(lambda: load_model(str(path)), where, expected)


def test_corrupted_cpp_binary_models_are_one_line(cpp_model, tmp_path):
    data = open(cpp_model[1], "rb").read()
    path = tmp_path / "bad.rnnlm"
    nan = np.array([np.nan], dtype="<f4").tobytes()
    for bad, expected in ((data[:-4] + nan, "NaN or infinite"), (data[:-8], "truncated"),
                          (data + b"\0\0\0\0", "expected"), (data.replace(b"\tw2\t", b"\tw\xff\t"), "UTF-8")):
        path.write_bytes(bad)
        raises_one_line(lambda: read_rnnlm(str(path)), str(path), expected)


def test_cli_rejects_a_corrupted_cpp_model_in_one_line(cpp_model, tmp_path, capsys):
    path = tmp_path / "bad.rnnlm"
    path.write_text(cpp_model[2].replace("         5\tw2", "         x\tw2"), encoding="utf-8")
    test = write_text(tmp_path / "test.txt", ["w1 w2"])
    code, _, err = run(["ppl", "-rnnlm", str(path), "-test", test], capsys)
    assert_one_line_error(code, err, f"{path}:33:")


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_cpp_round_trip_keeps_words_with_unicode_spaces(binary, tmp_path):
    """rnnlmpy splits tokens on ASCII space and tab only, so U+3000 and U+00A0 can be inside a word."""
    model = tiny_model(dtype="float32")
    model.vocabulary.words[3] = "a\u3000b"
    model.vocabulary.words[4] = "\u00a0c\u00a0"
    model.vocabulary.__post_init__()
    path = str(tmp_path / "unicode.rnnlm")
    write_rnnlm(model, path, binary=binary)
    back = read_rnnlm(path)
    assert back.vocabulary.words == model.vocabulary.words
    assert back.vocabulary.index["a\u3000b"] == 3
    np.testing.assert_allclose(back.output_weights, model.output_weights, atol=1e-4 if not binary else 0)


# ---------------------------------------------------------------- rnnlmpy's own container

def write_npz(path, header, **arrays):
    """An npz container with ``header`` (bytes, or anything JSON) as the header array."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(raw, dtype=np.uint8), **arrays)
    path.write_bytes(buffer.getvalue())
    return str(path)


@pytest.mark.parametrize("header, expected", [
    ([1, 2, 3], "not an object"),
    (42, "not an object"),
    ("rnnlmpy", "not an object"),
    (None, "not an object"),
    (b"{not json", "corrupt header"),
    (b"\xff\xfe{}", "corrupt header"),
    (b"[" * 100000, "corrupt header"),
    ({"format": "rnnlmpy", "version": 1, "kind": ["rnnlm"]}, "no kind"),
    ({"format": "rnnlmpy", "version": 1}, "no kind"),
], ids=["list", "number", "string", "null", "invalid JSON", "not UTF-8", "deep nesting", "kind a list", "no kind"])
def test_container_header_that_is_not_a_json_object_is_one_line(header, expected, tmp_path, capsys):
    path = write_npz(tmp_path / "bad.model", header)
    raises_one_line(lambda: read_store(path, "rnnlm"), path, expected)
    raises_one_line(lambda: load_model(path), path, expected)
    test = write_text(tmp_path / "test.txt", ["w1 w2"])
    code, _, err = run(["ppl", "-rnnlm", path, "-test", test], capsys)
    assert_one_line_error(code, err, path)


def test_container_without_header_or_with_bad_zip_data(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.zeros(3))
    (tmp_path / "noheader.model").write_bytes(buffer.getvalue())
    raises_one_line(lambda: read_store(str(tmp_path / "noheader.model"), "rnnlm"), "no header")
    with zipfile.ZipFile(tmp_path / "deflated.model", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.npy", b"x" * 1000)
    data = bytearray((tmp_path / "deflated.model").read_bytes())
    start = data.index(b"header.npy") + len(b"header.npy")
    data[start:start + 8] = b"\xff" * 8  # garbage in the compressed stream
    (tmp_path / "deflated.model").write_bytes(bytes(data))
    raises_one_line(lambda: read_store(str(tmp_path / "deflated.model"), "rnnlm"), "deflated.model")


def saved_arrays(tmp_path):
    """The header and arrays of a saved tiny float32 model."""
    path = str(tmp_path / "good.model")
    save_model(tiny_model(dtype="float32"), path)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(bytes(arrays.pop("header")).decode("utf-8")), arrays


def nan_in(name):
    def change(header, arrays):
        arrays[name] = arrays[name].copy()
        arrays[name].flat[1] = np.nan
    return change


def set_array(name, value):
    def change(header, arrays):
        arrays[name] = value(arrays[name]) if callable(value) else value
    return change


def set_setting(section, name, value):
    def change(header, arrays):
        header[section][name] = value
    return change


BAD_CONTAINERS = {
    "NaN output weight": (nan_in("output_weights"), "NaN or infinite"),
    "NaN recurrent weight": (nan_in("recurrent"), "NaN or infinite"),
    "NaN hidden state": (nan_in("hidden_state"), "NaN or infinite"),
    "infinite input weight": (set_array("input_weights", lambda a: np.full_like(a, np.inf)), "NaN or infinite"),
    "NaN backup weights": (set_array("resume/backup/recurrent", np.full((5, 5), np.nan, dtype=np.float32)),
                           "NaN or infinite"),
    "weights of another precision": (set_array("recurrent", lambda a: a.astype(np.float64)), "precision"),
    "integer weights": (set_array("recurrent", lambda a: a.astype(np.int32)), "floats"),
    "weights of the wrong shape": (set_array("output_weights", lambda a: a[:-1]), "shape"),
    "0-d class weights": (set_array("class_weights", np.float32(1.0)), "dimension"),
    "missing array": (lambda header, arrays: arrays.pop("recurrent"), "'recurrent'"),
    "counts of the wrong length": (set_array("counts", lambda a: a[:-1]), "one value per word"),
    "negative counts": (set_array("counts", lambda a: -a), "counts >= 0"),
    "float word classes": (set_array("word_class", lambda a: a.astype(np.float64)), "integers"),
    "words not UTF-8": (set_array("words", np.frombuffer(b"\xff\xfe", dtype=np.uint8)), "decode"),
    "duplicate words": (set_array("words", lambda a: np.frombuffer(
        bytes(a).replace(b"w2", b"w1"), dtype=np.uint8)), "each word once"),
    "config a list": (lambda header, arrays: header.update(config=[1, 2]), "not a JSON object"),
    "training a number": (lambda header, arrays: header.update(training=3), "not a JSON object"),
    "hidden size a string": (set_setting("config", "hidden_size", "5"), "'hidden_size'"),
    "dtype unknown": (set_setting("config", "dtype", "float16"), "float32 or float64"),
    "activation unknown": (set_setting("config", "activation", "cosine"), "-activation"),
    "epoch a float": (set_setting("training", "epoch", 1.5), "'epoch'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTAINERS))
def test_inconsistent_or_non_finite_containers_are_refused(case, tmp_path):
    change, expected = BAD_CONTAINERS[case]
    header, arrays = saved_arrays(tmp_path)
    change(header, arrays)
    path = write_npz(tmp_path / "bad.model", header, **arrays)
    raises_one_line(lambda: load_model(path), path, expected)


def test_untouched_container_still_loads(tmp_path):
    header, arrays = saved_arrays(tmp_path)
    path = write_npz(tmp_path / "same.model", header, **arrays)
    model = load_model(path)
    assert model.vocabulary.words[0] == "</s>" and model.recurrent.dtype == np.float32


def test_cli_refuses_a_model_with_nan_weights(tmp_path, capsys):
    model = tiny_model(dtype="float32")
    model.output_weights[2, 1] = np.nan
    path = str(tmp_path / "nan.model")
    save_model(model, path)
    test = write_text(tmp_path / "test.txt", ["w1 w2"])
    code, out, err = run(["ppl", "-rnnlm", path, "-test", test], capsys)
    assert_one_line_error(code, err, path, "NaN or infinite")
    assert "PPL" not in out


# ---------------------------------------------------------------- tagger containers

def saved_tagger(path):
    from rnnlmpy.tagger import TaggerConfig, new_tagger, save_tagger
    sentences = [(["the", "dog", "runs"], ["DT", "NN", "VBZ"]), (["a", "cat"], ["DT", "NN"])]
    tagger = new_tagger(TaggerConfig(hidden_size=4, ensemble=2), sentences)
    save_tagger(tagger, str(path))
    with np.load(str(path)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(bytes(arrays.pop("header"))), arrays, tagger


def rewrite_container(path, header, arrays):
    np.savez(str(path), header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return str(path)


TAGGER_CORRUPTIONS = {
    "config not an object": lambda h, a: h.update(config=[1, 2]),
    "hidden size of the wrong type": lambda h, a: h["config"].update(hidden_size="4"),
    "negative hidden size": lambda h, a: h["config"].update(hidden_size=-4),
    "more networks than stored": lambda h, a: h["config"].update(ensemble=3),
    "NaN weight": lambda h, a: a["network1/forward_recurrent"].__setitem__((0, 0), np.nan),
    "wrong output shape": lambda h, a: a.update({"network0/output_weights": np.zeros((2, 3))}),
    "integer weights": lambda h, a: a.update({"network0/forward_recurrent": np.zeros((4, 4), dtype=np.int64)}),
    "history not a list": lambda h, a: h.update(history={"a": 1}),
}


@pytest.mark.parametrize("case", sorted(TAGGER_CORRUPTIONS))
def test_corrupted_tagger_models_are_one_line(case, tmp_path, capsys):
    from rnnlmpy.tagger import load_tagger
    header, arrays, _ = saved_tagger(tmp_path / "good.npz")
    TAGGER_CORRUPTIONS[case](header, arrays)
    path = rewrite_container(tmp_path / "bad.npz", header, arrays)
    raises_one_line(lambda: load_tagger(path), "bad.npz")
    words = write_text(tmp_path / "words.txt", ["the dog"])
    code, _, err = run(["tag", "-model", path, "-test", words], capsys)
    assert_one_line_error(code, err, "bad.npz")


def test_an_intact_tagger_still_loads(tmp_path):
    from rnnlmpy.tagger import load_tagger
    header, arrays, original = saved_tagger(tmp_path / "good.npz")
    loaded = load_tagger(rewrite_container(tmp_path / "again.npz", header, arrays))
    sentences = [["the", "dog", "runs"], ["a", "bird"]]
    np.testing.assert_array_equal(loaded.posteriors(sentences), original.posteriors(sentences))

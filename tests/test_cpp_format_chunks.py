"""C++ rnnlm text weights: rnnlm's own layout (one fixed-point number a line) is parsed in bulk, anything else a
chunk at a time (bounded temporary memory); every way reads the same weights, bit for bit, and any chunk size
reports the same first problem as one chunk would."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm import cpp_format
from rnnlmpy.rnnlm.cpp_format import read_rnnlm, write_rnnlm

from helpers import tiny_model
from test_hostile_files import CPP_CORRUPTIONS

SMALL_CHUNKS = [1, 5, 64]  # bytes: chunks end inside a line, at its end, and after several lines


@pytest.fixture
def text_model(tmp_path):
    """A tiny model and its C++ rnnlm text file."""
    model = tiny_model(dtype="float32", vocab_size=12, class_sizes=(2, 4, 6))
    path = str(tmp_path / "model.txt")
    write_rnnlm(model, path)
    return model, path


def assert_same_weights(read, expected):
    for name, array in expected.weights().items():
        assert read.weights()[name].dtype == array.dtype
        assert np.array_equal(read.weights()[name], array), name
        assert np.array_equal(np.signbit(read.weights()[name]), np.signbit(array)), name  # -0.0000 stays -0.0
    assert np.array_equal(read.hidden_state, expected.hidden_state)


@pytest.mark.parametrize("chunk_bytes", [*SMALL_CHUNKS, cpp_format.CHUNK_BYTES])
def test_rnnlm_layout_is_parsed_in_bulk_as_the_general_parser_reads_it(text_model, chunk_bytes, monkeypatch):
    monkeypatch.setattr(cpp_format, "CHUNK_BYTES", chunk_bytes)
    parsed = []  # per section: whether the bulk parser took it
    bulk = cpp_format._fixed_point_numbers

    def watched(content):
        numbers = bulk(content)
        parsed.append(numbers is not None)
        return numbers

    monkeypatch.setattr(cpp_format, "_fixed_point_numbers", watched)
    fast = read_rnnlm(text_model[1])
    assert len(parsed) >= 3 and all(parsed)
    monkeypatch.setattr(cpp_format, "_fixed_point_numbers", lambda content: None)
    assert_same_weights(fast, read_rnnlm(text_model[1]))
    assert np.abs(fast.input_weights - text_model[0].input_weights).max() <= 5e-5  # 4 decimals in the file


@pytest.mark.parametrize("content", [b"1.5\n2.25\n", b"1.5 2.5\n", b"1.5\r\n2.5\n", b"1.5\n\n2.5\n", b"nan\n",
                                     b"1.5\n1e5\n", b"+1.5\n", b"-.5\n", b"1.5\n--1.5\n", b"1234567890123.456\n"])
def test_anything_but_rnnlm_layout_is_left_to_the_general_parser(content):
    assert cpp_format._fixed_point_numbers(content) is None


@pytest.mark.parametrize("separator", [" ", "\t", " \n "])
@pytest.mark.parametrize("chunk_bytes", SMALL_CHUNKS)
def test_any_chunk_size_reads_the_same_weights(text_model, chunk_bytes, separator, tmp_path, monkeypatch):
    whole = read_rnnlm(text_model[1])
    head, weights = open(text_model[1], encoding="utf-8").read().split("\nHidden layer activation:\n", 1)
    spaced = tmp_path / "spaced.txt"  # numbers on one line: not rnnlm's layout, so the chunked parser reads them
    spaced.write_text(head + "\nHidden layer activation:\n" + re.sub(r"(?<=\d)\n(?=-?\d)", separator, weights))
    monkeypatch.setattr(cpp_format, "CHUNK_BYTES", chunk_bytes)
    assert_same_weights(read_rnnlm(str(spaced)), whole)


def first_problem(path: str) -> str:
    with pytest.raises(RnnlmpyError) as caught:
        read_rnnlm(path)
    return str(caught.value)


@pytest.mark.parametrize("case", sorted(name for name, (old, *_) in CPP_CORRUPTIONS.items()
                                        if isinstance(old, str) and old.startswith("\n")))
@pytest.mark.parametrize("chunk_bytes", SMALL_CHUNKS)
def test_any_chunk_size_reports_the_same_problem(case, chunk_bytes, tmp_path, monkeypatch):
    model = tiny_model(dtype="float32")
    good = str(tmp_path / "good.txt")
    write_rnnlm(model, good)
    old, new, _, _ = CPP_CORRUPTIONS[case]
    text = open(good, encoding="utf-8").read()
    assert old in text
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    expected = first_problem(str(bad))
    monkeypatch.setattr(cpp_format, "CHUNK_BYTES", chunk_bytes)
    assert first_problem(str(bad)) == expected


@pytest.mark.parametrize("chunk_bytes", SMALL_CHUNKS)
def test_a_bad_value_after_a_short_section_still_reports_the_count_first(text_model, chunk_bytes, tmp_path,
                                                                           monkeypatch):
    text = open(text_model[1], encoding="utf-8").read()
    head, weights = text.split("\nWeights 0->1:\n", 1)
    values = weights.split("\n")
    values[0] = "oops"  # a word where a number goes, in a section that also lost its last value
    last = max(k for k in range(values.index("Weights 1->2:")) if values[k].strip())
    del values[last]
    bad = tmp_path / "bad.txt"
    bad.write_text(head + "\nWeights 0->1:\n" + "\n".join(values), encoding="utf-8")
    expected = first_problem(str(bad))
    assert "values, expected" in expected
    monkeypatch.setattr(cpp_format, "CHUNK_BYTES", chunk_bytes)
    assert first_problem(str(bad)) == expected

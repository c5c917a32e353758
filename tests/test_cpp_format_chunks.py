"""C++ rnnlm text weights are parsed a chunk at a time (bounded temporary memory): any chunk size reads the
same weights and reports the same first problem as one chunk would."""

from __future__ import annotations

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


@pytest.mark.parametrize("chunk_bytes", SMALL_CHUNKS)
def test_any_chunk_size_reads_the_same_weights(text_model, chunk_bytes, monkeypatch):
    whole = read_rnnlm(text_model[1])
    monkeypatch.setattr(cpp_format, "CHUNK_BYTES", chunk_bytes)
    chunked = read_rnnlm(text_model[1])
    for name, array in whole.weights().items():
        assert chunked.weights()[name].dtype == array.dtype
        assert np.array_equal(chunked.weights()[name], array), name
    assert np.array_equal(chunked.hidden_state, whole.hidden_state)
    assert np.abs(whole.input_weights - text_model[0].input_weights).max() <= 5e-5  # 4 decimals in the file


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

"""One spelling for the files commands read (``info -model``, ``plot -model``, ``grade -reference -test``, the old
spellings still working), and ``export-embeddings``: word vectors in word2vec's text format."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import run_cli, write_text
from rnnlmpy import load_model

SMALL = {"hidden_size": 8, "rand_seed": 5}


@pytest.fixture(scope="module")
def model(trained_model):
    return trained_model(SMALL, sentences=(300, 30, 30), max_iter=2)


# ---------------------------------------------------------------- export-embeddings

def read_word2vec(path: str) -> tuple[list[str], np.ndarray]:
    """word2vec's text format, read by its definition: "COUNT DIM", then COUNT lines "word v1 ... vDIM"."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    count, dimensions = (int(field) for field in lines[0].split(" "))
    assert lines[count + 1:] == [""]  # nothing after the last vector line
    rows = [line.split(" ") for line in lines[1:count + 1]]
    assert all(len(row) == dimensions + 1 for row in rows)
    return [row[0] for row in rows], np.array([[float(value) for value in row[1:]] for row in rows])


def test_export_embeddings_writes_the_input_weights_word_rows_as_word2vec_text(model, tmp_path, capsys):
    output = str(tmp_path / "vectors.txt")
    code, _, err = run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", output], capsys)
    assert code == 0 and "8 dimensions" in err
    loaded = load_model(model["model"])
    words, vectors = read_word2vec(output)
    assert words == loaded.vocabulary.words and words[0] == "</s>"
    assert np.array_equal(vectors.astype(loaded.input_weights.dtype), loaded.input_weights)  # exact float32


def test_gensim_reads_the_exported_vectors(model, tmp_path, capsys):
    gensim_models = pytest.importorskip("gensim.models")  # gensim is no dependency; the format is tested above
    output = str(tmp_path / "vectors.txt")
    assert run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", output], capsys)[0] == 0
    vectors = gensim_models.KeyedVectors.load_word2vec_format(output, binary=False)
    loaded = load_model(model["model"])
    assert list(vectors.index_to_key) == loaded.vocabulary.words
    assert np.allclose(vectors["alpha"], loaded.input_weights[loaded.vocabulary.index["alpha"]])


def test_export_embeddings_replaces_only_its_own_kind_of_file(model, tmp_path, capsys):
    output = tmp_path / "vectors.txt"
    assert run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", str(output)], capsys)[0] == 0
    assert run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", str(output)], capsys)[0] == 0  # its own
    corpus = write_text(tmp_path / "corpus.txt", ["2 3", "not vectors at all"])
    code, _, err = run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", corpus], capsys)
    assert code == 2 and "is not a word-vector file" in err and "-force" in err
    assert open(corpus, encoding="utf-8").read() == "2 3\nnot vectors at all\n"
    assert run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", corpus, "-force"], capsys)[0] == 0
    code, _, err = run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", model["model"], "-force"], capsys)
    assert code == 2 and "differ" in err
    assert load_model(model["model"]).vocabulary.size > 1  # the model is intact


@pytest.mark.parametrize("target", ["folder", "missing-folder/vectors.txt"])
def test_export_embeddings_writes_only_regular_files(model, tmp_path, capsys, target):
    (tmp_path / "folder").mkdir()
    code, _, err = run_cli(["export-embeddings", "-rnnlm", model["model"], "-o", str(tmp_path / target), "-force"],
                           capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder"]


def test_export_embeddings_of_a_missing_model_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(["export-embeddings", "-rnnlm", str(tmp_path / "absent"), "-o", str(tmp_path / "v")],
                           capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


# ---------------------------------------------------------------- one spelling, old spellings kept

def test_info_names_any_model_with_model_and_still_with_rnnlm(model, capsys):
    code, named, _ = run_cli(["info", "-model", model["model"]], capsys)
    assert code == 0 and "kind: RNN language model" in named
    assert run_cli(["info", "-rnnlm", model["model"]], capsys)[1] == named
    assert run_cli(["info", "--model", model["model"]], capsys)[1] == named


def test_plot_takes_models_with_model_and_still_without(model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    named, positional = tmp_path / "named.png", tmp_path / "positional.png"
    assert run_cli(["plot", "-model", model["model"], "-model", model["model"], "-o", str(named)], capsys)[0] == 0
    assert run_cli(["plot", model["model"], model["model"], "-o", str(positional)], capsys)[0] == 0
    assert named.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and positional.stat().st_size > 0
    code, _, err = run_cli(["plot", "-o", str(tmp_path / "none.png")], capsys)
    assert code == 2 and "-model MODEL" in err


@pytest.fixture
def tag_files(tmp_path):
    reference = write_text(tmp_path / "gold.pos", ["DT NN VBZ", "NN VBZ"])
    answer = write_text(tmp_path / "answer.pos", ["DT NN NN", "NN VBZ"])
    return reference, answer


def test_grade_takes_reference_and_test_by_name_and_still_by_position(tag_files, capsys):
    reference, answer = tag_files
    code, named, _ = run_cli(["grade", "-reference", reference, "-test", answer], capsys)
    assert code == 0 and named.startswith("Accuracy: 80.00% (4/5)")
    assert run_cli(["grade", reference, answer], capsys)[1] == named
    assert run_cli(["grade", "-test", answer, reference], capsys)[1] == named  # the word left is the reference


@pytest.mark.parametrize("argv, message", [
    ([], "-reference FILE -test FILE"),
    (["{reference}"], "-reference FILE -test FILE"),
    (["{reference}", "{answer}", "{answer}"], "takes two files"),
    (["-reference", "{reference}", "-test", "{answer}", "{answer}"], "already given"),
])
def test_grade_with_too_few_or_too_many_files_is_one_line(tag_files, capsys, argv, message):
    reference, answer = tag_files
    code, _, err = run_cli(["grade", *(a.format(reference=reference, answer=answer) for a in argv)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1

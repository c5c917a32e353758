"""Kneser-Ney n-grams: estimation against a slow reference, ARPA round trip, KenLM parity, CLI."""

import math

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.ngram.arpa import ngram_texts, read_arpa, write_arpa
from rnnlmpy.ngram.kneser_ney import count_ngrams, score_sentences, sentence_stream, train_ngram

from helpers import write_text
from kn_reference import kneser_ney
from test_cli import run


def zipf_sentences(count, seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(300)]
    weights = 1.0 / np.arange(1, 301)
    weights /= weights.sum()
    return [[str(w) for w in rng.choice(words, size=rng.integers(1, 9), p=weights)] for _ in range(count)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ngram")
    train = zipf_sentences(400, 1)
    return {"folder": folder, "train": train, "test": zipf_sentences(60, 2) + [["w1", "NEVERSEEN", "w2"]],
            "train_file": write_text(folder / "train.txt", [" ".join(s) for s in train] + [""]),
            "test_file": write_text(folder / "test.txt", [" ".join(s) for s in zipf_sentences(60, 2)]
                                    + ["w1 NEVERSEEN w2"])}


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_estimates_match_the_slow_reference(corpus, order):
    model, _ = train_ngram(corpus["train_file"], order)
    expected_prob, expected_backoff = kneser_ney(corpus["train"], order)
    texts = ngram_texts(model)
    checked = 0
    for n, table in enumerate(model.orders, start=1):
        for text, log_prob, log_backoff in zip(texts[n - 1], table.log10_prob, table.log10_backoff):
            gram = tuple(text.split(" "))
            if gram == ("<s>",):
                assert log_prob == -99
            else:
                assert 10 ** log_prob == pytest.approx(expected_prob[gram], rel=1e-10), gram
                checked += 1
            if n < order and gram in expected_backoff:
                assert 10 ** log_backoff == pytest.approx(expected_backoff[gram], rel=1e-10), gram
    assert checked == len(expected_prob)


def test_counting_by_integer_keys_matches_tuple_counting(corpus):
    index = {}
    stream = sentence_stream(corpus["train"], index, grow=True)
    counted = count_ngrams(stream, 4, len(index))
    words = list(index)
    for n in range(2, 5):
        expected = {}
        for sentence in corpus["train"]:
            tokens = ["<s>", *sentence, "</s>"]
            for end in range(n - 1, len(tokens)):
                gram = tuple(tokens[end - n + 1:end + 1])
                expected[gram] = expected.get(gram, 0) + 1
        assert len(counted[n - 1].keys) == len(expected)
        assert sorted(counted[n - 1].counts.tolist()) == sorted(expected.values())
    # every unigram count, by word
    unigram = {words[i]: c for i, c in enumerate(counted[0].counts.tolist())}
    assert unigram["<s>"] == unigram["</s>"] == len(corpus["train"])


def test_every_context_gives_a_proper_distribution(corpus):
    model, _ = train_ngram(corpus["train_file"], 3)
    predicted = [w for w in model.words if w != "<s>"]
    for history in (["w1", "w2"], ["w0"], [], ["w39", "w38"], ["w5", "w3"]):
        sentences = [history + [word] for word in predicted]
        scores = score_sentences(model, sentences)
        # the probability of the last word of each sentence (before </s>) given the history
        last = np.cumsum([len(s) + 1 for s in sentences]) - 2
        total = float(np.sum(10 ** scores.log10_prob[last]))
        assert total == pytest.approx(1.0, abs=1e-9), history


def test_arpa_round_trip_keeps_every_score(corpus, tmp_path):
    model, _ = train_ngram(corpus["train_file"], 4)
    path = str(tmp_path / "m.arpa")
    write_arpa(model, path)
    loaded = read_arpa(path)
    original = score_sentences(model, corpus["test"])
    again = score_sentences(loaded, corpus["test"])
    np.testing.assert_allclose(again.log10_prob[~again.is_oov], original.log10_prob[~original.is_oov], atol=2e-6)
    assert again.oovs == original.oovs >= 1


def test_kenlm_reads_our_arpa_and_agrees(corpus, tmp_path):
    import kenlm  # a test dependency (pyproject's [test] extra): a real third-party ARPA reader
    model, _ = train_ngram(corpus["train_file"], 3)
    path = str(tmp_path / "m.arpa")
    write_arpa(model, path)
    known = [s for s in corpus["test"] if all(w in model.index for w in s)]  # KenLM gives OOVs -100
    assert len(known) > 40
    ours = score_sentences(model, known)
    theirs = sum(kenlm.Model(path).score(" ".join(s), bos=True, eos=True) for s in known)
    assert theirs == pytest.approx(ours.logprob, rel=1e-6)


def test_cli_builds_writes_and_scores_srilm_style(corpus, tmp_path, capsys):
    arpa = str(tmp_path / "kn.arpa")
    code, out, err = run(["ngram", "-train", corpus["train_file"], "-order", "3", "-arpa", arpa], capsys)
    assert code == 0 and out == ""
    code, out, err = run(["ngram", "-lm", arpa, "-test", corpus["test_file"]], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    scores = score_sentences(read_arpa(arpa), corpus["test"])
    words = sum(len(s) for s in corpus["test"])
    assert lines[0].endswith(f": 61 sentences, {words} words, {scores.oovs} OOVs") and scores.oovs >= 1
    assert f"logprob= {scores.logprob:.6f} ppl= {scores.ppl:.6f} ppl1= {scores.ppl1:.6f}" in lines[1]
    code, out, _ = run(["ngram", "-lm", arpa, "-test", corpus["test_file"], "-debug", "2"], capsys)
    per_word = [line for line in out.splitlines() if line.startswith("\tp( ")]
    assert len(per_word) == len(scores.tokens)
    assert per_word[0].split()[5] == "="  # the field rnnlm's convert.c looks for
    assert "[OOV] 0 [ -inf ]" in out


def test_ppl_is_perplexity_with_and_without_sentence_ends(corpus):
    model, _ = train_ngram(corpus["train_file"], 2)
    scores = score_sentences(model, corpus["test"])
    assert scores.oovs >= 1
    assert scores.ppl == pytest.approx(10 ** (-scores.logprob / (scores.words - scores.oovs + scores.sentences)))
    assert scores.ppl1 == pytest.approx(10 ** (-scores.logprob / (scores.words - scores.oovs)))
    assert math.isinf(scores.log10_prob[scores.is_oov][0])


BROKEN_ARPA = {
    "missing section": ("\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t0\n-1\t</s>\n\n\\end\\\n",
                        "expected the \\2-grams: section"),
    "counts disagree": ("\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n\n\\end\\\n", "declares 3 1-grams"),
    "truncated": ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n", "truncated"),
    "not a number": ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<s>\nabc\t</s>\n\n\\end\\\n", "not a number"),
    "no data section": ("just some text\n", "no \\data\\ section"),
    "unknown word": ("\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n\n\\2-grams:\n"
                     "-1\tfoo </s>\n\n\\end\\\n", "word 'foo' is not among the unigrams"),
    "unknown context": ("\\data\\\nngram 1=3\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n-1\tfoo\n"
                        "\n\\2-grams:\n-1\t<s> foo\n\n\\3-grams:\n-1\tfoo foo </s>\n\n\\end\\\n",
                        "context 'foo foo'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ARPA))
def test_malformed_arpa_gives_file_and_line(case, corpus, tmp_path, capsys):
    text, expected = BROKEN_ARPA[case]
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    code, out, err = run(["ngram", "-lm", str(path), "-test", corpus["test_file"]], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert str(path) in err


@pytest.mark.parametrize("argv, expected", [
    (["-order", "0"], "between 1 and 7"),
    (["-order", "10"], "between 1 and 7"),
])
def test_bad_order_is_rejected(corpus, argv, expected, tmp_path, capsys):
    code, _, err = run(["ngram", "-train", corpus["train_file"], "-arpa", str(tmp_path / "x.arpa"), *argv], capsys)
    assert code == 2 and expected in err
    assert not (tmp_path / "x.arpa").exists()


def test_empty_corpus_is_rejected(tmp_path, capsys):
    empty = write_text(tmp_path / "empty.txt", ["", " "])
    code, _, err = run(["ngram", "-train", empty, "-arpa", str(tmp_path / "x.arpa")], capsys)
    assert code == 2 and "empty" in err and empty in err


def test_unk_in_training_is_an_ordinary_word(tmp_path):
    path = write_text(tmp_path / "t.txt", ["a <unk> b", "a b <unk>", "b a"])
    model, _ = train_ngram(path, 2)
    scores = score_sentences(model, [["a", "zzz"]])
    assert "<unk>" in model.index and scores.oovs == 0  # unknown test words score as <unk>
    with pytest.raises(RnnlmpyError):
        train_ngram(path, 8)


def test_irregular_arpa_layouts_read_like_regular_ones(corpus, tmp_path):
    """Spaces instead of tabs, blank lines, and backoffs on some lines only: the careful path agrees."""
    model, _ = train_ngram(corpus["train_file"], 3)
    regular = str(tmp_path / "regular.arpa")
    write_arpa(model, regular)
    text = open(regular).read()
    irregular = tmp_path / "irregular.arpa"
    lines = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[2] == "0.000000":
            line = "\t".join(fields[:2])  # a zero backoff may be left out
        lines.append(line.replace("\t", "  "))
        if line.startswith("-") and len(lines) % 97 == 0:
            lines.append("")
    irregular.write_text("\n".join(lines) + "\n")
    expected = score_sentences(model, corpus["test"])
    again = score_sentences(read_arpa(str(irregular)), corpus["test"])
    np.testing.assert_allclose(again.log10_prob[~again.is_oov], expected.log10_prob[~expected.is_oov], atol=2e-6)

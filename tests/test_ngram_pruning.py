"""N-gram pruning: count cutoffs (KenLM's --prune), relative-entropy pruning (SRILM's -prune) against a slow
reference, pruned models that still sum to 1, and the discount fallback on small or artificial text."""

import math

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.ngram import prune_relative_entropy, read_arpa, score_sentences, train_ngram, write_arpa
from rnnlmpy.ngram.arpa import ngram_texts
from rnnlmpy.ngram.kneser_ney import check_cutoffs, check_discount_fallback, kneser_ney_discounts
from rnnlmpy.ngram.pruning import backed_off_log10, ngram_words, recompute_backoffs

from helpers import run_cli as run, write_text
from kn_reference import kneser_ney
from prune_reference import prune as reference_prune
from test_ngram import zipf_sentences


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pruning")
    train = zipf_sentences(300, 1)
    return {"folder": folder, "train": train,
            "train_file": write_text(folder / "train.txt", [" ".join(s) for s in train]),
            "test_file": write_text(folder / "test.txt", [" ".join(s) for s in zipf_sentences(60, 2)])}


def as_dicts(model):
    """{word tuple: log10 prob}, {word tuple: log10 backoff} of a model."""
    prob, backoff = {}, {}
    for n, (table, rows) in enumerate(zip(model.orders, ngram_words(model)), start=1):
        for row, p, b in zip(rows.tolist(), table.log10_prob.tolist(), table.log10_backoff.tolist()):
            gram = tuple(model.words[i] for i in row)
            prob[gram] = p
            if n < model.order:
                backoff[gram] = b
    return prob, backoff


def context_sums(model, histories):
    """Sum over the vocabulary (``<s>`` excluded) of P(w | history), through backoff (the scorer's
    ``score_stream``), for each history (a list of words)."""
    predicted = np.array([i for i, w in enumerate(model.words) if w != "<s>"])
    sums = []
    for history in histories:
        ids = np.array([model.index[w] for w in history], dtype=np.int64)
        grams = np.concatenate([np.tile(ids, (len(predicted), 1)), predicted[:, None]], axis=1)
        sums.append(float(np.sum(10 ** backed_off_log10(model, grams))))
    return sums


def every_context(model):
    """Every n-gram of the model below the highest order used as a history (the ``<s>`` unigram included),
    and the empty history."""
    return [[]] + [list(gram) for gram in as_dicts(model)[1]]


# ---------------------------------------------------------------- discount fallback

@pytest.mark.parametrize("lines", [["a b c", "a b c"], ["a b"], ["x y z w"] * 5])
def test_small_or_artificial_text_falls_back_with_one_line(lines, tmp_path, capsys):
    train = write_text(tmp_path / "train.txt", lines)
    arpa = str(tmp_path / "m.arpa")
    code, out, err = run(["ngram", "-train", train, "-order", "3", "-arpa", arpa], capsys)
    assert code == 0, err
    warnings = err.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: ") and "D1 0.5 D2 1 D3+ 1.5" in warnings[0]
    model = read_arpa(arpa)  # finite backoff weights: the file reads back
    for table in model.orders:
        assert np.all(np.isfinite(table.log10_prob)) and np.all(np.isfinite(table.log10_backoff))
    assert all(s == pytest.approx(1.0, abs=1e-5) for s in context_sums(model, every_context(model)))


def test_fallback_discounts_are_kenlms_and_can_be_set(tmp_path, capsys):
    train = write_text(tmp_path / "train.txt", ["a b c", "a b c"])
    said = []
    _, discounts = train_ngram(train, 3, say=said.append)
    assert [list(d) for d in discounts] == [[0.0, 0.5, 1.0, 1.5]] * 3
    assert len(said) == 1 and "orders 1, 2, 3" in said[0]
    _, discounts = train_ngram(train, 3, fallback="0.4,0.8", say=said.append)
    assert [list(d) for d in discounts] == [[0.0, 0.4, 0.8, 0.8]] * 3
    arpa = str(tmp_path / "m.arpa")
    code, _, err = run(["ngram", "-train", train, "-order", "3", "-arpa", arpa, "-discount-fallback", "0.3"], capsys)
    assert code == 0 and "D1 0.3 D2 0.3 D3+ 0.3" in err


def test_fallback_model_matches_the_slow_reference(tmp_path):
    sentences = [["a", "b", "c"], ["a", "b", "c"], ["b", "c", "a"]]
    model, _ = train_ngram(write_text(tmp_path / "t.txt", [" ".join(s) for s in sentences]), 3, say=lambda _: None)
    expected, _ = kneser_ney(sentences, 3)
    for gram, log_prob in as_dicts(model)[0].items():
        if gram != ("<s>",):
            assert 10 ** log_prob == pytest.approx(expected[gram], rel=1e-10), gram


def test_estimable_discounts_are_not_replaced():
    counts = np.array([1] * 50 + [2] * 20 + [3] * 10 + [4] * 5 + [7] * 5)
    discounts, estimated = kneser_ney_discounts(counts)
    assert estimated and discounts[1] != 0.5
    discounts, estimated = kneser_ney_discounts(np.array([2, 2, 3, 4]))  # no singletons
    assert not estimated and list(discounts) == [0.0, 0.5, 1.0, 1.5]


@pytest.mark.parametrize("values, message", [("0,1", "D1 must be in"), ("0.5,2.5", "D2 must be in"),
                                             ("1,2,3,4", "1 to 3 numbers"), ("x", "comma-separated numbers")])
def test_bad_fallback_discounts_are_refused(values, message):
    with pytest.raises(RnnlmpyError, match=message):
        check_discount_fallback(values)


# ---------------------------------------------------------------- count cutoffs

@pytest.mark.parametrize("cutoffs", [[0, 1], [0, 0, 1], [0, 1, 2], [0, 2, 2, 3]])
def test_cutoffs_match_the_slow_reference(corpus, cutoffs):
    order = 4
    model, _ = train_ngram(corpus["train_file"], order, cutoffs)
    padded = check_cutoffs(cutoffs, order)
    expected_prob, expected_backoff = kneser_ney(corpus["train"], order, padded)
    raw = {}
    for sentence in corpus["train"]:
        tokens = ["<s>", *sentence, "</s>"]
        for n in range(1, order + 1):
            for end in range(n - 1, len(tokens)):
                gram = tuple(tokens[end - n + 1:end + 1])
                raw[gram] = raw.get(gram, 0) + 1
    kept = {gram for gram, count in raw.items() if len(gram) == 1 or count > padded[len(gram) - 1]}
    prob, backoff = as_dicts(model)
    assert set(prob) == kept
    assert len(kept) < len(raw)  # the test prunes something
    for gram, log_prob in prob.items():
        if gram != ("<s>",):
            assert 10 ** log_prob == pytest.approx(expected_prob[gram], rel=1e-10), gram
        if len(gram) < order:
            assert 10 ** backoff[gram] == pytest.approx(expected_backoff.get(gram, 1.0), rel=1e-10), gram


def test_cutoffs_keep_every_context_summing_to_one(corpus, tmp_path):
    model, _ = train_ngram(corpus["train_file"], 3, "0,1,1")
    arpa = str(tmp_path / "m.arpa")
    write_arpa(model, arpa)
    for candidate, tolerance in ((model, 1e-9), (read_arpa(arpa), 1e-5)):
        sums = context_sums(candidate, every_context(candidate))
        assert np.allclose(sums, 1.0, atol=tolerance, rtol=0)


@pytest.mark.parametrize("cutoffs, message", [("1,1", "must be 0"), ("0,2,1", "not decrease"),
                                              ("0,1,1,1", "at most one per order"), ("0,-1", "not decrease"),
                                              ("0,x", "whole numbers")])
def test_bad_cutoffs_are_refused(corpus, cutoffs, message, tmp_path, capsys):
    code, _, err = run(["ngram", "-train", corpus["train_file"], "-order", "3", "-cutoffs", cutoffs,
                        "-arpa", str(tmp_path / "m.arpa")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.arpa").exists()


# ---------------------------------------------------------------- relative-entropy pruning

@pytest.mark.parametrize("order, threshold", [(3, 1e-5), (3, 1e-4), (4, 3e-5), (4, 1e-3)])
def test_entropy_pruning_matches_the_slow_reference(corpus, order, threshold):
    model, _ = train_ngram(corpus["train_file"], order)
    pruned, removed = prune_relative_entropy(model, threshold)
    expected_prob, expected_backoff = reference_prune(*as_dicts(model), order, threshold)
    prob, backoff = as_dicts(pruned)
    assert set(prob) == set(expected_prob)
    assert 0 < sum(removed) < sum(len(t) for t in model.orders[1:])  # some n-grams go, some stay
    assert removed[0] == 0
    for gram, log_prob in prob.items():
        assert log_prob == pytest.approx(expected_prob[gram], abs=1e-12), gram
    for gram, log_backoff in backoff.items():
        assert log_backoff == pytest.approx(expected_backoff[gram], abs=1e-9), gram


@pytest.mark.parametrize("cutoffs", [None, "0,0,1"])
def test_pruning_while_building_weighs_histories_by_their_counts(corpus, cutoffs):
    order, threshold = 3, 1e-4
    model, _ = train_ngram(corpus["train_file"], order, cutoffs)
    pruned, _ = prune_relative_entropy(model, threshold, "counts")
    counts = {}
    for sentence in corpus["train"]:
        tokens = ["<s>", *sentence, "</s>"]
        for n in range(1, order + 1):
            for end in range(n - 1, len(tokens)):
                counts[tuple(tokens[end - n + 1:end + 1])] = counts.get(tuple(tokens[end - n + 1:end + 1]), 0) + 1
    totals = {n: sum(c for g, c in counts.items() if len(g) == n) for n in range(1, order + 1)}
    history_probs = {g: math.log10(c / totals[len(g)]) for g, c in counts.items()}
    expected_prob, expected_backoff = reference_prune(*as_dicts(model), order, threshold, history_probs)
    prob, backoff = as_dicts(pruned)
    assert set(prob) == set(expected_prob) and set(prob) != set(as_dicts(model)[0])
    for gram, log_backoff in backoff.items():
        assert log_backoff == pytest.approx(expected_backoff[gram], abs=1e-9), gram
    assert as_dicts(prune_relative_entropy(model, threshold)[0])[0].keys() != prob.keys()  # "model": another set
    with pytest.raises(RnnlmpyError, match="no training counts"):
        prune_relative_entropy(read_arpa_of(model, corpus["folder"] / "counts.arpa"), threshold, "counts")


def read_arpa_of(model, path):
    write_arpa(model, str(path))
    return read_arpa(str(path))


def test_pruning_a_read_and_pruned_model_matches_the_reference(corpus, tmp_path):
    """A model read from ARPA and pruned once already lacks some n-grams' suffixes: the backoff path."""
    model, _ = train_ngram(corpus["train_file"], 4)
    arpa = str(tmp_path / "m.arpa")
    write_arpa(prune_relative_entropy(model, 1e-5)[0], arpa)
    once = read_arpa(arpa)
    prob, backoff = as_dicts(once)
    assert any(len(g) > 2 and g[1:] not in prob for g in prob)  # a missing suffix
    twice, _ = prune_relative_entropy(once, 1e-4)
    expected_prob, expected_backoff = reference_prune(prob, backoff, 4, 1e-4)
    got_prob, got_backoff = as_dicts(twice)
    assert set(got_prob) == set(expected_prob)
    for gram, log_backoff in got_backoff.items():
        assert log_backoff == pytest.approx(expected_backoff[gram], abs=1e-9), gram


@pytest.mark.parametrize("threshold", [1e-5, 1e-3])
def test_entropy_pruned_contexts_sum_to_one(corpus, threshold, tmp_path):
    model, _ = train_ngram(corpus["train_file"], 3)
    pruned, _ = prune_relative_entropy(model, threshold)
    arpa = str(tmp_path / "p.arpa")
    write_arpa(pruned, arpa)
    for candidate, tolerance in ((pruned, 1e-9), (read_arpa(arpa), 1e-5)):
        sums = context_sums(candidate, every_context(candidate))
        assert np.allclose(sums, 1.0, atol=tolerance, rtol=0)


def test_tiny_threshold_keeps_the_model(corpus):
    model, _ = train_ngram(corpus["train_file"], 3)
    pruned, removed = prune_relative_entropy(model, 1e-30)
    assert removed == [0, 0, 0]
    assert ngram_texts(pruned) == ngram_texts(model)
    for before, after in zip(model.orders, pruned.orders):
        np.testing.assert_allclose(after.log10_backoff, before.log10_backoff, atol=1e-12)


def test_pruning_raises_test_perplexity_only_a_little_at_small_thresholds(corpus):
    model, _ = train_ngram(corpus["train_file"], 3)
    sentences = zipf_sentences(60, 2)
    before = score_sentences(model, sentences).ppl
    sizes, ppls = [], []
    for threshold in (1e-6, 1e-4, 1e-2):
        pruned, _ = prune_relative_entropy(model, threshold)
        sizes.append(sum(len(t) for t in pruned.orders))
        ppls.append(score_sentences(pruned, sentences).ppl)
    assert sizes[0] >= sizes[1] >= sizes[2] and sizes[2] < sizes[0]
    assert ppls[0] == pytest.approx(before, rel=0.01)


# ---------------------------------------------------------------- command line

def test_cli_prunes_built_and_read_models(corpus, tmp_path, capsys):
    full, pruned_built, pruned_read = (str(tmp_path / name) for name in ("full.arpa", "built.arpa", "read.arpa"))
    assert run(["ngram", "-train", corpus["train_file"], "-order", "3", "-arpa", full], capsys)[0] == 0
    code, _, err = run(["ngram", "-train", corpus["train_file"], "-order", "3", "-prune", "1e-4", "-arpa",
                        pruned_built, "-prune-history", "model"], capsys)
    assert code == 0, err
    code, out, err = run(["ngram", "-lm", full, "-prune", "1e-4", "-arpa", pruned_read, "-test",
                          corpus["test_file"]], capsys)
    assert code == 0, err
    assert "ppl=" in out
    built, read = read_arpa(pruned_built), read_arpa(pruned_read)
    assert [len(t) for t in built.orders] == [len(t) for t in read.orders]
    assert sum(len(t) for t in read.orders) < sum(len(t) for t in read_arpa(full).orders)


@pytest.mark.parametrize("extra, message", [(["-cutoffs", "0,1"], "-cutoffs: only for building"),
                                            (["-discount-fallback", "0.5"], "-discount-fallback: only for building"),
                                            (["-prune", "1e-7", "-prune-history", "counts"],
                                             "-prune-history: only for building"),
                                            (["-arpa", "OUT"], "-arpa: only for building"),
                                            (["-prune", "0", "-arpa", "OUT"], "-prune takes a threshold > 0"),
                                            (["-prune", "1e-7", "-arpa", "LM"], "also an input")])
def test_cli_refuses_what_a_read_model_cannot_do(corpus, extra, message, tmp_path, capsys):
    full = str(tmp_path / "full.arpa")
    assert run(["ngram", "-train", corpus["train_file"], "-order", "2", "-arpa", full], capsys)[0] == 0
    extra = [str(tmp_path / "out.arpa") if e == "OUT" else full if e == "LM" else e for e in extra]
    code, _, err = run(["ngram", "-lm", full, "-test", corpus["test_file"], *extra], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.arpa").exists()


# ---------------------------------------------------------------- leaner building

def plain_arpa_text(model):
    """The ARPA file as the obvious Python formatting writes it: "%.6f" % round(value, 6), words joined by spaces."""
    lines = ["\\data\\"] + [f"ngram {n}={len(t)}" for n, t in enumerate(model.orders, start=1)]
    for n, (table, texts) in enumerate(zip(model.orders, ngram_texts(model)), start=1):
        lines += ["", f"\\{n}-grams:"]
        for p, text, b in zip(np.round(table.log10_prob, 6).tolist(), texts, np.round(table.log10_backoff, 6).tolist()):
            lines.append(f"{'%.6f' % p}\t{text}\t{'%.6f' % b}" if n < model.order else f"{'%.6f' % p}\t{text}")
    return "\n".join(lines + ["", "\\end\\", ""])


def test_arpa_writer_matches_plain_formatting(corpus, tmp_path, monkeypatch):
    import rnnlmpy.ngram.arpa as arpa
    monkeypatch.setattr(arpa, "ROWS_PER_CHUNK", 7)  # many chunks, ragged ends
    monkeypatch.setattr(arpa, "ROWS_PER_WRITE", 50)
    lines = [" ".join(s) for s in corpus["train"][:80]] + ["é ü 東京 w1", "w1 é"]
    model, _ = train_ngram(write_text(tmp_path / "t.txt", lines), 4)
    backoffs = model.orders[1].log10_backoff
    backoffs[:6] = [-0.0, -4e-7, 4e-7, -5.0000001e-7, 123.4567894, -99.0]  # signs, rounding, more digits
    model.orders[2].log10_prob[:2] = [-1e-8, -1234.5]
    path = str(tmp_path / "m.arpa")
    write_arpa(model, path)
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == plain_arpa_text(model)
    model.orders[1].log10_backoff[0] = np.inf  # not finite: Python's formatting for the whole column
    write_arpa(model, path)
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == plain_arpa_text(model)
    pruned, _ = prune_relative_entropy(train_ngram(corpus["train_file"], 3)[0], 1e-4)
    write_arpa(pruned, path)
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == plain_arpa_text(pruned)


@pytest.mark.parametrize("threshold", [1e-4, 1e-2])
def test_entropy_pruning_of_a_two_word_vocabulary(threshold, tmp_path):
    """Contexts followed by every word: backoff denominators of 0, SRILM's degenerate cases."""
    rng = np.random.default_rng(3)
    sentences = [list(rng.choice(["a", "b"], size=rng.integers(1, 6))) for _ in range(60)]
    model, _ = train_ngram(write_text(tmp_path / "t.txt", [" ".join(s) for s in sentences]), 3, say=lambda _: None)
    pruned, removed = prune_relative_entropy(model, threshold)
    expected_prob, expected_backoff = reference_prune(*as_dicts(model), 3, threshold)
    prob, backoff = as_dicts(pruned)
    assert set(prob) == set(expected_prob) and sum(removed) > 0
    for gram, log_prob in prob.items():
        assert log_prob == pytest.approx(expected_prob[gram], abs=1e-12), gram
    for gram, log_backoff in backoff.items():
        assert log_backoff == pytest.approx(expected_backoff[gram], abs=1e-9), gram
    assert np.allclose(context_sums(pruned, every_context(pruned)), 1.0, atol=1e-9, rtol=0)


def test_a_context_with_no_probability_mass_is_left_finite(tmp_path):
    """Explicit words covering the whole vocabulary with probabilities of 1e-99: nothing to scale to 1."""
    arpa = write_text(tmp_path / "odd.arpa", [
        "\\data\\", "ngram 1=3", "ngram 2=3", "", "\\1-grams:", "-99\t<s>\t0", "-0.30103\t</s>\t0", "-0.30103\ta\t0",
        "", "\\2-grams:", "-0.30103\t<s> a", "-99\ta a", "-99\ta </s>", "", "\\end\\"])
    model = read_arpa(arpa)
    recompute_backoffs(model, ngram_words(model))
    for table in model.orders:
        assert np.all(np.isfinite(table.log10_prob)) and np.all(np.isfinite(table.log10_backoff))

"""The Python API (``rnnlmpy.LanguageModel``, ``rnnlmpy.Mixture``): the command line's numbers, KenLM's numbers
for an ARPA file, word-by-word states that give what whole-text scoring gives, and sentences as text or tokens."""

from __future__ import annotations

import copy
import math
import os
import re

import numpy as np
import pytest

import rnnlmpy
from helpers import TRAINING_VARIANTS, pattern_corpus, run_cli, write_text
from rnnlmpy import FileScore, LanguageModel, Mixture, RnnlmpyError, evaluate_file, load_model

DIRECT = {"hidden_size": 10, "direct_size": 20_000, "direct_order": 3, "rand_seed": 2}  # carries its state
INDEPENDENT = {"hidden_size": 10, "independent": True, "direct_size": 20_000, "rand_seed": 3}
SMALL = (400, 40, 40)
OOV_LINES = ("alpha zzz unknownword one", "")  # two words no model was trained on, and an empty line
SENTENCES = ["alpha x y one", "beta z two", "gamma x three", "alpha zzz one", "three two one alpha"]


def kenlm_or_skip():
    """kenlm (the test extra): a skip where it is missing, a failure where CI must run every test."""
    try:
        import kenlm
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("kenlm is missing: pip install -e '.[test]'")
        pytest.skip("kenlm is not installed")
    return kenlm


@pytest.fixture(scope="module")
def direct_model(trained_model):
    return trained_model(DIRECT, sentences=SMALL, max_iter=2, extra_test_lines=OOV_LINES)


@pytest.fixture(scope="module")
def independent_model(trained_model):
    return trained_model(INDEPENDENT, sentences=SMALL, max_iter=2, extra_test_lines=OOV_LINES)


@pytest.fixture(scope="module")
def arpa_model(direct_model, tmp_path_factory):
    """A KN3 ARPA file built by ``rnnlmpy ngram`` on the RNN's training text and a few lines with ``<unk>``."""
    folder = tmp_path_factory.mktemp("arpa")
    with open(direct_model["train"], encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    train = write_text(folder / "train.txt", lines + ["alpha <unk> one", "beta <unk> x two", "<unk> y"])
    path = str(folder / "kn3.arpa")
    from rnnlmpy.ngram import train_ngram, write_arpa
    write_arpa(train_ngram(train, 3)[0], path)
    return path


def report_numbers(text: str) -> list[str]:
    """The numbers of a command's report, as printed."""
    return re.findall(r"-?\d+\.\d+|\d+", text)


def printed_ppl(score: FileScore) -> str:
    return (f"test log probability: {score.log10_probability:f}\nPPL net: {score.perplexity:f}\n"
            f"words: {score.scored}\nOOV: {score.oov}")


# ---------------------------------------------------------------- the command line's numbers

def test_an_rnnlmpy_models_file_score_is_what_ppl_prints(direct_model, capsys):
    score = LanguageModel(direct_model["model"]).perplexity_of_file(direct_model["test"], threads=1)
    status, out, _ = run_cli(["ppl", "-rnnlm", direct_model["model"], "-test", direct_model["test"]], capsys)
    assert status == 0
    assert score.oov == 2  # the two unknown words: left out, as ppl leaves them out
    assert out.startswith(printed_ppl(score))


@pytest.mark.parametrize("target", ["rnnlm-text", "rnnlm-binary"])
def test_a_cpp_rnnlm_models_file_score_is_what_ppl_prints(independent_model, tmp_path, capsys, target):
    converted = str(tmp_path / f"model.{target}")
    assert run_cli(["convert", "-rnnlm", independent_model["model"], "-to", target, "-o", converted], capsys)[0] == 0
    lm = LanguageModel(converted)
    assert type(lm).__name__ == "RnnLanguageModel"
    score = lm.perplexity_of_file(independent_model["test"], threads=2)
    status, out, _ = run_cli(["ppl", "-rnnlm", converted, "-test", independent_model["test"]], capsys)
    assert status == 0 and out.startswith(printed_ppl(score))


def test_an_arpa_files_file_score_is_what_ngram_prints(arpa_model, direct_model, capsys):
    score = LanguageModel(arpa_model).perplexity_of_file(direct_model["test"])
    status, out, _ = run_cli(["ngram", "-lm", arpa_model, "-test", direct_model["test"]], capsys)
    assert status == 0
    assert f"logprob= {score.log10_probability:f} ppl= {score.perplexity:f}" in out


def test_a_binary_ngram_model_scores_as_its_arpa_file_and_stays_mapped_for_texts(arpa_model, direct_model,
                                                                                  tmp_path):
    from rnnlmpy.ngram import NgramTrie, read_ngram, write_binary

    binary = str(tmp_path / "kn3.bin")
    write_binary(read_ngram(arpa_model), binary)
    text, mapped = LanguageModel(arpa_model), LanguageModel(binary)
    assert mapped.perplexity_of_file(direct_model["test"]) == text.perplexity_of_file(direct_model["test"])
    sentence = "alpha beta gamma unseen-word"
    assert mapped.full_scores(sentence) == text.full_scores(sentence)
    assert mapped.score(sentence, bos=False, eos=False) == text.score(sentence, bos=False, eos=False)
    assert isinstance(mapped.model, NgramTrie) and "_tables" not in vars(mapped)  # no tables for texts
    state_text, state_mapped = text.begin_sentence(), mapped.begin_sentence()
    for word in sentence.split():
        (logp_text, state_text), (logp_mapped, state_mapped) = (text.score_word(state_text, word),
                                                                mapped.score_word(state_mapped, word))
        assert logp_mapped == logp_text and state_mapped == state_text


def test_a_mixture_of_an_rnn_and_an_ngram_is_what_ppl_ngram_lambda_prints(direct_model, arpa_model, capsys):
    lam = 0.6
    mixture = Mixture([LanguageModel(direct_model["model"]), arpa_model], [lam, 1 - lam])
    score = mixture.perplexity_of_file(direct_model["test"], threads=1)
    status, out, _ = run_cli(["ppl", "-rnnlm", direct_model["model"], "-test", direct_model["test"], "-ngram",
                              arpa_model, "-lambda", str(lam)], capsys)
    assert status == 0
    assert f"*other_lm: {score.log10_probability:f}\n" in out
    assert f"PPL combine: {score.perplexity:f}\nwords: {score.scored}\n" in out


def test_a_mixture_is_what_ensemble_prints_with_given_and_with_tuned_weights(direct_model, independent_model,
                                                                             arpa_model, tmp_path, capsys):
    test = write_text(tmp_path / "test.txt", pattern_corpus(30, seed=7))  # every word known to every member,
    valid = direct_model["valid"]  # where ensemble and Mixture count tokens alike
    members = [direct_model["model"], independent_model["model"], arpa_model]
    given = Mixture(members, [0.3, 0.3, 0.4]).perplexity_of_file(test)
    status, out, _ = run_cli(["ensemble", "-rnnlm", members[0], "-rnnlm", members[1], "-ngram", members[2],
                              "-weights", "0.3,0.3,0.4", "-test", test], capsys)
    assert status == 0
    assert re.search(rf"ensemble \(weights given\)\s+1\.0000\s+{given.perplexity:.2f}\n", out), out
    tuned = Mixture.fit(members, valid)
    status, out, _ = run_cli(["ensemble", "-rnnlm", members[0], "-rnnlm", members[1], "-ngram", members[2],
                              "-valid", valid, "-test", test], capsys)
    assert status == 0
    assert [float(w) for w in re.findall(r"^\S+\s+(\d\.\d{4})\s", out, re.M)[:3]] == \
        [round(w, 4) for w in tuned.weights.tolist()]
    assert f"{tuned.perplexity_of_file(test).perplexity:.2f}\n" in out


# ---------------------------------------------------------------- KenLM's numbers for an ARPA file

@pytest.mark.parametrize("bos, eos", [(True, True), (False, True), (True, False), (False, False)])
def test_an_arpa_files_scores_equal_kenlms(arpa_model, bos, eos):
    kenlm = kenlm_or_skip()
    theirs, ours = kenlm.Model(arpa_model), LanguageModel(arpa_model)
    for sentence in SENTENCES:
        assert ours.score(sentence, bos=bos, eos=eos) == pytest.approx(theirs.score(sentence, bos=bos, eos=eos),
                                                                       abs=1e-5)
        expected = [(log10_prob, oov) for log10_prob, _, oov in theirs.full_scores(sentence, bos=bos, eos=eos)]
        found = ours.full_scores(sentence, bos=bos, eos=eos)
        assert [oov for _, oov in found] == [oov for _, oov in expected]
        assert [p for p, _ in found] == pytest.approx([p for p, _ in expected], abs=1e-5)
    assert any(oov for _, oov in ours.full_scores("alpha zzz one"))  # the OOV case was tested: <unk>'s score
    assert ours.perplexity("alpha zzz one") == pytest.approx(theirs.perplexity("alpha zzz one"), rel=1e-5)


def test_an_arpa_models_word_by_word_scores_equal_kenlms(arpa_model):
    kenlm = kenlm_or_skip()
    theirs, ours = kenlm.Model(arpa_model), LanguageModel(arpa_model)
    for bos in (True, False):
        their_state, ours_state = kenlm.State(), ours.begin_sentence(bos)
        (theirs.BeginSentenceWrite if bos else theirs.NullContextWrite)(their_state)
        for word in "alpha x zzz y one </s> beta".split():
            following = kenlm.State()
            expected = theirs.BaseScore(their_state, word, following)
            found, ours_state = ours.score_word(ours_state, word)
            assert found == pytest.approx(expected, abs=1e-5), word
            their_state = following


# ---------------------------------------------------------------- word by word

@pytest.mark.parametrize("config", [DIRECT, INDEPENDENT, *TRAINING_VARIANTS.values()],
                         ids=["direct", "independent", *TRAINING_VARIANTS])
def test_stepping_through_a_text_word_by_word_gives_what_ppl_scores(trained_model, config):
    files = trained_model(config, sentences=SMALL, max_iter=2, extra_test_lines=OOV_LINES)
    lm, model = LanguageModel(files["model"]), load_model(files["model"])
    result = evaluate_file(model, files["test"])
    state, stepped = lm.begin_sentence(), []
    for token in result.tokens:
        log10_prob, state = lm.score_word(state, token)
        stepped.append(log10_prob)
    expected = [math.log10(p) if p > 0 else -math.inf for p in result.probabilities.tolist()]
    assert stepped == expected  # the same kernel, position by position: the same numbers
    first_line = list(result.tokens[:list(result.tokens).index("</s>")])
    assert lm.score(first_line) == pytest.approx(sum(expected[:len(first_line) + 1]), abs=1e-12)
    distribution = lm.next_word_distribution(state)  # every output layer and cell: score_word's values
    assert sum(10 ** value for value in distribution.values()) == pytest.approx(1.0, abs=1e-5)
    for word in ("alpha", "one", "</s>"):
        assert distribution[word] == pytest.approx(lm.score_word(state, word)[0], abs=1e-5)


@pytest.mark.parametrize("kind", ["rnn", "arpa", "mixture"])
def test_states_are_values(direct_model, arpa_model, kind):
    lm = {"rnn": lambda: LanguageModel(direct_model["model"]), "arpa": lambda: LanguageModel(arpa_model),
          "mixture": lambda: Mixture([direct_model["model"], arpa_model], [0.5, 0.5])}[kind]()
    start = lm.begin_sentence()
    assert isinstance(start, rnnlmpy.State)
    assert start == lm.begin_sentence() and hash(start) == hash(lm.begin_sentence())
    assert start != lm.begin_sentence(bos=False)
    first, after_alpha = lm.score_word(start, "alpha")
    again, after_alpha_again = lm.score_word(copy.deepcopy(start), "alpha")
    assert (first, after_alpha) == (again, after_alpha_again)  # scoring left the start state as it was
    assert after_alpha != start and after_alpha != lm.score_word(start, "beta")[1]
    assert lm.score_word(copy.copy(after_alpha), "x") == lm.score_word(after_alpha, "x")
    assert len({start, after_alpha, after_alpha_again}) == 2


@pytest.mark.parametrize("kind", ["rnn", "arpa", "mixture"])
def test_the_next_word_distribution_holds_score_words_values(direct_model, arpa_model, kind):
    lm = {"rnn": lambda: LanguageModel(direct_model["model"]), "arpa": lambda: LanguageModel(arpa_model),
          "mixture": lambda: Mixture([direct_model["model"], arpa_model], [0.5, 0.5])}[kind]()
    _, state = lm.score_word(lm.begin_sentence(), "alpha")
    distribution = lm.next_word_distribution(state)
    values = list(distribution.values())
    assert values == sorted(values, reverse=True)
    for word in ("x", "one", "</s>", "alpha"):
        assert distribution[word] == pytest.approx(lm.score_word(state, word)[0], abs=1e-6)
    if kind != "mixture":  # a mixture adds <unk>'s share to the words only some members know
        assert sum(10 ** value for value in values) == pytest.approx(1.0, abs=1e-5)
    top = lm.next_word_distribution(state, top_k=3)
    assert list(top.items()) == list(distribution.items())[:3]
    with pytest.raises(RnnlmpyError, match="top_k"):
        lm.next_word_distribution(state, top_k=-1)


def test_stepping_an_rnn_compiles_nothing_after_the_first_word(direct_model):
    from rnnlmpy.kernels import lm as kernels
    lm = LanguageModel(direct_model["model"])
    state = lm.score_word(lm.begin_sentence(), "alpha")[1]
    compiled = len(kernels.score_span.signatures)
    for word in "x y z one </s> beta u two".split():
        state = lm.score_word(state, word)[1]
    assert len(kernels.score_span.signatures) == compiled


# ---------------------------------------------------------------- sentences and batches

def test_a_str_is_split_on_whitespace_and_never_read_as_characters(direct_model):
    lm = LanguageModel(direct_model["model"])
    assert lm.score("alpha  x\ty one") == lm.score(["alpha", "x", "y", "one"]) == lm.score(("alpha", "x", "y", "one"))
    assert len(lm.full_scores("alpha")) == 2  # the word and </s>, not five letters
    assert len(lm.full_scores(["alpha"])) == 2
    assert [oov for _, oov in lm.full_scores("a l p h a")] == [True] * 5 + [False]
    with pytest.raises(RnnlmpyError, match="bytes"):
        lm.score(b"alpha x one")
    with pytest.raises(RnnlmpyError, match="str"):
        lm.score([1, 2, 3])


def test_scores_perplexity_and_oov_flags_agree(direct_model):
    lm = LanguageModel(direct_model["model"])
    scores = lm.full_scores("alpha zzz x one")
    assert [oov for _, oov in scores] == [False, True, False, False, False]
    assert scores[1].log10_prob == -math.inf  # no <unk> in this vocabulary: it cannot score the word
    total = sum(p for p, _ in scores if p > -math.inf)
    assert lm.score("alpha zzz x one") == pytest.approx(total, abs=1e-12)
    assert lm.perplexity("alpha zzz x one") == pytest.approx(10 ** (-total / 4))
    assert lm.score("alpha x one", eos=False) == pytest.approx(sum(p for p, _ in lm.full_scores("alpha x one")[:3]))
    assert "alpha" in lm and "zzz" not in lm and 3 not in lm
    assert lm.vocabulary[0] == "</s>" and set(lm.vocabulary) >= {"alpha", "one", "x"}


def test_a_batch_of_an_independent_models_sentences_is_its_ppl(independent_model):
    lm = LanguageModel(independent_model["model"])
    with open(independent_model["test"], encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    batch = lm.score_batch(lines, threads=1)
    assert batch.tolist() == lm.score_batch(lines, threads=3).tolist()  # threads share the work, not the result
    assert batch.tolist() == pytest.approx([lm.score(line) for line in lines], abs=1e-12)
    assert float(np.sum(batch)) == pytest.approx(lm.perplexity_of_file(independent_model["test"]).log10_probability,
                                                 abs=1e-9)


def test_a_batch_starts_every_sentence_afresh(direct_model):
    lm = LanguageModel(direct_model["model"])
    batch = lm.score_batch(SENTENCES, bos=False, eos=False, threads=2)
    assert batch.tolist() == pytest.approx([lm.score(s, bos=False, eos=False) for s in SENTENCES], abs=1e-12)
    assert lm.score_batch([]).tolist() == []


# ---------------------------------------------------------------- what is refused

def test_what_is_not_a_language_model_is_refused_in_one_line(tmp_path):
    text = write_text(tmp_path / "text.txt", pattern_corpus(3, seed=1))
    with pytest.raises(RnnlmpyError, match="not an ARPA"):
        LanguageModel(text)
    hmm = tmp_path / "hmm.txt"
    hmm.write_text("T <s> NN 1.0\nE NN dog 1.0\n")
    with pytest.raises(RnnlmpyError, match="HMM"):
        LanguageModel(str(hmm))
    with pytest.raises(RnnlmpyError, match="missing|No such|does not exist"):
        LanguageModel(str(tmp_path / "absent.model"))


def test_a_mixture_checks_its_weights_and_states(direct_model, arpa_model):
    with pytest.raises(RnnlmpyError, match="sum to 1"):
        Mixture([direct_model["model"], arpa_model], [0.5, 0.6])
    with pytest.raises(RnnlmpyError, match="2 weights for 1"):
        Mixture([arpa_model], [0.5, 0.5])
    with pytest.raises(RnnlmpyError, match="list"):
        Mixture(arpa_model)
    mixture = Mixture([direct_model["model"], arpa_model])
    assert mixture.weights.tolist() == [0.5, 0.5]
    with pytest.raises(RnnlmpyError, match="not a state"):
        mixture.score_word(LanguageModel(arpa_model).begin_sentence(), "alpha")


def test_the_public_surface_is_listed_and_documented():
    for name in ("LanguageModel", "Mixture", "FileScore", "TokenScore", "State"):
        assert name in rnnlmpy.__all__ and getattr(rnnlmpy, name).__doc__
    for cls in (LanguageModel, Mixture, rnnlmpy.api.RnnLanguageModel, rnnlmpy.api.NgramLanguageModel):
        for name in dir(cls):
            if not name.startswith("_"):
                assert getattr(cls, name).__doc__, (cls.__name__, name)


def test_paths_may_be_path_objects_and_loaded_models_may_be_wrapped(direct_model, arpa_model):
    import pathlib
    by_path = LanguageModel(pathlib.Path(direct_model["model"]))
    wrapped = rnnlmpy.api.RnnLanguageModel(model=load_model(direct_model["model"]))
    assert by_path.score("alpha x one") == wrapped.score("alpha x one") == \
        LanguageModel(direct_model["model"]).score("alpha x one")
    mixture = Mixture([pathlib.Path(arpa_model), by_path], [0.5, 0.5])
    assert mixture.score("alpha x one") == Mixture([arpa_model, wrapped]).score("alpha x one")

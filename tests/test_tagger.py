"""The POS tagger: kernels against the NumPy reference, gradients, HMM, grading, CLI."""

import numpy as np
import pytest

from rnnlmpy.kernels import tagger as tagger_kernels
from rnnlmpy.kernels.cell import TANH
from rnnlmpy.tagger import (TaggerConfig, grade_lines, new_tagger, read_tagged, token_features,
                            train_hmm, train_tagger, word_shape)
from rnnlmpy.tagger.rnn import viterbi

import reference
from helpers import write_text
from test_cli import run

SENTENCES = [("the dog runs".split(), "DT NN VBZ".split()), ("a cat sleeps".split(), "DT NN VBZ".split()),
             ("dogs run fast".split(), "NNS VBP RB".split()), ("the big cat".split(), "DT JJ NN".split()),
             ("Obama spoke in 2009".split(), "NNP VBD IN CD".split())]


def tiny_tagger(bidirectional=True, rich=True, seed=0):
    config = TaggerConfig(hidden_size=6, bidirectional=bidirectional, rich_features=rich, ensemble=1,
                          rand_seed=seed, dtype="float64")
    tagger = new_tagger(config, SENTENCES)
    rng = np.random.default_rng(seed + 7)
    for array in tagger.members[0].arrays().values():
        array[...] = rng.normal(0, 0.4, array.shape)
    return tagger


def feature_rows(tagger, words):
    _, ptr, ids = tagger.encode([words])
    return [ids[ptr[t]:ptr[t + 1]].tolist() for t in range(len(words))]


@pytest.mark.parametrize("bidirectional", [True, False])
def test_posteriors_match_reference(bidirectional):
    tagger = tiny_tagger(bidirectional)
    words = "the big dog sleeps".split()
    expected_tags = [0, 0, 0, 0]
    _, expected = reference.tagger_log_likelihood(tagger.members[0].arrays(), feature_rows(tagger, words),
                                                  expected_tags, bidirectional=bidirectional)
    np.testing.assert_allclose(tagger.posteriors([words]), expected, rtol=1e-10)
    # several sentences at once give the same as one by one
    both = tagger.posteriors([words, "a cat".split()])
    np.testing.assert_allclose(both[:4], expected, rtol=1e-10)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_training_step_follows_the_sentence_gradient(bidirectional):
    """One sentence, tiny learning rate: each weight moves by alpha times d loglik / d weight."""
    tagger = tiny_tagger(bidirectional)
    member = tagger.members[0]
    words, tags = SENTENCES[4]
    tag_ids = [tagger.tags.index(t) for t in tags]
    rows = feature_rows(tagger, words)
    before = {k: v.copy() for k, v in member.arrays().items()}
    sentence_start, ptr, ids = tagger.encode([words])
    size, length = 6, len(words)
    ring = [np.zeros((length, size)) for _ in range(6)]
    alpha = 1e-7
    tagger_kernels.train_tagger_sentences(member.forward_input, member.forward_recurrent, member.backward_input,
                                          member.backward_recurrent, member.output_weights, ptr, ids,
                                          np.array(tag_ids, dtype=np.int32), sentence_start, np.array([0]), alpha,
                                          0.0, TANH, bidirectional, np.zeros(length, dtype=np.int64), ring[0],
                                          ring[1], ring[2], np.zeros(length, dtype=np.int64), ring[3], ring[4],
                                          ring[5], np.zeros((size, size)), np.zeros((size, size)))
    names = ["forward_input", "forward_recurrent", "output_weights"]
    if bidirectional:
        names += ["backward_input", "backward_recurrent"]
    rng = np.random.default_rng(3)
    step = 1e-6
    for name in names:
        update = (getattr(member, name) - before[name]) / alpha
        touched = np.unique([r for token in rows for r in token]) if name.endswith("input") else None
        for _ in range(10):
            if touched is not None:
                index = (int(rng.choice(touched)), int(rng.integers(0, size)))
            else:
                index = tuple(int(rng.integers(0, n)) for n in before[name].shape)
            plus = {k: v.copy() for k, v in before.items()}
            minus = {k: v.copy() for k, v in before.items()}
            plus[name][index] += step
            minus[name][index] -= step
            numeric = (reference.tagger_log_likelihood(plus, rows, tag_ids, bidirectional=bidirectional)[0]
                       - reference.tagger_log_likelihood(minus, rows, tag_ids, bidirectional=bidirectional)[0]) / (2 * step)
            assert update[index] == pytest.approx(numeric, rel=1e-4, abs=1e-6), (name, index)


def test_training_learns_the_tiny_corpus():
    tagger = train_tagger(SENTENCES * 20, TaggerConfig(hidden_size=10, epochs=5, ensemble=2, alpha=0.05), debug=0)
    assert tagger.tag([words for words, _ in SENTENCES]) == [tags for _, tags in SENTENCES]
    # an unseen capitalised word and an unseen number still get sensible tags from their shape
    assert tagger.tag(["Merkel spoke in 1999".split()]) == ["NNP VBD IN CD".split()]


def test_features_split_words_into_parts():
    features = token_features("Re-elected", known=False, rich=True, unknown_classes=True)
    assert "unk=Xx-x" in features and "suf2=ed" in features and "pre1=r" in features
    assert "cap" in features and "hyphen" in features and not any(f.startswith("w=") for f in features)
    assert token_features("dog", known=True, rich=False, unknown_classes=False) == ["<bias>", "w=dog"]
    assert word_shape("1990s") == "dx" and word_shape("McDonald") == "XxXx"


def test_viterbi_finds_the_best_path():
    log_post = np.log(np.array([[0.6, 0.4], [0.5, 0.5], [0.1, 0.9]]))
    transitions = np.log(np.array([[0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.5, 0.5, 0.0 + 1e-12]]))
    best, best_path = -np.inf, None
    for path in np.ndindex(2, 2, 2):  # brute force over all 8 paths
        score = transitions[2, path[0]] + transitions[path[-1], 2] + sum(log_post[k, path[k]] for k in range(3))
        score += sum(transitions[path[k - 1], path[k]] for k in range(1, 3))
        if score > best:
            best, best_path = score, list(path)
    assert viterbi(log_post, transitions).tolist() == best_path


def test_hmm_reproduces_the_tutorial_tiny_test(corpus_dir, tmp_path, capsys):
    folder = corpus_dir("nlptutorial-05")
    model = str(tmp_path / "hmm.txt")
    code, _, _ = run(["tag-train", "-train", f"{folder}/05-train-input.txt", "-model", model, "-model-type", "hmm",
                      "-debug", "0"], capsys)
    assert code == 0
    assert open(model).read() == open(f"{folder}/05-train-answer.txt").read()
    code, out, _ = run(["tag", "-model", model, "-test", f"{folder}/05-test-input.txt", "-debug", "0"], capsys)
    assert code == 0 and out == open(f"{folder}/05-test-answer.txt").read()


def test_last_underscore_splits_word_and_tag(tmp_path):
    path = write_text(tmp_path / "t.txt", ["and\\/or_CC -LRB-_-LRB- e_mail_NN"])
    assert read_tagged(path) == [(["and\\/or", "-LRB-", "e_mail"], ["CC", "-LRB-", "NN"])]


def test_grade_matches_gradepos_semantics():
    grade = grade_lines(["DT NN VBZ", "NN NN"], ["the_DT NN NNS", "NN JJ"])
    assert (grade.correct, grade.total) == (3, 5)
    assert grade.report().splitlines()[0] == "Accuracy: 60.00% (3/5)"
    assert grade.report().splitlines()[3:] == ["NN --> JJ\t1", "VBZ --> NNS\t1"]


def test_cli_train_tag_grade_round_trip(tmp_path, capsys):
    train = write_text(tmp_path / "train.txt", [" ".join(f"{w}_{t}" for w, t in zip(*s)) for s in SENTENCES * 10])
    test = write_text(tmp_path / "test.txt", [" ".join(w) for w, _ in SENTENCES])
    gold = write_text(tmp_path / "gold.pos", [" ".join(t) for _, t in SENTENCES])
    model = str(tmp_path / "tagger")
    code, _, err = run(["tag-train", "-train", train, "-model", model, "-hidden", "8", "-iter", "6", "-ensemble", "2",
                        "-alpha", "0.05"], capsys)
    assert code == 0 and "network 1" in err
    code, out, _ = run(["tag", "-model", model, "-test", test], capsys)
    assert code == 0
    answer = tmp_path / "answer.pos"
    answer.write_text(out)
    assert [len(line.split(" ")) for line in out.splitlines()] == [len(w) for w, _ in SENTENCES]
    code, out, _ = run(["grade", gold, str(answer)], capsys)
    assert code == 0 and out.startswith("Accuracy: 100.00% (16/16)")
    code, out, _ = run(["tag", "-model", model, "-test", test, "-format", "word_tag"], capsys)
    assert out.splitlines()[0] == "the_DT dog_NN runs_VBZ"


BAD = {
    "token without tag": (["tag-train", "-train", "{notag}", "-model", "{folder}/m1"], "is not word_TAG"),
    "empty line": (["tag-train", "-train", "{emptyline}", "-model", "{folder}/m2"], "line 2 is empty"),
    "tab in test": (["tag", "-model", "{hmm}", "-test", "{tabs}"], "contains a tab"),
    "non-UTF-8 test": (["tag", "-model", "{hmm}", "-test", "{latin}"], "not valid UTF-8"),
    "LM model to tag": (["tag", "-model", "{lm}", "-test", "{good}"], "is a language model"),
    "grade length mismatch": (["grade", "{gold}", "{short}"], "lengths don't match"),
    "refuse to overwrite": (["tag-train", "-train", "{good_train}", "-model", "{good}"], "not a tagger model"),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    from rnnlmpy import RnnlmConfig, train
    folder = tmp_path_factory.mktemp("tagbad")
    files = {"folder": folder}
    files["notag"] = write_text(folder / "notag.txt", ["a_DT dog_NN", "cat"])
    files["emptyline"] = write_text(folder / "emptyline.txt", ["a_DT dog_NN", "", "a_DT cat_NN"])
    files["good_train"] = write_text(folder / "good_train.txt", ["a_DT dog_NN", "a_DT cat_NN"])
    files["good"] = write_text(folder / "good.txt", ["a dog"])
    files["tabs"] = write_text(folder / "tabs.txt", ["a\tdog"])
    (folder / "latin.txt").write_bytes("caf\u00e9\n".encode("latin-1"))
    files["latin"] = str(folder / "latin.txt")
    files["gold"] = write_text(folder / "gold.pos", ["DT NN"])
    files["short"] = write_text(folder / "short.pos", ["DT"])
    files["hmm"] = str(folder / "hmm.txt")
    train_hmm(read_tagged(files["good_train"])).write(files["hmm"])
    files["lm"] = str(folder / "lm.model")
    train(files["good"], files["lm"], config=RnnlmConfig(hidden_size=3, class_count=1), one_iter=True, debug=0)
    return files


@pytest.mark.parametrize("case", sorted(BAD))
def test_tagger_bad_input(case, bad_files, capsys):
    argv, expected = BAD[case]
    code, out, err = run([a.format(**bad_files) for a in argv], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err

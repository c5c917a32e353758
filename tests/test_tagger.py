"""The POS tagger: kernels against the NumPy reference, gradients, HMM, grading, CLI."""

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels import tagger as tagger_kernels
from rnnlmpy.kernels.cell import TANH
from rnnlmpy.tagger import (HmmTagger, TaggerConfig, grade_lines, new_tagger, read_tagged, token_features,
                            train_hmm, train_tagger, word_shape)
from rnnlmpy.tagger.rnn import best_paths, viterbi

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


def kernel_step(tagger, words, tag_ids, alpha, bidirectional, bptt=0):
    """Train the tagger's one network on one sentence (no clipping), in place, with the kernel."""
    member = tagger.members[0]
    sentence_start, ptr, ids = tagger.encode([words])
    size, length = member.forward_recurrent.shape[0], len(words)
    ring = [np.zeros((length, size)) for _ in range(6)]
    tagger_kernels.train_tagger_sentences(member.forward_input, member.forward_recurrent, member.backward_input,
                                          member.backward_recurrent, member.output_weights, ptr, ids,
                                          np.array(tag_ids, dtype=np.int32), sentence_start, np.array([0]), alpha,
                                          0.0, TANH, bidirectional, np.zeros(length, dtype=np.int64), ring[0],
                                          ring[1], ring[2], np.zeros(length, dtype=np.int64), ring[3], ring[4],
                                          ring[5], bptt)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_training_step_follows_the_sentence_gradient(bidirectional):
    """One sentence, tiny learning rate: each weight moves by alpha times d loglik / d weight."""
    tagger = tiny_tagger(bidirectional)
    member = tagger.members[0]
    words, tags = SENTENCES[4]
    tag_ids = [tagger.tags.index(t) for t in tags]
    rows = feature_rows(tagger, words)
    before = {k: v.copy() for k, v in member.arrays().items()}
    size = 6
    alpha = 1e-7
    kernel_step(tagger, words, tag_ids, alpha, bidirectional)
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


LONG_WORDS = "the big dog runs fast a cat sleeps in 2009".split()
LONG_TAGS = "DT JJ NN VBZ RB DT NN VBZ IN CD".split()


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("bptt", [1, 2, 3, 4])
def test_truncated_bptt_step_follows_the_truncated_gradient(bidirectional, bptt):
    """-bptt N: with a tiny learning rate each weight moves by alpha times the reference's truncated gradient."""
    tagger = tiny_tagger(bidirectional)
    member = tagger.members[0]
    tag_ids = [tagger.tags.index(t) for t in LONG_TAGS]
    before = {k: v.copy() for k, v in member.arrays().items()}
    alpha = 1e-7
    kernel_step(tagger, LONG_WORDS, tag_ids, alpha, bidirectional, bptt)
    expected = reference.tagger_truncated_gradients(before, feature_rows(tagger, LONG_WORDS), tag_ids, bptt,
                                                    bidirectional=bidirectional)
    full = reference.tagger_truncated_gradients(before, feature_rows(tagger, LONG_WORDS), tag_ids, 0,
                                                bidirectional=bidirectional)
    names = ["forward_input", "forward_recurrent", "output_weights"] + \
        (["backward_input", "backward_recurrent"] if bidirectional else [])
    for name in names:
        update = (getattr(member, name) - before[name]) / alpha
        np.testing.assert_allclose(update, expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
    # truncation changes the recurrent gradient (the sentence has 10 tokens, more than N)
    assert not np.allclose(expected["forward_recurrent"], full["forward_recurrent"], rtol=1e-3)


def test_reference_truncated_gradient_is_the_exact_gradient_without_truncation():
    tagger = tiny_tagger(True)
    weights = {k: v.copy() for k, v in tagger.members[0].arrays().items()}
    rows, tag_ids = feature_rows(tagger, LONG_WORDS), [tagger.tags.index(t) for t in LONG_TAGS]
    exact = reference.tagger_truncated_gradients(weights, rows, tag_ids, 0)
    for bptt in (len(LONG_WORDS), 100):  # blocks as long as the sentence: nothing is cut
        same = reference.tagger_truncated_gradients(weights, rows, tag_ids, bptt)
        for name in exact:
            np.testing.assert_array_equal(same[name], exact[name])
    rng = np.random.default_rng(5)
    step = 1e-6
    for name in ("forward_recurrent", "backward_recurrent", "output_weights", "forward_input"):
        for _ in range(4):
            index = (int(rng.choice(rows[3])), int(rng.integers(0, 6))) if name.endswith("input") else \
                tuple(int(rng.integers(0, n)) for n in weights[name].shape)
            plus = {k: v.copy() for k, v in weights.items()}
            minus = {k: v.copy() for k, v in weights.items()}
            plus[name][index] += step
            minus[name][index] -= step
            numeric = (reference.tagger_log_likelihood(plus, rows, tag_ids)[0]
                       - reference.tagger_log_likelihood(minus, rows, tag_ids)[0]) / (2 * step)
            assert exact[name][index] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (name, index)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_bptt_as_long_as_the_sentence_is_bitwise_the_full_bptt(bidirectional):
    results = []
    for bptt in (0, len(LONG_WORDS), len(LONG_WORDS) + 5):
        tagger = tiny_tagger(bidirectional)
        kernel_step(tagger, LONG_WORDS, [tagger.tags.index(t) for t in LONG_TAGS], 0.05, bidirectional, bptt)
        results.append(tagger.members[0].arrays())
    for other in results[1:]:
        for name, array in results[0].items():
            np.testing.assert_array_equal(other[name], array)


def test_training_with_truncated_bptt_learns_the_tiny_corpus():
    config = TaggerConfig(hidden_size=10, epochs=5, ensemble=1, alpha=0.05, bptt=1)
    tagger = train_tagger(SENTENCES * 20, config, debug=0)
    assert tagger.tag([words for words, _ in SENTENCES]) == [tags for _, tags in SENTENCES]
    with pytest.raises(RnnlmpyError, match="-bptt must be"):
        TaggerConfig(bptt=-1).validate()


def test_tutorial_refuses_settings_that_contradict_its_network():
    assert TaggerConfig.tutorial(bidirectional=False, ensemble=1, bptt=2, hidden_size=7).hidden_size == 7
    with pytest.raises(RnnlmpyError, match="cannot be combined with -bidirectional, -viterbi"):
        TaggerConfig.tutorial(viterbi=True, bidirectional=True)
    for setting, shown in [(dict(rich_features=True), "-features rich"), (dict(unknown_classes=True), "-unknown shape"),
                           (dict(ensemble=3), "-ensemble 3")]:
        with pytest.raises(RnnlmpyError, match=shown):
            TaggerConfig.tutorial(**setting)


def test_viterbi_kernel_matches_the_numpy_reference():
    """Random scores and transitions, many sentences in one call: the reference's path, sentence by sentence."""
    rng = np.random.default_rng(11)
    for tag_count in (1, 2, 5, 17):
        lengths = rng.integers(1, 30, size=40)
        scores = np.log(rng.dirichlet(np.ones(tag_count), size=int(lengths.sum())))
        transitions = np.log(rng.dirichlet(np.ones(tag_count + 1), size=tag_count + 1))
        sentence_start = np.concatenate([[0], np.cumsum(lengths)])
        paths = best_paths(scores, sentence_start, transitions)
        for s in range(len(lengths)):
            piece = slice(sentence_start[s], sentence_start[s + 1])
            assert paths[piece].tolist() == reference.viterbi_reference(scores[piece], transitions).tolist()


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


def tie_heavy_hmm(rng, hostile):
    """A random HMM whose probabilities are powers of 1/2 (many equal path scores) and whose tags lack many transitions."""
    tags = ["A", "B", "C", "D", "E"] + (["<s>"] if hostile else [])  # a tag named <s> shares <s>'s transitions
    halves = [1.0, 0.5, 0.25, 0.125]
    transition = {}
    for previous in ["<s>"] + tags:
        for tag in tags + ["</s>"]:
            if rng.random() < 0.6:
                transition[(previous, tag)] = float(rng.choice(halves))
    emission = {(tag, word): float(rng.choice(halves)) for tag in tags for word in "xyz" if rng.random() < 0.5}
    return transition, emission


@pytest.mark.parametrize("hostile", [False, True])
def test_hmm_kernel_decodes_as_the_tutorial_loops(hostile):
    """Tie-heavy random models: the same tags as the dictionary loops (first-reached wins), or the same failure."""
    rng = np.random.default_rng(4 + hostile)
    compared = 0
    for _ in range(30):
        transition, emission = tie_heavy_hmm(rng, hostile)
        if not any(b != "</s>" for (_, b) in transition):
            continue
        hmm = HmmTagger(transition, emission)
        sentences = [[str(rng.choice(list("xyzw"))) for _ in range(int(rng.integers(1, 9)))] for _ in range(20)]
        for words in sentences:
            expected = reference.hmm_tag_reference(transition, emission, words)
            if isinstance(expected, str):
                with pytest.raises(RnnlmpyError, match="no path through" if expected == "no path" else "no path to"):
                    hmm.tag([words])
            else:
                assert hmm.tag([words]) == [expected]
                compared += 1
    assert compared > 100


def test_hmm_names_the_sentence_without_a_path():
    hmm = train_hmm(SENTENCES)
    assert hmm.tag([words for words, _ in SENTENCES]) == [tags for _, tags in SENTENCES]
    assert hmm.tag_sentence(["the", "unseen"]) == ["DT", "NN"]
    dead_end = HmmTagger({("<s>", "A"): 1.0, ("A", "</s>"): 1.0}, {("A", "a"): 1.0})
    assert dead_end.tag([["a"], ["b"]]) == [["A"], ["A"]]
    with pytest.raises(RnnlmpyError, match="the HMM has no path through sentence 3"):
        dead_end.tag([["a"], ["a"], ["a", "a"]])
    no_end = HmmTagger({("<s>", "A"): 1.0, ("A", "B"): 1.0, ("B", "</s>"): 1.0}, {})
    with pytest.raises(RnnlmpyError, match="the HMM has no path to the end of sentence 1"):
        no_end.tag([["a"]])
    with pytest.raises(RnnlmpyError, match="HMM transition A B has probability 0.0"):
        HmmTagger({("<s>", "A"): 1.0, ("A", "B"): 0.0}, {}).tag([["a"]])


@pytest.mark.parametrize("value", ["0", "0.000000", "-0.5", "1.5", "nan", "inf", "-inf"])
def test_hmm_file_refuses_probabilities_outside_0_1(tmp_path, value):
    path = write_text(tmp_path / "hmm.txt", ["T <s> NN 1.000000", f"E NN dog {value}", "T NN </s> 1.000000"])
    with pytest.raises(RnnlmpyError, match=f"hmm.txt:2: probability '{value}' is not in \\(0, 1\\]"):
        HmmTagger.read(path)


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
    "HMM zero probability": (["tag", "-model", "{hmm_zero}", "-test", "{good}"],
                             "hmm_zero.txt:2: probability '0.000000' is not in (0, 1]"),
    "HMM negative probability": (["tag", "-model", "{hmm_negative}", "-test", "{good}"], "hmm_negative.txt:1:"),
    "tutorial with -viterbi": (["tag-train", "-train", "{good_train}", "-model", "{folder}/m3", "-tutorial",
                                "-viterbi"], "cannot be combined with -viterbi"),
    "tutorial with -features rich": (["tag-train", "-train", "{good_train}", "-model", "{folder}/m4", "-tutorial",
                                      "-features", "rich", "-bidirectional", "-ensemble", "2", "-unknown", "shape"],
                                     "cannot be combined with -bidirectional, -features rich, -unknown shape, "
                                     "-ensemble 2"),
    "HMM with RNN settings": (["tag-train", "-train", "{good_train}", "-model", "{folder}/m5", "-model-type", "hmm",
                               "-bptt", "2", "-hidden", "5"], "-hidden, -bptt: the RNN tagger's"),
    "negative -bptt": (["tag-train", "-train", "{good_train}", "-model", "{folder}/m6", "-bptt", "-1"],
                       "-1 is not in the range"),
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
    files["hmm_zero"] = write_text(folder / "hmm_zero.txt", ["T <s> DT 1.000000", "E DT a 0.000000"])
    files["hmm_negative"] = write_text(folder / "hmm_negative.txt", ["T <s> DT -1"])
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

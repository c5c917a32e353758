"""The rest of rnnlm: direct connections, dynamic evaluation, generation, n-best, characters, C++ files,
ensembles and multi-seed training."""

import numpy as np
import pytest

import reference
from rnnlmpy import RnnlmConfig, evaluate_file, load_model, score_tokens, train
from rnnlmpy.base.metrics import em_weights
from rnnlmpy.kernels import direct as direct_kernels
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.cpp_format import read_rnnlm, write_rnnlm
from rnnlmpy.rnnlm.nbest import nbest_start_state, score_nbest
from rnnlmpy.rnnlm.network import score_stream
from rnnlmpy.rnnlm.sampling import generate
from rnnlmpy.rnnlm.streams import language_model_stream

from helpers import pattern_corpus, tiny_model, write_text
from test_cli import run
from test_kernels import WORDS, params_of, run_training_kernel

MASK64 = (1 << 64) - 1
PRIMES = [int(p) for p in direct_kernels.DIRECT_PRIMES]


def reference_keys(history, order, base, half, offset):
    """rnnlm's hash, spelled out with Python integers."""
    keys = []
    for n in range(order):
        if n > 0 and history[n - 1] < 0:
            break
        key = base
        for b in range(1, n + 1):
            key = (key + PRIMES[(((n * PRIMES[b]) & 0xFFFFFFFF) + b) % 36] * (history[b - 1] + 1)) & MASK64
        index = key % half + offset
        if index == 0:
            break
        keys.append(index)
    return keys


def test_direct_hash_matches_the_formula():
    rng = np.random.default_rng(0)
    half = 1000003
    for _ in range(50):
        history = rng.integers(-1, 5000, size=5)
        target_class = int(rng.integers(0, 100))
        for base, offset in ((PRIMES[0] * PRIMES[1] & 0xFFFFFFFF, 0),
                             (((PRIMES[0] * PRIMES[1]) & 0xFFFFFFFF) * (target_class + 1) & MASK64, half)):
            out = np.zeros(20, dtype=np.int64)
            usable = direct_kernels.direct_keys(history.astype(np.int64), 5, np.uint64(base), half, offset, out)
            assert out[:usable].tolist() == reference_keys(history.tolist(), 5, base, half, offset)


def direct_model(order=3, size=2000):
    model = tiny_model()
    model.config.direct_size, model.config.direct_order = size, order
    model.direct = np.random.default_rng(5).normal(0, 0.5, size)
    return model


def reference_direct_log_likelihood(model, direct, stream):
    """Reference forward pass, then class and word scores with the direct weights added, by the formula."""
    params = params_of(model)
    _, hiddens, _ = reference.forward(params, model.vocabulary.word_class, stream, model.hidden_state)
    half, size, order = len(direct) // 2, len(direct), model.config.direct_order
    base = PRIMES[0] * PRIMES[1] & 0xFFFFFFFF
    word_class = model.vocabulary.word_class
    total, probabilities = 0.0, []
    for t, target in enumerate(stream.targets.tolist()):
        history = [int(stream.targets[t - 1 - b]) if t - 1 - b >= 0 else 0 for b in range(order)]
        c = int(word_class[target])
        class_scores = params["class_weights"] @ hiddens[t]
        for key in reference_keys(history, order, base, half, 0):
            class_scores = class_scores + direct[key:key + len(class_scores)]
        members = np.flatnonzero(word_class == c)
        word_scores = params["output_weights"][members] @ hiddens[t]
        for key in reference_keys(history, order, base * (c + 1) & MASK64, half, half):
            word_scores = word_scores + direct[(key + np.arange(len(members))) % size]
        p = reference.softmax(class_scores)[c] * reference.softmax(word_scores)[list(members).index(target)]
        probabilities.append(p)
        total += np.log(p)
    return total, np.array(probabilities)


def test_direct_scores_match_the_reference():
    model = direct_model()
    stream = language_model_stream(WORDS)
    probabilities, _ = score_stream(model, stream, model.hidden_state)
    _, expected = reference_direct_log_likelihood(model, model.direct, stream)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-10)


def test_direct_update_follows_the_gradient():
    model = direct_model()
    model.config.beta = 0.0
    stream = language_model_stream(WORDS)
    before = model.direct.copy()
    alpha = 1e-7
    run_training_kernel(model, stream, alpha, bptt=len(WORDS), bptt_block=len(WORDS))
    update = (model.direct - before) / alpha
    touched = np.flatnonzero(update)
    assert len(touched) > 20
    rng = np.random.default_rng(1)
    restored = direct_model()  # same weights as before training
    for index in rng.choice(touched, 15, replace=False):
        plus, minus = before.copy(), before.copy()
        plus[index] += 1e-6
        minus[index] -= 1e-6
        numeric = (reference_direct_log_likelihood(restored, plus, stream)[0]
                   - reference_direct_log_likelihood(restored, minus, stream)[0]) / 2e-6
        assert update[index] == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_distribution_with_direct_weights_sums_to_one():
    model = direct_model()
    for temperature in (1.0, 0.5):
        distribution = np.zeros(7)
        network.distribution(model, np.full(5, 0.3), np.array([3, 1, 0] + [0] * 17), temperature, distribution)
        assert distribution.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.fixture(scope="module")
def trained(trained_model):
    return trained_model(dict(hidden_size=8, class_count=3, bptt=3, direct_size=20000, direct_order=3),
                         sentences=(600, 60, 60), extra_test_lines=["alpha NEWWORD one"])


def test_dynamic_evaluation_learns_from_the_test_text(trained):
    model = load_model(trained["model"])
    static = evaluate_file(model, trained["test"])
    almost_static = evaluate_file(model, trained["test"], dynamic_alpha=1e-9)
    np.testing.assert_allclose(almost_static.probabilities, static.probabilities, rtol=1e-5)
    repeated = write_text(trained["folder"] / "repeated.txt", ["beta u v two"] * 50)
    assert evaluate_file(model, repeated, dynamic_alpha=0.1).perplexity < evaluate_file(model, repeated).perplexity
    assert evaluate_file(model, trained["test"]).perplexity == static.perplexity  # the model itself is unchanged


def test_generation_is_seeded_and_samples_the_model(trained):
    model = load_model(trained["model"])
    first = generate(model, 300, seed=4)
    assert first == generate(model, 300, seed=4) and first != generate(model, 300, seed=5)
    assert sum(len(line.split()) + 1 for line in first) >= 300 - 1
    sample = [line.split() for line in generate(model, 3000, seed=6)[:-1]]
    closers = {"alpha": "one", "beta": "two", "gamma": "three"}
    assert np.mean([bool(words) and words[0] in closers for words in sample]) > 0.9  # every sentence opens so
    consistent = [words[-1] == closers[words[0]] for words in sample if len(words) > 1 and words[0] in closers]
    assert len(consistent) > 300 and np.mean(consistent) > 0.45  # chance is 1/3: the samples follow the pattern
    cold = generate(model, 300, seed=4, temperature=0.3)
    assert len(set(cold)) < len(set(first))


def test_nbest_hypotheses_of_an_id_share_their_start(trained, capsys):
    model = load_model(trained["model"])
    hypotheses = [("1", "alpha x one".split()), ("1", "alpha x one".split()), ("1", "alpha x two".split()),
                  ("2", "beta y two".split())]
    scores = score_nbest(model, hypotheses)
    assert scores[0] == scores[1] and scores[0] > scores[2]
    start = nbest_start_state(model)
    probabilities, after_first = score_stream(model, language_model_stream(model.vocabulary.encode(
        ["alpha", "x", "one", "</s>"])), start)
    assert scores[0] == pytest.approx(np.sum(np.log10(probabilities)))
    second_id, _ = score_stream(model, language_model_stream(model.vocabulary.encode(["beta", "y", "two", "</s>"])),
                                after_first)  # a new ID starts after the previous ID's first hypothesis
    assert scores[3] == pytest.approx(np.sum(np.log10(second_id)))
    nbest = write_text(trained["folder"] / "nbest.txt", [f"{i} {' '.join(w)}" for i, w in hypotheses])
    code, out, _ = run(["ppl", "-rnnlm", trained["model"], "-test", nbest, "-nbest"], capsys)
    assert code == 0 and [float(x) for x in out.split()] == pytest.approx(scores.tolist(), abs=1e-6)


def test_character_model_reports_bits_per_character(tmp_path, capsys):
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(200, seed=1))
    model_file = str(tmp_path / "char.model")
    code, _, _ = run(["train", "-train", train_file, "-rnnlm", model_file, "-char", "-hidden", "10", "-max-iter", "3",
                      "-debug", "0"], capsys)
    assert code == 0
    model = load_model(model_file)
    assert model.config.char_level and "<sp>" in model.vocabulary.index and "a" in model.vocabulary.index
    code, out, _ = run(["ppl", "-rnnlm", model_file, "-test", train_file], capsys)
    bits = float(out.split("bits per character: ")[1].split()[0])
    assert 0 < bits < np.log2(len(model.vocabulary.words))
    code, out, _ = run(["gen", "-rnnlm", model_file, "-gen", "200"], capsys)
    assert code == 0 and " " in out and "<sp>" not in out


def test_handmade_cpp_text_model_is_read_and_scored(tmp_path):
    """A 3-word, 2-hidden, 2-class model in the C++ layout; probabilities checked by hand with NumPy."""
    hidden0 = [0.5, -0.25]
    syn0 = [[0.1, 0.2, -0.3, 0.4, 0.5], [-0.2, 0.3, 0.1, -0.1, 0.2]]  # 2 rows of V+H = 5
    syn1 = [[0.3, -0.1], [0.2, 0.4], [-0.5, 0.1], [0.7, 0.2], [-0.3, 0.6]]  # V+C = 5 rows of H = 2
    header = {"version": 10, "file format": 0, "training data file": "t", "validation data file": "v",
              "last probability of validation data": "-10.0", "number of finished iterations": 3,
              "current position in training data": 0, "current probability of training data": "0",
              "save after processing # words": 0, "# of training words": 9, "input layer size": 5,
              "hidden layer size": 2, "compression layer size": 0, "output layer size": 5, "direct connections": 0,
              "direct order": 3, "bptt": 5, "bptt block": 10, "vocabulary size": 3, "class size": 2,
              "old classes": 0, "independent sentences mode": 0, "starting learning rate": "0.1",
              "current learning rate": "0.05", "learning rate decrease": 1}
    lines = [f"{k}: {v}" for k, v in header.items()] + ["", "", "Vocabulary:", "     0\t         3\t</s>\t0",
                                                         "     1\t         4\tb\t0", "     2\t         2\tc\t1"]
    lines += ["", "Hidden layer activation:"] + [f"{v:.4f}" for v in hidden0]
    lines += ["", "Weights 0->1:"] + [f"{v:.4f}" for row in syn0 for v in row]
    lines += ["", "", "Weights 1->2:"] + [f"{v:.4f}" for row in syn1 for v in row]
    lines += ["", "Direct connections:"]
    path = write_text(tmp_path / "cpp.model", lines)
    model = load_model(path)
    assert model.config.bptt == 4 and model.training.alpha == 0.05 and model.vocabulary.words == ["</s>", "b", "c"]
    result = score_tokens(model, ["b", "c", "</s>"])
    syn0, syn1, state = np.array(syn0), np.array(syn1), np.array(hidden0)
    expected, previous = [], 0
    for word in (1, 2, 0):
        state = 1 / (1 + np.exp(-(syn0[:, 3:] @ state + syn0[:, previous])))
        class_p = reference.softmax(syn1[3:] @ state)
        members = [0, 1] if word in (0, 1) else [2]
        word_p = reference.softmax(syn1[members] @ state)
        expected.append(class_p[0 if word in (0, 1) else 1] * word_p[members.index(word)])
        previous = word
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-6)
    truncated = tmp_path / "truncated.model"
    truncated.write_text("\n".join(lines[:-10]) + "\n")
    with pytest.raises(Exception, match="truncated"):
        read_rnnlm(str(truncated))


def test_round_trips_through_cpp_formats_keep_perplexity(trained, tmp_path, capsys):
    original = evaluate_file(load_model(trained["model"]), trained["test"]).perplexity
    text, binary, back = (str(tmp_path / name) for name in ("m.txt", "m.bin", "back.model"))
    for target, path in (("rnnlm-text", text), ("rnnlm-binary", binary)):
        code, _, _ = run(["convert", "-rnnlm", trained["model"], "-to", target, "-o", path], capsys)
        assert code == 0
    code, _, _ = run(["convert", "-rnnlm", text, "-to", "rnnlmpy", "-o", back], capsys)
    assert code == 0
    assert evaluate_file(load_model(binary), trained["test"]).perplexity == pytest.approx(original, rel=1e-9)
    assert abs(evaluate_file(load_model(back), trained["test"]).perplexity - original) / original < 1e-3
    assert open(text).readline() == "version: 10\n"


def test_em_weights_maximise_the_mixture_likelihood():
    rng = np.random.default_rng(2)
    probabilities = rng.random((3, 500)) ** 3 + 1e-3
    weights = em_weights(probabilities)
    best = np.sum(np.log(weights @ probabilities))
    for _ in range(200):  # no random mixture does better
        other = rng.dirichlet(np.ones(3))
        assert np.sum(np.log(other @ probabilities)) <= best + 1e-9
    assert weights.sum() == pytest.approx(1.0)


def test_ensemble_command_beats_its_members(trained, tmp_path, capsys):
    other = str(tmp_path / "other.model")
    train(trained["train"], other, trained["valid"], RnnlmConfig(hidden_size=6, class_count=2, bptt=2, rand_seed=9),
          debug=0)
    from rnnlmpy.ngram import train_ngram, write_arpa
    write_arpa(train_ngram(trained["train"], 3)[0], str(tmp_path / "kn3.arpa"))
    code, out, _ = run(["ensemble", "-rnnlm", trained["model"], "-rnnlm", other, "-ngram", str(tmp_path / "kn3.arpa"),
                        "-valid", trained["valid"], "-test", trained["test"]], capsys)
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:4]}
    combined = float(out.splitlines()[4].split()[-1])
    assert combined <= min(float(row[-1]) for row in rows.values()) + 1e-9
    assert "left out because at least one member cannot score them" in out
    code, out, _ = run(["ensemble", "-rnnlm", trained["model"], "-rnnlm", other, "-weights", "0.5,0.5", "-test",
                        trained["test"]], capsys)
    assert code == 0 and "weights given" in out


BAD = {
    "negative weight": (["ensemble", "-rnnlm", "{model}", "-rnnlm", "{model}", "-weights", "1.5,-0.5",
                         "-test", "{test}"], "non-negative and sum to 1"),
    "weights not summing to 1": (["ensemble", "-rnnlm", "{model}", "-rnnlm", "{model}", "-weights", "0.5,0.6",
                                  "-test", "{test}"], "sum to 1"),
    "missing member": (["ensemble", "-rnnlm", "{model}", "-rnnlm", "{folder}/nope", "-valid", "{valid}",
                        "-test", "{test}"], "does not exist"),
    "member of another kind": (["ensemble", "-rnnlm", "{model}", "-rnnlm", "{tagger}", "-valid", "{valid}",
                                "-test", "{test}"], "POS tagger"),
    "gen on a tagger": (["gen", "-rnnlm", "{tagger}", "-gen", "10"], "POS tagger"),
    "truncated C++ model": (["ppl", "-rnnlm", "{cpp_truncated}", "-test", "{test}"], "truncated"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_extras_bad_input(case, trained, capsys):
    folder = trained["folder"]
    files = dict(trained)
    files["tagger"] = str(folder / "tagger.model")
    if not (folder / "tagger.model").exists():
        tagged = write_text(folder / "t.pos", ["the_DT dog_NN"] * 5)
        run(["tag-train", "-train", tagged, "-model", files["tagger"], "-hidden", "3", "-iter", "1", "-ensemble", "1",
             "-debug", "0"], capsys)
    files["cpp_truncated"] = str(folder / "cpp_truncated.model")
    write_rnnlm(load_model(trained["model"]), str(folder / "cpp_full.model"), binary=True)
    data = open(folder / "cpp_full.model", "rb").read()
    open(files["cpp_truncated"], "wb").write(data[: len(data) - 100])
    argv, expected = BAD[case]
    code, _, err = run([a.format(**files) for a in argv], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err




@pytest.mark.parametrize("shape", [(5, 3), (0, 4), (7,), (1500, 1000)])
def test_initial_weights_are_three_summed_draws_made_a_chunk_at_a_time(shape):
    from rnnlmpy.base.initialisation import initial_weights
    draws = np.random.default_rng(11).random((3,) + shape)
    expected = (draws.sum(axis=0) * 0.2 - 0.3).astype(np.float32)  # all draws at once: rnnlm's formula
    made = initial_weights(shape, np.random.default_rng(11), np.float32)
    assert made.shape == shape and made.dtype == np.float32 and np.array_equal(made, expected)

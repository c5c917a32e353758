"""The tagger's gated cells (-hidden-type lstm|gru): kernels against NumPy references, gradients by finite
differences, tagging, files (and crafted ones refused), the command line."""

import json
import math
import zipfile

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels import window_elman, window_gru, window_lstm
from rnnlmpy.kernels.tagger_window import gather_inputs, join_directions, scatter_input_grads, split_joined_grads
from rnnlmpy.kernels.window import window_cache
from rnnlmpy.tagger import (CELL_DEFAULTS, TaggerConfig, load_tagger, new_tagger, save_tagger, train_tagger)
from rnnlmpy.tagger.gated import GatedWeights, sentence_window, training_batches, window_gradients

import reference_deep
from helpers import run_cli as run, write_text

SENTENCES = [("the dog runs".split(), "DT NN VBZ".split()), ("a cat sleeps".split(), "DT NN VBZ".split()),
             ("dogs run fast".split(), "NNS VBP RB".split()), ("the big cat".split(), "DT JJ NN".split()),
             ("Obama spoke in 2009".split(), "NNP VBD IN CD".split()), ("cats".split(), "NNS".split())]
CELLS = {"lstm": window_lstm, "gru": window_gru, "tanh": window_elman}


def tiny_config(cell, **settings):
    values = dict(hidden_size=4, embedding_size=3, ensemble=1, dtype="float64", batch=3, epochs=2)
    values.update(settings)
    return TaggerConfig.for_cell(cell, **values)


def tiny_gated(cell="lstm", seed=0, **settings):
    """A gated tagger over SENTENCES with random (larger than initial) weights."""
    tagger = new_tagger(tiny_config(cell, rand_seed=seed, **settings), SENTENCES)
    rng = np.random.default_rng(seed + 11)
    for array in tagger.members[0].arrays().values():
        array[...] = rng.normal(0, 0.5, array.shape)
    return tagger


# ---------------------------------------------------------------- the glue kernels against NumPy

def random_features(rng, tokens, features):
    counts = rng.integers(0, 4, tokens)
    ptr = np.zeros(tokens + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, rng.integers(0, features, int(ptr[-1])).astype(np.int32)


def reference_gather(embedding, ptr, ids, positions):
    out = np.zeros(positions.shape + (embedding.shape[1],))
    for (t, b), p in np.ndenumerate(positions):
        if p >= 0:
            out[t, b] = embedding[ids[ptr[p]:ptr[p + 1]]].sum(axis=0)
    return out


def test_gather_and_scatter_match_numpy_and_are_each_others_gradient():
    rng = np.random.default_rng(3)
    embedding = rng.normal(size=(9, 5))
    ptr, ids = random_features(rng, 7, 9)
    positions = np.array([[0, 3, 6], [1, 4, -1], [2, -1, -1], [5, -1, -1]], dtype=np.int64)
    out = np.full(positions.shape + (5,), np.nan)
    gather_inputs(embedding, ptr, ids, positions, out)
    np.testing.assert_allclose(out, reference_gather(embedding, ptr, ids, positions), rtol=1e-13, atol=1e-15)
    # the scatter is the gradient of sum(weights * gather(embedding)), by central differences
    weights = rng.normal(size=out.shape)
    grad = np.zeros_like(embedding)
    scatter_input_grads(grad, ptr, ids, positions, weights)
    numeric = np.zeros_like(embedding)
    for index in np.ndindex(embedding.shape):
        for sign in (1, -1):
            moved = embedding.copy()
            moved[index] += sign * 1e-6
            numeric[index] += sign * (reference_gather(moved, ptr, ids, positions) * weights).sum() / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def reference_join(forward, backward, lengths, both):
    steps, streams, size = forward.shape
    joined = np.zeros((steps, streams, 2 * size if both else size))
    for b in range(streams):
        for t in range(lengths[b]):
            joined[t, b, :size] = forward[t, b]
            if both:
                joined[t, b, size:] = backward[lengths[b] - 1 - t, b]
    return joined


@pytest.mark.parametrize("both", [True, False])
def test_join_and_split_match_numpy_and_are_each_others_gradient(both):
    rng = np.random.default_rng(4)
    lengths = np.array([4, 1, 3], dtype=np.int64)
    forward, backward = rng.normal(size=(2, 4, 3, 2))
    joined = np.full((4, 3, 4 if both else 2), np.nan)
    join_directions(forward, backward, lengths, joined)
    np.testing.assert_array_equal(joined, reference_join(forward, backward, lengths, both))
    weights = rng.normal(size=joined.shape)
    grad_forward = np.full_like(forward, np.nan)
    grad_backward = np.full_like(backward, np.nan) if both else backward[:0]
    split_joined_grads(weights, lengths, grad_forward, grad_backward)
    for array, grad, is_forward in ((forward, grad_forward, True), (backward, grad_backward, False)):
        if not both and not is_forward:
            continue
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            for sign in (1, -1):
                moved = array.copy()
                moved[index] += sign * 1e-6
                pair = (moved, backward) if is_forward else (forward, moved)
                numeric[index] += sign * (reference_join(*pair, lengths, both) * weights).sum() / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- the whole network against a NumPy reference

def reference_loss(tagger, arrays, sentences, streams):
    """(loss = sum of -ln P(gold tag) / streams, log10 P per token): the network in plain NumPy."""
    config = tagger.config
    tag_index = {tag: i for i, tag in enumerate(tagger.tags)}
    sentence_start, ptr, ids = tagger.encode([words for words, _ in sentences])
    log10 = []
    for s, (words, tags) in enumerate(sentences):
        begin, end = sentence_start[s], sentence_start[s + 1]
        inputs = np.stack([arrays["embedding"][ids[ptr[p]:ptr[p + 1]]].sum(axis=0) for p in range(begin, end)])
        states = []
        for name, order in (("forward", slice(None)), ("backward", slice(None, None, -1)))[
                :2 if config.bidirectional else 1]:
            resets = np.zeros((end - begin, 1), dtype=np.uint8)
            resets[0] = 1
            outputs, _, _ = reference_deep.cell_forward(
                config.cell, arrays[f"{name}_input"], arrays[f"{name}_recurrent"], arrays[f"{name}_bias"],
                inputs[order][:, None, :], resets, np.zeros((1, 2, config.hidden_size)))
            states.append(outputs[:, 0][order])
        logits = np.concatenate(states, axis=1) @ arrays["output_weights"].T + arrays["output_bias"]
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        log10.extend(log_p[np.arange(len(tags)), [tag_index[t] for t in tags]] / math.log(10))
    return -sum(log10) * math.log(10) / streams, np.array(log10)


def kernel_gradients(tagger, sentences, **settings):
    """(grads, log10 sum) of the kernels on ``sentences`` as one window of streams."""
    config = tagger.config
    for name, value in settings.items():
        setattr(config, name, value)
    member = tagger.members[0]
    grads = GatedWeights(**{name: np.full_like(array, np.nan) for name, array in member.arrays().items()})
    sentence_start, ptr, ids = tagger.encode([words for words, _ in sentences])
    tag_index = {tag: i for i, tag in enumerate(tagger.tags)}
    targets = np.array([tag_index[t] for _, tags in sentences for t in tags], dtype=np.int32)
    window = sentence_window(sentence_start, np.arange(len(sentences)), np.float64)
    log10_sum = window_gradients(config, member, grads, window, ptr, ids, targets, None)
    return grads, log10_sum


@pytest.mark.parametrize("cell,bidirectional", [("lstm", True), ("gru", True), ("lstm", False)])
def test_network_gradient_matches_finite_differences_of_the_numpy_reference(cell, bidirectional):
    tagger = tiny_gated(cell, bidirectional=bidirectional)
    sentences = SENTENCES[2:5] + SENTENCES[5:]  # lengths 3, 3, 4, 1: padded streams
    grads, log10_sum = kernel_gradients(tagger, sentences)
    arrays = tagger.members[0].arrays()
    loss, log10 = reference_loss(tagger, arrays, sentences, len(sentences))
    assert log10_sum == pytest.approx(log10.sum(), rel=1e-12)
    for name, array in arrays.items():
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + 1e-6
            up, _ = reference_loss(tagger, arrays, sentences, len(sentences))
            array[index] = saved - 1e-6
            down, _ = reference_loss(tagger, arrays, sentences, len(sentences))
            array[index] = saved
            numeric[index] = (up - down) / 2e-6
        np.testing.assert_allclose(grads.arrays()[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_truncated_bptt_cuts_the_gradient_only():
    tagger = tiny_gated("lstm")
    sentences = SENTENCES[:5]
    full, full_log10 = kernel_gradients(tagger, sentences, bptt=0)
    long, long_log10 = kernel_gradients(tagger, sentences, bptt=4)  # as long as the longest sentence
    short, short_log10 = kernel_gradients(tagger, sentences, bptt=1)
    assert full_log10 == long_log10 == pytest.approx(short_log10, rel=1e-12)  # the same forward pass
    for name in ("embedding", "forward_recurrent", "output_weights"):
        np.testing.assert_allclose(long.arrays()[name], full.arrays()[name], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(short.output_weights, full.output_weights, rtol=1e-12)  # above the cells
    assert not np.allclose(short.forward_recurrent, full.forward_recurrent)  # errors stop at each step


def test_dropout_is_drawn_in_training_only_and_scales_kept_units():
    tagger = tiny_gated("gru", dropout=0.5)
    sentences = SENTENCES[:3]
    sentence_start, ptr, ids = tagger.encode([words for words, _ in sentences])
    tag_index = {tag: i for i, tag in enumerate(tagger.tags)}
    targets = np.array([tag_index[t] for _, tags in sentences for t in tags], dtype=np.int32)
    window = sentence_window(sentence_start, np.arange(3), np.float64)
    member = tagger.members[0]
    grads = GatedWeights(**{name: np.zeros_like(array) for name, array in member.arrays().items()})
    plain = window_gradients(tagger.config, member, grads, window, ptr, ids, targets, None)
    dropped = [window_gradients(tagger.config, member, grads, window, ptr, ids, targets, np.random.default_rng(k))
               for k in (1, 1, 2)]
    assert dropped[0] == dropped[1] != dropped[2] and plain not in dropped
    _, log10 = reference_loss(tagger, member.arrays(), sentences, 3)
    assert plain == pytest.approx(log10.sum(), rel=1e-12)  # no rng: no dropout


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_posteriors_do_not_depend_on_the_other_sentences_of_a_window(cell):
    tagger = tiny_gated(cell)
    words = [w for w, _ in SENTENCES]
    together = tagger.posteriors(words)
    alone = np.concatenate([tagger.posteriors([sentence]) for sentence in words])
    np.testing.assert_allclose(together, alone, rtol=1e-12)
    _, log10 = reference_loss(tagger, tagger.members[0].arrays(), SENTENCES, 1)
    gold = [tagger.tags.index(t) for _, tags in SENTENCES for t in tags]
    np.testing.assert_allclose(np.log10(together[np.arange(len(gold)), gold]), log10, rtol=1e-10)


def test_batches_cover_every_sentence_once_in_buckets_of_similar_length():
    sentence_start = np.array([0, 3, 4, 10, 12, 13, 20, 25], dtype=np.int64)
    order = np.random.default_rng(0).permutation(7)
    batches = training_batches(sentence_start, order, 2)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert all(len(batch) <= 2 for batch in batches)
    lengths = np.diff(sentence_start)
    assert [lengths[b].tolist() for b in batches][0] == sorted(lengths[batches[0]].tolist())


# ---------------------------------------------------------------- training, the per-direction cells

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_learns_the_tiny_corpus(cell):
    config = tiny_config(cell, hidden_size=8, embedding_size=8, epochs=40, alpha=0.05, batch=2, dtype="float32")
    tagger = train_tagger(SENTENCES * 3, config)
    assert tagger.tag([w for w, _ in SENTENCES]) == [t for _, t in SENTENCES]
    entropies = [record["train_entropy"] for record in tagger.history]
    assert entropies[-1] < entropies[0] / 4


@pytest.mark.parametrize("cell", ["lstm", "gru", "tanh"])
def test_cells_give_each_direction_as_a_window_cell_with_its_inputs(cell):
    if cell == "tanh":
        tagger = new_tagger(TaggerConfig(hidden_size=4, ensemble=1, dtype="float64"), SENTENCES)
    else:
        tagger = tiny_gated(cell)
    words = [w for w, _ in SENTENCES]
    directions = tagger.cells(words)
    assert [d.name for d in directions] == ["forward", "backward"] and directions[1].reverse
    states = []
    for direction in directions:
        kernels = CELLS[direction.hidden_type]
        per_token = np.zeros((len(direction.inputs), 4))
        start = direction.sentence_start
        for s in range(len(start) - 1):
            rows = np.arange(start[s], start[s + 1])[::-1 if direction.reverse else 1]
            inputs = np.ascontiguousarray(direction.inputs[rows][:, None, :])
            resets = np.ones((len(rows), 1), dtype=np.uint8)
            resets[1:] = 0
            outputs = np.empty((len(rows), 1, 4))
            state = np.zeros((1, 2 if direction.hidden_type == "lstm" else 1, 4))
            kernels.forward(direction.weights, inputs, resets, state,
                            outputs, window_cache(direction.hidden_type, len(rows), 1, 4, np.float64),
                            np.empty_like(state))
            per_token[rows] = outputs[:, 0]
        states.append(per_token)
    member = tagger.members[0]
    joined = np.concatenate(states, axis=1)
    if cell == "tanh":
        scores = joined @ member.output_weights[:, :-1].T + member.output_weights[:, -1]
    else:
        scores = joined @ member.output_weights.T + member.output_bias
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, tagger.posteriors(words), rtol=1e-10)


# ---------------------------------------------------------------- files

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_gated_tagger_file_round_trips(cell, tmp_path):
    tagger = tiny_gated(cell, bidirectional=cell == "lstm")
    path = str(tmp_path / "tagger")
    save_tagger(tagger, path)
    loaded = load_tagger(path)
    assert loaded.config == tagger.config
    for name, array in tagger.members[0].arrays().items():
        np.testing.assert_array_equal(loaded.members[0].arrays()[name], array)
    words = [w for w, _ in SENTENCES]
    np.testing.assert_array_equal(loaded.posteriors(words), tagger.posteriors(words))


def test_a_tanh_tagger_file_has_no_gated_settings(tmp_path):
    tagger = new_tagger(TaggerConfig(hidden_size=3, ensemble=1), SENTENCES)
    path = str(tmp_path / "tagger")
    save_tagger(tagger, path)
    with zipfile.ZipFile(path) as archive:
        header = json.loads(np.lib.format.read_array(archive.open("header.npy")).tobytes())
    assert set(header["config"]) == set(TaggerConfig.__dataclass_fields__) - {
        "cell", "embedding_size", "batch", "optimizer", "clip_norm", "dropout"}
    assert load_tagger(path).config == tagger.config


def rewrite(path, out, header_change=None, arrays_change=None):
    """Copy the tagger file ``path`` to ``out`` with its header's config and its arrays changed."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    header = json.loads(arrays.pop("header").tobytes())
    if header_change:
        header_change(header["config"])
    if arrays_change:
        arrays_change(arrays)
    arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays}
    np.savez(out, **arrays)
    return out + ".npz"


CRAFTED = {
    "recurrent of the wrong shape": (None, lambda a: a.update({"network0/forward_recurrent":
                                                               a["network0/forward_recurrent"][:, :-1]}),
                                     "network0/forward_recurrent"),
    "bias of the wrong length": (None, lambda a: a.update({"network0/backward_bias": a["network0/backward_bias"][1:]}),
                                 "network0/backward_bias"),
    "NaN in the embedding": (None, lambda a: a["network0/embedding"].__setitem__((0, 0), np.nan),
                             "NaN or infinite"),
    "no output bias": (None, lambda a: a.pop("network0/output_bias"), "network0/output_bias"),
    "integer cell input": (None, lambda a: a.update({"network0/forward_input":
                                                     a["network0/forward_input"].astype(np.int64)}),
                           "network0/forward_input"),
    "unknown cell": (lambda c: c.update(cell="rnn"), None, "cell must be one of"),
    "cell of the wrong type": (lambda c: c.update(cell=3), None, "'cell' has a value of the wrong type"),
    "gru header on lstm arrays": (lambda c: c.update(cell="gru"), None, "expected"),
    "tanh header on lstm arrays": (lambda c: c.update(cell="elman"), None, "settings of the gated cells"),
    "zero batch": (lambda c: c.update(batch=0), None, "-batch must be"),
    "unknown optimizer": (lambda c: c.update(optimizer="lbfgs"), None, "-optimizer must be one of"),
    "dropout of 1": (lambda c: c.update(dropout=1.0), None, "-dropout must be"),
}


@pytest.fixture(scope="module")
def gated_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gated")
    tagger = tiny_gated("lstm")
    path = str(folder / "tagger")
    save_tagger(tagger, path)
    words = write_text(folder / "words.txt", ["the dog runs"])
    return folder, path, words


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_gated_tagger_files_are_refused_with_one_line(case, gated_file, capsys):
    folder, path, words = gated_file
    header_change, arrays_change, expected = CRAFTED[case]
    crafted = rewrite(path, str(folder / case.replace(" ", "_")), header_change, arrays_change)
    with pytest.raises(RnnlmpyError):
        load_tagger(crafted)
    code, out, err = run(["tag", "-model", crafted, "-test", words], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and out == ""


# ---------------------------------------------------------------- settings and the command line

def test_each_hidden_type_has_its_defaults_and_the_tanh_tagger_refuses_gated_settings():
    for cell, defaults in CELL_DEFAULTS.items():
        config = TaggerConfig.for_cell(cell)
        config.validate()
        assert all(getattr(config, name) == value for name, value in defaults.items())
    assert TaggerConfig.for_cell("tanh") == TaggerConfig()
    assert TaggerConfig.for_cell("lstm", hidden_size=7).hidden_size == 7
    with pytest.raises(RnnlmpyError, match="-batch: settings of the gated cells"):
        TaggerConfig(batch=4).validate()
    with pytest.raises(RnnlmpyError, match="-hidden-type must be one of"):
        TaggerConfig.for_cell("rnn")
    with pytest.raises(RnnlmpyError, match="cannot be combined with -hidden-type lstm"):
        TaggerConfig.tutorial(cell="lstm")


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gatedcli")
    train = write_text(folder / "train.txt", [" ".join(f"{w}_{t}" for w, t in zip(*s)) for s in SENTENCES * 4])
    test = write_text(folder / "test.txt", [" ".join(w) for w, _ in SENTENCES])
    return folder, train, test


@pytest.mark.parametrize("extra", [[], ["-bptt", "2", "-unidirectional", "-viterbi"],
                                   ["-features", "word", "-unknown", "none", "-ensemble", "2"]])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cli_trains_and_tags_with_a_gated_cell(cell, extra, tiny_corpus, capsys):
    folder, train, test = tiny_corpus
    model = str(folder / f"{cell}{len(extra)}")
    code, _, err = run(["tag-train", "-train", train, "-model", model, "-hidden-type", cell, "-hidden", "6",
                        "-iter", "2", "-valid", train, *extra], capsys)
    assert code == 0, err
    assert load_tagger(model).config.cell == cell
    code, out, err = run(["tag", "-model", model, "-test", test], capsys)
    assert code == 0, err
    assert [len(line.split(" ")) for line in out.splitlines()] == [len(w) for w, _ in SENTENCES]


def test_cli_sets_the_gated_cells_training_settings(tiny_corpus, capsys):
    folder, train, _ = tiny_corpus
    model = str(folder / "flags")
    code, _, err = run(["tag-train", "-train", train, "-model", model, "-hidden-type", "gru", "-hidden", "5",
                        "-iter", "1", "-ensemble", "1", "-batch", "2", "-optimizer", "rmsprop", "-dropout", "0.25",
                        "-clip-norm", "1.5", "-alpha", "0.003"], capsys)
    assert code == 0, err
    config = load_tagger(model).config
    assert (config.batch, config.optimizer, config.dropout, config.clip_norm, config.alpha) == \
        (2, "rmsprop", 0.25, 1.5, 0.003)
    assert config.embedding_size == CELL_DEFAULTS["gru"].get("embedding_size", 0)


@pytest.mark.parametrize("argv,expected", [
    (["-tutorial", "-hidden-type", "lstm"], "cannot be combined with -hidden-type lstm"),
    (["-model-type", "hmm", "-hidden-type", "gru"], "-hidden-type: the RNN tagger's"),
    (["-batch", "8", "-dropout", "0.2"], "-batch, -dropout: settings of the gated cells"),
    (["-clip-norm", "2"], "-clip-norm: settings of the gated cells"),
    (["-clip-norm", "5", "-optimizer", "sgd"], "-optimizer, -clip-norm: settings of the gated cells"),
    (["-tutorial", "-optimizer", "adam"], "-optimizer: settings of the gated cells"),
    (["-model-type", "hmm", "-clip-norm", "2"], "-clip-norm: the RNN tagger's"),
    (["-hidden-type", "lstm", "-dropout", "1"], "-dropout"),
])
def test_cli_refuses_what_a_gated_cell_cannot_be_with_one_line(argv, expected, tiny_corpus, capsys):
    folder, train, _ = tiny_corpus
    code, _, err = run(["tag-train", "-train", train, "-model", str(folder / "refused"), *argv], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_info_names_the_gated_cell(gated_file, capsys):
    _, path, _ = gated_file
    code, out, err = run(["info", "-model", path], capsys)
    assert code == 0, err
    assert "hidden (lstm) in both directions" in out


@pytest.mark.parametrize("setting,value,expected", [
    ("embedding_size", -1, "-embedding-size must be"), ("batch", 0, "-batch must be"), ("batch", 2.5, "-batch must be"),
    ("optimizer", "lbfgs", "-optimizer must be one of"), ("clip_norm", -1.0, "-clip-norm must be 0 or more"),
    ("clip_norm", math.inf, "-clip-norm"), ("dropout", 1.0, "-dropout must be"), ("activation", "sigmoid",
                                                                                "has its own activations"),
    ("hidden_size", 10**6, "memory"),
])
def test_gated_settings_out_of_range_are_refused(setting, value, expected):
    config = TaggerConfig.for_cell("gru", **{setting: value})
    with pytest.raises(RnnlmpyError, match=expected):
        config.validate()

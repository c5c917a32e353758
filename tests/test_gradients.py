"""``rnnlmpy gradients``: the norms of d(loss at t)/d(h(t-k)) against finite differences, for every cell, layers
and output layer, the tagger's two directions, and the command's lines, plot and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlmpy.base import RnnlmpyError
from rnnlmpy.rnnlm import RnnlmConfig, new_model, save_model
from rnnlmpy.rnnlm import gradients
from rnnlmpy.rnnlm.streams import language_model_stream
from rnnlmpy.rnnlm.vocab import build_vocabulary

from reference_gradients import lm_reference_norms

TRAIN = ("the cat sat on the mat </s> a dog ran </s> the dog sat on a cat </s> cats and dogs ran on </s> "
         "a mat </s>").split()
TEXT = "the dog sat on zebra mat </s> a cat ran </s> the mat and the dog </s> on a".split()  # zebra: unknown
STEPS = 4

# (id, settings): every cell, the per-word engine's output layers and direct connections, and the batched
# engine's cells with 2 layers, both of its output layers, tied weights and -independent
MODELS = [
    ("sigmoid-class-direct", dict(activation="sigmoid", class_count=3, direct_size=2_000, direct_order=3)),
    ("tanh-hs", dict(activation="tanh", output_layer="hs")),
    ("relu-nce-direct", dict(activation="relu", output_layer="nce", nce_samples=3, direct_size=1_000)),
    ("gru-class-independent", dict(activation="gru", class_count=2, independent=True)),
    ("tanh-full-softmax-independent", dict(activation="tanh", class_count=1, independent=True)),
    ("elu-class", dict(activation="elu", class_count=2)),
    ("relu-trunc-class", dict(activation="relu-trunc", class_count=2)),
    ("lstm-2-layers-softmax", dict(activation="lstm", layers=2, class_count=1)),
    ("lstm-class-independent", dict(activation="lstm", class_count=3, independent=True)),
    ("gru-2-layers-class", dict(activation="gru", layers=2, class_count=3)),
    ("sigmoid-2-layers-tied", dict(activation="sigmoid", layers=2, class_count=1, tie_weights=True)),
    ("relu-2-layers-independent", dict(activation="relu", layers=2, class_count=1, independent=True)),
    ("tanh-batched-class", dict(activation="tanh", class_count=2, batch=2)),
]
SCALE = 4.0  # the weights are scaled up from their initial +-0.1, so that the gradients do not vanish in 4 steps


def tiny_model(settings: dict, seed: int = 3):
    """A float64 model of 5 hidden units over TRAIN's words, its weights (and stored state) drawn at random."""
    config = RnnlmConfig(hidden_size=5, dtype="float64", rand_seed=seed, **settings)
    model = new_model(config, build_vocabulary(TRAIN, config.class_count or 3))
    rng = np.random.default_rng(seed)
    for name, array in model.weights().items():
        if array.ndim > 1 or name in ("gate_bias", "direct"):
            array *= SCALE if name != "direct" else 1.0
            if name == "direct":
                array[...] = rng.uniform(-0.5, 0.5, array.shape)
    model.hidden_state[...] = rng.uniform(0.0, 1.0, model.hidden_state.shape)
    return model


def text_stream(model):
    return language_model_stream(model.vocabulary.encode(TEXT))


@pytest.mark.parametrize("settings", [settings for _, settings in MODELS], ids=[name for name, _ in MODELS])
def test_norms_match_finite_differences(settings, monkeypatch):
    model = tiny_model(settings)
    stream = text_stream(model)
    assert np.any(stream.targets < 0) and np.any(stream.inputs < 0)  # an unknown word: unscored, then no input
    monkeypatch.setattr(gradients, "CHUNK_STEPS", 4)  # several chunks: the ring carries across their boundaries
    norms, pairs = gradients.gradient_norms(model, stream, STEPS)
    expected_norms, expected_pairs = lm_reference_norms(model, stream, STEPS)
    np.testing.assert_array_equal(pairs, expected_pairs)
    assert np.all(expected_norms[-1] > 1e-6)  # the check means something at the far end too
    np.testing.assert_allclose(norms, expected_norms, rtol=2e-6, atol=1e-10)


def test_independent_models_leave_out_pairs_across_sentences():
    model = tiny_model(dict(activation="tanh", class_count=1, independent=True))
    longest = max(len(sentence.split()) for sentence in " ".join(TEXT).split("</s>"))
    norms, pairs = gradients.gradient_norms(model, text_stream(model), longest + 2)
    assert pairs[0] == np.count_nonzero(text_stream(model).targets >= 0)
    assert pairs[longest + 1] == 0 and np.isnan(norms[longest + 1])  # no sentence is that long
    reading_on = tiny_model(dict(activation="tanh", class_count=1))
    assert gradients.gradient_norms(reading_on, text_stream(reading_on), longest + 2)[1][longest + 1] > 0


def test_chunks_do_not_change_the_norms(monkeypatch):
    model = tiny_model(dict(activation="lstm", layers=2, class_count=1))
    whole = gradients.gradient_norms(model, text_stream(model), STEPS)[0]
    monkeypatch.setattr(gradients, "CHUNK_STEPS", 3)
    np.testing.assert_allclose(gradients.gradient_norms(model, text_stream(model), STEPS)[0], whole, rtol=1e-12)


@pytest.mark.parametrize("steps", [-1, gradients.MAX_STEPS + 1, 2.5, True, "3"])
def test_bad_step_counts_are_refused(steps):
    model = tiny_model(dict(activation="sigmoid"))
    with pytest.raises(RnnlmpyError, match="-steps"):
        gradients.gradient_norms(model, text_stream(model), steps)


TAGGED = [("the cat sat".split(), "DT NN VBD".split()), ("a dog ran on the mat".split(), "DT NN VBD IN DT NN".split()),
          ("dogs sat".split(), "NNS VBD".split())]
TAGGER_TEXT = [("the dog sat on a mat".split(), "DT NN VBD IN DT NN".split()),
               ("cats ran".split(), "NNS XX".split())]  # XX: a tag the tagger does not know, not scored


def tiny_tagger(**settings):
    from rnnlmpy.tagger import TaggerConfig, new_tagger
    config = TaggerConfig(hidden_size=4, dtype="float64", ensemble=2, init_scale=30.0, **settings)
    return new_tagger(config, TAGGED)


def assert_directions_match(found: dict, expected: dict, bidirectional: bool, floor: float) -> None:
    """The tagger's curves (direction -> (means, pairs)) are the reference's: the same directions and pair counts,
    the means to float64 rounding, and the reference's norm at k = STEPS above ``floor`` (a curve that reaches)."""
    assert sorted(found) == sorted(expected) == (["backward", "forward"] if bidirectional else ["forward"])
    for direction in expected:
        np.testing.assert_array_equal(found[direction][1], expected[direction][1])
        assert expected[direction][0][STEPS] > floor
        np.testing.assert_allclose(found[direction][0], expected[direction][0], rtol=2e-6, atol=1e-10)


@pytest.mark.parametrize("bidirectional", [True, False], ids=["bidirectional", "forward-only"])
def test_tagger_norms_match_finite_differences(bidirectional):
    from rnnlmpy.tagger import tagger_gradient_norms
    from reference_gradients import tagger_reference_norms
    tagger = tiny_tagger(bidirectional=bidirectional)
    found = tagger_gradient_norms(tagger, TAGGER_TEXT, STEPS)
    expected = tagger_reference_norms(tagger, TAGGER_TEXT, STEPS)
    assert_directions_match(found, expected, bidirectional, 1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bidirectional", "forward-only"])
def test_gated_tagger_norms_match_finite_differences(cell, bidirectional):
    from rnnlmpy.tagger import TaggerConfig, new_tagger, tagger_gradient_norms
    from reference_gradients import gated_tagger_reference_norms
    config = TaggerConfig.for_cell(cell, hidden_size=3, embedding_size=4, dtype="float64", ensemble=2,
                                   init_scale=20.0, bidirectional=bidirectional)
    tagger = new_tagger(config, TAGGED)
    rng = np.random.default_rng(3)
    for member in tagger.members:  # biases start at 0: give them values, so that the sums must use them
        member.output_bias[...] = rng.normal(size=member.output_bias.shape)
        member.forward_bias[...] = rng.normal(size=member.forward_bias.shape)
    found = tagger_gradient_norms(tagger, TAGGER_TEXT, STEPS)
    expected = gated_tagger_reference_norms(tagger, TAGGER_TEXT, STEPS)
    assert_directions_match(found, expected, bidirectional, 1e-8)


# ---------------------------------------------------------------- the command

def saved_files(tmp_path):
    """(language model, tagger, LM text, tagged text) files of the tiny models above."""
    from rnnlmpy.tagger import save_tagger
    from helpers import write_text
    model_path = str(tmp_path / "tiny.rnnlm")
    save_model(tiny_model(dict(activation="tanh", class_count=2)), model_path)
    tagger_path = str(tmp_path / "tiny.tagger")
    save_tagger(tiny_tagger(), tagger_path)
    text = write_text(tmp_path / "text.txt", [" ".join(TEXT).replace(" </s>", "\n").replace("\n ", "\n").strip()])
    tagged = write_text(tmp_path / "tagged.txt", [" ".join(f"{w}_{t}" for w, t in zip(words, tags))
                                                  for words, tags in TAGGER_TEXT])
    return model_path, tagger_path, text, tagged


def parse_blocks(out: str) -> dict[str, list[tuple[int, float]]]:
    """``# LABEL`` blocks of ``k norm`` lines (one unlabelled block when no header)."""
    blocks: dict[str, list[tuple[int, float]]] = {}
    label = ""
    for line in out.splitlines():
        if line.startswith("# "):
            label = line[2:]
        elif line:
            k, norm = line.split()
            blocks.setdefault(label, []).append((int(k), float(norm)))
    return blocks


def test_command_prints_one_k_norm_line_per_step(tmp_path, capsys):
    from helpers import run_cli
    from rnnlmpy.rnnlm import load_model
    model_path, _, text, _ = saved_files(tmp_path)
    status, out, err = run_cli(["gradients", "-rnnlm", model_path, "-test", text, "-steps", "3"], capsys)
    assert status in (0, None), err
    blocks = parse_blocks(out)
    assert list(blocks) == [""] and [k for k, _ in blocks[""]] == [0, 1, 2, 3]
    expected = gradients.gradient_norms_file(load_model(model_path), text, 3)[0]
    np.testing.assert_allclose([norm for _, norm in blocks[""]], expected, rtol=1e-6)


def test_several_models_are_named_and_plotted(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from helpers import run_cli
    model_path, tagger_path, text, tagged = saved_files(tmp_path)
    other = str(tmp_path / "other.rnnlm")
    save_model(tiny_model(dict(activation="lstm", class_count=1), seed=5), other)
    plot = str(tmp_path / "curves.png")
    status, out, err = run_cli(["gradients", "-rnnlm", model_path, "-rnnlm", other, "-test", text, "-steps", "2",
                                "-o", plot], capsys)
    assert status in (0, None), err
    assert list(parse_blocks(out)) == [model_path, other]
    with open(plot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    status, out, err = run_cli(["gradients", "-model", tagger_path, "-test", tagged, "-steps", "2"], capsys)
    assert status in (0, None), err
    assert list(parse_blocks(out)) == [f"{tagger_path} (forward)", f"{tagger_path} (backward)"]


@pytest.mark.parametrize("case", ["no model", "missing model", "missing text", "negative steps", "huge steps",
                                  "steps not a number", "plot over a model", "hmm tagger", "untagged tagger text", "empty text"])
def test_bad_input_is_one_line_and_status_2(case, tmp_path, capsys):
    from helpers import run_cli, write_text
    model_path, tagger_path, text, tagged = saved_files(tmp_path)
    hmm = write_text(tmp_path / "hmm.txt", ["T <s> DT 1.0", "T DT NN 1.0", "E DT the 1.0", "E NN cat 1.0"])
    argv, says = {"no model": (["-test", text], "-rnnlm MODEL"),
            "missing model": (["-rnnlm", str(tmp_path / "absent.rnnlm"), "-test", text], "does not exist"),
            "missing text": (["-rnnlm", model_path, "-test", str(tmp_path / "absent.txt")], "does not exist"),
            "negative steps": (["-rnnlm", model_path, "-test", text, "-steps", "-1"], "-steps"),
            "huge steps": (["-rnnlm", model_path, "-test", text, "-steps", str(gradients.MAX_STEPS + 1)], "-steps"),
            "steps not a number": (["-rnnlm", model_path, "-test", text, "-steps", "nan"], "-steps"),
            "plot over a model": (["-rnnlm", model_path, "-test", text, "-o", model_path], "also an input"),
            "hmm tagger": (["-model", hmm, "-test", tagged], "HMM"),
            "untagged tagger text": (["-model", tagger_path, "-test", text], "word_TAG"),
            "empty text": (["-rnnlm", model_path, "-test", write_text(tmp_path / "empty.txt", [])], "empty")}[case]
    status, out, err = run_cli(["gradients", *argv], capsys)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and says in err, err


def test_plot_without_matplotlib_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    import sys
    from helpers import run_cli
    model_path, _, text, _ = saved_files(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    status, out, err = run_cli(["gradients", "-rnnlm", model_path, "-test", text, "-o", str(tmp_path / "g.png")],
                               capsys)
    assert status == 2 and out == "" and "matplotlib" in err
    assert not (tmp_path / "g.png").exists()

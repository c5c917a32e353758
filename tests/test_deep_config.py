"""The batched engine's settings: which engine a config picks, its defaults, the options and their one-line
refusals, info, and model files of batched models (round trip, and crafted files refused on load)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.store import read_store, write_store
from rnnlmpy.kernels import layers
from rnnlmpy.rnnlm import ACTIVATIONS, BATCHED_DEFAULTS, PER_WORD_DEFAULTS, RnnlmConfig, load_model, new_model, \
    save_model
from rnnlmpy.rnnlm.model import OPTIMIZERS, state_size, weight_shapes
from rnnlmpy.rnnlm.model_file import KIND
from rnnlmpy.rnnlm.vocab import vocabulary_from_classes

from helpers import run_cli, write_text


def test_lstm_is_a_hidden_type_of_the_command_line_but_not_of_the_per_word_kernels():
    assert "lstm" in ACTIVATIONS
    assert "lstm" not in layers.HIDDEN_TYPES and "lstm" not in layers.ACTIVATIONS


@pytest.mark.parametrize("settings", [{"activation": "lstm"}, {"layers": 2}, {"batch": 2}, {"dropout": 0.1},
                                      {"optimizer": "adam"}, {"tie_weights": True}])
def test_each_new_setting_picks_the_batched_engine(settings):
    assert RnnlmConfig(**settings).batched
    assert not RnnlmConfig().batched and not RnnlmConfig(activation="gru", batch=1).batched


def test_defaults_resolve_by_engine_and_optimiser():
    per_word = RnnlmConfig()
    assert (per_word.alpha, per_word.bptt, per_word.batch, per_word.clip_norm) == (
        PER_WORD_DEFAULTS["alpha"], PER_WORD_DEFAULTS["bptt"], None, None)
    lstm = RnnlmConfig(activation="lstm", class_count=1)  # a full softmax (classes: test_deep_class_sgd.py)
    assert (lstm.alpha, lstm.bptt, lstm.batch, lstm.clip_norm) == (
        BATCHED_DEFAULTS["alpha"]["sgd"], BATCHED_DEFAULTS["bptt"], BATCHED_DEFAULTS["batch"],
        BATCHED_DEFAULTS["clip_norm"])
    for optimizer in OPTIMIZERS:
        assert RnnlmConfig(layers=2, optimizer=optimizer, class_count=1).alpha == BATCHED_DEFAULTS["alpha"][optimizer]
    given = RnnlmConfig(activation="lstm", alpha=0.5, bptt=7, batch=3, clip_norm=0.0)
    assert (given.alpha, given.bptt, given.batch, given.clip_norm) == (0.5, 7, 3, 0.0)


def test_tied_weights_and_dropout_are_the_batched_engines_defaults_only():
    assert (RnnlmConfig().tie_weights, RnnlmConfig().dropout) == (False, 0.0)
    assert not RnnlmConfig(activation="gru").batched  # the defaults do not pull a per-word model into the engine
    lstm = RnnlmConfig(activation="lstm")
    assert (lstm.tie_weights, lstm.dropout) == (BATCHED_DEFAULTS["tie_weights"], BATCHED_DEFAULTS["dropout"])
    assert (RnnlmConfig(batch=4).tie_weights, RnnlmConfig(layers=2).dropout) == (
        BATCHED_DEFAULTS["tie_weights"], BATCHED_DEFAULTS["dropout"])
    plain = RnnlmConfig(activation="lstm", tie_weights=False, dropout=0.0)
    assert plain.batched and (plain.tie_weights, plain.dropout) == (False, 0.0)
    assert not RnnlmConfig(tie_weights=False, dropout=0.0).batched
    assert not RnnlmConfig(batch=4, output_layer="hs").tie_weights  # tree nodes are not words
    assert RnnlmConfig(batch=4, output_layer="nce").tie_weights


@pytest.mark.parametrize("options, tied, dropout", [
    ([], BATCHED_DEFAULTS["tie_weights"], BATCHED_DEFAULTS["dropout"]),
    (["-no-tie-weights", "-dropout", "0"], False, 0.0),
    (["-tie-weights", "-dropout", "0.3"], True, 0.3),
])
def test_the_command_line_takes_the_defaults_or_turns_them_off(tmp_path, capsys, options, tied, dropout):
    train = write_text(tmp_path / "train.txt", ["a b c", "b c a", "c a b"] * 5)
    path = str(tmp_path / "m")
    code, _, err = run_cli(["train", "-train", train, "-rnnlm", path, "-hidden-type", "lstm", "-hidden", "4",
                            "-batch", "2", "-bptt", "3", "-max-iter", "1", "-debug", "0", *options], capsys)
    assert code == 0, err
    config = load_model(path).config
    assert (config.tie_weights, config.dropout) == (tied, dropout)
    assert (load_model(path).output_weights.shape[0] == 0) == tied  # a tied model stores no output word rows


@pytest.mark.parametrize("options, expected", [
    (["-layers", "0"], "-layers must be between 1 and"),
    (["-dropout", "1"], "-dropout must be at least 0 and below 1"),
    (["-dropout", "-0.1"], "-dropout must be at least 0 and below 1"),
    (["-dropout", "nan"], "-dropout must be a finite number"),
    (["-batch", "0"], "-batch must be between 1 and"),
    (["-hidden-type", "lstm", "-clip-norm", "-1"], "-clip-norm must be 0 (off) or more"),
    (["-clip-norm", "3"], "-clip-norm applies to the batched engine only"),
    (["-hidden-type", "lstm", "-hs", "-tie-weights"], "-tie-weights needs a word matrix; the hierarchical softmax"),
    (["-hidden-type", "lstm", "-nce", "0"], "-nce must be between 1 and"),
    (["-layers", "2", "-direct", "1"], "-direct is not part of the batched engine"),
    (["-batch", "4", "-diagonal-initialization", "1"], "-diagonal-initialization is not part of the batched"),
    (["-hidden-type", "elu", "-layers", "2"], "-hidden-type elu is not part of the batched engine"),
    (["-hidden-type", "lstm", "-bptt", "0"], "-bptt is the window length of the batched engine"),
    (["-optimizer", "bogus"], "-optimizer"),
    (["-hidden-type", "lstm", "-product-precision", "bfloat16"], "-product-precision bfloat16 is for the batched "
                                                                 "engine's full softmax (-class 1)"),
    (["-class", "1", "-product-precision", "bfloat16"], "-product-precision bfloat16 is for the batched engine"),
    (["-hidden-type", "lstm", "-class", "1", "-precision", "float64", "-product-precision", "bfloat16"],
     "of a float32 model"),
    (["-hidden-type", "lstm", "-product-precision", "float16"], "-product-precision"),
])
def test_bad_settings_are_one_line_and_exit_2_before_training(tmp_path, capsys, options, expected):
    train = write_text(tmp_path / "train.txt", ["a b c", "b c a"])
    model = tmp_path / "m"
    code, _, err = run_cli(["train", "-train", train, "-rnnlm", str(model), *options], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert expected in lines[0]
    assert not model.exists()


def test_help_names_the_new_options(capsys):
    code, out, _ = run_cli(["train", "-help"], capsys)
    for option in ("-layers", "-dropout", "-optimizer", "-batch", "-clip-norm", "-tie-weights", "lstm",
                   "-product-precision"):
        assert option in out, option


def batched_model(dtype="float32", classes=1, **settings):
    """A freshly made batched model over 9 words (``classes`` word classes)."""
    words = ["</s>"] + [f"w{i}" for i in range(1, 9)]
    word_class = np.repeat(np.arange(classes), -(-9 // classes))[:9] if classes > 1 else np.zeros(9, dtype=int)
    vocabulary = vocabulary_from_classes(words, np.arange(9, 0, -1), word_class)
    config = RnnlmConfig(**{"activation": "lstm", "layers": 2, "hidden_size": 4, "class_count": classes,
                            "dtype": dtype, **settings})
    return new_model(config, vocabulary)


@pytest.mark.parametrize("settings", [{}, {"tie_weights": False, "dtype": "float64"}, {"activation": "gru"},
                                      {"activation": "tanh", "layers": 3}, {"product_precision": "bfloat16"}])
def test_a_batched_model_file_round_trips(tmp_path, settings):
    model = batched_model(**settings)
    model.hidden_state[...] = np.arange(model.hidden_state.size)
    path = str(tmp_path / "m")
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.config.batched
    assert loaded.hidden_state.shape == (state_size(model.config),)
    np.testing.assert_array_equal(loaded.hidden_state, model.hidden_state)
    for name, shape in weight_shapes(model.config, 9, 1).items():
        assert getattr(loaded, name).shape == shape
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name), err_msg=name)
    assert loaded.recurrent.ndim == 4 and loaded.output_bias.shape == (9,)


def crafted(tmp_path, change) -> str:
    """A saved batched model whose arrays ``change(arrays)`` edits in place, written back as a file."""
    model = batched_model()
    path = str(tmp_path / "m")
    save_model(model, path)
    header, arrays = read_store(path, KIND)
    arrays = {name: np.array(value) for name, value in arrays.items() if name != "header"}
    change(arrays)
    write_store(path, KIND, {key: value for key, value in header.items()
                             if key not in ("format", "kind", "version")}, arrays)
    return path


def _set(name, value):
    return lambda arrays: arrays.__setitem__(name, value)


def _nan_in(name):
    def change(arrays):
        arrays[name] = arrays[name].copy()
        arrays[name].reshape(-1)[0] = np.nan
    return change


STATE = state_size(RnnlmConfig(activation="lstm", layers=2, hidden_size=4))


@pytest.mark.parametrize("change, expected", [
    (_set("recurrent", np.zeros((2, 16, 4), dtype=np.float32)), "recurrent"),
    (_set("recurrent", np.zeros((2, 2, 16, 5), dtype=np.float32)), "recurrent"),
    (_set("output_bias", np.zeros(8, dtype=np.float32)), "output_bias"),
    (_set("class_bias", np.zeros(3, dtype=np.float32)), "class_bias"),
    (_set("output_bias", np.zeros(9, dtype=np.float64)), "output_bias"),
    (_nan_in("output_bias"), "NaN"),
    (_nan_in("recurrent"), "NaN"),
    (_set("hidden_state", np.zeros(4, dtype=np.float32)), "hidden_state"),
    (_set("resume/streams/state", np.zeros((3, STATE), dtype=np.float32)), "resume/streams/state"),
    (_set("resume/streams/state", np.full((20, STATE), np.inf, dtype=np.float32)), "NaN or infinite"),
    (_set("resume/optimizer/velocity.input_weights", np.zeros((9, 5), dtype=np.float32)), "velocity.input_weights"),
    (_set("resume/optimizer/velocity.output_bias", np.full(9, np.nan, dtype=np.float32)), "NaN or infinite"),
    (_set("resume/optimizer/step", np.array([-1], dtype=np.int64)), "negative"),
])
def test_a_crafted_batched_model_file_is_refused_in_one_line(tmp_path, change, expected):
    path = crafted(tmp_path, change)
    with pytest.raises(RnnlmpyError) as error:
        load_model(path)
    message = str(error.value)
    assert "\n" not in message and expected in message and path in message, message


def test_convert_refuses_a_batched_model_and_info_describes_it(tmp_path, capsys):
    model = batched_model(optimizer="adam", dropout=0.25)
    path = str(tmp_path / "m")
    save_model(model, path)
    code, _, err = run_cli(["convert", "-rnnlm", path, "-to", "rnnlm-binary", "-o", str(tmp_path / "c")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "batched engine" in err
    code, out, err = run_cli(["info", "-rnnlm", path], capsys)
    assert code in (0, None), err
    assert "2 x 4 hidden (lstm cell" in out and "optimizer adam" in out and "dropout 0.25" in out
    assert "full softmax over 9 words" in out


def test_a_grid_over_hidden_types_gives_each_member_its_engine_defaults(tmp_path):
    from dataclasses import replace

    from rnnlmpy.rnnlm.grid import grid_members

    given = RnnlmConfig(activation="lstm")  # as the command line makes it: the first value, defaults resolved
    members = grid_members(str(tmp_path / "m"), given, {"activation": ["lstm", "sigmoid", "elu"]}, 0,
                           {"alpha": None, "bptt": None, "batch": None, "clip_norm": None,
                            "dropout": None, "tie_weights": None})
    configs = {member.config.activation: member.config for member in members}
    assert configs["lstm"] == given
    assert configs["sigmoid"] == RnnlmConfig() and not configs["elu"].batched
    assert replace(given, activation="sigmoid").batched  # what a member would be without the defaults again


def test_blas_threads_are_set_for_the_block_and_put_back():
    pytest.importorskip("scipy.linalg.cython_blas")  # loads the OpenBLAS that Numba's products call
    from rnnlmpy.base.system import BLAS_THREAD_GETTERS, _openblas_libraries, blas_threads

    getters = [getattr(library, name) for library in _openblas_libraries() for name in BLAS_THREAD_GETTERS
               if hasattr(library, name)]
    if not getters:
        pytest.skip("no OpenBLAS loaded in this process")
    before = [getter() for getter in getters]
    with blas_threads(1):
        assert [getter() for getter in getters] == [1] * len(getters)
    assert [getter() for getter in getters] == before


def test_a_per_word_model_file_holds_no_batched_arrays(tmp_path):
    from helpers import tiny_model

    path = str(tmp_path / "m")
    save_model(tiny_model(), path)
    _, arrays = read_store(path, KIND)
    assert "class_bias" not in arrays and "output_bias" not in arrays  # earlier versions read it
    loaded = load_model(path)
    assert loaded.class_bias.shape == (0,) and loaded.output_bias.shape == (0,) and not loaded.config.batched


def test_a_batched_model_without_class_takes_square_root_classes_and_their_rate(tmp_path):
    from rnnlmpy import train

    from helpers import pattern_corpus

    text = write_text(tmp_path / "train.txt", pattern_corpus(200, seed=5))
    model = train(text, str(tmp_path / "m"), None, RnnlmConfig(activation="lstm", hidden_size=4, batch=2, bptt=3),
                  max_iter=1, debug=0)
    assert model.vocabulary.class_count == model.config.class_count > 1  # the square root of the vocabulary
    assert model.config.alpha == BATCHED_DEFAULTS["class_alpha"]["sgd"]
    full = RnnlmConfig(activation="lstm", class_count=1)
    assert full.alpha == BATCHED_DEFAULTS["alpha"]["sgd"] != model.config.alpha
    per_word = train(text, str(tmp_path / "p"), None, RnnlmConfig(hidden_size=4), max_iter=1, debug=0)
    assert per_word.vocabulary.class_count > 1  # the square root of the vocabulary


@pytest.mark.parametrize("value", [1, "yes", 0.0])
def test_a_header_whose_tie_weights_is_not_a_flag_is_refused(tmp_path, value):
    path = str(tmp_path / "m")
    save_model(batched_model(), path)
    header, arrays = read_store(path, KIND)
    header = {key: item for key, item in header.items() if key not in ("format", "kind", "version")}
    header["config"] = {**header["config"], "tie_weights": value}
    write_store(path, KIND, header, {name: np.array(item) for name, item in arrays.items() if name != "header"})
    with pytest.raises(RnnlmpyError) as error:
        load_model(path)
    assert "tie_weights" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("setting, value, expected", [
    ("optimizer", 5, "'optimizer' has a value of the wrong type"),
    ("optimizer", "nesterov", "-optimizer must be one of"),
    ("product_precision", "float16", "-product-precision must be one of"),
    ("product_precision", 16, "'product_precision' has a value of the wrong type"),
    ("class_count", 3, "-product-precision bfloat16 is for"),  # bfloat16 with classes
])
def test_a_header_with_a_crafted_setting_is_refused_in_one_line(tmp_path, setting, value, expected):
    model = batched_model(product_precision="bfloat16")
    path = str(tmp_path / "m")
    save_model(model, path)
    header, arrays = read_store(path, KIND)
    header["config"][setting] = value
    write_store(path, KIND, {key: value for key, value in header.items() if key not in ("format", "kind", "version")},
                {name: np.array(value) for name, value in arrays.items() if name != "header"})
    with pytest.raises(RnnlmpyError) as error:
        load_model(path)
    message = str(error.value)
    assert "\n" not in message and expected in message and path in message, message

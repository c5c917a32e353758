"""The batched engine's numeric core: window cells and the full-softmax window layer against the NumPy references
(tests/reference_deep.py), and every gradient of ``rnnlm.deep.train_window`` against finite differences."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

import reference_deep as reference
from reference import numeric_gradient
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels import window, window_elman, window_gru, window_lstm, window_softmax
from rnnlmpy.rnnlm import deep

CELLS = {"lstm": window_lstm, "gru": window_gru, "elman": window_elman}
STEPS, STREAMS, HIDDEN, INPUTS = 4, 3, 5, 6


def window_resets(steps, streams):
    """Resets at a first step and in the middle of a stream."""
    resets = np.zeros((steps, streams), dtype=np.uint8)
    resets[0, streams - 1] = 1
    resets[steps // 2, 1 % streams] = 1
    return resets


@pytest.mark.parametrize("hidden_type", ["lstm", "gru", "tanh", "sigmoid", "relu"])
def test_cell_kernels_match_the_reference(hidden_type):
    cell = window.cell_name(hidden_type)
    gates, states = window.GATES[cell] * HIDDEN, window.STATES[cell]
    rng = np.random.default_rng(3)
    input_weights = rng.uniform(-0.5, 0.5, (gates, INPUTS))
    recurrent = rng.uniform(-0.5, 0.5, (gates, HIDDEN))
    bias = rng.uniform(-0.5, 0.5, gates)
    inputs = rng.normal(size=(STEPS, STREAMS, INPUTS))
    resets = window_resets(STEPS, STREAMS)
    state_in = rng.normal(size=(STREAMS, states, HIDDEN))
    outputs = np.zeros((STEPS, STREAMS, HIDDEN))
    state_out = np.zeros_like(state_in)
    cache = window.window_cache(hidden_type, STEPS, STREAMS, HIDDEN, np.float64)
    weights = window.weights_bundle(hidden_type, input_weights, recurrent, bias)
    CELLS[cell].forward(weights, inputs, resets, state_in, outputs, cache, state_out)
    expected, expected_state, records = reference.cell_forward(cell, input_weights, recurrent, bias, inputs, resets,
                                                               state_in, hidden_type)
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-13)
    np.testing.assert_allclose(state_out, expected_state, rtol=0, atol=1e-13)

    grad_outputs = rng.normal(size=outputs.shape)
    grad_inputs = np.full_like(inputs, np.nan)  # written, not added to
    grads = window.CellGrads(np.ones_like(input_weights), np.ones_like(recurrent), np.ones_like(bias))  # added to
    CELLS[cell].backward(weights, inputs, resets, cache, grad_outputs, grad_inputs, grads)
    ref_inputs, ref_input_weights, ref_recurrent, ref_bias = reference.cell_backward(
        cell, input_weights, recurrent, inputs, resets, records, grad_outputs, hidden_type)
    np.testing.assert_allclose(grad_inputs, ref_inputs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads.input_weights, 1 + ref_input_weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads.recurrent, 1 + ref_recurrent, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads.bias, 1 + ref_bias, rtol=0, atol=1e-12)


@pytest.mark.parametrize("hidden_type", ["lstm", "gru", "tanh", "sigmoid"])
def test_cell_reference_gradient_matches_finite_differences(hidden_type):
    """The reference's BPTT is the gradient of sum(grad_outputs * outputs), truncated at the resets: the window's
    inputs, and weights, by finite differences (so the kernels, equal to it, are right too)."""
    cell = window.cell_name(hidden_type)
    gates, states = window.GATES[cell] * 3, window.STATES[cell]
    rng = np.random.default_rng(5)
    input_weights, recurrent = rng.uniform(-0.8, 0.8, (gates, 2)), rng.uniform(-0.8, 0.8, (gates, 3))
    bias = rng.uniform(-0.5, 0.5, gates)
    inputs = rng.normal(size=(3, 2, 2))
    resets = window_resets(3, 2)
    state_in = rng.normal(size=(2, states, 3))
    grad_outputs = rng.normal(size=(3, 2, 3))

    def loss():
        outputs, _, _ = reference.cell_forward(cell, input_weights, recurrent, bias, inputs, resets, state_in,
                                               hidden_type)
        return float((outputs * grad_outputs).sum())

    _, _, records = reference.cell_forward(cell, input_weights, recurrent, bias, inputs, resets, state_in, hidden_type)
    analytic = reference.cell_backward(cell, input_weights, recurrent, inputs, resets, records, grad_outputs,
                                       hidden_type)
    for array, gradient in zip((inputs, input_weights, recurrent, bias), analytic):
        np.testing.assert_allclose(gradient, numeric_gradient(loss, array), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_layer_matches_the_reference(dtype):
    size, words = 3, window_softmax.CHUNK_FLOATS // window_softmax.MIN_CHUNK_ROWS + 1
    rows = window_softmax.chunk_rows(10**6, words) + 5  # two chunks of rows
    assert window_softmax.chunk_rows(rows, words) == window_softmax.MIN_CHUNK_ROWS < rows
    rng = np.random.default_rng(7)
    layer = window_softmax.SoftmaxLayer(rng.normal(size=(words, size)).astype(dtype),
                                        rng.normal(size=words).astype(dtype))
    hidden = rng.normal(size=(rows, size)).astype(dtype)
    targets = rng.integers(0, words, rows).astype(np.int32)
    weights = rng.choice([0.0, 1.0, 0.5], rows).astype(dtype)
    targets[weights == 0] = -1  # not read
    grads = window_softmax.SoftmaxGrads(np.ones((words, size), dtype), np.ones(words, dtype))
    grad_hidden = np.full_like(hidden, np.nan)
    log10 = np.full(rows, np.nan, dtype=dtype)
    window_softmax.train(layer, hidden, targets, weights, 0.25, grad_hidden, grads, log10)
    expected = reference.softmax_train(layer.weights.astype(np.float64), layer.bias.astype(np.float64),
                                       hidden.astype(np.float64), targets, weights.astype(np.float64), 0.25)
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(log10, expected[0], rtol=0, atol=tolerance)
    np.testing.assert_allclose(grads.weights, 1 + expected[1], rtol=0, atol=tolerance * 10)
    np.testing.assert_allclose(grads.bias, 1 + expected[2], rtol=0, atol=tolerance * 10)
    np.testing.assert_allclose(grad_hidden, expected[3], rtol=0, atol=tolerance)

    scored = weights != 0
    every = np.where(scored, targets, 0).astype(np.int32)
    scores = np.zeros(rows, dtype=dtype)
    window_softmax.score(layer, hidden, every, scores)
    np.testing.assert_allclose(scores[scored], expected[0][scored], rtol=0, atol=tolerance)
    probabilities = np.zeros(words)
    window_softmax.distribution(layer, np.ascontiguousarray(hidden[4]), probabilities)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.log10(probabilities[every[4]]) == pytest.approx(scores[4], abs=tolerance * 10)


def stand_in_model(hidden_type="lstm", layers=2, dropout=0.0, tie_weights=False, dtype="float64", words=7,
                   hidden=3, seed=11):
    """An object with what ``deep`` reads of an RnnlmModel: config, vocabulary (size, class_count), arrays."""
    config = SimpleNamespace(activation=hidden_type, hidden_size=hidden, layers=layers, dropout=dropout,
                             tie_weights=tie_weights, dtype=dtype, rand_seed=seed)
    arrays = deep.initial_weights(config, words, 1, np.random.default_rng(seed))
    noise = np.random.default_rng(seed + 1)
    for name in ("gate_bias", "output_bias"):  # non-zero biases, so that their gradients are tested
        arrays[name][...] += noise.uniform(-0.3, 0.3, arrays[name].shape)
    arrays["recurrent"] *= 5  # weights of order 0.5: gradients of every part are far from zero
    arrays["input_weights"] *= 5
    return SimpleNamespace(config=config, vocabulary=SimpleNamespace(size=words, class_count=1), **arrays)


def small_window(steps=3, streams=2, words=7, seed=2):
    rng = np.random.default_rng(seed)
    weights = np.ones((steps, streams))
    weights[steps - 1, 0] = 0.0  # a padded step
    return deep.Window(inputs=rng.integers(0, words, (steps, streams)).astype(np.int32),
                       targets=rng.integers(0, words, (steps, streams)).astype(np.int32),
                       resets=window_resets(steps, streams), weights=weights)


def empty_grads(model):
    return {name: np.full_like(getattr(model, name), np.nan) for name in
            ("input_weights", "recurrent", "gate_bias", "class_weights", "class_bias", "output_weights", "output_bias")}


@pytest.mark.parametrize("hidden_type, dropout, tie_weights", [("lstm", 0.4, False), ("lstm", 0.0, True),
                                                               ("gru", 0.3, True), ("tanh", 0.3, False)])
def test_train_window_gradients_match_finite_differences(hidden_type, dropout, tie_weights):
    """Every parameter's gradient of the window loss (sum of -ln P / B), with dropout (fixed masks: a fixed
    seed), resets, a padded step and a carried-in state."""
    model = stand_in_model(hidden_type, layers=2, dropout=dropout, tie_weights=tie_weights)
    shape = deep.model_shape(model)
    window = small_window()
    state = np.random.default_rng(4).uniform(-0.5, 0.5, (2, shape.state_size))
    grads = empty_grads(model)

    def loss():
        log10_sum, _ = deep.train_window(model, window, state.copy(), empty_grads(model), dropout_seed=9)
        return -log10_sum * np.log(10.0) / 2

    carried = state.copy()
    log10_sum, scored = deep.train_window(model, window, carried, grads, dropout_seed=9)
    assert scored == 5
    assert not np.array_equal(carried, state)
    for name in ("input_weights", "recurrent", "gate_bias", "output_weights", "output_bias"):
        np.testing.assert_allclose(grads[name], numeric_gradient(loss, getattr(model, name)), rtol=1e-5, atol=1e-8,
                                   err_msg=name)
    assert all(np.abs(grads[name]).max() > 0 for name in ("recurrent", "gate_bias", "output_bias", "input_weights"))


def test_dropout_masks_depend_on_the_seed_only():
    model = stand_in_model("lstm", dropout=0.5)
    window = small_window()
    state = np.zeros((2, deep.model_shape(model).state_size))
    first = deep.train_window(model, window, state.copy(), empty_grads(model), dropout_seed=1)
    again = deep.train_window(model, window, state.copy(), empty_grads(model), dropout_seed=1)
    other = deep.train_window(model, window, state.copy(), empty_grads(model), dropout_seed=2)
    assert first == again
    assert first[0] != other[0]


@pytest.mark.parametrize("hidden_type", ["lstm", "gru"])
def test_score_window_and_next_distribution_agree_with_training(hidden_type):
    model = stand_in_model(hidden_type, dropout=0.5)  # scoring never drops out
    window = small_window()
    state = np.random.default_rng(4).uniform(-0.5, 0.5, (2, deep.model_shape(model).state_size))
    log10 = np.zeros((3, 2))
    scored_state = state.copy()
    deep.score_window(model, window, scored_state, log10)
    model.config.dropout = 0.0
    trained_state = state.copy()
    log10_sum, _ = deep.train_window(model, window, trained_state, empty_grads(model), dropout_seed=0)
    assert log10.sum() == pytest.approx(log10_sum, abs=1e-12)
    assert log10[2, 0] == 0.0
    np.testing.assert_allclose(scored_state, trained_state, rtol=0, atol=1e-14)

    # stream 0 word by word, as generation feeds it
    stream_state = state[0].copy()
    for t in range(3):
        if window.resets[t, 0]:
            stream_state[:] = 0
        probabilities = np.zeros(7)
        stream_state = deep.next_distribution(model, stream_state, int(window.inputs[t, 0]), probabilities)
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
        if window.weights[t, 0]:
            assert np.log10(probabilities[window.targets[t, 0]]) == pytest.approx(log10[t, 0], abs=1e-12)
    np.testing.assert_allclose(stream_state, scored_state[0], rtol=0, atol=1e-14)


def test_float32_window_is_close_to_float64():
    results = []
    for dtype in ("float64", "float32"):
        model = stand_in_model("lstm", dropout=0.0, dtype=dtype)
        state = np.zeros((2, deep.model_shape(model).state_size), dtype=dtype)
        grads = empty_grads(model)
        log10_sum, _ = deep.train_window(model, small_window(), state, grads, dropout_seed=0)
        results.append((log10_sum, grads["recurrent"].astype(np.float64), state.astype(np.float64)))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(results[1][2], results[0][2], rtol=0, atol=1e-6)


def test_initial_weights_have_the_table_shapes():
    config = SimpleNamespace(activation="lstm", hidden_size=4, layers=3, dropout=0.0, tie_weights=True,
                             dtype="float32")
    arrays = deep.initial_weights(config, 9, 1, np.random.default_rng(0))
    shapes = deep.weight_shapes(config, 9, 1)
    assert {name: array.shape for name, array in arrays.items()} == shapes
    assert shapes["recurrent"] == (3, 2, 16, 4) and shapes["output_weights"] == (0, 4)
    assert deep.state_size(config) == 3 * 2 * 4 == shapes["hidden_state"][0]
    assert np.abs(arrays["input_weights"]).max() <= deep.INIT_SCALE
    biases = arrays["gate_bias"].reshape(3, 4, 4)
    assert (biases[:, 1] == deep.FORGET_BIAS).all() and not biases[:, [0, 2, 3]].any()
    assert all(array.dtype == np.float32 for array in arrays.values())


@pytest.mark.parametrize("hidden, bound", [(4, 0.1), (200, 0.1), (500, math.sqrt(2 / 500)), (1500, math.sqrt(2 / 1500))])
def test_wide_layers_start_with_smaller_weights(hidden, bound):
    assert deep.init_scale(hidden) == pytest.approx(bound)
    config = SimpleNamespace(activation="lstm", hidden_size=hidden, layers=1, dropout=0.0, tie_weights=False,
                             dtype="float32")
    arrays = deep.initial_weights(config, 30, 1, np.random.default_rng(1))
    for name in ("input_weights", "recurrent", "output_weights"):
        largest = float(np.abs(arrays[name]).max())
        assert bound * 0.95 < largest <= bound, name  # uniform in [-bound, bound]: the largest lies near it


def test_a_window_with_bad_ids_or_state_is_refused():
    model = stand_in_model("gru")
    state = np.zeros((2, deep.model_shape(model).state_size))
    bad = small_window()
    bad.inputs[1, 1] = 7
    with pytest.raises(RnnlmpyError, match="inputs"):
        deep.train_window(model, bad, state, empty_grads(model), dropout_seed=0)
    bad = small_window()
    bad.targets[0, 1] = -1
    with pytest.raises(RnnlmpyError, match="targets"):
        deep.score_window(model, bad, state, np.zeros((3, 2)))
    with pytest.raises(RnnlmpyError, match="state"):
        deep.score_window(model, small_window(), np.zeros((3, state.shape[1])), np.zeros((3, 2)))
    with pytest.raises(RnnlmpyError, match="word id"):
        deep.next_distribution(model, state[0], 7, np.zeros(7))
    with pytest.raises(RnnlmpyError, match="log10_out"):
        deep.score_window(model, small_window(), state, np.zeros((2, 3)))
    bad = small_window()
    bad.resets = bad.resets[:2]
    with pytest.raises(RnnlmpyError, match="resets"):
        deep.score_window(model, bad, state, np.zeros((3, 2)))
    bad = small_window()
    bad.inputs = bad.inputs.reshape(-1)
    with pytest.raises(RnnlmpyError, match="steps, streams"):
        deep.score_window(model, bad, state, np.zeros((3, 2)))
    with pytest.raises(RnnlmpyError, match="state"):
        deep.score_window(model, small_window(), np.asfortranarray(np.zeros((2, state.shape[1]))), np.zeros((3, 2)))


@pytest.mark.parametrize("hidden_type, by_streams, tie_weights", [("lstm", False, False), ("relu", False, True),
                                                                  ("gru", True, True)])
def test_streams_in_threads_give_the_one_thread_result(hidden_type, by_streams, tie_weights, monkeypatch):
    """A full softmax splits its vocabulary between the threads; another output layer (here: the full softmax
    standing in for a class layer) trains on the threads' streams with gradients of their own, summed."""
    model = stand_in_model(hidden_type, dropout=0.3, tie_weights=tie_weights)
    if by_streams:
        model.vocabulary.class_count = 2
        monkeypatch.setattr(deep, "output_module", lambda shape: window_softmax)
        for name, dims in deep.shape_weights(deep.deep_shape(model.config, 7, 2)).items():
            if name.startswith("class_"):
                setattr(model, name, np.zeros(dims))
    window = small_window(steps=3, streams=5)
    start = np.random.default_rng(4).uniform(-0.5, 0.5, (5, deep.model_shape(model).state_size))
    results = []
    for threads in (1, 2, 3):
        state, grads = start.copy(), empty_grads(model)
        log10_sum, scored = deep.train_window(model, window, state, grads, dropout_seed=3, threads=threads)
        scores, score_state = np.zeros((3, 5)), start.copy()
        deep.score_window(model, window, score_state, scores, threads=threads)
        results.append((log10_sum, scored, state, grads, scores, score_state))
    for other in results[1:]:
        assert other[0] == pytest.approx(results[0][0], abs=1e-12) and other[1] == results[0][1]
        np.testing.assert_allclose(other[2], results[0][2], rtol=0, atol=1e-14)
        for name, array in results[0][3].items():
            np.testing.assert_allclose(other[3][name], array, rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(other[4], results[0][4], rtol=0, atol=1e-13)
        np.testing.assert_allclose(other[5], results[0][5], rtol=0, atol=1e-14)


def test_stream_parts_cover_the_streams_once():
    assert deep.stream_parts(5, 2) == [slice(0, 2), slice(2, 5)]
    assert deep.stream_parts(2, 4) == [slice(0, 1), slice(1, 2)]
    assert deep.stream_parts(7, 1) == [slice(0, 7)]


def test_a_model_whose_arrays_do_not_fit_its_settings_is_refused():
    model = stand_in_model("lstm", layers=2)
    model.recurrent = model.recurrent[:1].copy()  # one layer's matrices for a two-layer model
    state = np.zeros((2, 2 * 2 * 3))
    with pytest.raises(RnnlmpyError, match="recurrent"):
        deep.score_window(model, small_window(), state, np.zeros((3, 2)))
    model = stand_in_model("gru")
    model.output_bias = model.output_bias.astype(np.float32)
    with pytest.raises(RnnlmpyError, match="output_bias"):
        deep.next_distribution(model, np.zeros(6), 1, np.zeros(7))


def test_gradient_arrays_that_do_not_fit_are_refused():
    model = stand_in_model("lstm")
    grads = empty_grads(model)
    grads["output_weights"] = grads["output_weights"][:, :2].copy()
    with pytest.raises(RnnlmpyError, match="output_weights"):
        deep.train_window(model, small_window(), np.zeros((2, 12)), grads, dropout_seed=0)
    grads = empty_grads(model)
    del grads["gate_bias"]
    with pytest.raises(RnnlmpyError, match="gate_bias"):
        deep.train_window(model, small_window(), np.zeros((2, 12)), grads, dropout_seed=0)


@pytest.mark.parametrize("rows", [7, window.SMALL_PRODUCT_ROWS + 3])  # add_products, then BLAS
def test_step_products_match_numpy(rows):
    rng = np.random.default_rng(8)
    left, right = rng.normal(size=(rows, 9)), rng.normal(size=(9, 6))  # rows and inner not multiples of four
    gates, scratch, out = rng.normal(size=(rows, 6)), np.zeros((rows, 6)), np.full((rows, 6), np.nan)
    expected = gates + left @ right
    window.add_step_product(left, right, scratch, gates)
    np.testing.assert_allclose(gates, expected, rtol=0, atol=1e-13)
    window.step_product(left, right, out)
    np.testing.assert_allclose(out, left @ right, rtol=0, atol=1e-13)
    assert window.small_product(rows, right) == (rows <= window.SMALL_PRODUCT_ROWS)


def test_the_kernels_the_driver_runs_in_threads_release_the_gil():
    kernels = [window_softmax.train, window_softmax.score, window_softmax.part_exponentials,
               window_softmax.part_gradients, window.scatter_add_rows]
    kernels += [getattr(module, name) for module in CELLS.values() for name in ("forward", "backward")]
    assert all(kernel.targetoptions.get("nogil") for kernel in kernels)


@pytest.mark.parametrize("setting, value", [("dropout", 1.0), ("dropout", -0.1), ("layers", 0)])
def test_settings_outside_the_engines_range_are_refused(setting, value):
    model = stand_in_model("lstm")
    setattr(model.config, setting, value)
    with pytest.raises(RnnlmpyError, match=setting):
        deep.train_window(model, small_window(), np.zeros((2, 12)), empty_grads(model), dropout_seed=0)


@pytest.mark.parametrize("threads", [1, 2])
def test_gradients_kept_zero_between_windows_equal_gradients_zeroed_whole(threads):
    """A caller that clears only the rows a window set (``clear_rows``) and says so (``zeroed``) gets, window after
    window, the gradients of a caller whose arrays ``train_window`` clears whole."""
    model = stand_in_model("tanh", layers=1, words=9)
    state = np.zeros((2, deep.model_shape(model).state_size))
    kept = {name: np.zeros_like(array) for name, array in empty_grads(model).items()}
    zeroed = frozenset()
    for seed in range(4):
        window = small_window(words=9, seed=seed)
        deep.train_window(model, window, state.copy(), kept, dropout_seed=seed, threads=threads, zeroed=zeroed)
        whole = empty_grads(model)  # NaN: everything must be written or cleared
        deep.train_window(model, window, state.copy(), whole, dropout_seed=seed, threads=threads)
        for name in whole:
            np.testing.assert_array_equal(kept[name], whole[name], err_msg=name)
        rows = deep.gradient_rows(model, window)
        assert set(rows) == {"input_weights"} and 0 < len(rows["input_weights"]) < 9
        deep.clear_rows(kept, rows)
        assert not kept["input_weights"].any()
        zeroed = frozenset(rows)

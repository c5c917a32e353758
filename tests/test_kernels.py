"""Numba kernels against the slow NumPy reference, and gradients against finite differences."""

import math

import numpy as np
import pytest

import reference
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.network import KernelState, score_stream
from rnnlmpy.rnnlm.streams import language_model_stream

from helpers import tiny_model

WORDS = np.array([3, 1, 4, 1, 5, 6, 2, 0, 6, 5, 3, 5, 0, 2, 1], dtype=np.int32)
BLOCKS = ("input_weights", "recurrent", "class_weights", "output_weights")  # direct: test_direct.py


def params_of(model):
    return {name: array.astype(np.float64) for name, array in model.weights().items() if name != "direct"}


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "elu", "relu-trunc"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scoring_kernel_matches_reference(activation, dtype):
    model = tiny_model(dtype=dtype, activation=activation)
    words = WORDS.copy()
    words[4] = -1  # an OOV: no input feature at the next position, no score here
    stream = language_model_stream(words)
    probabilities, final = score_stream(model, stream, model.hidden_state)
    expected, hiddens, _ = reference.forward(params_of(model), model.vocabulary.word_class, stream,
                                             model.hidden_state, activation)
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(probabilities, expected, rtol=tolerance * 10, atol=tolerance)
    np.testing.assert_allclose(final, hiddens[-1], atol=tolerance)
    assert probabilities[4] == 0.0


def test_independent_mode_resets_after_sentence_end():
    model = tiny_model()
    model.config.independent = True
    stream = language_model_stream(WORDS)
    probabilities, _ = score_stream(model, stream, np.full(5, 1.0))
    expected, _, _ = reference.forward(params_of(model), model.vocabulary.word_class, stream, np.full(5, 1.0),
                                       independent=True, reset_value=1.0)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12)
    # the sentence after </s> scores the same whatever came before it
    alone = language_model_stream(WORDS[8:])
    again, _ = score_stream(model, alone, np.full(5, 1.0))
    np.testing.assert_allclose(probabilities[8:], again, rtol=1e-12)


@pytest.mark.parametrize("class_sizes", [(7,), (1, 2, 4), (1, 1, 1, 1, 1, 1, 1), (3, 3, 1)])
def test_class_softmax_sums_to_one_over_the_vocabulary(class_sizes):
    model = tiny_model(class_sizes=class_sizes)
    distribution = np.zeros(7)
    network.distribution(model, np.random.default_rng(1).random(5), np.zeros(3, dtype=np.int64), 1.0, distribution)
    assert distribution.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(distribution > 0)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "elu", "relu-trunc"])
def test_reference_gradient_matches_finite_differences(activation):
    model = tiny_model(activation=activation)
    stream = language_model_stream(WORDS)
    params, word_class, start = params_of(model), model.vocabulary.word_class, model.hidden_state
    analytic = reference.gradients(params, word_class, stream, start, activation)
    rng = np.random.default_rng(2)
    step = 1e-6
    for name in BLOCKS:
        for _ in range(12):
            index = tuple(rng.integers(0, n) for n in params[name].shape)
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][index] += step
            minus[name][index] -= step
            numeric = (reference.log_likelihood(plus, word_class, stream, start, activation)
                       - reference.log_likelihood(minus, word_class, stream, start, activation)) / (2 * step)
            assert analytic[name][index] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (name, index)


def run_training_kernel(model, stream, alpha, bptt, bptt_block, cutoff=0.0, beta=0.0, start=None):
    config = model.config
    config.bptt, config.bptt_block, config.gradient_cutoff, config.beta = bptt, bptt_block, cutoff, beta
    state = KernelState.fresh(config)
    state.hidden_prev[:] = model.hidden_state if start is None else start
    return network.train_span(model, stream, 0, len(stream), state, alpha)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu-trunc"])
def test_training_step_follows_the_full_bptt_gradient(activation):
    """One BPTT block spanning the whole stream: the update is alpha times the exact gradient."""
    model = tiny_model(activation=activation)
    stream = language_model_stream(WORDS)
    before = params_of(model)
    expected = reference.gradients(before, model.vocabulary.word_class, stream, model.hidden_state, activation)
    alpha = 1e-7
    log10_sum, scored, _ = run_training_kernel(model, stream, alpha, bptt=len(WORDS), bptt_block=len(WORDS))
    assert scored == len(WORDS)
    probabilities, _, _ = reference.forward(before, model.vocabulary.word_class, stream, model.hidden_state,
                                            activation)
    assert log10_sum == pytest.approx(np.sum(np.log10(probabilities)), rel=1e-6)
    for name in BLOCKS:
        update = (getattr(model, name) - before[name]) / alpha
        np.testing.assert_allclose(update, expected[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_truncated_bptt_limits_how_far_errors_travel():
    """With bptt 0 (plain backprop) the recurrent update uses only one step per position."""
    model = tiny_model()
    stream = language_model_stream(WORDS[:3])
    before = params_of(model)
    run_training_kernel(model, stream, 1e-7, bptt=0, bptt_block=1)
    plain = (model.recurrent - before["recurrent"]) / 1e-7
    full = reference.gradients(before, model.vocabulary.word_class, stream, model.hidden_state)["recurrent"]
    assert not np.allclose(plain, full, rtol=1e-3)  # truncation really cuts the gradient
    # ...and equals the sum of one-step gradients, computed from the reference hidden states
    _, hiddens, inputs = reference.forward(before, model.vocabulary.word_class, stream, model.hidden_state)
    one_step = np.zeros_like(plain)
    for t in range(3):
        single = language_model_stream(WORDS[t:t + 1])
        single.words[0] = WORDS[t - 1] if t > 0 else 0
        one_step += reference.gradients(before, model.vocabulary.word_class, single, inputs[t])["recurrent"]
    np.testing.assert_allclose(plain, one_step, rtol=1e-4, atol=1e-7)


def test_gradient_cutoff_clamps_back_propagated_errors():
    model = tiny_model()
    stream = language_model_stream(WORDS)
    reference_model = tiny_model()
    run_training_kernel(model, stream, 0.5, bptt=3, bptt_block=4, cutoff=1e-3)
    run_training_kernel(reference_model, stream, 0.5, bptt=3, bptt_block=4, cutoff=0.0)
    clipped = np.abs(model.recurrent - tiny_model().recurrent).max()
    unclipped = np.abs(reference_model.recurrent - tiny_model().recurrent).max()
    assert clipped < unclipped / 10


def test_l2_decay_shrinks_weights_every_tenth_word():
    model, plain = tiny_model(), tiny_model()
    stream = language_model_stream(np.tile(WORDS, 2))
    run_training_kernel(model, stream, 0.1, bptt=2, bptt_block=5, beta=0.05)
    run_training_kernel(plain, stream, 0.1, bptt=2, bptt_block=5, beta=0.0)
    assert np.abs(model.class_weights).sum() < np.abs(plain.class_weights).sum()


def test_truncated_relu_clamps_at_20_and_passes_no_gradient_there():
    from rnnlmpy.kernels import cell
    values = np.array([-3.0, 0.5, 19.0, 25.0])
    cell.activate(values, cell.ACTIVATIONS["relu-trunc"])
    np.testing.assert_array_equal(values, reference.activation_function("relu-trunc")[0](np.array([-3, .5, 19, 25.])))
    error = np.ones(4)
    cell.multiply_by_derivative(error, values, cell.ACTIVATIONS["relu-trunc"])
    np.testing.assert_array_equal(error, [0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("rows", [1, 3, 4, 7, 12])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrix_vector_products_match_numpy(rows, dtype):
    # the four-rows-at-a-time products behind the hidden step and the BPTT carry, with the leftover rows
    from rnnlmpy.kernels.cell import add_matrix_vector, add_transposed_matrix_vector

    rng = np.random.default_rng(rows)
    matrix = rng.normal(size=(rows, 9)).astype(dtype)
    start = rng.normal(size=rows).astype(dtype)
    vector = rng.normal(size=9).astype(dtype)
    out = start.copy()
    add_matrix_vector(matrix, vector, out)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, start + matrix.astype(np.float64) @ vector, rtol=tolerance, atol=tolerance)
    start, vector = rng.normal(size=9).astype(dtype), rng.normal(size=rows).astype(dtype)
    out = start.copy()
    add_transposed_matrix_vector(matrix, vector, out)
    np.testing.assert_allclose(out, start + matrix.T.astype(np.float64) @ vector, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("rows", [1, 2, 5, 8])
@pytest.mark.parametrize("steps", [0, 1, 3, 4, 9])
@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_block_update_matches_the_sum_of_outer_products(rows, steps, decay):
    # the one-pass block update (two rows, four steps at a time, leftovers of both) against NumPy, ring wrapped
    from rnnlmpy.kernels.cell import add_step_outer_products

    capacity, columns, head = 10, 7, 2
    rng = np.random.default_rng(rows * 100 + steps)
    matrix = rng.normal(size=(rows, columns))
    errors, inputs = rng.normal(size=(capacity, rows)), rng.normal(size=(capacity, columns))
    slots = [(head - s) % capacity for s in range(steps)]  # 2, 1, 0, 9, 8, ...
    expected = (1 - decay) * matrix + 0.3 * sum((np.outer(errors[k], inputs[k]) for k in slots),
                                                np.zeros((rows, columns)))
    add_step_outer_products(matrix, errors, inputs, head, steps, 0.3, decay)
    np.testing.assert_allclose(matrix, expected, rtol=1e-12, atol=1e-12)


def test_float32_exponential_is_within_one_ulp():
    from rnnlmpy.kernels.exponential import EXP_LIMIT, exp_float32, exponential
    from numba import njit

    @njit
    def exp_all(values, out):
        for i in range(values.shape[0]):
            out[i] = exponential(values[i])

    values = np.linspace(-EXP_LIMIT, EXP_LIMIT, 400_001, dtype=np.float32)
    values = np.concatenate([values, np.float32([0.0, 1e-30, -1e-30, 0.5, -0.5])])
    out = np.empty_like(values)
    exp_all(values, out)
    exact = np.exp(values.astype(np.float64))
    ulps = np.abs(out - exact) / np.spacing(exact.astype(np.float32))
    assert out.dtype == np.float32 and ulps.max() <= 1.0
    assert exp_float32(np.float32(0.0)) == 1.0
    # float64 goes to the C library, bit for bit (math.exp; not np.exp, whose AVX-512 loop differs from the
    # C library's in the last bit of 5% of these values)
    doubles = values.astype(np.float64)
    out64 = np.empty_like(doubles)
    exp_all(doubles, out64)
    np.testing.assert_array_equal(out64, np.array([math.exp(value) for value in doubles]))


def test_span_loops_run_without_reference_counting_and_allocate_once():
    """The loops of a span are compiled without Numba's reference counting (``options.WITHOUT_REFCOUNTS``)
    where Numba has the option; their callers allocate the work arrays, so scoring a stream in one span or in
    many segments gives the same probabilities."""
    from numba.core.options import DefaultOptions

    from rnnlmpy.kernels import lm
    from rnnlmpy.kernels.options import WITHOUT_REFCOUNTS

    assert WITHOUT_REFCOUNTS == ({"_nrt": False} if hasattr(DefaultOptions, "_nrt") else {})
    for loop in (lm.train_positions, lm.score_positions):
        assert all(loop.targetoptions.get(key) == value for key, value in WITHOUT_REFCOUNTS.items())
    model = tiny_model(hidden_size=6, dtype="float32")
    words = language_model_stream(np.array([3, 4, 0, 5, 3, 0, 4, 4, 0], dtype=np.int32))
    start = np.full((1, 6), 0.1, dtype=np.float32)
    whole, _ = score_stream(model, words, start[0])
    pieces = network.score_segments(model, words, np.array([0, 3, 6]), np.array([3, 6, len(words)]), start)
    np.testing.assert_array_equal(pieces, whole)
    assert np.all(whole[:-1] > 0)

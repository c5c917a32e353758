"""The GRU kernels (rnnlmpy/kernels/gru.py) against the NumPy reference, and its gradient against finite differences."""

import numpy as np
import pytest

import reference_gru as reference
from reference import numeric_gradient
from rnnlmpy.kernels.cell import RING_FILL, RING_HEAD
from rnnlmpy.kernels.gru import gru_backpropagate, gru_forward

VOCAB, HIDDEN = 7, 4
# the features of each position: one word, none (an unknown input), a repeated feature, several
ROWS = [[3], [1], [4], [], [1], [5, 2], [6], [2, 2], [0], [6], [5], [3, 0, 4], [5], [0], [2]]


def random_params(seed=0, scale=0.6):
    rng = np.random.default_rng(seed)
    return {"input_weights": rng.normal(0, scale, (VOCAB, 3 * HIDDEN)),
            "recurrent": rng.normal(0, scale, (3 * HIDDEN, HIDDEN)),
            "bias": rng.normal(0, scale, 3 * HIDDEN)}


def start_state(seed=0):
    return np.random.default_rng(seed + 50).uniform(-0.5, 1.0, HIDDEN)


def output_errors(length, seed=0):
    return np.random.default_rng(seed + 70).normal(0, 1.0, (length, HIDDEN))


def compressed(rows):
    """(feature_ptr int64, feature_ids int32) of a list of feature lists, as rnnlmpy's token streams."""
    feature_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    feature_ptr[1:] = np.cumsum([len(row) for row in rows])
    feature_ids = np.array([f for row in rows for f in row], dtype=np.int32)
    return feature_ptr, feature_ids


def dense(rows):
    """The multi-hot input matrix (N, V) of the reference."""
    inputs = np.zeros((len(rows), VOCAB))
    for t, row in enumerate(rows):
        for feature in row:
            inputs[t, feature] += 1.0
    return inputs


class Run:
    """The kernel over a stream, as train_span drives cell.py: one forward per position, the ring filled."""

    def __init__(self, params, rows, start, errors, capacity, dtype=np.float64):
        self.weights = {k: np.array(v, dtype=dtype) for k, v in params.items()}  # copies
        self.feature_ptr, self.feature_ids = compressed(rows)
        self.ring_position = np.zeros(capacity, dtype=np.int64)
        self.ring_input = np.zeros((capacity, HIDDEN), dtype=dtype)
        self.ring_gates = np.zeros((capacity, 3 * HIDDEN), dtype=dtype)
        self.ring_error = np.zeros((capacity, HIDDEN), dtype=dtype)
        self.counters = np.zeros(3, dtype=np.int64)
        self.step_deltas = np.zeros((capacity, 3 * HIDDEN), dtype=dtype)
        self.step_reset_inputs = np.zeros((capacity, HIDDEN), dtype=dtype)
        self.dtype = dtype
        hidden_prev = np.asarray(start, dtype=dtype).copy()
        hidden = np.empty(HIDDEN, dtype=dtype)
        gates = np.empty(3 * HIDDEN, dtype=dtype)
        self.hiddens, self.gates = [], []
        for t in range(len(rows)):
            gru_forward(self.weights["input_weights"], self.weights["recurrent"], self.weights["bias"],
                        self.feature_ids, self.feature_ptr[t], self.feature_ptr[t + 1], hidden_prev, hidden, gates)
            head = (self.counters[RING_HEAD] + 1) % capacity
            self.counters[RING_HEAD] = head
            self.counters[RING_FILL] = min(self.counters[RING_FILL] + 1, capacity)
            self.ring_position[head] = t
            self.ring_input[head] = hidden_prev
            self.ring_gates[head] = gates
            self.ring_error[head] = errors[t]
            self.hiddens.append(hidden.copy())
            self.gates.append(gates.copy())
            hidden_prev[:] = hidden
        self.hiddens, self.gates = np.array(self.hiddens), np.array(self.gates)

    def backpropagate(self, steps_back, alpha, decay=0.0, cutoff=0.0):
        scalar = self.dtype
        gru_backpropagate(self.weights["input_weights"], self.weights["recurrent"], self.weights["bias"],
                          self.feature_ptr, self.feature_ids, self.ring_position, self.ring_input, self.ring_gates,
                          self.ring_error, self.counters, steps_back, scalar(alpha), scalar(decay), scalar(cutoff),
                          np.empty(HIDDEN, dtype=self.dtype), np.empty(HIDDEN, dtype=self.dtype), self.step_deltas,
                          self.step_reset_inputs)
        return self.weights


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_matches_reference(dtype):
    params, start = random_params(), start_state()
    run = Run(params, ROWS, start, output_errors(len(ROWS)), capacity=len(ROWS) + 1, dtype=dtype)
    hiddens, prevs, gates = reference.forward(params, dense(ROWS), start)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(run.hiddens, hiddens, rtol=0, atol=tolerance)
    np.testing.assert_allclose(run.gates, gates, rtol=0, atol=tolerance)
    np.testing.assert_allclose(run.ring_input[1:], prevs, rtol=0, atol=tolerance)


def test_forward_reads_feature_rows_not_a_dense_product():
    """A position's input is the sum of its features' rows: none gives the bias alone, a repeat counts twice."""
    params, start = random_params(), start_state()
    run = Run(params, [[], [2, 2], [2]], start, output_errors(3), capacity=4)
    doubled = dict(params, bias=params["bias"] + params["input_weights"][2])
    _, _, gates_empty = reference.forward(params, np.zeros((1, VOCAB)), start)
    np.testing.assert_allclose(run.gates[0], gates_empty[0], atol=1e-12)
    one_hot = np.zeros((1, VOCAB))
    one_hot[0, 2] = 1.0
    _, _, gates_twice = reference.forward(doubled, one_hot, run.hiddens[0])
    np.testing.assert_allclose(run.gates[1], gates_twice[0], atol=1e-12)


def finite_difference_check(objective, params, analytic, step=1e-6):
    """Central differences for every entry of every parameter block against ``analytic``."""
    for name in reference.PARAMETERS:
        numeric = numeric_gradient(lambda: objective(params), params[name], step)
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)
        assert np.abs(analytic[name]).max() > 1e-2, name  # a gradient that is really there


def test_reference_gradient_of_a_linear_objective_matches_finite_differences():
    params, start, inputs = random_params(1), start_state(1), dense(ROWS)
    errors = output_errors(len(ROWS), 1)
    analytic, _ = reference.gradients(params, inputs, start, errors)
    finite_difference_check(lambda p: reference.linear_objective(p, inputs, start, errors), params, analytic)


def test_reference_gradient_of_a_softmax_objective_matches_finite_differences():
    params, start, inputs = random_params(2), start_state(2), dense(ROWS)
    rng = np.random.default_rng(3)
    output, targets = rng.normal(0, 1.0, (VOCAB, HIDDEN)), rng.integers(0, VOCAB, len(ROWS))
    errors = reference.softmax_output_errors(params, inputs, start, output, targets)
    analytic, _ = reference.gradients(params, inputs, start, errors)
    finite_difference_check(lambda p: reference.softmax_objective(p, inputs, start, output, targets), params,
                            analytic)


def assert_moved_by(after, before, expected, alpha, rtol, atol):
    for name in reference.PARAMETERS:
        update = (after[name].astype(np.float64) - before[name]) / alpha
        np.testing.assert_allclose(update, expected[name], rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_bptt_block_follows_the_full_gradient(dtype):
    """One BPTT block over the whole stream moves every parameter by alpha times the exact gradient."""
    params, start, errors = random_params(4), start_state(4), output_errors(len(ROWS), 4)
    expected, _ = reference.gradients(params, dense(ROWS), start, errors)
    run = Run(params, ROWS, start, errors, capacity=len(ROWS) + 1, dtype=dtype)
    before = {k: v.astype(np.float64) for k, v in run.weights.items()}
    alpha = 0.5  # the backward pass reads only stored steps and the recurrent matrix, updated at the end: exact
    after = run.backpropagate(steps_back=len(ROWS) + 5, alpha=alpha)
    if dtype == np.float64:
        assert_moved_by(after, before, expected, alpha, rtol=1e-10, atol=1e-12)
    else:
        assert_moved_by(after, before, expected, alpha, rtol=1e-5, atol=1e-5)
    assert not run.ring_error.any()


@pytest.mark.parametrize("steps", [1, 3])
def test_truncation_limits_how_far_errors_travel(steps):
    """A short steps_back gives the gradient of the last positions only, stopping at the state fed into them.

    steps_back 1 is plain backprop of the newest position (what train_span does with bptt 0).
    """
    params, start, errors = random_params(5), start_state(5), output_errors(len(ROWS), 5)
    full, _ = reference.gradients(params, dense(ROWS), start, errors)
    truncated, _ = reference.gradients(params, dense(ROWS), start, errors, steps=steps)
    assert not np.allclose(truncated["recurrent"], full["recurrent"], rtol=1e-3)
    run = Run(params, ROWS, start, errors, capacity=len(ROWS) + 1)
    before = {k: v.copy() for k, v in params.items()}
    assert_moved_by(run.backpropagate(steps_back=steps, alpha=0.5), before, truncated, 0.5, rtol=1e-10, atol=1e-12)


def test_a_wrapped_ring_holds_only_the_newest_steps():
    """A ring smaller than the stream: BPTT reaches back as far as it holds (RING_FILL), across the wrap."""
    params, start, errors = random_params(6), start_state(6), output_errors(len(ROWS), 6)
    run = Run(params, ROWS, start, errors, capacity=6)
    assert run.counters[RING_FILL] == 6 and run.counters[RING_HEAD] == len(ROWS) % 6
    expected, _ = reference.gradients(params, dense(ROWS), start, errors, steps=6)
    before = {k: v.copy() for k, v in params.items()}
    assert_moved_by(run.backpropagate(steps_back=9, alpha=0.5), before, expected, 0.5, rtol=1e-10, atol=1e-12)


def test_gradient_cutoff_clamps_the_error_passed_back():
    params, start = random_params(7, scale=1.5), start_state(7)
    errors = 4.0 * output_errors(len(ROWS), 7)
    cutoff = 0.05
    expected, _ = reference.gradients(params, dense(ROWS), start, errors, steps=8, cutoff=cutoff)
    unclipped, _ = reference.gradients(params, dense(ROWS), start, errors, steps=8)
    assert not np.allclose(expected["recurrent"], unclipped["recurrent"], rtol=1e-2)
    run = Run(params, ROWS, start, errors, capacity=len(ROWS) + 1)
    before = {k: v.copy() for k, v in params.items()}
    after = run.backpropagate(steps_back=8, alpha=0.5, cutoff=cutoff)
    assert_moved_by(after, before, expected, 0.5, rtol=1e-10, atol=1e-12)


def test_decay_shrinks_input_rows_and_recurrent_matrix_but_not_bias():
    """Feature rows decay as their step is reached (newest first), the recurrent matrix at the block update."""
    params, start, errors = random_params(8), start_state(8), output_errors(len(ROWS), 8)
    alpha, decay, steps = 0.5, 0.01, 10
    grads, deltas = reference.gradients(params, dense(ROWS), start, errors, steps=steps)
    expected = {k: v.copy() for k, v in params.items()}
    for t in reversed(range(len(ROWS) - steps, len(ROWS))):
        for feature in ROWS[t]:
            expected["input_weights"][feature] = ((1 - decay) * expected["input_weights"][feature]
                                                  + alpha * deltas[t])
    expected["recurrent"] = (1 - decay) * params["recurrent"] + alpha * grads["recurrent"]
    expected["bias"] = params["bias"] + alpha * grads["bias"]
    run = Run(params, ROWS, start, errors, capacity=len(ROWS) + 1)
    after = run.backpropagate(steps_back=steps, alpha=alpha, decay=decay)
    for name in reference.PARAMETERS:
        np.testing.assert_allclose(after[name], expected[name], rtol=1e-12, atol=1e-13, err_msg=name)


def test_an_empty_ring_changes_nothing_but_clears_the_errors():
    params, start, errors = random_params(9), start_state(9), output_errors(3, 9)
    run = Run(params, ROWS[:3], start, errors, capacity=4)
    run.counters[RING_FILL] = 0  # as after a sentence end of an independent model
    after = run.backpropagate(steps_back=3, alpha=0.5)
    for name in reference.PARAMETERS:
        np.testing.assert_array_equal(after[name], params[name])
    assert not run.ring_error.any()

"""The optimisers and gradient clipping (rnnlmpy/kernels/optimizers.py) against the NumPy reference, their
restored state's checks, and each optimiser minimising a small convex loss."""

import numpy as np
import pytest

import reference_optim as reference
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels.optimizers import (OPTIMIZERS, STEP_KEY, Optimizer, clip_by_global_norm, clip_factor,
                                        global_norm)

SHAPES = {"input_weights": (7, 3), "recurrent": (2, 2, 4, 3), "gate_bias": (8,), "output_weights": (0, 3)}


def random_arrays(seed, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    return {key: rng.normal(0, scale, shape).astype(dtype) for key, shape in SHAPES.items()}


@pytest.mark.parametrize("decay", [0.0, 0.03])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimiser_follows_the_reference_over_several_steps_float64(name, decay):
    weights = random_arrays(0)
    expected = {key: value.copy() for key, value in weights.items()}
    states = {key: {} for key in SHAPES}
    optimizer = Optimizer(name, weights, decay=decay)
    for t, alpha in enumerate([0.1, 0.1, 0.05, 0.2, 0.05, 0.025], start=1):  # the rate changes, as halving does
        grads = random_arrays(10 + t)
        optimizer.step(weights, grads, alpha)
        for key in SHAPES:
            reference.step(name, expected[key], grads[key], states[key], alpha, decay, t)
    for key in SHAPES:
        np.testing.assert_allclose(weights[key], expected[key], rtol=1e-12, atol=1e-14)
        for short, slot in reference.SLOTS[name].items():
            np.testing.assert_allclose(optimizer.state[f"{slot}.{key}"], states[key][short], rtol=1e-12,
                                       atol=1e-14)
    assert set(optimizer.state) == ({f"{slot}.{key}" for slot in reference.SLOTS[name].values() for key in SHAPES}
                                    | ({STEP_KEY} if name == "adam" else set()))
    assert optimizer.steps == (6 if name == "adam" else 0)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_float32_model_steps_in_float32_close_to_the_float64_reference(name):
    weights = random_arrays(1, np.float32)
    expected = {key: value.astype(np.float64) for key, value in weights.items()}
    states = {key: {} for key in SHAPES}
    optimizer = Optimizer(name, weights, decay=0.01)
    for t in range(1, 5):
        grads = random_arrays(20 + t, np.float32)
        optimizer.step(weights, grads, 0.05)
        for key in SHAPES:
            reference.step(name, expected[key], grads[key].astype(np.float64), states[key], 0.05, 0.01, t)
    for key in SHAPES:
        assert weights[key].dtype == np.float32
        np.testing.assert_allclose(weights[key], expected[key], rtol=2e-5, atol=2e-6)
        for slot in reference.SLOTS[name].values():
            assert optimizer.state[f"{slot}.{key}"].dtype == np.float32


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimiser_minimises_a_convex_quadratic(name):
    """f(w) = sum(a (w - target)^2) / 2 with curvatures a from 0.5 to 4: 300 steps bring f below 1% of its start."""
    rng = np.random.default_rng(3)
    target, curvature = rng.normal(0, 1, 50), rng.uniform(0.5, 4.0, 50)
    weights = {"w": np.zeros(50)}
    alpha = {"sgd": 0.2, "momentum": 0.05, "adagrad": 0.5, "rmsprop": 0.01, "adam": 0.05}[name]

    def loss():
        return 0.5 * float(np.sum(curvature * (weights["w"] - target) ** 2))

    start = loss()
    optimizer = Optimizer(name, weights)
    for _ in range(300):
        optimizer.step(weights, {"w": curvature * (weights["w"] - target)}, alpha)
    assert loss() < 0.01 * start


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_norm", [0.5, 1e6, 0.0])
def test_clipping_by_the_global_norm_matches_the_reference(max_norm, dtype):
    grads = random_arrays(4, dtype)
    expected = [value.copy() for value in grads.values()]
    expected_norm = reference.clip(expected, max_norm)
    norm = clip_by_global_norm(grads, max_norm)
    assert norm == pytest.approx(expected_norm, rel=1e-12)
    for got, want in zip(grads.values(), expected):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-13)
    if max_norm == 0.5:
        assert clip_by_global_norm(grads, 0.0) == pytest.approx(0.5, rel=1e-6)


def test_clipping_a_list_and_rows_of_a_sparse_gradient_equals_clipping_it_dense():
    rng = np.random.default_rng(5)
    sparse = np.zeros((9, 4))
    rows = np.array([7, 2, 5], dtype=np.int32)
    sparse[rows] = rng.normal(0, 1, (3, 4))
    other = rng.normal(0, 1, 6)
    dense_grads = [sparse.copy(), other.copy()]
    dense_norm = clip_by_global_norm(dense_grads, 1.0)
    grads = {"input_weights": sparse, "gate_bias": other}
    norm = clip_by_global_norm(grads, 1.0, rows={"input_weights": rows})
    assert norm == pytest.approx(dense_norm, rel=1e-14) and norm > 1.0
    np.testing.assert_array_equal(grads["input_weights"], dense_grads[0])
    np.testing.assert_array_equal(grads["gate_bias"], dense_grads[1])


def test_a_non_finite_norm_leaves_the_gradients_as_they_are():
    grads = random_arrays(6)
    grads["gate_bias"][3] = np.inf
    before = {key: value.copy() for key, value in grads.items()}
    assert clip_by_global_norm(grads, 1.0) == np.inf
    for key in grads:
        np.testing.assert_array_equal(grads[key], before[key])


def test_sgd_on_the_rows_a_window_used_equals_the_dense_update_exactly():
    rng = np.random.default_rng(7)
    weights = {"input_weights": rng.normal(0, 1, (10, 5)).astype(np.float32)}
    dense = {"input_weights": weights["input_weights"].copy()}
    grad = np.zeros((10, 5), dtype=np.float32)
    rows = np.array([4, 0, 9], dtype=np.int64)
    grad[rows] = rng.normal(0, 1, (3, 5))
    Optimizer("sgd", weights).step(weights, {"input_weights": grad}, 0.7, rows={"input_weights": rows})
    Optimizer("sgd", dense).step(dense, {"input_weights": grad}, 0.7)
    np.testing.assert_array_equal(weights["input_weights"], dense["input_weights"])
    decayed = {"input_weights": dense["input_weights"].copy()}
    reference_weights = decayed["input_weights"].copy()
    Optimizer("sgd", decayed, decay=0.1).step(decayed, {"input_weights": grad}, 0.7, rows={"input_weights": rows})
    reference.step("sgd", reference_weights, grad, {}, 0.7, 0.1, 1)  # decay reaches the unused rows too
    np.testing.assert_allclose(decayed["input_weights"], reference_weights, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_on_the_rows_a_window_used_equals_the_dense_update_exactly(dtype):
    rng = np.random.default_rng(17)
    sparse = {"input_weights": rng.normal(0, 1, (12, 5)).astype(dtype)}
    dense = {"input_weights": sparse["input_weights"].copy()}
    sparse_rule, dense_rule = Optimizer("adagrad", sparse), Optimizer("adagrad", dense)
    for step in range(4):  # rows used in one window and not the next keep their sums
        rows = np.sort(rng.choice(12, size=4, replace=False)).astype(np.int64)
        grad = np.zeros((12, 5), dtype=dtype)
        grad[rows] = rng.normal(0, 2, (4, 5))
        sparse_rule.step(sparse, {"input_weights": grad}, 0.3, rows={"input_weights": rows}, grad_scale=0.8)
        dense_rule.step(dense, {"input_weights": grad}, 0.3, grad_scale=0.8)
    np.testing.assert_array_equal(sparse["input_weights"], dense["input_weights"])
    np.testing.assert_array_equal(sparse_rule.state["sum.input_weights"], dense_rule.state["sum.input_weights"])
    assert np.count_nonzero(dense_rule.state["sum.input_weights"].any(axis=1)) < 12  # some rows never used


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_restored_state_resumes_exactly(name):
    weights = random_arrays(8)
    first = Optimizer(name, weights, decay=0.01)
    for t in range(3):
        first.step(weights, random_arrays(30 + t), 0.1)
    saved_weights = {key: value.copy() for key, value in weights.items()}
    saved_state = {key: value.copy() for key, value in first.state.items()}
    second_weights = {key: value.copy() for key, value in saved_weights.items()}
    second = Optimizer(name, second_weights, decay=0.01)
    second.load_state(saved_state)
    for t in range(3, 6):
        grads = random_arrays(30 + t)
        first.step(weights, grads, 0.1)
        second.step(second_weights, {key: value.copy() for key, value in grads.items()}, 0.1)
    for key in SHAPES:
        np.testing.assert_array_equal(weights[key], second_weights[key])
    for key in first.state:
        np.testing.assert_array_equal(first.state[key], second.state[key])
        assert not np.shares_memory(second.state[key], saved_state[key])


def corrupt(state, case):
    """A copy of an adam state with one fault, and the words the message must hold."""
    state = {key: value.copy() for key, value in state.items()}
    if case == "missing":
        del state["first_moment.recurrent"]
        return state, "lacks first_moment.recurrent"
    if case == "extra":
        state["velocity.recurrent"] = state["first_moment.recurrent"]
        return state, "unexpected velocity.recurrent"
    if case == "shape":
        state["first_moment.recurrent"] = state["first_moment.recurrent"][:1]
        return state, "first_moment.recurrent is float64 (1, 2, 4, 3)"
    if case == "dtype":
        state["second_moment.gate_bias"] = state["second_moment.gate_bias"].astype(np.float32)
        return state, "second_moment.gate_bias is float32"
    if case == "nan":
        state["first_moment.input_weights"][2, 1] = np.nan
        return state, "not finite"
    if case == "negative":
        state["second_moment.input_weights"][0, 0] = -1.0
        return state, "negative sums of squares"
    if case == "step":
        state[STEP_KEY] = np.array([-3], dtype=np.int64)
        return state, "step count -3 is negative"
    if case == "step-dtype":
        state[STEP_KEY] = np.array([3.0])
        return state, "step is float64"
    raise ValueError(case)


@pytest.mark.parametrize("case", ["missing", "extra", "shape", "dtype", "nan", "negative", "step", "step-dtype"])
def test_a_restored_state_is_checked_before_any_kernel_reads_it(case):
    weights = random_arrays(9)
    optimizer = Optimizer("adam", weights)
    optimizer.step(weights, random_arrays(40), 0.01)
    before = {key: value.copy() for key, value in optimizer.state.items()}
    bad, words = corrupt(before, case)
    with pytest.raises(RnnlmpyError) as caught:
        optimizer.load_state(bad, source="m.checkpoint")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("m.checkpoint: ") and words in message
    for key in before:  # unchanged
        np.testing.assert_array_equal(optimizer.state[key], before[key])


def test_rmsprop_rejects_a_negative_average_and_momentum_accepts_a_negative_velocity():
    weights = random_arrays(10)
    rmsprop = Optimizer("rmsprop", weights)
    state = {key: value.copy() for key, value in rmsprop.state.items()}
    state["square_average.gate_bias"][0] = -0.5
    with pytest.raises(RnnlmpyError, match="negative"):
        rmsprop.load_state(state)
    momentum = Optimizer("momentum", weights)
    state = {key: -np.ones_like(value) for key, value in momentum.state.items()}
    momentum.load_state(state)
    np.testing.assert_array_equal(momentum.state["velocity.gate_bias"], -1.0)


def test_an_unknown_optimiser_or_a_bad_decay_is_one_line():
    with pytest.raises(RnnlmpyError, match="unknown optimizer 'adamw'; choose one of sgd, momentum, adagrad"):
        Optimizer("adamw", random_arrays(0))
    with pytest.raises(RnnlmpyError, match="weight decay"):
        Optimizer("sgd", random_arrays(0), decay=float("nan"))


def test_rows_outside_the_array_are_refused_before_a_kernel_writes_there():
    weights = {"input_weights": np.zeros((5, 2))}
    grads = {"input_weights": np.ones((5, 2))}
    for rows in (np.array([0, 5]), np.array([-1]), np.array([[1]]), np.array([1.0])):
        with pytest.raises(ValueError, match="rows must"):
            Optimizer("sgd", weights).step(weights, grads, 0.1, rows={"input_weights": rows})
        with pytest.raises(ValueError, match="rows must"):
            clip_by_global_norm(grads, 1.0, rows={"input_weights": rows})
    assert not weights["input_weights"].any() and np.all(grads["input_weights"] == 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_clipping_fused_into_the_step_gives_the_same_weights_to_the_bit(name, dtype):
    separate, fused = random_arrays(12, dtype), random_arrays(12, dtype)
    first, second = Optimizer(name, separate, decay=0.01), Optimizer(name, fused, decay=0.01)
    for t in range(4):
        grads = random_arrays(50 + t, dtype, scale=3.0)
        kept = {key: value.copy() for key, value in grads.items()}
        norm = global_norm(grads)
        factor = clip_factor(norm, 2.0)
        assert factor < 1.0
        second.step(fused, grads, 0.05, grad_scale=factor)
        for key in grads:  # only read
            np.testing.assert_array_equal(grads[key], kept[key])
        assert clip_by_global_norm(grads, 2.0) == norm
        first.step(separate, grads, 0.05)
    for key in SHAPES:
        np.testing.assert_array_equal(fused[key], separate[key])
    for key in first.state:
        np.testing.assert_array_equal(second.state[key], first.state[key])


def test_fused_clipping_on_the_rows_a_window_used_equals_the_dense_step():
    rng = np.random.default_rng(13)
    grad = np.zeros((10, 4), dtype=np.float32)
    rows = np.array([1, 8, 3], dtype=np.int32)
    grad[rows] = rng.normal(0, 5, (3, 4))
    sparse, dense = {"input_weights": np.ones((10, 4), np.float32)}, {"input_weights": np.ones((10, 4), np.float32)}
    factor = clip_factor(global_norm({"input_weights": grad}, rows={"input_weights": rows}), 1.5)
    assert factor == clip_factor(global_norm([grad]), 1.5) < 1.0
    Optimizer("sgd", sparse).step(sparse, {"input_weights": grad}, 0.5, rows={"input_weights": rows},
                                  grad_scale=factor)
    Optimizer("sgd", dense).step(dense, {"input_weights": grad}, 0.5, grad_scale=factor)
    np.testing.assert_array_equal(sparse["input_weights"], dense["input_weights"])


@pytest.mark.parametrize("norm, max_norm, factor", [(10.0, 5.0, 0.5), (4.0, 5.0, 1.0), (10.0, 0.0, 1.0),
                                                    (10.0, None, 1.0), (np.inf, 5.0, 1.0), (np.nan, 5.0, 1.0)])
def test_the_clip_factor(norm, max_norm, factor):
    assert clip_factor(norm, max_norm) == factor


def test_weights_of_another_dtype_are_a_programming_error():
    with pytest.raises(ValueError, match="float32 or float64"):
        Optimizer("adam", {"input_weights": np.zeros((2, 2), dtype=np.int32)})


def test_gradients_that_do_not_match_or_are_not_contiguous_are_a_programming_error():
    weights = random_arrays(14)
    optimizer = Optimizer("momentum", weights)
    grads = random_arrays(15)
    grads["recurrent"] = grads["recurrent"][:, :1].copy()
    with pytest.raises(ValueError, match="recurrent: weight float64 \\(2, 2, 4, 3\\) and gradient float64"):
        optimizer.step(weights, grads, 0.1)
    strided = np.zeros((7, 6))[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        clip_by_global_norm([strided], 1.0)

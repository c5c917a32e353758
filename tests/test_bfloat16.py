"""bfloat16 products (``kernels.bfloat16``, ``kernels.softmax_products``) and ``-product-precision``: the packing
bit for bit, the products against the NumPy reference, the full softmax's step against its float32 step, and the
setting's checks."""

from types import SimpleNamespace

import numpy as np
import pytest
from numba import njit

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels import bfloat16, softmax_products, window_elman, window_gru, window_lstm, window_softmax
from rnnlmpy.kernels import layer_products as lp
from rnnlmpy.kernels.precision import BFLOAT16, FLOAT32
from rnnlmpy.rnnlm import RnnlmConfig, deep

needs_bf16 = pytest.mark.skipif(not bfloat16.supported(), reason="this CPU has no AVX-512 BF16 instructions")


def bits_of(values) -> np.ndarray:
    """The NumPy reference of the rounding: each float32's nearest bfloat16 (ties to even), as uint32 bits."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint32)


def test_rounding_is_to_nearest_with_ties_to_even():
    values = np.array([1.0, -2.5, 1e-30, 3.0e38], dtype=np.float32)
    bits = values.view(np.uint32)
    # ties: half-way between two bfloat16 numbers (low half 0x8000) go to the even one
    tie_down, tie_up = np.uint32(0x3F808000), np.uint32(0x3F818000)  # 1.0039..: even 0x3F80; 1.0117..: even 0x3F82
    above = np.uint32(0x3F808001)
    cases = np.concatenate([bits, np.array([tie_down, tie_up, above], dtype=np.uint32)]).view(np.float32)
    out = np.empty((1, (cases.size + 1) // 2), dtype=np.uint32)
    bfloat16.pair_columns(cases.reshape(1, -1), out)
    halves = np.stack([out & 0xFFFF, out >> 16], axis=-1).reshape(-1)[:cases.size]
    np.testing.assert_array_equal(halves, bits_of(cases))
    assert list(halves[-3:]) == [0x3F80, 0x3F82, 0x3F81]
    assert halves[0] == 0x3F80 and halves[1] == 0xC020  # 1.0 and -2.5 are exact


@pytest.mark.parametrize("rows, columns", [(1, 1), (5, 7), (6, 16), (13, 40)])
def test_packing_matches_the_reference_and_pads_with_zeros(rows, columns):
    source = np.random.default_rng(rows).standard_normal((rows, columns)).astype(np.float32)
    expected = bits_of(source)
    row_pairs = np.full(bfloat16.row_pairs_shape(rows, columns), 0xDEAD, dtype=np.uint32)
    bfloat16.pair_columns(source, row_pairs)
    padded_columns = np.zeros((rows, 2 * row_pairs.shape[1]), dtype=np.uint32)
    padded_columns[:, :columns] = expected
    np.testing.assert_array_equal(row_pairs[:rows], padded_columns[:, 0::2] | (padded_columns[:, 1::2] << 16))
    assert row_pairs.shape[0] % bfloat16.TILE_ROWS == 0 and not row_pairs[rows:].any()

    column_pairs = np.full(bfloat16.column_pairs_shape(rows, columns), 0xDEAD, dtype=np.uint32)
    bfloat16.pair_rows(source, column_pairs)
    padded_rows = np.zeros((2 * column_pairs.shape[0], column_pairs.shape[1]), dtype=np.uint32)
    padded_rows[:rows, :columns] = expected
    np.testing.assert_array_equal(column_pairs, padded_rows[0::2] | (padded_rows[1::2] << 16))
    assert column_pairs.shape[1] % bfloat16.LANES == 0



def packed(a: np.ndarray, b: np.ndarray):
    a_pairs = np.empty(bfloat16.row_pairs_shape(*a.shape), dtype=np.uint32)
    b_pairs = np.empty(bfloat16.column_pairs_shape(*b.shape), dtype=np.uint32)
    bfloat16.pair_columns(a, a_pairs)
    bfloat16.pair_rows(b, b_pairs)
    return a_pairs, b_pairs


@needs_bf16
@pytest.mark.parametrize("rows, inner, columns", [(1, 1, 1), (6, 2, 64), (7, 3, 65), (13, 9, 200), (20, 601, 37),
                                                  (400, 200, 80)])
def test_products_match_the_numpy_reference(rows, inner, columns):
    """Whole and edge tiles, wide and narrow, an odd inner size, and more pairs than one block (summed)."""
    rng = np.random.default_rng(rows + inner)
    a = rng.standard_normal((rows, inner)).astype(np.float32)
    b = rng.standard_normal((inner, columns)).astype(np.float32)
    a_pairs, b_pairs = packed(a, b)
    expected = bfloat16.reference_product(a, b)
    tolerance = 1e-6 * np.sqrt(inner) * np.abs(expected).max()
    out = np.full((rows, columns), np.nan, dtype=np.float32)
    bfloat16.product(a_pairs, b_pairs, out)
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance)
    out_t = np.full((columns, rows), np.nan, dtype=np.float32)
    bfloat16.product_transposed(a_pairs, b_pairs, out_t)
    np.testing.assert_allclose(out_t, expected.T, rtol=0, atol=tolerance)
    # the rounding is what makes it differ from float32: the reference of unrounded inputs is further away
    if inner > 8:
        assert np.abs(out - a.astype(np.float64) @ b).max() > 10 * np.abs(out - expected).max()


@needs_bf16
def test_products_write_into_rows_of_a_larger_array():
    """``out`` may be a slice of rows of a larger array (a vocabulary range's rows of the gradient)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((9, 10)).astype(np.float32)
    b = rng.standard_normal((10, 20)).astype(np.float32)
    a_pairs, b_pairs = packed(a, b)
    whole = np.zeros((30, 9), dtype=np.float32)
    bfloat16.product_transposed(a_pairs, b_pairs, whole[5:25])
    np.testing.assert_allclose(whole[5:25], bfloat16.reference_product(a, b).T, rtol=0, atol=1e-4)
    assert not whole[:5].any() and not whole[25:].any()


def softmax_step(products, hidden, words, bias, targets, weights, first_word=0):
    """Both phases of a full softmax's training step on one vocabulary range, the driver's normalisation between."""
    rows = hidden.shape[0]
    layer = window_softmax.SoftmaxLayer(words, bias)
    block = np.empty((rows, words.shape[0]), dtype=np.float32)
    row_max, row_sum, target_logits = np.zeros(rows), np.zeros(rows), np.zeros(rows)
    window_softmax.part_exponentials(layer, first_word, hidden, targets, weights, block, row_max, row_sum,
                                     target_logits, products)
    factors = 0.5 * weights / np.where(weights != 0, row_sum, 1.0)
    grads = window_softmax.SoftmaxGrads(np.full_like(words, np.nan), np.full_like(bias, np.nan))
    grad_hidden = np.full_like(hidden, np.nan)
    window_softmax.part_gradients(layer, first_word, hidden, targets, weights, 0.5, block, factors, grad_hidden,
                                  grads, products)
    log_p = target_logits - row_max - np.log(np.where(weights != 0, row_sum, 1.0))
    return log_p, grads, grad_hidden


@needs_bf16
def test_the_softmax_step_with_bfloat16_products_is_its_float32_step_rounded():
    rng = np.random.default_rng(5)
    rows, size, words = 37, 30, 101
    hidden = rng.uniform(-1, 1, (rows, size)).astype(np.float32)
    weights_rows = rng.uniform(-0.5, 0.5, (words, size)).astype(np.float32)
    bias = rng.uniform(-0.3, 0.3, words).astype(np.float32)
    targets = rng.integers(0, words, rows).astype(np.int32)
    weights = np.ones(rows, dtype=np.float32)
    weights[-3:] = 0  # padded rows
    exact = softmax_step(FLOAT32, hidden, weights_rows, bias, targets, weights)
    products = softmax_products.bfloat16_products(rows, words, size)
    rounded = softmax_step(products, hidden, weights_rows, bias, targets, weights)
    scored = weights != 0
    np.testing.assert_allclose(rounded[0][scored], exact[0][scored], rtol=0, atol=0.05)
    for got, want in ((rounded[1].weights, exact[1].weights), (rounded[2], exact[2])):
        error = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert 1e-5 < error < 0.02  # rounded (not the float32 result), but only by bfloat16's precision
    np.testing.assert_array_equal(rounded[2][~scored], 0)


def bf16_model(layers=1, hidden=16, words=41, seed=3):
    config = SimpleNamespace(activation="lstm", hidden_size=hidden, layers=layers, dropout=0.0, tie_weights=False,
                             dtype="float32", rand_seed=seed, product_precision="bfloat16")
    arrays = deep.initial_weights(config, words, 1, np.random.default_rng(seed))
    return SimpleNamespace(config=config, vocabulary=SimpleNamespace(size=words, class_count=1), **arrays)


def window_of(steps=5, streams=4, words=41, seed=2):
    rng = np.random.default_rng(seed)
    return deep.Window(inputs=rng.integers(0, words, (steps, streams)).astype(np.int32),
                       targets=rng.integers(0, words, (steps, streams)).astype(np.int32),
                       resets=np.zeros((steps, streams), dtype=bool), weights=np.ones((steps, streams)))


def trained(model, threads):
    grads = {name: np.full_like(getattr(model, name), np.nan) for name in deep.GRADIENT_NAMES}
    state = np.zeros((4, deep.model_shape(model).state_size), dtype=np.float32)
    log10_sum, scored = deep.train_window(model, window_of(), state, grads, dropout_seed=1, threads=threads)
    return log10_sum, scored, state, grads


@needs_bf16
@pytest.mark.parametrize("threads", [1, 2])
def test_a_bfloat16_window_is_close_to_float32_and_repeats_bit_for_bit(threads):
    model = bf16_model()
    first, again = trained(model, threads), trained(model, threads)
    for name, array in first[3].items():
        np.testing.assert_array_equal(again[3][name], array, err_msg=name)
    model.config.product_precision = "float32"
    exact = trained(model, threads)
    assert first[1] == exact[1] == 20
    assert first[0] == pytest.approx(exact[0], rel=1e-3)
    for name in ("output_weights", "recurrent", "input_weights"):
        error = np.linalg.norm(first[3][name] - exact[3][name]) / np.linalg.norm(exact[3][name])
        assert error < 0.03, name
    assert not np.array_equal(first[3]["output_weights"], exact[3]["output_weights"])


def test_a_cpu_without_avx512_bf16_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(bfloat16, "supported", lambda: False)
    with pytest.raises(RnnlmpyError, match="AVX-512 BF16"):
        trained(bf16_model(), threads=1)


@pytest.mark.parametrize("settings, message", [
    ({"class_count": 100, "batch": 20}, "full softmax"),
    ({"class_count": 1}, "batched engine"),  # per-word
    ({"class_count": 1, "batch": 20, "dtype": "float64"}, "float32 model"),
    ({"class_count": 1, "batch": 20, "output_layer": "hs"}, "full softmax"),
])
def test_bfloat16_products_outside_the_batched_full_softmax_are_refused(settings, message):
    config = RnnlmConfig(product_precision="bfloat16", **settings)
    with pytest.raises(RnnlmpyError, match=message):
        config.validate()


def test_an_unknown_product_precision_is_refused():
    with pytest.raises(RnnlmpyError, match="-product-precision must be one of float32, bfloat16"):
        RnnlmConfig(product_precision="float16", class_count=1, batch=20).validate()
    RnnlmConfig(product_precision="bfloat16", class_count=1, batch=20).validate()


# the faces of layer_products compile inside a kernel only (overloads): these call them
@njit
def gates_product(products, inputs, input_weights, gates):
    lp.gates_product(products, inputs, input_weights, gates)


@njit
def add_step(products, previous, recurrent, gates):
    lp.add_step(products, previous, lp.forward_operand(products, recurrent), np.empty_like(gates), gates)


@njit
def step_into(products, previous, recurrent, out):
    lp.step_into(products, previous, lp.forward_operand(products, recurrent), out)


@njit
def carry_step(products, step_grads, recurrent, carry):
    lp.step_into(products, step_grads, lp.carry_operand(products, recurrent), carry)


@njit
def add_error_product(products, errors, values, out):
    lp.add_error_product(products, errors, values, out)


@njit
def error_product(products, errors, weights, out):
    lp.error_product(products, errors, weights, out)


@needs_bf16
@pytest.mark.parametrize("products", [FLOAT32, BFLOAT16])
def test_every_layer_product_matches_the_numpy_reference(products):
    """Each of ``layer_products``' faces against the reference of its own formula (bfloat16: of the rounded
    inputs)."""
    rng = np.random.default_rng(8)
    rows, streams, size, gates = 27, 5, 18, 72  # N rows, B streams, H units, G*H gate rows
    inputs = rng.standard_normal((rows, size)).astype(np.float32)
    input_weights = rng.standard_normal((gates, size)).astype(np.float32)
    recurrent = rng.standard_normal((gates, size)).astype(np.float32)
    previous = rng.standard_normal((streams, size)).astype(np.float32)
    step_grads = rng.standard_normal((streams, gates)).astype(np.float32)
    errors = rng.standard_normal((rows, gates)).astype(np.float32)

    def reference(a, b):
        return bfloat16.reference_product(a, b) if products is BFLOAT16 else a.astype(np.float64) @ b

    def close(got, want):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())

    gates_out = np.full((rows, gates), np.nan, dtype=np.float32)
    gates_product(products, inputs, input_weights, gates_out)
    close(gates_out, reference(inputs, input_weights.T))
    start = rng.standard_normal((streams, gates)).astype(np.float32)
    added = start.copy()
    add_step(products, previous, recurrent, added)
    close(added, start + reference(previous, recurrent.T))
    written = np.full((streams, gates), np.nan, dtype=np.float32)
    step_into(products, previous, recurrent, written)
    close(written, reference(previous, recurrent.T))
    carry = np.full((streams, size), np.nan, dtype=np.float32)
    carry_step(products, step_grads, recurrent, carry)
    close(carry, reference(step_grads, recurrent))
    gradient = rng.standard_normal((gates, size)).astype(np.float32)
    expected = gradient + reference(errors.T, inputs)
    add_error_product(products, errors, inputs, gradient)
    close(gradient, expected)
    grad_inputs = np.full((rows, size), np.nan, dtype=np.float32)
    error_product(products, errors, input_weights, grad_inputs)
    close(grad_inputs, reference(errors, input_weights))


@needs_bf16
@pytest.mark.parametrize("hidden_type", ["lstm", "gru", "tanh"])
def test_cells_with_bfloat16_products_are_close_to_their_float32_selves(hidden_type):
    from rnnlmpy.kernels import window

    cell = {"lstm": window_lstm, "gru": window_gru, "tanh": window_elman}[hidden_type]
    rng = np.random.default_rng(4)
    steps, streams, size = 6, 3, 20
    gates = window.GATES[window.cell_name(hidden_type)] * size
    arrays = [rng.uniform(-0.3, 0.3, shape).astype(np.float32) for shape in ((gates, size), (gates, size), (gates,))]
    inputs = rng.uniform(-1, 1, (steps, streams, size)).astype(np.float32)
    resets = np.zeros((steps, streams), dtype=np.uint8)
    resets[3, 1] = 1
    states = window.STATES[window.cell_name(hidden_type)]
    state_in = rng.uniform(-0.5, 0.5, (streams, states, size)).astype(np.float32)
    upstream = rng.uniform(-1, 1, (steps, streams, size)).astype(np.float32)
    results = []
    for products in (FLOAT32, BFLOAT16):
        weights = window.weights_bundle(hidden_type, *arrays, products)
        outputs = np.empty_like(inputs)
        cache = window.window_cache(hidden_type, steps, streams, size, np.float32)
        state_out = np.empty_like(state_in)
        cell.forward(weights, inputs, resets, state_in, outputs, cache, state_out)
        grads = window.CellGrads(*(np.zeros_like(array) for array in arrays))
        grad_inputs = np.empty_like(inputs)
        cell.backward(weights, inputs, resets, cache, upstream, grad_inputs, grads)
        results.append([outputs, state_out, grad_inputs, *grads])
    for exact, rounded in zip(*results):
        error = np.linalg.norm(rounded - exact) / np.linalg.norm(exact)
        assert 1e-6 < error < 0.02


@needs_bf16
def test_a_bfloat16_model_trains_resumes_and_scores_on_a_cpu_without_it(tmp_path, capsys, monkeypatch):
    """The setting is stored; scoring, dynamic evaluation included, is float32 and needs no AVX-512 BF16;
    training on such a CPU is one line and exit 2."""
    from helpers import run_cli, write_text

    from rnnlmpy.rnnlm import load_model

    lines = ["a b c d", "b c d a", "c d a b", "d a b c"] * 10
    train, test = write_text(tmp_path / "train.txt", lines), write_text(tmp_path / "test.txt", lines[:4])
    model = str(tmp_path / "m")
    options = ["train", "-train", train, "-rnnlm", model, "-hidden-type", "lstm", "-hidden", "6", "-batch", "2",
               "-bptt", "3", "-class", "1", "-max-iter", "1", "-debug", "0"]
    code, _, err = run_cli([*options, "-product-precision", "bfloat16"], capsys)
    assert code == 0, err
    assert load_model(model).config.product_precision == "bfloat16"
    code, out, _ = run_cli(["info", "-rnnlm", model], capsys)
    assert "product precision bfloat16" in out

    monkeypatch.setattr(bfloat16, "supported", lambda: False)
    for extra in ([], ["-dynamic", "0.1"]):
        code, out, err = run_cli(["ppl", "-rnnlm", model, "-test", test, *extra], capsys)
        assert code in (0, None) and "PPL" in out, err
    code, _, err = run_cli([*options, "-product-precision", "bfloat16", "-force"], capsys)
    assert code == 2 and "AVX-512 BF16" in err and len(err.strip().splitlines()) == 1, err


@needs_bf16
def test_a_checkpoint_resumes_only_with_the_same_product_precision(tmp_path):
    from dataclasses import replace

    from helpers import write_text

    from rnnlmpy.rnnlm import train

    rng = np.random.default_rng(3)
    train_file = write_text(tmp_path / "train.txt", [" ".join(rng.choice(list("abcdef"), 8)) for _ in range(1500)])
    path = str(tmp_path / "m")
    config = RnnlmConfig(activation="lstm", hidden_size=6, batch=2, bptt=3, class_count=1,
                         product_precision="bfloat16")

    def crash(model):
        if model.training.position >= 10_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(train_file, path, None, config, anti_kasparek=10_000, debug=0, on_progress=crash)
    with pytest.raises(RnnlmpyError, match="other settings: product_precision bfloat16 \\(now float32\\)"):
        train(train_file, path, None, replace(config, product_precision="float32"), anti_kasparek=10_000, debug=0)
    resumed = train(train_file, path, None, config, anti_kasparek=10_000, debug=0, max_iter=1)
    assert resumed.config.product_precision == "bfloat16"


def test_a_numba_target_without_the_instructions_has_no_bfloat16_products(monkeypatch):
    """``NUMBA_CPU_NAME=generic`` (a portable kernel cache) compiles for a CPU without AVX-512 BF16."""
    from numba.core import config

    monkeypatch.setattr(config, "CPU_NAME", "generic")
    monkeypatch.setattr(config, "CPU_FEATURES", "")
    bfloat16.supported.cache_clear()
    try:
        assert not bfloat16.supported()
    finally:
        bfloat16.supported.cache_clear()

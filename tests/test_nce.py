"""NCE building blocks: the noise distribution, the alias table, the generator, the NCE step and exact scoring.

Kernels against ``reference_nce`` (slow, obvious NumPy): the step's updates are
alpha times finite-difference gradients of the reference loss.
"""

import math

import numpy as np
import pytest

import reference_nce as reference
from reference import numeric_gradient
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels import nce
from rnnlmpy.rnnlm.noise import DEFAULT_MIN_SHARE, LOG_FLOOR, alias_table, log_probabilities, noise_distribution

ZIPF = np.array([900, 400, 250, 120, 77, 40, 33, 20, 9, 5, 3, 1], dtype=np.int64)
NO_DIRECT = np.zeros(0)
NO_KEYS = np.zeros(20, dtype=np.int64)


# --- the noise distribution -------------------------------------------------------------------------------------

def test_noise_distribution_is_counts_to_the_power_normalised():
    np.testing.assert_allclose(noise_distribution(ZIPF), ZIPF / ZIPF.sum(), rtol=1e-15)
    powered = ZIPF ** 0.75
    np.testing.assert_allclose(noise_distribution(ZIPF, power=0.75), powered / powered.sum(), rtol=1e-14)
    np.testing.assert_allclose(noise_distribution(ZIPF, power=0.0), np.full(12, 1 / 12), rtol=1e-15)
    assert noise_distribution(ZIPF).dtype == np.float64


def test_count_zero_words_get_nothing_without_a_floor_and_a_tiny_share_with_one():
    counts = np.array([10, 0, 5, 0, 1])
    bare = noise_distribution(counts, min_share=0.0)
    np.testing.assert_array_equal(bare, [10 / 16, 0, 5 / 16, 0, 1 / 16])
    floored = noise_distribution(counts)  # faster-rnnlm's default floor: 5 cells of 1e8
    assert floored[1] == pytest.approx(DEFAULT_MIN_SHARE, rel=1e-9) and floored[3] == floored[1]
    assert floored.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(floored, bare, atol=1e-7)
    # the floor is additive smoothing: the rarest word gets exactly the floor, the others keep their differences
    share = noise_distribution(counts, min_share=0.05)
    assert share.min() == pytest.approx(0.05, rel=1e-12)
    np.testing.assert_allclose(np.diff(share) / np.diff(bare), np.diff(share)[0] / np.diff(bare)[0], rtol=1e-12)


def test_the_floor_changes_nothing_when_every_word_already_has_it():
    counts = np.arange(1, 1001)  # rarest share 1/500500 > 5e-8
    np.testing.assert_array_equal(noise_distribution(counts), noise_distribution(counts, min_share=0.0))


def test_impossible_noise_settings_are_clear_errors():
    with pytest.raises(RnnlmpyError, match="below 1/4"):
        noise_distribution([1, 2, 3, 4], min_share=0.25)
    with pytest.raises(RnnlmpyError, match="every word has count 0"):
        noise_distribution([0, 0, 0], min_share=0.0)
    with pytest.raises(ValueError):
        noise_distribution([1, -1])
    with pytest.raises(ValueError):
        noise_distribution([1, 2], power=-1)
    with pytest.raises(ValueError):
        alias_table([0.0, 0.0])


def test_log_probabilities_floor_zero_shares():
    logs = log_probabilities([0.5, 0.0, 0.5])
    np.testing.assert_array_equal(logs, [np.log(0.5), LOG_FLOOR, np.log(0.5)])
    assert np.all(np.isfinite(logs))


# --- the alias table ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("probabilities", [
    noise_distribution(ZIPF),
    noise_distribution(np.random.default_rng(3).zipf(1.3, 5000).clip(max=10**6), min_share=0.0),
    noise_distribution([0, 7, 0, 0, 1, 0, 0, 2], min_share=0.0),
    np.full(17, 1 / 17),
    np.array([1.0]),
    np.array([0.0, 0.0, 1.0, 0.0]),
    noise_distribution(np.r_[10**9, np.ones(999)]),  # one word holds almost everything
])
def test_the_alias_table_reproduces_the_distribution_exactly(probabilities):
    accept, alias = alias_table(probabilities)
    assert accept.dtype == np.float64 and alias.dtype == np.int32
    assert np.all((accept >= 0) & (accept <= 1)) and np.all((alias >= 0) & (alias < len(probabilities)))
    expected = reference.alias_probabilities(accept, alias)
    np.testing.assert_allclose(expected, probabilities, rtol=1e-9, atol=1e-12)
    assert np.all(expected[probabilities == 0] == 0)  # never drawn


def test_the_alias_table_is_linear_time_in_practice():
    """Ten times the words cost about ten times the CPU, never a hundred (a quadratic build). CPU time of this
    process, the best of three builds (the first may compile): the machine's load does not enter."""
    import time

    def build(size: int) -> tuple[float, np.ndarray, tuple]:
        probabilities = noise_distribution(np.random.default_rng(0).zipf(1.2, size).clip(max=10**7))
        best = math.inf
        for _ in range(3):
            started = time.process_time()
            table = alias_table(probabilities)
            best = min(best, time.process_time() - started)
        return best, probabilities, table

    small, _, _ = build(20_000)
    large, probabilities, (accept, alias) = build(200_000)
    assert large < 50 * max(small, 0.005), (small, large)
    np.testing.assert_allclose(reference.alias_probabilities(accept, alias), probabilities, rtol=1e-9, atol=1e-12)


def test_draws_follow_the_distribution():
    probabilities = noise_distribution([500, 300, 0, 120, 50, 20, 7, 2, 1, 0], min_share=0.0)
    accept, alias = alias_table(probabilities)
    draws_count = 400_000
    out = np.empty(draws_count, dtype=np.int32)
    nce.draw_noise(accept, alias, nce.seed_state(11), draws_count, out)
    observed = np.bincount(out, minlength=10)
    assert observed[2] == 0 and observed[9] == 0  # probability 0: never drawn
    positive = probabilities > 0
    expected = draws_count * probabilities[positive]
    chi_square = float(((observed[positive] - expected) ** 2 / expected).sum())
    freedom = positive.sum() - 1
    # a fixed seed makes this deterministic; the bound (mean + 12 standard deviations) holds for any seed
    # with overwhelming probability, so changing the generator or the seed cannot make it flake
    assert chi_square < freedom + 12 * np.sqrt(2 * freedom), chi_square


# --- the generator ------------------------------------------------------------------------------------------------

def test_the_generator_is_splitmix64():
    state = np.array([1234567], dtype=np.uint64)  # Vigna's reference outputs for this state
    assert [int(nce.next_random(state)) for _ in range(3)] == [
        6457827717110365317, 3203168211198807973, 9817491932198370423]


def test_same_seed_same_draws_different_seed_different_draws():
    accept, alias = alias_table(noise_distribution(ZIPF))

    def draws(state, count=200):
        out = np.empty(count, dtype=np.int32)
        nce.draw_noise(accept, alias, state, count, out)
        return out

    assert np.array_equal(draws(nce.seed_state(1)), draws(nce.seed_state(1)))
    assert not np.array_equal(draws(nce.seed_state(1)), draws(nce.seed_state(2)))
    assert not np.array_equal(nce.seed_state(0), nce.seed_state(1))
    # the state is the whole generator: stopping, copying it (a checkpoint) and going on changes nothing
    whole = draws(nce.seed_state(5), 300)
    state = nce.seed_state(5)
    first = draws(state, 100)
    saved = state.copy()
    np.testing.assert_array_equal(np.r_[first, draws(saved, 200)], whole)


def test_draw_noise_is_the_alias_rule_on_next_uniform():
    accept, alias = alias_table(noise_distribution(np.random.default_rng(1).integers(0, 50, 1000), min_share=0.0))
    out = np.empty(3000, dtype=np.int32)
    state = nce.seed_state(9)
    nce.draw_noise(accept, alias, state, 3000, out)
    again = nce.seed_state(9)
    expected = [reference.alias_draw(accept, alias, nce.next_uniform(again)) for _ in range(3000)]
    np.testing.assert_array_equal(out, expected)
    assert state[0] == again[0]  # the same numbers, the same state after


def test_uniforms_lie_in_the_unit_interval():
    state = nce.seed_state(-3)  # any int seeds
    nce.seed_state(2**70)
    values = np.array([nce.next_uniform(state) for _ in range(20_000)])
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.02


# --- the NCE step ---------------------------------------------------------------------------------------------

def problem(vocab=12, hidden_size=6, direct_size=0, usable=0, scale=0.5, seed=0, dtype=np.float64):
    """Random weights, hidden vector, direct weights and keys, and a noise distribution over ZIPF-like counts."""
    rng = np.random.default_rng(seed)
    weights = (rng.standard_normal((vocab, hidden_size)) * scale).astype(dtype)
    hidden = rng.random(hidden_size).astype(dtype)
    direct = (rng.standard_normal(direct_size) * 0.3).astype(dtype)
    keys = np.zeros(20, dtype=np.int64)
    if direct_size:
        keys[:usable] = rng.integers(0, direct_size, usable)
    counts = rng.integers(1, 1000, vocab)
    log_noise = np.log(noise_distribution(counts))
    return weights, hidden, direct, keys, log_noise


CASES = {
    # name: (problem kwargs, target, noise ids, lnz)
    "plain": (dict(), 3, [0, 1, 5, 7, 11], 9.0),
    "mid-range logits": (dict(scale=1.0), 4, [0, 2, 6, 8, 9, 10], 0.5),
    "repeats and the target as noise": (dict(), 2, [2, 0, 0, 5, 2, 0, 9], 1.0),
    "direct, wrapping and colliding": (dict(direct_size=10, usable=3), 6, [1, 6, 3, 3, 8, 11, 0], 2.0),
    "direct, sparse": (dict(direct_size=1000, usable=4), 0, [0, 4, 7], 3.0),
    "one noise word": (dict(direct_size=50, usable=1), 11, [10], 9.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_nce_step_is_alpha_times_the_finite_difference_gradient(case):
    kwargs, target, noise, lnz = CASES[case]
    weights, hidden, direct, keys, log_noise = problem(**kwargs)
    usable = kwargs.get("usable", 0)
    noise_ids = np.array(noise + [-99], dtype=np.int32)  # (an entry past noise_count is never read)
    count = len(noise)

    def loss():
        return reference.nce_loss(weights, direct, hidden, target, noise, log_noise, lnz, keys, usable)

    expected_loss = loss()
    row_gradient = numeric_gradient(loss, weights)
    direct_gradient = numeric_gradient(loss, direct)
    hidden_gradient = numeric_gradient(loss, hidden)

    alpha, direct_alpha = 0.1, 0.07
    new_weights, new_direct = weights.copy(), direct.copy()
    hidden_error = np.full(hidden.shape, 0.25)  # accumulates onto what is there
    returned = nce.nce_backward(new_weights, target, noise_ids, count, log_noise, lnz, hidden, hidden_error, alpha,
                                0.0, new_direct, keys, usable, direct_alpha, 0.0)
    assert returned == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose((new_weights - weights) / alpha, -row_gradient, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose((new_direct - direct) / direct_alpha, -direct_gradient, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(hidden_error - 0.25, -hidden_gradient, rtol=1e-5, atol=1e-9)
    untouched = np.setdiff1d(np.arange(weights.shape[0]), [target] + noise)
    np.testing.assert_array_equal(new_weights[untouched], weights[untouched])


def test_decay_shrinks_each_touched_row_and_weight_once():
    weights, hidden, direct, keys, log_noise = problem(direct_size=10_000, usable=2, seed=4)
    target, noise, lnz = 5, [1, 5, 1, 7], 2.0
    noise_ids = np.array(noise, dtype=np.int32)
    alpha, decay, direct_alpha, direct_decay = 0.1, 0.01, 0.05, 0.002
    plain_weights, plain_direct = weights.copy(), direct.copy()
    nce.nce_backward(plain_weights, target, noise_ids, 4, log_noise, lnz, hidden, np.zeros(6), alpha, 0.0,
                     plain_direct, keys, 2, direct_alpha, 0.0)
    decayed_weights, decayed_direct = weights.copy(), direct.copy()
    nce.nce_backward(decayed_weights, target, noise_ids, 4, log_noise, lnz, hidden, np.zeros(6), alpha, decay,
                     decayed_direct, keys, 2, direct_alpha, direct_decay)
    touched = [1, 5, 7]
    np.testing.assert_allclose(decayed_weights[touched], plain_weights[touched] - decay * weights[touched],
                               rtol=1e-13, atol=1e-15)
    untouched = np.setdiff1d(np.arange(12), touched)
    np.testing.assert_array_equal(decayed_weights[untouched], weights[untouched])
    indices = sorted({i for w in touched for i in reference.direct_indices(w, keys, 2, 10_000)})
    assert len(indices) == 6  # no collisions in this draw of keys
    np.testing.assert_allclose(decayed_direct[indices], plain_direct[indices] - direct_decay * direct[indices],
                               rtol=1e-13, atol=1e-15)
    others = np.setdiff1d(np.arange(10_000), indices)
    np.testing.assert_array_equal(decayed_direct[others], direct[others])


def test_nce_step_in_float32_follows_the_float64_one():
    weights, hidden, direct, keys, log_noise = problem(direct_size=40, usable=2, seed=7)
    noise_ids = np.array([0, 3, 3, 9], dtype=np.int32)
    results = {}
    for dtype in (np.float64, np.float32):
        w, d, h = weights.astype(dtype), direct.astype(dtype), hidden.astype(dtype)
        error = np.zeros(6, dtype=dtype)
        loss = nce.nce_backward(w, 1, noise_ids, 4, log_noise, 1.5, h, error, dtype(0.1), dtype(0.001), d, keys, 2,
                                dtype(0.1), dtype(0.0001))
        results[dtype] = (loss, w, d, error)
    for expected, got in zip(results[np.float64], results[np.float32]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_without_direct_weights_usable_orders_are_ignored():
    weights, hidden, _, keys, log_noise = problem(seed=2)
    keys[:3] = [5, 6, 7]
    noise_ids = np.array([1, 2], dtype=np.int32)
    first, second = weights.copy(), weights.copy()
    a = nce.nce_backward(first, 0, noise_ids, 2, log_noise, 9.0, hidden, np.zeros(6), 0.1, 0.0, NO_DIRECT, keys, 3,
                         0.1, 0.0)
    b = nce.nce_backward(second, 0, noise_ids, 2, log_noise, 9.0, hidden, np.zeros(6), 0.1, 0.0, NO_DIRECT, keys, 0,
                         0.1, 0.0)
    assert a == b
    np.testing.assert_array_equal(first, second)


def test_extreme_logits_stay_finite():
    weights, hidden, direct, keys, log_noise = problem(seed=1)
    weights[3] = 1e4  # target logit huge: error 0, loss 0
    weights[4] = -1e4
    noise_ids = np.array([4, 3], dtype=np.int32)
    hidden_error = np.zeros(6)
    loss = nce.nce_backward(weights, 3, noise_ids, 2, log_noise, 9.0, hidden, hidden_error, 0.1, 0.0, direct, keys,
                            0, 0.1, 0.0)
    assert np.isfinite(loss) and loss > 1e3  # the target drawn as noise scores huge: a huge noise loss
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(hidden_error))


# --- scoring ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("direct_size, usable", [(0, 0), (0, 3), (7, 3), (200, 2)])
@pytest.mark.parametrize("scratch_dtype", [np.float64, np.float32])
def test_full_log10_probability_is_the_dense_softmax(direct_size, usable, scratch_dtype):
    weights, hidden, direct, keys, _ = problem(vocab=40, hidden_size=8, direct_size=direct_size, usable=usable,
                                               scale=2.0, seed=9)
    scratch = np.empty(41, dtype=scratch_dtype)
    total = 0.0
    for target in range(40):
        got = nce.full_log10_probability(weights, hidden, target, direct, keys, usable, scratch)
        expected = reference.log10_softmax(weights, hidden, target, direct, keys, usable)
        assert got == pytest.approx(expected, rel=1e-12 if scratch_dtype == np.float64 else 1e-5, abs=1e-6)
        total += 10.0 ** got
    assert total == pytest.approx(1.0, abs=1e-5 if scratch_dtype == np.float32 else 1e-12)


def test_unnormalised_score_is_the_score_minus_lnz():
    weights, hidden, direct, keys, _ = problem(direct_size=30, usable=2, seed=5)
    for target in range(12):
        expected = (reference.scores(weights, hidden, direct, keys, 2)[target] - 9.0) / np.log(10)
        got = nce.unnormalised_log10_probability(weights, hidden, target, 9.0, direct, keys, 2)
        assert got == pytest.approx(expected, rel=1e-12)


# --- end to end ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("direct_size", [0, 64])
def test_repeated_steps_raise_the_targets_normalised_probability(direct_size):
    vocab, target = 30, 7
    weights, hidden, direct, keys, _ = problem(vocab=vocab, hidden_size=8, direct_size=direct_size,
                                               usable=2 if direct_size else 0, scale=0.1, seed=3)
    usable = 2 if direct_size else 0
    counts = np.random.default_rng(0).integers(1, 100, vocab)
    probabilities = noise_distribution(counts)
    accept, alias = alias_table(probabilities)
    log_noise = log_probabilities(probabilities)
    state = nce.seed_state(42)
    noise_ids = np.empty(10, dtype=np.int32)
    scratch = np.empty(vocab)
    before = nce.full_log10_probability(weights, hidden, target, direct, keys, usable, scratch)
    losses = []
    for _ in range(300):
        nce.draw_noise(accept, alias, state, 10, noise_ids)
        losses.append(nce.nce_backward(weights, target, noise_ids, 10, log_noise, 9.0, hidden, np.zeros(8), 0.1,
                                       0.0, direct, keys, usable, 0.1, 0.0))
    after = nce.full_log10_probability(weights, hidden, target, direct, keys, usable, scratch)
    assert before < np.log10(0.1) and after > np.log10(0.9), (before, after)
    assert np.mean(losses[-20:]) < np.mean(losses[:20])

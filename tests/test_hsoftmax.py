"""The Huffman tree and the hierarchical-softmax kernels against the slow NumPy reference and finite differences."""

import math
import time

import numpy as np
import pytest

import reference_hs as ref
from reference import numeric_gradient
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.kernels.hsoftmax import hs_backward, hs_distribution, hs_log10_probability
from rnnlmpy.rnnlm.huffman import build_huffman_tree

NO_DIRECT = np.zeros(0, dtype=np.float64)
NO_KEYS = np.zeros(4, dtype=np.int64)
COUNT_CASES = {
    "one word": [7],
    "two words": [3, 9],
    "three words": [0, 5, 5],
    "ties": [4, 4, 4, 4, 4, 4, 4],
    "zeros": [0, 0, 0, 10, 0, 3],
    "clrs": [45, 13, 12, 16, 9, 5],
    "zipf": list(1000 // np.arange(1, 40)),
    "random": list(np.random.default_rng(3).integers(0, 50, size=57)),
}


def zipf_counts(size, scale=10_000_000):
    return np.maximum(scale // np.arange(1, size + 1), 1).astype(np.int64)


# ---------------------------------------------------------------- the tree


@pytest.mark.parametrize("name", COUNT_CASES)
def test_tree_is_a_full_binary_tree_with_prefix_free_codes(name):
    counts = np.array(COUNT_CASES[name], dtype=np.int64)
    tree = build_huffman_tree(counts)
    size = len(counts)
    assert tree.size == size and tree.inner_count == size - 1
    assert tree.path_ptr.dtype == np.int64 and tree.path_ptr.shape == (size + 1,) and tree.path_ptr[0] == 0
    assert tree.path_nodes.dtype == np.int32 and tree.path_codes.dtype == np.int8
    assert tree.path_nodes.shape == tree.path_codes.shape == (tree.path_ptr[-1],)
    assert set(np.unique(tree.path_codes)) <= {0, 1}
    if size == 1:
        assert tree.path_ptr.tolist() == [0, 0]
        return
    assert np.all(tree.lengths >= 1)
    # a prefix of codes names one node and a node one prefix; every inner node is reached; the root is node 0
    node_of_prefix = {}
    for w in range(size):
        nodes, codes = tree.path(w)
        assert nodes[0] == 0
        for depth, node in enumerate(nodes):
            prefix = tuple(codes[:depth])
            assert node_of_prefix.setdefault(prefix, int(node)) == node
    assert sorted(node_of_prefix.values()) == list(range(size - 1))
    # prefix-free: no word's code starts another's, and the code is complete (Kraft sum exactly 1)
    codes = sorted(tuple(tree.path(w)[1]) for w in range(size))
    assert len(set(codes)) == size
    for shorter, longer in zip(codes, codes[1:]):  # a prefix sorts right before its extensions
        assert longer[:len(shorter)] != shorter
    assert sum(2.0 ** -len(code) for code in codes) == 1.0
    assert all(prefix in node_of_prefix for code in codes for prefix in [code[:-1]])


@pytest.mark.parametrize("name", COUNT_CASES)
def test_tree_cost_is_the_huffman_optimum(name):
    counts = np.array(COUNT_CASES[name], dtype=np.int64)
    tree = build_huffman_tree(counts)
    assert (counts * tree.lengths).sum() == ref.huffman_cost(counts)


def test_tree_cost_matches_brute_force_optimum_on_small_inputs():
    rng = np.random.default_rng(0)
    for size in range(1, 8):
        for _ in range(6):
            counts = rng.integers(0, 20, size=size)
            tree = build_huffman_tree(counts)
            assert (counts * tree.lengths).sum() == ref.optimal_cost(counts), counts


def test_classic_examples():
    # CLRS 16.3: a..f with frequencies 45, 13, 12, 16, 9, 5 -> code lengths 1, 3, 3, 3, 4, 4, cost 224
    tree = build_huffman_tree(np.array([45, 13, 12, 16, 9, 5]))
    assert tree.lengths.tolist() == [1, 3, 3, 3, 4, 4]
    # dyadic probabilities are coded exactly at -log2 p
    tree = build_huffman_tree(np.array([8, 4, 2, 1, 1]))
    assert tree.lengths.tolist() == [1, 2, 3, 4, 4]
    # equal counts over 2^k words: every path has length k
    assert set(build_huffman_tree(np.ones(64, dtype=np.int64)).lengths.tolist()) == {6}


def test_tree_is_deterministic_and_breaks_ties_by_index():
    counts = np.array([5, 3, 3, 3, 5, 1, 1, 3], dtype=np.int64)
    first, second = build_huffman_tree(counts), build_huffman_tree(counts.copy())
    for field in ("path_ptr", "path_nodes", "path_codes"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    # two equal lightest words: the lower index is taken first and goes left
    tree = build_huffman_tree(np.array([9, 2, 2]))
    assert tree.path(1)[1][-1] == 0 and tree.path(2)[1][-1] == 1
    # float counts give the same tree as the equal integer counts
    floats = build_huffman_tree(counts.astype(np.float64))
    np.testing.assert_array_equal(floats.path_nodes, first.path_nodes)


def test_average_path_length_is_near_log2_v_and_the_entropy():
    size = 50_000
    uniform = build_huffman_tree(np.ones(size, dtype=np.int64))
    assert math.floor(math.log2(size)) <= uniform.average_path_length(np.ones(size)) <= math.ceil(math.log2(size))
    counts = zipf_counts(size)
    p = counts / counts.sum()
    entropy = float(-(p * np.log2(p)).sum())
    average = build_huffman_tree(counts).average_path_length(counts)
    assert entropy <= average < entropy + 1


def test_a_million_words_build_in_n_log_n():
    """Ten times the words cost 12-20 times the CPU here (n log n, and caches), never a hundred (n squared). CPU time of
    this process, not wall time: the machine's load does not enter; the best of three builds of each size."""
    def cpu_seconds(size: int) -> float:
        counts = zipf_counts(size)
        best = math.inf
        for _ in range(3):
            start = time.process_time()
            tree = build_huffman_tree(counts)
            best = min(best, time.process_time() - start)
        assert tree.size == size and tree.max_depth < 40
        return best

    small, large = cpu_seconds(100_000), cpu_seconds(1_000_000)
    assert large < 60 * max(small, 0.01), (small, large)


@pytest.mark.parametrize("counts", [[], [[1, 2]], [1, -1], [1.0, float("nan")], ["a", "b"]])
def test_bad_counts_are_refused(counts):
    with pytest.raises(RnnlmpyError):
        build_huffman_tree(np.array(counts))


# ---------------------------------------------------------------- the kernels


def random_setup(size=9, hidden_size=5, dtype="float64", seed=0, direct_size=0, scale=0.8):
    rng = np.random.default_rng(seed)
    tree = build_huffman_tree(rng.integers(1, 30, size=size))
    node_weights = (rng.standard_normal((max(size - 1, 0), hidden_size)) * scale).astype(dtype)
    hidden = rng.uniform(-1, 1, size=hidden_size).astype(dtype)
    direct = (rng.standard_normal(direct_size) * 0.5).astype(dtype)
    return tree, node_weights, hidden, direct


def direct_cases(direct):
    """(keys, usable) pairs: none, one order, three orders (the fourth key not usable)."""
    if direct.shape[0] == 0:
        return [(NO_KEYS, 0)]
    return [(NO_KEYS, 0), (np.array([5, 0, 0, 0], dtype=np.int64), 1),
            (np.array([3, 20, 40, 60], dtype=np.int64), 3)]


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("direct_size", [0, 64])
def test_probability_matches_reference(dtype, tolerance, direct_size):
    tree, node_weights, hidden, direct = random_setup(size=23, dtype=dtype, direct_size=direct_size, seed=1)
    for keys, usable in direct_cases(direct):
        for w in range(tree.size):
            nodes, codes = tree.path(w)
            got = hs_log10_probability(node_weights, tree.path_nodes, tree.path_codes, tree.path_ptr[w],
                                       tree.path_ptr[w + 1], hidden, direct, keys, usable)
            expected = ref.probability(node_weights, nodes, codes, hidden, direct, keys, usable)
            assert 10.0 ** got == pytest.approx(expected, rel=tolerance, abs=tolerance)


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("direct_size", [0, 64])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_distribution_sums_to_one_and_matches_each_word(dtype, tolerance, direct_size, temperature):
    tree, node_weights, hidden, direct = random_setup(size=31, dtype=dtype, direct_size=direct_size, seed=2)
    for keys, usable in direct_cases(direct):
        out = np.zeros(tree.size, dtype=dtype)
        hs_distribution(node_weights, tree.path_ptr, tree.path_nodes, tree.path_codes, hidden, direct, keys, usable,
                        temperature, out)
        assert out.sum() == pytest.approx(1.0, abs=tolerance)
        expected = ref.distribution(node_weights, tree, hidden, direct, keys, usable, temperature)
        np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)
        if temperature == 1.0:
            each = [10.0 ** hs_log10_probability(node_weights, tree.path_nodes, tree.path_codes, tree.path_ptr[w],
                                                 tree.path_ptr[w + 1], hidden, direct, keys, usable)
                    for w in range(tree.size)]
            np.testing.assert_allclose(out, each, rtol=tolerance, atol=tolerance)


def test_one_and_two_word_vocabularies():
    tree, node_weights, hidden, _ = random_setup(size=1)
    assert node_weights.shape == (0, 5)
    assert hs_log10_probability(node_weights, tree.path_nodes, tree.path_codes, 0, 0, hidden, NO_DIRECT, NO_KEYS,
                                0) == 0.0
    out = np.zeros(1)
    hs_distribution(node_weights, tree.path_ptr, tree.path_nodes, tree.path_codes, hidden, NO_DIRECT, NO_KEYS, 0,
                    1.0, out)
    assert out.tolist() == [1.0]
    hidden_error = np.zeros(5)
    assert hs_backward(node_weights, tree.path_nodes, tree.path_codes, 0, 0, hidden, hidden_error, 0.1, 0.0,
                       NO_DIRECT, NO_KEYS, 0, 0.1, 0.0, node_weights[:0]) == 0.0
    assert not hidden_error.any()
    tree, node_weights, hidden, _ = random_setup(size=2)
    hs_distribution(node_weights, tree.path_ptr, tree.path_nodes, tree.path_codes, hidden, NO_DIRECT, NO_KEYS, 0,
                    1.0, out := np.zeros(2))
    p_left = ref.sigmoid(node_weights[0] @ hidden)
    left_word = 0 if tree.path(0)[1][0] == 0 else 1
    np.testing.assert_allclose(out[left_word], p_left, rtol=1e-12)
    assert out.sum() == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_scores_stay_finite(dtype):
    tree, node_weights, hidden, _ = random_setup(size=40, dtype=dtype, scale=1.0)
    node_weights *= 1e4  # scores of thousands: sigmoid saturates, log-sigmoid does not
    out = np.zeros(tree.size, dtype=np.float64)
    hs_distribution(node_weights, tree.path_ptr, tree.path_nodes, tree.path_codes, hidden, NO_DIRECT, NO_KEYS, 0,
                    1.0, out)
    assert np.all(np.isfinite(out)) and out.sum() == pytest.approx(1.0, abs=1e-6)
    scores = ref.node_scores(node_weights, hidden, NO_DIRECT, NO_KEYS, 0)
    for w in range(tree.size):
        nodes, codes = tree.path(w)
        got = hs_log10_probability(node_weights, tree.path_nodes, tree.path_codes, tree.path_ptr[w],
                                   tree.path_ptr[w + 1], hidden, NO_DIRECT, NO_KEYS, 0)
        signed = np.where(codes == 0, 1.0, -1.0) * scores[nodes]
        expected = -np.logaddexp(0.0, -signed).sum() / math.log(10)  # log-sigmoid, computed another way
        assert math.isfinite(got) and got == pytest.approx(expected, rel=1e-5 if dtype == "float32" else 1e-12)
        error = np.zeros(hidden.shape, dtype=dtype)
        weights = node_weights.copy()
        hs_backward(weights, tree.path_nodes, tree.path_codes, tree.path_ptr[w], tree.path_ptr[w + 1], hidden,
                    error, 0.1, 0.0, NO_DIRECT, NO_KEYS, 0, 0.1, 0.0, weights[:0])
        assert np.all(np.isfinite(weights)) and np.all(np.isfinite(error))


@pytest.mark.parametrize("length", [1, 30, 2000])
def test_long_paths_keep_an_exact_log_probability(length):
    # one logarithm per word of a product of sigmoid denominators: a path of 2,000 nodes would overflow it
    rng = np.random.default_rng(length)
    node_weights = rng.normal(0.0, 0.1, size=(length, 5))
    hidden = rng.normal(0.0, 1.0, size=5)
    nodes = np.arange(length, dtype=np.int32)
    codes = rng.integers(0, 2, size=length).astype(np.int8)
    signed = np.where(codes == 0, 1.0, -1.0) * (node_weights @ hidden)
    expected = -np.logaddexp(0.0, -signed).sum() / math.log(10)
    got = hs_log10_probability(node_weights, nodes, codes, 0, length, hidden, NO_DIRECT, NO_KEYS, 0)
    assert got == pytest.approx(expected, rel=1e-12)
    trained = hs_backward(node_weights.copy(), nodes, codes, 0, length, hidden, np.zeros(5), 0.1, 0.0, NO_DIRECT,
                          NO_KEYS, 0, 0.1, 0.0, node_weights[:0])
    assert trained == pytest.approx(expected, rel=1e-12)


def test_backward_is_alpha_times_the_gradient_of_log_p():
    tree, node_weights, hidden, direct = random_setup(size=9, hidden_size=4, direct_size=64, seed=4)
    keys, usable = np.array([3, 20, 40, 60], dtype=np.int64), 3  # the 8 nodes' weights of each order do not collide
    alpha, direct_alpha = 0.1, 0.05
    for w in range(tree.size):
        nodes, codes = tree.path(w)

        def log_p():
            return ref.log_probability(node_weights, nodes, codes, hidden, direct, keys, usable)

        weight_gradient = numeric_gradient(log_p, node_weights)
        direct_gradient = numeric_gradient(log_p, direct)
        hidden_gradient = numeric_gradient(log_p, hidden)
        weights_after, direct_after = node_weights.copy(), direct.copy()
        hidden_error = np.zeros_like(hidden)
        result = hs_backward(weights_after, tree.path_nodes, tree.path_codes, tree.path_ptr[w], tree.path_ptr[w + 1],
                             hidden, hidden_error, alpha, 0.0, direct_after, keys, usable, direct_alpha, 0.0,
                             weights_after[:0])
        assert result == pytest.approx(log_p() / math.log(10), rel=1e-12)
        np.testing.assert_allclose(weights_after - node_weights, alpha * weight_gradient, rtol=1e-5, atol=1e-10)
        np.testing.assert_allclose(direct_after - direct, direct_alpha * direct_gradient, rtol=1e-5, atol=1e-10)
        np.testing.assert_allclose(hidden_error, hidden_gradient, rtol=1e-5, atol=1e-10)  # not scaled by alpha
        assert np.count_nonzero(np.any(weights_after != node_weights, axis=1)) == len(nodes)  # only the path moves


def test_backward_adds_to_hidden_error_and_matches_float32():
    tree, node_weights, hidden, direct = random_setup(size=17, direct_size=64, seed=5)
    keys = np.array([7, 30, 0, 0], dtype=np.int64)
    start = np.linspace(-1, 1, hidden.shape[0])
    results = {}
    for dtype in ("float64", "float32"):
        weights, weights_direct = node_weights.astype(dtype), direct.astype(dtype)
        hidden_error = start.astype(dtype)
        log10_p = hs_backward(weights, tree.path_nodes, tree.path_codes, tree.path_ptr[11], tree.path_ptr[12],
                              hidden.astype(dtype), hidden_error, 0.2, 0.01, weights_direct, keys, 2, 0.2, 0.001,
                              weights[:0])
        results[dtype] = (log10_p, weights, weights_direct, hidden_error)
    for exact, single in zip(results["float64"], results["float32"]):
        np.testing.assert_allclose(single, exact, rtol=1e-5, atol=1e-6)
    fresh = np.zeros_like(hidden)
    hs_backward(node_weights.copy(), tree.path_nodes, tree.path_codes, tree.path_ptr[11], tree.path_ptr[12], hidden,
                fresh, 0.2, 0.01, direct.copy(), keys, 2, 0.2, 0.001, node_weights.copy()[:0])
    np.testing.assert_allclose(results["float64"][3], start + fresh, rtol=1e-12)


def test_l2_decay_shrinks_the_used_rows_and_direct_weights():
    tree, node_weights, hidden, direct = random_setup(size=12, hidden_size=4, direct_size=64, seed=6)
    keys, usable = np.array([3, 20, 0, 0], dtype=np.int64), 2
    alpha, decay, direct_alpha, direct_decay = 0.1, 0.01, 0.1, 0.003
    w = 4
    nodes, codes = tree.path(w)
    scores = ref.node_scores(node_weights, hidden, direct, keys, usable)
    errors = np.where(codes == 0, 1.0, 0.0) - ref.sigmoid(scores[nodes])
    weights_after, direct_after = node_weights.copy(), direct.copy()
    hs_backward(weights_after, tree.path_nodes, tree.path_codes, tree.path_ptr[w], tree.path_ptr[w + 1], hidden,
                np.zeros_like(hidden), alpha, decay, direct_after, keys, usable, direct_alpha, direct_decay,
                weights_after[:0])
    expected = node_weights.copy()
    expected[nodes] = (1 - decay) * node_weights[nodes] + alpha * errors[:, None] * hidden[None, :]
    np.testing.assert_allclose(weights_after, expected, rtol=1e-12, atol=1e-15)  # rows off the path: unchanged
    expected_direct = direct.copy()
    for k in range(usable):
        index = (keys[k] + nodes) % len(direct)
        expected_direct[index] += direct_alpha * errors - direct_decay * direct[index]
    np.testing.assert_allclose(direct_after, expected_direct, rtol=1e-12, atol=1e-15)


def test_training_one_word_raises_its_probability():
    tree, node_weights, hidden, direct = random_setup(size=50, hidden_size=8, direct_size=128, seed=7)
    keys = np.array([9, 70, 0, 0], dtype=np.int64)
    w = 37
    before = hs_log10_probability(node_weights, tree.path_nodes, tree.path_codes, tree.path_ptr[w],
                                  tree.path_ptr[w + 1], hidden, direct, keys, 2)
    for _ in range(20):
        hs_backward(node_weights, tree.path_nodes, tree.path_codes, tree.path_ptr[w], tree.path_ptr[w + 1], hidden,
                    np.zeros_like(hidden), 0.1, 0.0, direct, keys, 2, 0.1, 0.0, node_weights[:0])
    after = hs_log10_probability(node_weights, tree.path_nodes, tree.path_codes, tree.path_ptr[w],
                                 tree.path_ptr[w + 1], hidden, direct, keys, 2)
    assert after > before


@pytest.mark.parametrize("hot", [1, 3, 40])
def test_hot_rows_stand_in_for_the_first_node_rows(hot):
    """A hogwild thread's private copy of the first node rows: the same step as on one matrix holding it."""
    rng = np.random.default_rng(5)
    counts = rng.integers(1, 50, size=24)
    tree = build_huffman_tree(counts)
    node_weights = rng.normal(0, 0.3, (23, 6))
    hidden = rng.random(6)
    for w in (0, 7, 23):
        whole = node_weights.copy()
        whole_error = np.zeros(6)
        expected = hs_backward(whole, tree.path_nodes, tree.path_codes, tree.path_ptr[w], tree.path_ptr[w + 1], hidden,
                               whole_error, 0.1, 0.01, NO_DIRECT, NO_KEYS, 0, 0.1, 0.0, whole[:0])
        shared, private = node_weights.copy(), node_weights[:hot].copy()
        error = np.zeros(6)
        result = hs_backward(shared, tree.path_nodes, tree.path_codes, tree.path_ptr[w], tree.path_ptr[w + 1], hidden,
                             error, 0.1, 0.01, NO_DIRECT, NO_KEYS, 0, 0.1, 0.0, private)
        assert result == expected
        np.testing.assert_array_equal(shared[:hot], node_weights[:hot])  # the shared copy of the hot rows is untouched
        np.testing.assert_array_equal(np.concatenate([private, shared[hot:]]), whole)
        np.testing.assert_array_equal(error, whole_error)

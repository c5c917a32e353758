"""Slow, obvious NumPy versions of the hierarchical softmax and of Huffman coding, for testing them.

Everything is float64 and dense: every inner node's score is computed as one
matrix-vector product plus its direct weights, a word's probability is the plain
product of its branch probabilities (code 0: sigmoid(s), code 1: 1 - sigmoid(s)),
and the optimal code cost is found by trying every sequence of merges.
"""

from __future__ import annotations

import heapq
import itertools
from functools import lru_cache

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def node_scores(node_weights, hidden, direct, keys, usable, temperature=1.0):
    """Scores of all V - 1 inner nodes (shape (V-1,)): rows @ hidden + their direct weights, / temperature."""
    weights = np.asarray(node_weights, dtype=np.float64)
    scores = weights @ np.asarray(hidden, dtype=np.float64)
    nodes = np.arange(weights.shape[0])
    for k in range(usable if len(direct) else 0):
        scores += np.asarray(direct, dtype=np.float64)[(int(keys[k]) + nodes) % len(direct)]
    return scores / temperature


def word_paths(tree):
    """[(nodes, codes)] of every word, as Python lists."""
    return [(list(tree.path(w)[0]), list(tree.path(w)[1])) for w in range(tree.size)]


def probability(node_weights, nodes, codes, hidden, direct, keys, usable, temperature=1.0):
    """P(word | hidden): the product of sigmoid(s) (code 0) or 1 - sigmoid(s) (code 1) along the path."""
    scores = node_scores(node_weights, hidden, direct, keys, usable, temperature)
    result = 1.0
    for node, code in zip(nodes, codes):
        p_left = sigmoid(scores[node])
        result *= p_left if code == 0 else 1.0 - p_left
    return result


def log_probability(node_weights, nodes, codes, hidden, direct, keys, usable):
    """Natural log of ``probability`` (for finite differences)."""
    return float(np.log(probability(node_weights, nodes, codes, hidden, direct, keys, usable)))


def distribution(node_weights, tree, hidden, direct, keys, usable, temperature=1.0):
    """P(w | hidden) of every word (shape (V,))."""
    return np.array([probability(node_weights, nodes, codes, hidden, direct, keys, usable, temperature)
                     for nodes, codes in word_paths(tree)])


def huffman_cost(counts):
    """Total weighted path length of a Huffman code: the sum of all merged weights (heapq, textbook)."""
    heap = [float(c) for c in counts]
    heapq.heapify(heap)
    cost = 0.0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


def optimal_cost(counts):
    """The least total weighted path length over every binary tree with these leaves (brute force, small inputs).

    Every full binary tree arises from some sequence of merges of two current
    subtrees, and its weighted path length is the sum of the merged weights, so
    the minimum over all merge sequences is the optimum.
    """
    @lru_cache(maxsize=None)
    def best(weights):
        if len(weights) <= 1:
            return 0.0
        result = float("inf")
        for i, j in itertools.combinations(range(len(weights)), 2):
            merged = weights[i] + weights[j]
            rest = tuple(sorted([w for k, w in enumerate(weights) if k not in (i, j)] + [merged]))
            result = min(result, merged + best(rest))
        return result

    return best(tuple(sorted(float(c) for c in counts)))

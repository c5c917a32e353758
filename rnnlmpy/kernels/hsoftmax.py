"""Hierarchical softmax: a word's probability as a product of binary decisions down a Huffman tree.

``node_weights`` (V - 1, H) holds one row per inner node of the tree built by
``rnnlmpy.rnnlm.huffman``; a word's path is positions ``begin <= i < end`` of
``path_nodes`` (inner node ids, root first) and ``path_codes`` (int8 branch codes).
At node n the score is ``s_n = node_weights[n] @ hidden`` plus, with direct
connections, ``sum over orders k < usable of direct[(keys[k] + n) % D]`` (D =
``direct.shape[0]``; ``keys`` as hashed by ``direct.direct_keys``; ``usable`` 0 or an
empty ``direct``: none). Code convention (word2vec's): code 0 (left) is taken
with probability ``sigmoid(s_n)``, code 1 (right) with ``1 - sigmoid(s_n) =
sigmoid(-s_n)``, so ``P(word | hidden) = prod over the path of sigmoid(sign * s_n)``
with sign +1 for code 0 and -1 for code 1, and the two children of a node always
share its probability. Logarithms use a stable log-sigmoid (never log(0)) and are
summed in float64. The per-position kernels (``hs_log10_probability``,
``hs_backward``) allocate nothing, for use inside the span loops of ``lm``.

As a language-model output layer it keeps the contract written in ``layers``.
Its bundle is ``HierarchicalSoftmax``; a hogwild training thread's is
``ThreadHierarchicalSoftmax``, the same layer with the thread's private copy of
the node rows nearest the root (a kernel compiled for one thread has no code
for hot rows).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload

from .direct import history_keys
from .options import WITHOUT_REFCOUNTS
from .output import row_score_with_direct, row_step

LN10 = math.log(10.0)
PRODUCT_LIMIT = 1e270  # a path's product of sigmoid denominators (each in [1, 2]) is folded into its log above this


@njit(cache=True, fastmath=True)
def log_sigmoid(x):
    """log(sigmoid(x)) = -log(1 + exp(-x)), finite for every finite x."""
    if x >= 0.0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@njit(cache=True, fastmath=True)
def sigmoid_branch(x):
    """(min(x, 0), 1 + exp(-|x|), 1 - sigmoid(x)) from one exponential.

    ``log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|))``, so a path's log
    probability is the sum of the first terms minus the logarithm of the
    product of the second ones (each in [1, 2]: one logarithm per word, not one
    per node, and never log(0)); the third is ``d log(sigmoid(x)) / dx``.
    """
    z = math.exp(-abs(x))
    if x >= 0.0:
        return 0.0, 1.0 + z, z / (1.0 + z)
    return x, 1.0 + z, 1.0 / (1.0 + z)


@njit(cache=True, fastmath=True)
def add_branch(linear, product, negative_part, denominator):
    """A path's running (sum of ``min(x, 0)``, product of ``1 + exp(-|x|)``) with one more node (see
    ``sigmoid_branch``); its log probability is ``linear - log(product)``. A product past PRODUCT_LIMIT (only on
    a path of over 900 nodes) is folded into ``linear``."""
    linear += negative_part
    product *= denominator
    if product > PRODUCT_LIMIT:
        linear -= math.log(product)
        product = 1.0
    return linear, product


@njit(cache=True, fastmath=True)
def hs_log10_probability(node_weights, path_nodes, path_codes, begin, end, hidden, direct, keys, usable):
    """log10 P(word | hidden) for the word whose path is ``path_nodes/path_codes[begin:end]`` (0 for an empty path).

    Shapes: node_weights (V-1, H), path_nodes int32 and path_codes int8 (total
    path length,), hidden (H,), direct (D,) (empty: none), keys int64 (>= usable,).
    """
    linear = 0.0
    product = 1.0
    for i in range(begin, end):
        score = row_score_with_direct(node_weights, path_nodes[i], hidden, direct, keys, usable)
        negative_part, denominator, _ = sigmoid_branch(score if path_codes[i] == 0 else -score)
        linear, product = add_branch(linear, product, negative_part, denominator)
    total = linear - math.log(product)
    return total / LN10


@njit(cache=True, fastmath=True)
def path_steps(weights, first_node, last_node, path_nodes, path_codes, begin, end, hidden, hidden_error, alpha, decay,
               direct, keys, usable, direct_alpha, direct_decay, linear, product):
    """The SGD steps of ``hs_backward`` at the path's nodes ``first_node <= n < last_node``, on rows ``weights[n]``,
    in path order; returns the path's running (linear, product) (see ``add_branch``) with those nodes added."""
    dtype = hidden.dtype.type
    keep = dtype(1.0) - dtype(decay)
    direct_size = direct.shape[0]
    for i in range(begin, end):
        node = path_nodes[i]
        if node < first_node or node >= last_node:
            continue
        score = row_score_with_direct(weights, node, hidden, direct, keys, usable)
        # x = sign * s, log P += log sigmoid(x), d log P / d s = sign * (1 - sigmoid(x)) = [code == 0] - sigmoid(s)
        if path_codes[i] == 0:
            negative_part, denominator, gradient = sigmoid_branch(score)
        else:
            negative_part, denominator, gradient = sigmoid_branch(-score)
            gradient = -gradient
        linear, product = add_branch(linear, product, negative_part, denominator)
        row_step(weights[node], hidden, hidden_error, dtype(gradient), dtype(alpha * gradient), keep, decay != 0)
        for k in range(usable if direct_size > 0 else 0):
            index = (keys[k] + node) % direct_size
            direct[index] += direct_alpha * gradient - direct_decay * direct[index]
    return linear, product


@njit(cache=True, fastmath=True)
def hs_backward(node_weights, path_nodes, path_codes, begin, end, hidden, hidden_error, alpha, decay, direct, keys,
                usable, direct_alpha, direct_decay, hot_rows):
    """One SGD step on log P(word | hidden) along the word's path; returns log10 P before the step.

    Nodes ``n < len(hot_rows)`` (the ones nearest the root, on almost every
    path) read and update ``hot_rows[n]`` instead of ``node_weights[n]``: a
    training thread's private copy of them (see ``rnnlm.hogwild``), taken first;
    pass an empty (0, H) array to use ``node_weights`` alone.

    For each node n of the path (root first), with ``e = [code == 0] -
    sigmoid(s_n)`` (= d log P / d s_n): ``hidden_error += e * row`` (the row
    before its update; not scaled by alpha, as ``output.output_backward``), then
    ``row = (1 - decay) * row + alpha * e * hidden`` (decay 0: no L2), and each of
    the node's direct weights ``w += direct_alpha * e - direct_decay * w``. A
    node's score is computed just before its update; only when two (order, node)
    pairs of one path hash to the same direct weight does an earlier node's update
    reach a later node's score (an O(alpha) effect).
    """
    hot = hot_rows.shape[0]
    linear, product = 0.0, 1.0
    if hot > 0:  # each array in its own call: a loop choosing between two arrays per node pays reference counting
        linear, product = path_steps(hot_rows, 0, hot, path_nodes, path_codes, begin, end, hidden, hidden_error,
                                     alpha, decay, direct, keys, usable, direct_alpha, direct_decay, linear, product)
    linear, product = path_steps(node_weights, hot, node_weights.shape[0], path_nodes, path_codes, begin, end, hidden,
                                 hidden_error, alpha, decay, direct, keys, usable, direct_alpha, direct_decay, linear,
                                 product)
    return (linear - math.log(product)) / LN10


@njit(cache=True, fastmath=True)
def hs_shared_backward(node_weights, path_nodes, path_codes, begin, end, hidden, hidden_error, alpha, decay, direct,
                       keys, usable, direct_alpha, direct_decay):
    """``hs_backward`` on ``node_weights`` alone (no hot rows); returns log10 P before the step."""
    linear, product = path_steps(node_weights, 0, node_weights.shape[0], path_nodes, path_codes, begin, end, hidden,
                                 hidden_error, alpha, decay, direct, keys, usable, direct_alpha, direct_decay, 0.0, 1.0)
    return (linear - math.log(product)) / LN10


@njit(cache=True, fastmath=True)
def hs_distribution(node_weights, path_ptr, path_nodes, path_codes, hidden, direct, keys, usable, temperature, out):
    """``out[w] = P(w | hidden)`` for every word (shape (V,)), scores divided by ``temperature``; sums to 1.

    Each node's two branch log-probabilities are computed once (V - 1 dot
    products), then each word sums those of its path: O(V * H + total path length).
    """
    inner = node_weights.shape[0]
    left = np.empty(inner, dtype=np.float64)
    right = np.empty(inner, dtype=np.float64)
    scale = 1.0 / temperature
    for n in range(inner):
        score = row_score_with_direct(node_weights, n, hidden, direct, keys, usable) * scale
        left[n] = log_sigmoid(score)
        right[n] = log_sigmoid(-score)
    for w in range(path_ptr.shape[0] - 1):
        total = 0.0
        for i in range(path_ptr[w], path_ptr[w + 1]):
            if path_codes[i] == 0:
                total += left[path_nodes[i]]
            else:
                total += right[path_nodes[i]]
        out[w] = math.exp(total)


class HierarchicalSoftmax(NamedTuple):
    """The hierarchical softmax: ``node_weights`` (V - 1, H), word w's path ``path_nodes`` (int32) /
    ``path_codes`` (int8) ``[path_ptr[w]:path_ptr[w + 1]]``."""

    node_weights: np.ndarray
    path_ptr: np.ndarray
    path_nodes: np.ndarray
    path_codes: np.ndarray


class ThreadHierarchicalSoftmax(NamedTuple):
    """A hogwild training thread's hierarchical softmax: the shared ``tree`` (a ``HierarchicalSoftmax``) and
    ``hot_rows`` (K, H), the thread's private copy of its first K node rows, trained instead of them
    (``hs_backward``)."""

    tree: HierarchicalSoftmax
    hot_rows: np.ndarray


BUNDLES = (HierarchicalSoftmax, ThreadHierarchicalSoftmax)


def shared_tree(layer):
    """The ``HierarchicalSoftmax`` of either bundle, inside a kernel."""


def tree_backward(layer, path_begin, path_end, hidden, hidden_error, alpha, decay, direct, keys, usable,
                  direct_alpha, direct_decay):
    """The SGD step down the path ``[path_begin, path_end)`` of either bundle (with its hot rows, if it has
    them), inside a kernel; returns log10 P before the step."""


@overload(shared_tree, inline="always")
def _shared_tree(layer):
    if getattr(layer, "instance_class", None) is ThreadHierarchicalSoftmax:
        return lambda layer: layer.tree
    return lambda layer: layer


@overload(tree_backward, inline="always")
def _tree_backward(layer, path_begin, path_end, hidden, hidden_error, alpha, decay, direct, keys, usable,
                   direct_alpha, direct_decay):
    if getattr(layer, "instance_class", None) is ThreadHierarchicalSoftmax:
        def with_hot_rows(layer, path_begin, path_end, hidden, hidden_error, alpha, decay, direct, keys, usable,
                          direct_alpha, direct_decay):
            tree = layer.tree
            return hs_backward(tree.node_weights, tree.path_nodes, tree.path_codes, path_begin, path_end, hidden,
                               hidden_error, alpha, decay, direct, keys, usable, direct_alpha, direct_decay,
                               layer.hot_rows)
        return with_hot_rows

    def shared_only(layer, path_begin, path_end, hidden, hidden_error, alpha, decay, direct, keys, usable,
                    direct_alpha, direct_decay):
        return hs_shared_backward(layer.node_weights, layer.path_nodes, layer.path_codes, path_begin, path_end,
                                  hidden, hidden_error, alpha, decay, direct, keys, usable, direct_alpha,
                                  direct_decay)
    return shared_only


@njit(cache=True)
def train_work(layer):
    """None needed (an empty tuple)."""
    return ()


@njit(cache=True)
def score_work(layer, normalised):
    """None needed (an empty tuple; the layer is always normalised)."""
    return ()


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def backward(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error, alpha, decay,
             cutoff, direct_alpha, direct_decay):
    """One ``hs_backward`` step along the target's path; returns (log10 P(target), P(target)) before it."""
    path_ptr = shared_tree(layer).path_ptr
    log10_probability = tree_backward(layer, path_ptr[target], path_ptr[target + 1], hidden, hidden_error, alpha,
                                      decay, direct, class_keys, usable[0], direct_alpha, direct_decay)
    return log10_probability, 10.0 ** log10_probability


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def score(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised):
    """P(``target``) down its path."""
    tree = shared_tree(layer)
    return 10.0 ** hs_log10_probability(tree.node_weights, tree.path_nodes, tree.path_codes, tree.path_ptr[target],
                                        tree.path_ptr[target + 1], hidden, direct, class_keys, usable[0])


def distribution(layer, direct, hidden, history, temperature, out):
    """``out`` (V,) = P(every word | ``hidden``) (``hs_distribution``); ``history`` (int64, most recent first)
    feeds the direct weights."""
    keys, usable = history_keys(direct, history)
    hs_distribution(node_weights=layer.node_weights, path_ptr=layer.path_ptr, path_nodes=layer.path_nodes,
                    path_codes=layer.path_codes, hidden=hidden, direct=direct.weights, keys=keys, usable=usable,
                    temperature=temperature, out=out)

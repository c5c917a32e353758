"""The hierarchical softmax as a window output layer (``-hs``; contract: ``window``).

The same layer as the per-word engine's (``hsoftmax``): ``P(w | h)`` is the
product, down word w's path of the Huffman tree of the word counts
(``rnnlmpy.rnnlm.huffman``), of ``sigmoid(s_n)`` at a node taken by code 0 and
``sigmoid(-s_n)`` by code 1, with ``s_n = node_weights[n] . h``; ``node_weights``
(V - 1, H) is the model's ``output_weights``, and there are no biases (as in
the per-word engine and faster-rnnlm). The layer bundle is ``hsoftmax``'s
``HierarchicalSoftmax``; its branch arithmetic (``sigmoid_branch``,
``add_branch``), its log-probability and its distribution are ``hsoftmax``'s.

Training a window row by row: for each node of the target's path, its score, its
branch's log-probability and ``dLoss/ds_n = scale * weight * (sigmoid(s_n) -
[code == 0])``, added as ``dLoss/ds_n * h`` to the node's gradient row and as
``dLoss/ds_n * node_weights[n]`` to the row of ``dLoss/dh``. Cost per row ``~3 H``
times the path length (~log2 V) multiply-adds: no gemm, the rows' paths differ.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ..base.errors import RnnlmpyError
from .hsoftmax import LN10, HierarchicalSoftmax, add_branch, hs_distribution, hs_log10_probability, sigmoid_branch

NO_DIRECT = np.zeros(0, dtype=np.float32)  # the window layer has no direct connections (hsoftmax's kernels take them)
NO_KEYS = np.zeros(0, dtype=np.int64)
TIED_REFUSAL = "-tie-weights needs a word matrix; the hierarchical softmax (-hs) has tree nodes instead"

__all__ = ["BUNDLES", "HierarchicalSoftmax", "TreeGrads", "bundles", "distribution", "score", "train"]


class TreeGrads(NamedTuple):
    """The gradient of a ``HierarchicalSoftmax``'s node rows (same shape), added to by ``train``."""

    node_weights: np.ndarray  # (V - 1, H)


BUNDLES = (HierarchicalSoftmax, TreeGrads)


def bundles(arrays: dict, grads, vocabulary, tied: bool):
    """(HierarchicalSoftmax, TreeGrads or None) from the model's named arrays (``output_weights``: the node rows)
    and their gradients (see ``window``), the paths from ``vocabulary.huffman_tree``. Raises RnnlmpyError (one
    line) for tied weights (the node rows are not words) and for node rows that do not fit the tree: the kernels
    index by its paths unchecked."""
    if tied:
        raise RnnlmpyError(TIED_REFUSAL)
    tree = vocabulary.huffman_tree
    nodes = arrays["output_weights"]
    if nodes.ndim != 2 or nodes.shape[0] != tree.inner_count:
        raise RnnlmpyError(f"the model's output layer does not fit its vocabulary: {nodes.shape[0]} tree node rows "
                           f"for {tree.size} words (a hierarchical softmax has V - 1)")
    layer = HierarchicalSoftmax(node_weights=nodes, path_ptr=tree.path_ptr, path_nodes=tree.path_nodes,
                                path_codes=tree.path_codes)
    if grads is None:
        return layer, None
    return layer, TreeGrads(grads["output_weights"])


@njit(cache=True, nogil=True, fastmath=True)
def train(layer, hidden, targets, weights, scale, grad_hidden, grads, log10_out):
    """Log10 P(target) of each scored row into ``log10_out`` (N,) (0 where ``weights[n] == 0``); the gradient of
    ``scale * sum weights[n] * -ln P(targets[n])`` added to ``grads`` and written to ``grad_hidden`` (N, H)
    (contract: ``window``)."""
    rows, size = hidden.shape
    dtype = hidden.dtype.type
    nodes, codes, pointers = layer.path_nodes, layer.path_codes, layer.path_ptr
    for n in range(rows):
        error_row = grad_hidden[n]
        for j in range(size):
            error_row[j] = 0.0
        weight = weights[n]
        if weight == 0:
            log10_out[n] = 0.0
            continue
        row = hidden[n]
        factor = scale * weight
        target = targets[n]
        linear, product = 0.0, 1.0
        for i in range(pointers[target], pointers[target + 1]):
            node = nodes[i]
            node_row, grad_row = layer.node_weights[node], grads.node_weights[node]
            acc = dtype(0.0)
            for j in range(size):
                acc += node_row[j] * row[j]
            score = float(acc)
            # d ln P / d s = [code == 0] - sigmoid(s); the loss's is its negative, times the row's factor
            if codes[i] == 0:
                negative_part, denominator, gradient = sigmoid_branch(score)
            else:
                negative_part, denominator, gradient = sigmoid_branch(-score)
                gradient = -gradient
            linear, product = add_branch(linear, product, negative_part, denominator)
            error = dtype(-factor * gradient)
            for j in range(size):
                error_row[j] += error * node_row[j]
                grad_row[j] += error * row[j]
        log10_out[n] = (linear - math.log(product)) / LN10


@njit(cache=True, nogil=True)
def score(layer, hidden, targets, log10_out):
    """Log10 P(targets[n] | hidden[n]) of every row into ``log10_out`` (N,) (``hs_log10_probability``)."""
    pointers = layer.path_ptr
    direct = NO_DIRECT
    for n in range(hidden.shape[0]):
        target = targets[n]
        log10_out[n] = hs_log10_probability(layer.node_weights, layer.path_nodes, layer.path_codes, pointers[target],
                                            pointers[target + 1], hidden[n], NO_DIRECT, NO_KEYS, 0)


@njit(cache=True, nogil=True)
def distribution(layer, hidden, out):
    """``out`` (V,) = P(every word | ``hidden`` (H,)) (``hs_distribution``)."""
    hs_distribution(layer.node_weights, layer.path_ptr, layer.path_nodes, layer.path_codes, hidden,
                    NO_DIRECT, NO_KEYS, 0, 1.0, out)


@njit(cache=True)
def gradient_rows(layer, targets, weights):
    """The distinct node rows (int64, ascending) on the paths of the scored rows' targets (``weights[n] != 0``):
    the only rows of the node gradient that ``train`` on these rows makes nonzero."""
    nodes, pointers = layer.path_nodes, layer.path_ptr
    marked = np.zeros(layer.node_weights.shape[0], dtype=np.uint8)
    count = 0
    for n in range(targets.shape[0]):
        if weights[n] == 0:
            continue
        target = targets[n]
        for i in range(pointers[target], pointers[target + 1]):
            node = nodes[i]
            if not marked[node]:
                marked[node] = 1
                count += 1
    rows = np.empty(count, dtype=np.int64)
    k = 0
    for node in range(marked.shape[0]):
        if marked[node]:
            rows[k] = node
            k += 1
    return rows

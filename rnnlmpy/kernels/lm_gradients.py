"""The per-word language model's steps and loss gradients, recorded for the gradients-through-time sweep.

``record_span`` runs a model (a ``lm.Network``) forwards over stream positions
as ``lm.score_span`` does, keeping what ``jacobians.sweep`` needs: each step's
hidden state, the state fed into it, the cell's gates (the GRU), and the
gradient of the step's loss with respect to its hidden state. The loss of
position t is ``-ln P(target t)`` under the model's own output layer, direct
connections included, normalised over the vocabulary:

- class-factored softmax: ``-ln P(class | h) - ln P(word | class, h)``, so
  ``dL/dh = sum_c (P(c) - [c = class]) Wc[c] + sum_(w in class) (P(w | class) - [w = target]) Wo[w]``;
- hierarchical softmax: ``-sum over the path of ln sigmoid(+-s_n)``, so
  ``dL/dh = -sum_n ([code_n = 0] - sigmoid(s_n)) W[n]``;
- NCE: the full softmax over all V words that its exact scoring normalises
  (lnz cancels), ``dL/dh = sum_w (P(w) - [w = target]) W[w]``: O(V H) per position.

Direct connections add to the scores but do not depend on h, so they enter the
gradient through the probabilities only.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from .cell import copy_into, feature_range
from .class_softmax import ClassSoftmax
from .direct import direct_work, prepare_direct
from .elman import Elman
from .gru import Gru
from .hsoftmax import HierarchicalSoftmax, sigmoid_branch
from .layers import cell_forward, cell_score_work, output_word_class
from .nce import NoiseContrastive
from .output import row_score_with_direct, row_scores, softmax_in_place, target_probability

SENTENCE_END = 0  # the word id of </s>

__all__ = ["loss_gradient", "loss_gradient_work", "record_span", "step_width"]


@njit(cache=True)
def class_loss_gradient(layer, direct, class_keys, word_keys, usable, work, target, hidden, grad):
    """``grad`` (H,) = d(-ln P(target))/dh under the class-factored softmax (with direct scores)."""
    class_probabilities, word_probabilities = work
    target_probability(layer.class_weights, layer.output_weights, layer.output_class, layer.class_start,
                       layer.class_end, hidden, target, class_probabilities, word_probabilities, direct, class_keys,
                       usable[0], word_keys, usable[1])
    target_class = layer.output_class[target]
    size = hidden.shape[0]
    for j in range(size):
        grad[j] = 0.0
    for c in range(layer.class_weights.shape[0]):
        error = float(class_probabilities[c]) - (1.0 if c == target_class else 0.0)
        row = layer.class_weights[c]
        for j in range(size):
            grad[j] += error * row[j]
    begin = layer.class_start[target_class]
    for r in range(layer.class_end[target_class] - begin):
        error = float(word_probabilities[r]) - (1.0 if begin + r == target else 0.0)
        row = layer.output_weights[begin + r]
        for j in range(size):
            grad[j] += error * row[j]


@njit(cache=True)
def tree_loss_gradient(layer, direct, class_keys, word_keys, usable, work, target, hidden, grad):
    """``grad`` (H,) = d(-ln P(target))/dh down the target's path of the hierarchical softmax."""
    size = hidden.shape[0]
    for j in range(size):
        grad[j] = 0.0
    for i in range(layer.path_ptr[target], layer.path_ptr[target + 1]):
        node = layer.path_nodes[i]
        score = row_score_with_direct(layer.node_weights, node, hidden, direct, class_keys, usable[0])
        if layer.path_codes[i] == 0:
            log_slope = sigmoid_branch(score)[2]  # d ln sigmoid(s) / ds
        else:
            log_slope = -sigmoid_branch(-score)[2]
        row = layer.node_weights[node]
        for j in range(size):
            grad[j] -= log_slope * row[j]


@njit(cache=True)
def full_softmax_loss_gradient(layer, direct, class_keys, word_keys, usable, work, target, hidden, grad):
    """``grad`` (H,) = d(-ln P(target))/dh under the full softmax over all word rows (NCE's exact score, with the
    direct weights read as ``nce.full_log10_probability`` reads them)."""
    weights = layer.word_weights
    count = weights.shape[0]
    scores = work[0]
    row_scores(weights, 0, count, hidden, scores)
    direct_size = direct.shape[0]
    if direct_size > 0:
        for k in range(usable[0]):
            start = class_keys[k]
            for w in range(count):
                scores[w] += direct[(start + w) % direct_size]
    softmax_in_place(scores, count)
    size = hidden.shape[0]
    for j in range(size):
        grad[j] = 0.0
    for w in range(count):
        error = scores[w] - (1.0 if w == target else 0.0)
        row = weights[w]
        for j in range(size):
            grad[j] += error * row[j]


@njit(cache=True)
def class_work(layer):
    """(class probabilities (C,), word probabilities (largest class,)) of the weights' dtype."""
    largest = 1
    for c in range(layer.class_start.shape[0]):
        largest = max(largest, layer.class_end[c] - layer.class_start[c])
    return (np.empty(layer.class_weights.shape[0], dtype=layer.class_weights.dtype),
            np.empty(largest, dtype=layer.class_weights.dtype))


@njit(cache=True)
def tree_work(layer):
    """None needed (an empty tuple)."""
    return ()


@njit(cache=True)
def full_softmax_work(layer):
    """(scores float64 (V,),)."""
    return (np.empty(layer.word_weights.shape[0], dtype=np.float64),)


# output layer bundle class -> (its work arrays, its loss gradient)
LOSS_GRADIENTS = {ClassSoftmax: (class_work, class_loss_gradient), HierarchicalSoftmax: (tree_work, tree_loss_gradient),
                  NoiseContrastive: (full_softmax_work, full_softmax_loss_gradient)}


def loss_gradient_work(layer):
    """The work arrays of ``loss_gradient`` for the output layer ``layer`` (inside a kernel)."""


def loss_gradient(layer, direct, class_keys, word_keys, usable, work, target, hidden, grad):
    """``grad`` (H,) = d(-ln P(target))/d``hidden`` under the output layer ``layer`` (inside a kernel; direct keys
    as ``direct.prepare_direct`` hashes them)."""


@overload(loss_gradient_work)
def _loss_gradient_work(layer):
    found = LOSS_GRADIENTS.get(getattr(layer, "instance_class", None))
    if found is not None:
        work = found[0]
        return lambda layer: work(layer)
    return None


@overload(loss_gradient)
def _loss_gradient(layer, direct, class_keys, word_keys, usable, work, target, hidden, grad):
    found = LOSS_GRADIENTS.get(getattr(layer, "instance_class", None))
    if found is not None:
        gradient = found[1]
        return lambda layer, direct, class_keys, word_keys, usable, work, target, hidden, grad: gradient(
            layer, direct, class_keys, word_keys, usable, work, target, hidden, grad)
    return None


def record_gates(cell, work, out):
    """Copy the step's gates from the cell's scoring work arrays into ``out`` (the GRU's (3H,); the Elman cell
    has none: ``out`` is empty)."""


@overload(record_gates)
def _record_gates(cell, work, out):
    if getattr(cell, "instance_class", None) is Gru:
        return lambda cell, work, out: copy_into(out, work[0])
    if getattr(cell, "instance_class", None) is Elman:
        return lambda cell, work, out: None
    return None


def step_width(cell_name: str, size: int) -> int:
    """Floats of gates ``record_span`` keeps per step for the cell ``cell_name`` (``layers.CELLS``) of ``size``
    units: 3H for the GRU, none for the Elman cell."""
    return 3 * size if cell_name == "gru" else 0


@njit(cache=True)
def record_span(network, words, begin, end, hidden_prev, previous_out, hidden_out, gates_out, output_grads):
    """Forward over positions ``begin <= t < end`` of the stream ``words`` from ``hidden_prev`` (H,), which holds
    the state after ``end - 1`` on return (an independent model resets to ``network.reset_value`` after a
    ``</s>`` target, as ``lm.score_span``). Row ``t - begin`` of ``previous_out`` and ``hidden_out`` (T, H) gets
    the state fed into step t and its output h(t), of ``gates_out`` (T, G) the cell's gates (``step_width``), of
    ``output_grads`` (T, H) float64 d(-ln P(target t))/dh(t) (0 where the target is unscored, -1). With an empty
    ``output_grads`` (0, H) only the states are recorded."""
    cell, output, direct = network.cell, network.output, network.direct
    size = hidden_prev.shape[0]
    feature_ptr = np.empty(0, dtype=np.int64)
    hidden = np.empty(size, dtype=hidden_prev.dtype)
    cell_work = cell_score_work(cell, size, hidden_prev)
    output_work = loss_gradient_work(output)
    history, class_keys, word_keys, usable = direct_work()
    targets = words[1:]
    wanted = output_grads.shape[0] > 0
    for t in range(begin, end):
        row = t - begin
        feature_begin, feature_end = feature_range(feature_ptr, words, t)
        cell_forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, cell_work)
        copy_into(previous_out[row], hidden_prev)
        copy_into(hidden_out[row], hidden)
        record_gates(cell, cell_work, gates_out[row])
        target = targets[t]
        if wanted:
            if target >= 0:
                prepare_direct(direct.weights, direct.order, targets, t, 0, network.independent,
                               output_word_class(output, target), history, class_keys, word_keys, usable)
                loss_gradient(output, direct.weights, class_keys, word_keys, usable, output_work, target, hidden,
                              output_grads[row])
            else:
                output_grads[row, :] = 0.0
        if network.independent and target == SENTENCE_END:
            hidden_prev[:] = hidden_prev.dtype.type(network.reset_value)
        else:
            copy_into(hidden_prev, hidden)

"""The class-factored softmax as a language-model output layer (rnnlm's ``-class``).

``P(y | h) = P(class(y) | h) * P(y | class(y), h)``, both softmaxes with direct
scores (``output``, ``direct``). One of the output layers of ``layers`` (the
registry); the contract every output-layer module keeps (``layers`` dispatches
on the bundle's type when a span kernel is compiled):

- ``BUNDLE``: the named tuple of the layer's arrays (one kernel argument);
- ``train_work(layer)`` / ``score_work(layer, normalised)``: its work arrays (a tuple);
- ``train_position(layer, direct, direct_work, work, state, targets, t, independent, hidden, hidden_error, alpha,
  decay, cutoff, direct_alpha, direct_decay, probabilities)``: score ``targets[t]`` (>= 0), take the SGD step
  of the layer (and of the direct weights: rate ``direct_alpha``, decay ``direct_decay``), add the error
  reaching the hidden layer to ``hidden_error`` (clipped to ``cutoff``), write P(target) to
  ``probabilities[t]`` when that is not empty; returns the log10 score summed for the entropy;
- ``score_position(layer, direct, direct_work, work, targets, t, history_start, independent, hidden,
  normalised)``: P(``targets[t]``) (float64);
- ``distribution(layer, direct, hidden, history, temperature, out)``: the next-word distribution from Python.

The per-position functions are inlined into the span loops of ``lm`` and, like
them, compiled without reference counting (``options``): they allocate nothing.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .cell import clip
from .direct import direct_backward, prepare_direct
from .options import WITHOUT_REFCOUNTS
from .output import largest_class_size, output_backward, output_distribution, target_probability

__all__ = ["BUNDLE", "ClassSoftmax", "distribution", "score_position", "score_work", "train_position", "train_work"]


class ClassSoftmax(NamedTuple):
    """The class-factored softmax: ``class_weights`` (C, H), ``output_weights`` (V, H), ``output_class`` int32
    (V,) each word's class, class c's words ``class_start[c] <= y < class_end[c]`` (int32 (C,))."""

    class_weights: np.ndarray
    output_weights: np.ndarray
    output_class: np.ndarray
    class_start: np.ndarray
    class_end: np.ndarray


BUNDLE = ClassSoftmax


@njit(cache=True)
def train_work(layer):
    """(class probabilities (C,), word probabilities (largest class,)) of the weights' dtype."""
    class_weights = layer.class_weights
    return (np.empty(class_weights.shape[0], dtype=class_weights.dtype),
            np.empty(largest_class_size(layer.class_start, layer.class_end), dtype=class_weights.dtype))


@njit(cache=True)
def score_work(layer, normalised):
    """As ``train_work`` (the layer is always normalised)."""
    return train_work(layer)


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def train_position(layer, direct, direct_work, work, state, targets, t, independent, hidden, hidden_error, alpha,
                   decay, cutoff, direct_alpha, direct_decay, probabilities):
    """Both softmaxes' steps (word rows first, then class rows, each error clipped), direct weights with a
    decay every word; returns log10 P(target) (at least -300)."""
    class_weights, output_weights, output_class = layer.class_weights, layer.output_weights, layer.output_class
    class_start, class_end = layer.class_start, layer.class_end
    history, class_keys, word_keys, usable = direct_work
    class_probabilities, word_probabilities = work
    weights = direct.weights
    target = targets[t]
    target_class = output_class[target]
    prepare_direct(weights, direct.order, targets, t, 0, independent, target_class, history, class_keys, word_keys,
                   usable)
    probability = target_probability(class_weights, output_weights, output_class, class_start, class_end, hidden,
                                     target, class_probabilities, word_probabilities, weights, class_keys, usable[0],
                                     word_keys, usable[1])
    if probabilities.shape[0] > 0:
        probabilities[t] = probability
    if usable[0] > 0:
        first_word = class_start[target_class]
        direct_backward(weights, word_keys, usable[1], class_end[target_class] - first_word, True, word_probabilities,
                        target - first_word, direct_alpha, direct_decay)
        direct_backward(weights, class_keys, usable[0], class_weights.shape[0], False, class_probabilities,
                        target_class, direct_alpha, direct_decay)
    output_backward(output_weights, class_start[target_class], class_end[target_class], word_probabilities, target,
                    hidden, hidden_error, alpha, decay)
    clip(hidden_error, cutoff)
    output_backward(class_weights, 0, class_weights.shape[0], class_probabilities, target_class, hidden, hidden_error,
                    alpha, decay)
    clip(hidden_error, cutoff)
    return math.log10(max(probability, 1e-300))


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def score_position(layer, direct, direct_work, work, targets, t, history_start, independent, hidden, normalised):
    """P(``targets[t]``) under both softmaxes."""
    history, class_keys, word_keys, usable = direct_work
    class_probabilities, word_probabilities = work
    target = targets[t]
    prepare_direct(direct.weights, direct.order, targets, t, history_start, independent, layer.output_class[target],
                   history, class_keys, word_keys, usable)
    return target_probability(layer.class_weights, layer.output_weights, layer.output_class, layer.class_start,
                              layer.class_end, hidden, target, class_probabilities, word_probabilities,
                              direct.weights, class_keys, usable[0], word_keys, usable[1])


def distribution(layer, direct, hidden, history, temperature, out):
    """``out`` (V,) = P(every word | ``hidden``), scores divided by ``temperature``; ``history`` (int64,
    most recent first) feeds the direct weights."""
    output_distribution(class_weights=layer.class_weights, output_weights=layer.output_weights,
                        class_start=layer.class_start, class_end=layer.class_end, hidden=hidden,
                        direct=direct.weights, direct_order=direct.order, history=history,
                        temperature=temperature, distribution=out)

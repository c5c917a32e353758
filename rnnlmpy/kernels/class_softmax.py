"""The class-factored softmax as a language-model output layer (rnnlm's ``-class``).

``P(y | h) = P(class(y) | h) * P(y | class(y), h)``, both softmaxes with direct
scores (``output``, ``direct``). One of the output layers of ``layers`` (the
registry), keeping the contract written there.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .cell import clip
from .direct import direct_backward
from .options import WITHOUT_REFCOUNTS
from .output import largest_class_size, output_backward, output_distribution, target_probability

__all__ = ["BUNDLES", "ClassSoftmax", "backward", "distribution", "score", "score_work", "train_work", "word_class"]


class ClassSoftmax(NamedTuple):
    """The class-factored softmax: ``class_weights`` (C, H), ``output_weights`` (V, H), ``output_class`` int32
    (V,) each word's class, class c's words ``class_start[c] <= y < class_end[c]`` (int32 (C,))."""

    class_weights: np.ndarray
    output_weights: np.ndarray
    output_class: np.ndarray
    class_start: np.ndarray
    class_end: np.ndarray


BUNDLES = (ClassSoftmax,)


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


@njit(cache=True, inline="always", **WITHOUT_REFCOUNTS)
def word_class(layer, target):
    """The class of ``target``: its words' run of direct weights is the one the layer reads."""
    return layer.output_class[target]


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def backward(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error, alpha, decay,
             cutoff, direct_alpha, direct_decay):
    """Both softmaxes' steps (word rows first, then class rows; the error after the word rows clipped here, the
    last clip is the caller's), direct weights with a decay every word; returns (log10 P(target) (at least
    -300), P(target)) before the step."""
    class_weights, output_weights, output_class = layer.class_weights, layer.output_weights, layer.output_class
    class_start, class_end = layer.class_start, layer.class_end
    class_probabilities, word_probabilities = work
    target_class = output_class[target]
    probability = target_probability(class_weights, output_weights, output_class, class_start, class_end, hidden,
                                     target, class_probabilities, word_probabilities, direct, class_keys, usable[0],
                                     word_keys, usable[1])
    if usable[0] > 0:
        first_word = class_start[target_class]
        direct_backward(direct, word_keys, usable[1], class_end[target_class] - first_word, True, word_probabilities,
                        target - first_word, direct_alpha, direct_decay)
        direct_backward(direct, class_keys, usable[0], class_weights.shape[0], False, class_probabilities,
                        target_class, direct_alpha, direct_decay)
    output_backward(output_weights, class_start[target_class], class_end[target_class], word_probabilities, target,
                    hidden, hidden_error, alpha, decay)
    clip(hidden_error, cutoff)
    output_backward(class_weights, 0, class_weights.shape[0], class_probabilities, target_class, hidden, hidden_error,
                    alpha, decay)
    return math.log10(max(probability, 1e-300)), probability


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def score(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised):
    """P(``target``) under both softmaxes (always normalised)."""
    class_probabilities, word_probabilities = work
    return target_probability(layer.class_weights, layer.output_weights, layer.output_class, layer.class_start,
                              layer.class_end, hidden, target, class_probabilities, word_probabilities, direct,
                              class_keys, usable[0], word_keys, usable[1])


def distribution(layer, direct, hidden, history, temperature, out):
    """``out`` (V,) = P(every word | ``hidden``), scores divided by ``temperature``; ``history`` (int64,
    most recent first) feeds the direct weights."""
    output_distribution(class_weights=layer.class_weights, output_weights=layer.output_weights,
                        class_start=layer.class_start, class_end=layer.class_end, hidden=hidden,
                        direct=direct.weights, direct_order=direct.order, history=history,
                        temperature=temperature, distribution=out)

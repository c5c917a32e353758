"""The class-factored softmax as a window output layer (rnnlm's factorisation; contract: ``window``).

``P(w | h) = P(c | h) * P(w | c, h)`` with ``c`` the class of ``w``: a softmax
over the ``C`` classes (logits ``U h + a``, ``U`` (C, H), ``a`` (C,)) times a
softmax over the words of ``c`` only (logits ``W_k h + b_k`` for the rows ``k``
of ``c``, ``W`` (V, H), ``b`` (V,)). A class's words are the contiguous run
``class_start[c] <= k < class_end[c]`` in vocabulary order, as rnnlm's classes
are (``rnnlmpy.rnnlm.vocab``), so a class's rows of ``W`` are one block.

Training a window of N rows: the class logits of ``CHUNK_ROWS`` rows at a time
are one gemm ``(rows, H) x (H, C)``, turned row by row into ``dLoss/dz``, and two
more gemms give the class weights' gradient and the class part of
``dLoss/dh``. The word part is per row, over the target's class only (about
V / C words): logits, their softmax and its gradient into the class's rows of
``W``, ``b`` and that row of ``dLoss/dh``. Cost per row ``~3 H (C + V / C)``
multiply-adds instead of the full softmax's ``3 H V``. ``train``, ``score`` and
``distribution`` release the GIL: a driver may run them on parts of a window's
rows in threads at once.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ..base.errors import RnnlmpyError
from .output import largest_class_size
from .window_softmax import exp_log_total, log_softmax_row

CHUNK_ROWS = 256  # rows of class logits computed at once
LN10 = math.log(10.0)

__all__ = ["BUNDLES", "ClassGrads", "ClassLayer", "bundles", "distribution", "score", "train"]


class ClassLayer(NamedTuple):
    """The class-factored softmax's weights and the vocabulary's classes."""

    class_weights: np.ndarray  # (C, H)
    class_bias: np.ndarray  # (C,)
    word_weights: np.ndarray  # (V, H) (the embedding when tied)
    word_bias: np.ndarray  # (V,)
    word_class: np.ndarray  # int32 (V,): each word's class
    class_start: np.ndarray  # int32 (C,): class c's words are class_start[c] <= w < class_end[c]
    class_end: np.ndarray  # int32 (C,)


class ClassGrads(NamedTuple):
    """Gradient arrays of a ``ClassLayer``'s weights (same shapes), added to by ``train``."""

    class_weights: np.ndarray  # (C, H)
    class_bias: np.ndarray  # (C,)
    word_weights: np.ndarray  # (V, H)
    word_bias: np.ndarray  # (V,)


BUNDLES = (ClassLayer, ClassGrads)


def bundles(arrays: dict, grads, vocabulary, tied: bool):
    """(ClassLayer, ClassGrads or None) from the model's named arrays and their gradients (see ``window``), the
    classes from ``vocabulary`` (its ``word_class``, ``class_start``, ``class_end``, as int32 arrays). Raises
    RnnlmpyError (one line) when they do not fit each other (``class_layer_problem``): the kernels index by
    them unchecked."""
    name = "input_weights" if tied else "output_weights"
    classes = [np.ascontiguousarray(getattr(vocabulary, key), dtype=np.int32)
               for key in ("word_class", "class_start", "class_end")]
    layer = ClassLayer(arrays["class_weights"], arrays["class_bias"], arrays[name], arrays["output_bias"], *classes)
    problem = class_layer_problem(layer)
    if problem:
        raise RnnlmpyError(f"the model's output layer does not fit its vocabulary: {problem}")
    if grads is None:
        return layer, None
    return layer, ClassGrads(grads["class_weights"], grads["class_bias"], grads[name], grads["output_bias"])


@njit(cache=True)
def misplaced_word(word_class, class_start, class_end):
    """The first word whose class is not in [0, C) or whose class's run does not hold it; -1 if none."""
    classes = class_start.shape[0]
    for word in range(word_class.shape[0]):
        c = word_class[word]
        if c < 0 or c >= classes or word < class_start[c] or word >= class_end[c]:
            return word
    return -1


def class_layer_problem(layer: ClassLayer) -> str:
    """What makes ``layer``'s arrays unsafe for the kernels, which index by its classes unchecked ("" if none):
    shapes that disagree, a class's run outside the vocabulary, a word outside its class's run (a damaged file)."""
    classes, size = layer.class_weights.shape
    words = layer.word_weights.shape[0]
    if layer.class_bias.shape != (classes,) or layer.class_start.shape != (classes,) \
            or layer.class_end.shape != (classes,):
        return f"{classes} class weight rows, {layer.class_bias.shape[0]} class biases, " \
               f"{layer.class_start.shape[0]} classes"
    if layer.word_weights.shape != (words, size) or layer.word_bias.shape != (words,) \
            or layer.word_class.shape != (words,):
        return f"{words} word weight rows of {layer.word_weights.shape[1]}, {layer.word_bias.shape[0]} word biases, " \
               f"{layer.word_class.shape[0]} words, {size} hidden units"
    if np.any(layer.class_start > layer.class_end) or np.any(layer.class_start < 0) \
            or np.any(layer.class_end > words):
        return "a class's run of words is not within the vocabulary"
    word = misplaced_word(layer.word_class, layer.class_start, layer.class_end)
    if word >= 0:
        return f"word {word} lies outside its class's run of words"
    return ""


@njit(cache=True, fastmath=True)
def word_logits(word_weights, word_bias, first, hidden, out):
    """``out[k]`` = W[first + k] . ``hidden`` + b[first + k] for the K = len(out) words from ``first``."""
    size = hidden.shape[0]
    for k in range(out.shape[0]):
        row = word_weights[first + k]
        total = word_bias[first + k]
        for j in range(size):
            total += row[j] * hidden[j]
        out[k] = total


@njit(cache=True, fastmath=True)
def to_errors(probabilities, norm, target, factor):
    """exp-shifted logits ``probabilities`` (K,) (sum ``norm``) -> ``factor * (softmax - onehot(target))``."""
    dtype = probabilities.dtype.type
    scale = dtype(factor / norm)
    for k in range(probabilities.shape[0]):
        probabilities[k] *= scale
    probabilities[target] -= dtype(factor)


@njit(cache=True, fastmath=True)
def word_backward(word_weights, grad_weights, grad_bias, first, errors, hidden, grad_hidden):
    """For the words from ``first`` with logit errors ``errors`` (K,): ``grad_hidden`` (H,) = sum_k errors[k] *
    W[first + k] (written), W's and b's gradients += errors[k] * ``hidden``, errors[k]."""
    size = hidden.shape[0]
    for j in range(size):
        grad_hidden[j] = 0.0
    for k in range(errors.shape[0]):
        error = errors[k]
        if error == 0:
            continue
        row, grad_row = word_weights[first + k], grad_weights[first + k]
        for j in range(size):
            grad_hidden[j] += error * row[j]
            grad_row[j] += error * hidden[j]
        grad_bias[first + k] += error


@njit(cache=True)
def row_log_probability(layer, class_row, hidden_row, target, target_class, first, word_work):
    """ln P(``target`` | ``hidden_row``), ``target`` being word ``target - first`` of class ``target_class`` (whose
    words start at ``first``): ``class_row`` (C,) holds the row's class logits without bias and is left holding
    exp(z - max) of its class logits; ``word_work`` (largest class,) is left holding the same of the target
    class's word logits. Returns (ln P, sum of ``class_row``, sum of the class's ``word_work``)."""
    class_logit = class_row[target_class] + layer.class_bias[target_class]
    class_top, class_log_total = log_softmax_row(class_row, layer.class_bias)
    last = layer.class_end[target_class]
    words = word_work[:last - first]
    word_logits(layer.word_weights, layer.word_bias, first, hidden_row, words)
    word_logit = words[target - first]
    word_top = words.max()
    word_log_total = exp_log_total(words, word_top)
    log_probability = class_logit - class_top - class_log_total + word_logit - word_top - word_log_total
    return log_probability, math.exp(class_log_total), math.exp(word_log_total)


@njit(cache=True, nogil=True)
def train(layer, hidden, targets, weights, scale, grad_hidden, grads, log10_out):
    """Log10 P(target) of each scored row into ``log10_out`` (N,) (0 where ``weights[n] == 0``); the gradient of
    ``scale * sum weights[n] * -ln P(targets[n])`` added to ``grads`` and written to ``grad_hidden`` (N, H)
    (contract: ``window``)."""
    rows, size = hidden.shape
    classes = layer.class_weights.shape[0]
    dtype = hidden.dtype
    chunk = max(1, min(CHUNK_ROWS, rows))
    class_block = np.empty((chunk, classes), dtype=dtype)
    word_part = np.empty((chunk, size), dtype=dtype)
    class_weight_grad = np.empty((classes, size), dtype=dtype)
    word_work = np.empty(largest_class_size(layer.class_start, layer.class_end), dtype=dtype)
    for begin in range(0, rows, chunk):
        end = min(begin + chunk, rows)
        count = end - begin
        block = class_block[:count]
        np.dot(hidden[begin:end], layer.class_weights.T, block)
        for r in range(count):
            n = begin + r
            class_row, word_row = block[r], word_part[r]
            weight = weights[n]
            if weight == 0:
                log10_out[n] = 0.0
                class_row[:] = 0.0
                word_row[:] = 0.0
                continue
            target = targets[n]
            target_class = layer.word_class[target]
            first = layer.class_start[target_class]
            log_probability, class_norm, word_norm = row_log_probability(layer, class_row, hidden[n], target,
                                                                         target_class, first, word_work)
            log10_out[n] = log_probability / LN10
            factor = scale * weight
            to_errors(class_row, class_norm, target_class, factor)
            words = word_work[:layer.class_end[target_class] - first]
            to_errors(words, word_norm, target - first, factor)
            word_backward(layer.word_weights, grads.word_weights, grads.word_bias, first, words, hidden[n],
                          word_row)
        grads.class_bias[:] += block.sum(axis=0)
        np.dot(block.T, hidden[begin:end], class_weight_grad)
        grads.class_weights[:] += class_weight_grad
        np.dot(block, layer.class_weights, grad_hidden[begin:end])
        grad_hidden[begin:end] += word_part[:count]


@njit(cache=True, nogil=True)
def score(layer, hidden, targets, log10_out):
    """Log10 P(targets[n] | hidden[n]) of every row into ``log10_out`` (N,)."""
    rows = hidden.shape[0]
    chunk = max(1, min(CHUNK_ROWS, rows))
    class_block = np.empty((chunk, layer.class_weights.shape[0]), dtype=hidden.dtype)
    word_work = np.empty(largest_class_size(layer.class_start, layer.class_end), dtype=hidden.dtype)
    for begin in range(0, rows, chunk):
        end = min(begin + chunk, rows)
        block = class_block[:end - begin]
        np.dot(hidden[begin:end], layer.class_weights.T, block)
        for r in range(end - begin):
            target = targets[begin + r]
            target_class = layer.word_class[target]
            log_probability, _, _ = row_log_probability(layer, block[r], hidden[begin + r], target, target_class,
                                                        layer.class_start[target_class], word_work)
            log10_out[begin + r] = log_probability / LN10


@njit(cache=True, nogil=True)
def distribution(layer, hidden, out):
    """``out`` (V,) = P(every word | ``hidden`` (H,)): each class's probability times its words' softmax."""
    class_logits = np.dot(layer.class_weights, hidden)
    _, class_log_total = log_softmax_row(class_logits, layer.class_bias)
    class_norm = math.exp(class_log_total)
    word_work = np.empty(largest_class_size(layer.class_start, layer.class_end), dtype=hidden.dtype)
    for c in range(class_logits.shape[0]):
        first, last = layer.class_start[c], layer.class_end[c]
        if last <= first:
            continue
        words = word_work[:last - first]
        word_logits(layer.word_weights, layer.word_bias, first, hidden, words)
        word_log_total = exp_log_total(words, words.max())
        factor = class_logits[c] / class_norm / math.exp(word_log_total)
        for k in range(last - first):
            out[first + k] = words[k] * factor

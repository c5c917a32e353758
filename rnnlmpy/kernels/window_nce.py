"""Noise-contrastive estimation (``-nce K``) as a window output layer (contract: ``window``).

The per-word engine's NCE (``nce``): a word's unnormalised log-probability is
``s_w = W[w] . h + b[w] - lnz`` (``W`` (V, H) the output word matrix, or the
embedding when tied; ``b`` (V,) the word biases; ``lnz`` the fixed log
normaliser), and training tells each target from ``K`` noise words drawn from
``q`` (the alias table of ``rnnlmpy.rnnlm.noise``, drawn by ``nce.draw_noise``)
with the logistic classifier of logit ``s_w - ln(K q_w)``. A row's loss is

    -ln sigmoid(logit_target) - sum over its K noise draws of ln(1 - sigmoid(logit_noise)),

each draw its own term (a word drawn twice counts twice), all scored with the
same weights. ``train`` returns the gradient of ``scale * sum_n weights[n] *
loss_n`` (NCE's loss, not ``-ln P``: what NCE trains) and, as ``log10_out``,
the unnormalised ``s_target / ln 10`` (the per-word engine's training score).
The noise comes from the bundle's generator ``rng`` (splitmix64, ``uint64[1]``,
advanced by ``train``; ``nce.seed_state`` makes one from a seed): the same seed
draws the same noise. ``score`` and ``distribution`` are normalised over all V
words (``lnz`` cancels): the full softmax of ``W h + b`` (``window_softmax``'s).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .nce import draw_noise, seed_state
from .window_softmax import SoftmaxLayer
from .window_softmax import distribution as softmax_distribution
from .window_softmax import score as softmax_score

LN10 = math.log(10.0)

__all__ = ["BUNDLES", "NceGrads", "NceLayer", "bundles", "distribution", "score", "train"]


class NceLayer(NamedTuple):
    """NCE's weights, noise and settings."""

    word_weights: np.ndarray  # (V, H) (the embedding when tied)
    word_bias: np.ndarray  # (V,)
    accept: np.ndarray  # float64 (V,): the noise's alias table ...
    alias: np.ndarray  # int32 (V,)
    log_noise: np.ndarray  # float64 (V,): ln q
    samples: int  # K >= 1 noise words per target
    lnz: float  # the fixed log normaliser
    rng: np.ndarray  # uint64 (1,): the noise generator's state, advanced by train


class NceGrads(NamedTuple):
    """Gradient arrays of an ``NceLayer``'s weights (same shapes), added to by ``train``."""

    word_weights: np.ndarray  # (V, H)
    word_bias: np.ndarray  # (V,)


BUNDLES = (NceLayer, NceGrads)


def bundles(arrays: dict, grads, vocabulary, tied: bool, settings=None, seed: int = 0):
    """(NceLayer, NceGrads or None) from the model's named arrays and their gradients (see ``window``), the noise
    from ``vocabulary.noise_table(settings.nce_unigram_power)``, K and lnz from ``settings`` (the model's config:
    ``nce_samples``, ``nce_lnz``), the generator seeded by ``seed``."""
    name = "input_weights" if tied else "output_weights"
    accept, alias, log_noise = vocabulary.noise_table(settings.nce_unigram_power)
    layer = NceLayer(arrays[name], arrays["output_bias"], accept, alias, log_noise, int(settings.nce_samples),
                     float(settings.nce_lnz), seed_state(seed))
    if grads is None:
        return layer, None
    return layer, NceGrads(grads[name], grads["output_bias"])


@njit(cache=True)
def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow for any finite x."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    small = math.exp(x)
    return small / (1.0 + small)


@njit(cache=True, fastmath=True)
def word_score(layer, word, hidden):
    """``W[word] . hidden + b[word]`` (float64)."""
    row = layer.word_weights[word]
    acc = hidden.dtype.type(0.0)
    for j in range(hidden.shape[0]):
        acc += row[j] * hidden[j]
    return float(acc) + float(layer.word_bias[word])


@njit(cache=True, fastmath=True)
def add_draw(layer, grads, word, hidden, error_row, error):
    """One draw's share of the gradients: ``error`` = dLoss/dlogit of the draw of ``word``."""
    row, grad_row = layer.word_weights[word], grads.word_weights[word]
    step = hidden.dtype.type(error)
    for j in range(hidden.shape[0]):
        error_row[j] += step * row[j]
        grad_row[j] += step * hidden[j]
    grads.word_bias[word] += step


@njit(cache=True, nogil=True, fastmath=True)
def train(layer, hidden, targets, weights, scale, grad_hidden, grads, log10_out):
    """The unnormalised log10 score of each scored row's target into ``log10_out`` (N,) (0 where ``weights[n] ==
    0``); the gradient of ``scale * sum weights[n] * (row n's NCE loss)`` added to ``grads`` and written to
    ``grad_hidden`` (N, H); K noise words drawn per scored row, in row order, from ``layer.rng``."""
    rows, size = hidden.shape
    samples = layer.samples
    log_samples = math.log(samples)
    noise = np.empty(samples, dtype=np.int32)
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
        draw_noise(layer.accept, layer.alias, layer.rng, samples, noise)
        score = word_score(layer, target, row) - layer.lnz
        log10_out[n] = score / LN10
        logit = score - log_samples - layer.log_noise[target]
        # d(-ln sigmoid(x))/dx = sigmoid(x) - 1; d(-ln(1 - sigmoid(x)))/dx = sigmoid(x)
        add_draw(layer, grads, target, row, error_row, factor * (sigmoid(logit) - 1.0))
        for k in range(samples):
            word = noise[k]
            logit = word_score(layer, word, row) - layer.lnz - log_samples - layer.log_noise[word]
            add_draw(layer, grads, word, row, error_row, factor * sigmoid(logit))


@njit(cache=True, nogil=True)
def score(layer, hidden, targets, log10_out):
    """Log10 P(targets[n] | hidden[n]) normalised over the vocabulary (the full softmax of ``W h + b``)."""
    softmax_score(SoftmaxLayer(layer.word_weights, layer.word_bias), hidden, targets, log10_out)


@njit(cache=True, nogil=True)
def distribution(layer, hidden, out):
    """``out`` (V,) = P(every word | ``hidden`` (H,)), the full softmax of ``W h + b``."""
    softmax_distribution(SoftmaxLayer(layer.word_weights, layer.word_bias), hidden, out)

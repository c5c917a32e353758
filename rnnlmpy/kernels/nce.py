"""Noise-contrastive estimation (NCE) output: noise draws, one SGD step per position, exact scoring.

NCE (Gutmann & Hyvärinen; Mnih & Teh; faster-rnnlm's ``--nce K``) replaces the
softmax over V words by a logistic classifier telling the target word from
``K`` noise words drawn from ``q`` (unigram counts to a power; the alias table
comes from ``rnnlmpy.rnnlm.noise``). A word's unnormalised log-probability is

    s_w = output_weights[w] @ hidden + sum over k < usable of direct[(keys[k] + w) % D] - lnz

(D = direct.shape[0]; no direct term when ``usable`` is 0 or ``direct`` is
empty) with ``lnz`` the fixed log normaliser (faster-rnnlm's ``--nce-lnz``,
default 9), and the classifier's logit for a draw of ``w`` is
``s_w - ln(K * q_w)``. The loss of one position is

    -ln sigmoid(logit_target) - sum over the K noise draws of ln(1 - sigmoid(logit_noise)).

Each of the K + 1 draws is its own term, scored with the weights before the
step: a noise word drawn twice counts twice, and a target also drawn as noise
counts once as the target (label 1) and once per noise draw (label 0). So,
without decay, the step is exactly ``alpha`` (``direct_alpha``) times minus the
gradient of that loss, whatever repeats and whatever direct-weight hash collisions.

Conventions (as ``output.output_backward``): errors are ``label - sigmoid(logit)``,
minus the loss's gradient; ``hidden_error`` accumulates ``rowsᵀ @ errors`` with the
rows before their update; a row moves by ``alpha * error * hidden`` after an L2
shrink by ``decay``. A row shrinks once per distinct drawn word per step (not
once per draw); a direct weight once per (distinct word, order) that reads it.
The direct weights' runs wrap modulo D like the word runs of
``direct.add_direct_scores``. Nothing is clipped here: the caller clips
``hidden_error`` as ``lm.train_span`` does after ``output_backward``.

The random numbers come from splitmix64 on a ``uint64[1]`` state array, so a
checkpoint stores the whole generator and a seed fixes it. The generator's
functions are compiled without fastmath, so the draws are bit-identical
wherever they are called from.

As a language-model output layer it keeps the contract written in ``layers``;
its training score is the unnormalised one
(what NCE trains towards), its test score normalised over the whole vocabulary
unless asked for the cheap unnormalised one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from .direct import history_keys
from .options import WITHOUT_REFCOUNTS
from .output import row_score_with_direct, row_scores, row_step

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)
UNIT_53 = 1.0 / 9007199254740992.0  # 2^-53
LN10 = math.log(10.0)


def seed_state(seed: int) -> np.ndarray:
    """The generator's state (``uint64[1]``) for an integer seed (any int; taken modulo 2^64, then mixed)."""
    value = int(seed) % 2**64
    value = (value + 0x9E3779B97F4A7C15) % 2**64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) % 2**64
    return np.array([value ^ (value >> 31)], dtype=np.uint64)


@njit(cache=True)
def mix(z):
    """splitmix64's output function of a state value."""
    z = (z ^ (z >> np.uint64(30))) * MIX_1
    z = (z ^ (z >> np.uint64(27))) * MIX_2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def next_random(state):
    """The next 64 random bits (splitmix64); advances ``state[0]``."""
    state[0] += GOLDEN_GAMMA
    return mix(state[0])


@njit(cache=True)
def next_uniform(state):
    """A uniform float64 in [0, 1) with 53 random bits; advances ``state[0]``."""
    return float(next_random(state) >> np.uint64(11)) * UNIT_53


@njit(cache=True)
def draw_noise(accept, alias, state, count, out):
    """``count`` word ids from the alias table ``(accept, alias)`` into ``out[:count]`` (one uniform each).

    The same numbers as ``next_uniform`` called ``count`` times; the state is
    kept in a register meanwhile and stored back at the end.
    """
    size = accept.shape[0]
    scale = UNIT_53 * size
    value = state[0]
    for i in range(count):
        value += GOLDEN_GAMMA
        u = float(mix(value) >> np.uint64(11)) * scale  # uniform in [0, V)
        cell = int(u)
        if cell >= size:  # (1 - 2^-53) * V can round up to V
            cell = size - 1
        if u - cell < accept[cell]:
            out[i] = cell
        else:
            out[i] = alias[cell]
    state[0] = value


@njit(cache=True)
def nce_work(noise_count):
    """Work arrays of ``nce_backward_into`` for ``noise_count`` noise words: (word ids int64, draw counts int64,
    logits float64), each of shape (noise_count + 1,)."""
    draws = noise_count + 1
    return np.empty(draws, dtype=np.int64), np.empty(draws, dtype=np.int64), np.empty(draws, dtype=np.float64)


@njit(cache=True, fastmath=True)
def nce_backward(output_weights, target, noise_ids, noise_count, log_noise, lnz, hidden, hidden_error, alpha, decay,
                 direct, keys, usable, direct_alpha, direct_decay):
    """``nce_backward_into`` with work arrays of its own; returns the loss (nats, before the step)."""
    words, repeats, logits = nce_work(noise_count)
    return nce_backward_into(output_weights, target, noise_ids, noise_count, log_noise, lnz, hidden, hidden_error,
                             alpha, decay, direct, keys, usable, direct_alpha, direct_decay, words, repeats, logits)


@njit(cache=True, fastmath=True)
def nce_backward_into(output_weights, target, noise_ids, noise_count, log_noise, lnz, hidden, hidden_error, alpha,
                      decay, direct, keys, usable, direct_alpha, direct_decay, words, repeats, logits):
    """One SGD step of NCE for ``target`` against ``noise_ids[:noise_count]``; returns the loss (nats, before).

    ``words``, ``repeats``, ``logits``: work arrays from ``nce_work`` (at least
    ``noise_count + 1`` long), so that a training loop allocates nothing per word.

    ``log_noise`` (float64, V) is ``ln q`` (finite: see ``noise.log_probabilities``);
    ``noise_count`` >= 1 is K. Adds minus the gradient w.r.t. ``hidden`` to
    ``hidden_error``; each drawn row w becomes ``(1 - decay) * row + alpha * E_w * hidden``
    and each of its direct weights ``weight + direct_alpha * E_w - direct_decay * weight``,
    where ``E_w`` sums ``label - sigmoid(logit_w)`` over the draws of w (target: label 1).
    """
    draws = noise_count + 1
    log_count = math.log(noise_count)
    # draw i (0: the target, i > 0: noise_ids[i - 1]) of a word drawn first at draw i (its "leader") gets the
    # word's logit (scored once, before any update) and the number of draws of the word; repeats get count 0
    for i in range(draws):
        word = target if i == 0 else noise_ids[i - 1]
        words[i] = word
        repeats[i] = 1
        for j in range(i):
            if words[j] == word:
                repeats[j] += 1
                repeats[i] = 0
                break
        if repeats[i] == 1:
            score = row_score_with_direct(output_weights, word, hidden, direct, keys, usable)
            logits[i] = score - lnz - log_count - log_noise[word]
    keep = hidden.dtype.type(1.0) - hidden.dtype.type(decay)
    direct_size = direct.shape[0]
    loss = 0.0
    for i in range(draws):
        if repeats[i] == 0:
            continue
        # the word's draws: is_target of them labelled 1, the noise ones labelled 0
        logit = logits[i]
        is_target = 1.0 if i == 0 else 0.0
        noise_draws = repeats[i] - is_target
        small = math.exp(-abs(logit))
        probability = 1.0 / (1.0 + small) if logit >= 0 else small / (1.0 + small)  # sigmoid(logit)
        tail = math.log1p(small)
        noise_loss = max(logit, 0.0) + tail  # -ln(1 - sigmoid(logit))
        target_loss = max(-logit, 0.0) + tail  # -ln sigmoid(logit)
        loss += noise_draws * noise_loss + is_target * target_loss
        error = is_target - repeats[i] * probability
        word = words[i]
        row_step(output_weights[word], hidden, hidden_error, hidden.dtype.type(error),
                 hidden.dtype.type(alpha * error), keep, decay != 0)
        if direct_size > 0:
            direct_step = direct_alpha * error
            for k in range(usable):
                index = (keys[k] + word) % direct_size
                direct[index] += direct_step - direct_decay * direct[index]
    return loss


@njit(cache=True, fastmath=True)
def unnormalised_log10_probability(output_weights, hidden, target, lnz, direct, keys, usable):
    """NCE's own score ``(s_target - lnz) / ln 10``: cheap, not normalised (faster-rnnlm's default test score)."""
    return (row_score_with_direct(output_weights, target, hidden, direct, keys, usable) - lnz) / LN10


@njit(cache=True, fastmath=True)
def full_log10_probability(output_weights, hidden, target, direct, keys, usable, scratch):
    """``log10 P(target | hidden)`` normalised over the whole vocabulary (``--nce-accurate-test``).

    All V rows scored into ``scratch`` (shape >= V; float64 keeps the scores
    exact), each with its direct weights, then a log-sum-exp in float64 (lnz
    cancels). O(V * H): for scoring, not training.
    """
    count = output_weights.shape[0]
    row_scores(output_weights, 0, count, hidden, scratch)
    direct_size = direct.shape[0]
    if direct_size > 0:
        for k in range(usable):
            start = keys[k]
            for w in range(count):
                scratch[w] += direct[(start + w) % direct_size]
    highest = float(scratch[0])
    for w in range(1, count):
        if scratch[w] > highest:
            highest = float(scratch[w])
    total = 0.0
    for w in range(count):
        total += math.exp(float(scratch[w]) - highest)
    return (float(scratch[target]) - highest - math.log(total)) / LN10


class NoiseContrastive(NamedTuple):
    """The NCE output layer: ``word_weights`` (V, H), the noise alias table ``accept`` (float64 (V,)) /
    ``alias`` (int32 (V,)), ``log_noise`` = ln q (float64 (V,)), ``samples`` noise words per target (K >= 1),
    ``lnz`` the fixed log normaliser. The sampler's RNG (uint64 (1,)) is the training state's ``output_state``."""

    word_weights: np.ndarray
    accept: np.ndarray
    alias: np.ndarray
    log_noise: np.ndarray
    samples: int
    lnz: float


BUNDLES = (NoiseContrastive,)


@njit(cache=True)
def train_work(layer):
    """(noise ids int32 (K,), then the three ``nce_work`` arrays)."""
    noise_words, noise_repeats, noise_logits = nce_work(max(layer.samples, 1))
    return np.empty(max(layer.samples, 1), dtype=np.int32), noise_words, noise_repeats, noise_logits


@njit(cache=True)
def score_work(layer, normalised):
    """(scores,): one float64 per word row when ``normalised``, else empty."""
    return (np.empty(layer.word_weights.shape[0] if normalised else 0, dtype=np.float64),)


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def backward(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error, alpha, decay,
             cutoff, direct_alpha, direct_decay):
    """Draw K noise words (RNG ``state.output_state``) and take one ``nce_backward_into`` step; returns the target's
    unnormalised (log10 score, score) before it."""
    noise_ids, noise_words, noise_repeats, noise_logits = work
    weights = layer.word_weights
    log10_probability = unnormalised_log10_probability(weights, hidden, target, layer.lnz, direct, class_keys,
                                                       usable[0])
    draw_noise(layer.accept, layer.alias, state.output_state, layer.samples, noise_ids)
    nce_backward_into(weights, target, noise_ids, layer.samples, layer.log_noise, layer.lnz, hidden, hidden_error,
                      alpha, decay, direct, class_keys, usable[0], direct_alpha, direct_decay, noise_words,
                      noise_repeats, noise_logits)
    return log10_probability, 10.0 ** log10_probability


@njit(cache=True, fastmath=True, inline="always", **WITHOUT_REFCOUNTS)
def score(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised):
    """P(``target``) normalised over the vocabulary (``normalised``), else the unnormalised score."""
    if normalised:
        log10_probability = full_log10_probability(layer.word_weights, hidden, target, direct, class_keys,
                                                   usable[0], work[0])
    else:
        log10_probability = unnormalised_log10_probability(layer.word_weights, hidden, target, layer.lnz, direct,
                                                           class_keys, usable[0])
    return 10.0 ** log10_probability


def distribution(layer, direct, hidden, history, temperature, out):
    """``out`` (V,) = the full softmax over the word rows given ``hidden`` (lnz cancels), scores divided by
    ``temperature``; ``history`` (int64, most recent first) feeds the direct weights. NumPy, float64."""
    scores = layer.word_weights.astype(np.float64) @ hidden.astype(np.float64)
    keys, usable = history_keys(direct, history)
    words = np.arange(scores.shape[0])
    for k in range(usable):
        scores += direct.weights[(keys[k] + words) % direct.weights.shape[0]]
    scores /= temperature
    scores = np.exp(scores - scores.max())
    out[:] = scores / scores.sum()

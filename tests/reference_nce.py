"""Slow, obvious NumPy versions of the NCE pieces (float64), for testing ``rnnlmpy.kernels.nce``.

The loss is written straight from its definition, one term per draw; the
gradients the kernel's step must follow come from central finite differences
of that loss, never from a hand-derived formula.
"""

from __future__ import annotations

import numpy as np


def direct_indices(word: int, keys: np.ndarray, usable: int, size: int) -> list[int]:
    """The direct weights a word reads: ``(keys[k] + word) % size`` for k < usable (none without weights)."""
    if size == 0:
        return []
    return [int((keys[k] + word) % size) for k in range(usable)]


def scores(output_weights, hidden, direct, keys, usable) -> np.ndarray:
    """Every word's score ``row @ hidden`` plus its direct weights (dense, float64, no lnz)."""
    values = np.asarray(output_weights, dtype=np.float64) @ np.asarray(hidden, dtype=np.float64)
    for word in range(values.shape[0]):
        for index in direct_indices(word, keys, usable, direct.shape[0]):
            values[word] += direct[index]
    return values


def nce_loss(output_weights, direct, hidden, target, noise_ids, log_noise, lnz, keys, usable) -> float:
    """-ln sigmoid(logit of the target) - sum over noise draws of ln(1 - sigmoid(logit)), logit = s - lnz - ln(K q)."""
    all_scores = scores(output_weights, hidden, direct, keys, usable)
    count = len(noise_ids)

    def logit(word):
        return all_scores[word] - lnz - np.log(count) - log_noise[word]

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    loss = -np.log(sigmoid(logit(target)))
    for word in noise_ids:
        loss -= np.log(1.0 - sigmoid(logit(word)))
    return float(loss)


def log10_softmax(output_weights, hidden, target, direct, keys, usable) -> float:
    """log10 of the dense softmax over all words (with direct scores) at ``target``."""
    values = scores(output_weights, hidden, direct, keys, usable)
    values -= values.max()
    probabilities = np.exp(values) / np.exp(values).sum()
    return float(np.log10(probabilities[target]))


def alias_probabilities(accept: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The exact probability of each word under an alias table: own cell's accept share plus aliased rejections."""
    size = accept.shape[0]
    probabilities = np.zeros(size)
    for cell in range(size):
        probabilities[cell] += accept[cell] / size
        probabilities[alias[cell]] += (1.0 - accept[cell]) / size
    return probabilities


def alias_draw(accept: np.ndarray, alias: np.ndarray, uniform: float) -> int:
    """The word an alias table gives for a uniform number in [0, 1): cell floor(u V), kept if the rest is < accept."""
    position = uniform * accept.shape[0]
    cell = min(int(position), accept.shape[0] - 1)
    return cell if position - cell < accept[cell] else int(alias[cell])

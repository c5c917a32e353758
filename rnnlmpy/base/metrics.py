"""Perplexity, entropy and mixtures: the one place these formulas are written.

Scores are summed as log10 probabilities (the unit rnnlm and SRILM report);
perplexity is ``10 ** (-log10 sum / count)`` and entropy is in bits per token.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import RnnlmpyError

LOG10_OF_2 = math.log10(2.0)
SMALLEST_PROBABILITY = 1e-300  # probabilities are floored here before a log, so a log is always finite


def log10_sum(probabilities: np.ndarray) -> float:
    """Sum of log10 P over an array of probabilities (each floored at 1e-300)."""
    return float(np.sum(np.log10(np.maximum(probabilities, SMALLEST_PROBABILITY))))


def perplexity(log10_total: float, count: int) -> float:
    """``10 ** (-log10_total / count)``; infinite when nothing was scored."""
    if count <= 0:
        return math.inf
    return 10.0 ** (-log10_total / count)


def entropy_bits(log10_total: float, count: int) -> float:
    """Cross-entropy in bits per token from a sum of log10 probabilities (0 tokens count as 1)."""
    return -log10_total / LOG10_OF_2 / max(count, 1)


def mix(weights: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The mixture ``sum_k weights[k] * probabilities[k]`` of K models' per-token probabilities (K, N) -> (N,)."""
    return np.asarray(weights, dtype=np.float64) @ np.asarray(probabilities, dtype=np.float64)


def em_weights(probabilities: np.ndarray, iterations: int = 1000, tolerance: float = 1e-8) -> np.ndarray:
    """Mixture weights (K,) maximising the likelihood of the tokens, the columns of ``probabilities`` (K, N).

    Each EM step sets every weight to its mean posterior share; the likelihood
    never decreases. Stops when no weight moves by ``tolerance`` or more.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape[1] == 0:
        raise RnnlmpyError("cannot tune mixture weights: no token is scored by every model")
    count = probabilities.shape[0]
    weights = np.full(count, 1.0 / count)
    for _ in range(iterations):
        weighted = weights[:, None] * probabilities
        shares = weighted / weighted.sum(axis=0, keepdims=True)
        updated = shares.mean(axis=1)
        if np.max(np.abs(updated - weights)) < tolerance:
            return updated
        weights = updated
    return weights

"""The noise distribution of noise-contrastive estimation (NCE) and its alias table.

NCE (``-nce K``) trains the output layer to tell each target word from ``K``
words drawn from a noise distribution ``q``: the unigram counts raised to a
power (faster-rnnlm's ``--nce-unigram-power``, default 1) and normalised. The
draws themselves happen inside the training kernel (``rnnlmpy.kernels.nce``),
from the Walker/Vose alias table built here: two arrays, ``accept`` and
``alias``, with which one uniform number picks a word with probability exactly
``q`` (no table quantisation, unlike faster-rnnlm's 10^8-cell unigram table).

Words of count 0: faster-rnnlm gives every word at least ``--nce-unigram-min-cells``
(default 5) of its 10^8 table cells, by adding the same amount to every
word's count^power whenever the rarest word would get less. ``min_share`` is
that floor as a probability (default 5e-8 = 5 / 10^8, so with default settings
the shares are faster-rnnlm's, without its table's rounding): with it, a count-0
word gets a tiny positive share (exactly ``min_share`` if it is the rarest).
With ``min_share=0`` count-0 words get probability 0: they are never drawn, and
their log-probability is -inf (``log_probabilities`` floors it so the kernels,
compiled with fastmath, never see an infinity).
"""

from __future__ import annotations

import numpy as np

from ..base.errors import RnnlmpyError

DEFAULT_MIN_SHARE = 5e-8  # faster-rnnlm: --nce-unigram-min-cells 5 of its 1e8-cell unigram table
LOG_FLOOR = float(np.log(1e-300))  # ln q of a word with no share at all


def noise_distribution(counts, power: float = 1.0, min_share: float = DEFAULT_MIN_SHARE) -> np.ndarray:
    """NCE's noise distribution: ``counts ** power`` normalised (float64, shape (V,), sums to 1).

    ``min_share`` > 0: if the rarest word's share would be below it, the same
    amount is added to every word's ``count ** power`` so that the rarest gets
    exactly ``min_share`` (faster-rnnlm's additive smoothing; count-0 words then
    get a small positive share). ``min_share`` = 0: count-0 words get 0. With
    ``power`` = 0 every word, count 0 included, gets 1/V (0 ** 0 = 1).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.shape[0] == 0:
        raise ValueError(f"noise_distribution needs a non-empty 1-D array of counts, not shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("noise_distribution: counts must be finite and non-negative")
    if not (np.isfinite(power) and power >= 0):
        raise ValueError(f"noise_distribution: power must be finite and >= 0, not {power}")
    size = counts.shape[0]
    if not (0 <= min_share and min_share * size < 1):
        raise RnnlmpyError(f"NCE noise: a floor of {min_share:g} per word is impossible for {size} words "
                           f"(it must stay below 1/{size}); lower the minimum share")
    weights = counts ** power
    total = float(np.sum(weights[::-1]))  # (reverse order, rare words first, as faster-rnnlm sums)
    if min_share > 0:
        lowest = float(weights.min())
        addon = (min_share * total - lowest) / (1.0 - min_share * size)
        if addon > 0:
            weights = weights + addon
            total = float(np.sum(weights[::-1]))
    if not total > 0:
        raise RnnlmpyError("NCE noise: every word has count 0, so there is no distribution to draw noise from")
    return weights / total


def log_probabilities(probabilities) -> np.ndarray:
    """``ln q`` as the kernels want it (float64): words of probability 0 get ``LOG_FLOOR`` instead of -inf."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    logs = np.full(probabilities.shape, LOG_FLOOR)
    positive = probabilities > 0
    logs[positive] = np.maximum(np.log(probabilities[positive]), LOG_FLOOR)
    return logs


def alias_table(probabilities) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table by Vose's method, O(V): ``(accept (float64, V), alias (int32, V))``.

    A draw takes a uniform ``u`` in [0, V), cell ``j = floor(u)``, and returns
    ``j`` if ``u - j < accept[j]``, else ``alias[j]``. Word ``w`` is then drawn
    with probability ``(accept[w] + sum of (1 - accept[j]) over j with alias[j] = w) / V``,
    which equals ``probabilities[w]`` (normalised here) up to rounding. A word of
    probability 0 has ``accept`` 0 and is never drawn. Cells that end the
    pairing (only rounding left) accept themselves: ``accept`` 1, ``alias`` = own index.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 1 or probabilities.shape[0] == 0:
        raise ValueError(f"alias_table needs a non-empty 1-D array, not shape {probabilities.shape}")
    if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0) or not probabilities.sum() > 0:
        raise ValueError("alias_table: probabilities must be finite, non-negative and not all 0")
    size = probabilities.shape[0]
    scaled = (probabilities * (size / probabilities.sum())).tolist()  # mean 1; Python floats: a fast loop
    accept = [1.0] * size
    alias = list(range(size))
    small = [i for i, value in enumerate(scaled) if value < 1.0]
    large = [i for i, value in enumerate(scaled) if value >= 1.0]
    while small and large:
        poor = small.pop()
        rich = large[-1]
        accept[poor] = scaled[poor]
        alias[poor] = rich
        scaled[rich] -= 1.0 - scaled[poor]  # rich gives poor's missing mass
        if scaled[rich] < 1.0:
            large.pop()
            small.append(rich)
    # what is left in either list is 1 up to rounding: accept itself (the defaults)
    return np.array(accept, dtype=np.float64), np.array(alias, dtype=np.int32)

"""Word-by-word linear interpolation of an RNNLM with another model (an n-gram or a -lm-prob file).

Both models score the same token stream: the RNNLM's (every line closed by
``</s>``, empty lines included). P = lambda * P_rnn + (1 - lambda) * P_other.
Counting follows the C++ rnnlm: a token unknown to the RNN (no ``<unk>``)
but scored by the other model counts with the other model's share alone
(and -8 in the RNN's own log probability); a token neither model knows is
skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import RnnlmpyError
from .ngram import NgramModel, score_sentences
from .textio import read_text, token_lines

RNN_OOV_LOG10 = -8.0  # rnnlm's penalty for a token only the other model knows


def ngram_token_probabilities(model: NgramModel, tokens: list[str]) -> np.ndarray:
    """P_ngram of every token of an RNN token stream (float64, 0 for an n-gram OOV)."""
    scores = score_sentences(model, token_lines(tokens))
    return np.where(scores.is_oov, 0.0, 10.0 ** scores.log10_prob)


def read_lm_prob(path: str, token_count: int) -> np.ndarray:
    """rnnlm's -lm-prob file: one line per token, its first field a linear probability."""
    text = read_text(path, "-lm-prob file")
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) != token_count:
        raise RnnlmpyError(f"-lm-prob file {path!r} has {len(lines)} lines but the test text has {token_count} "
                           "tokens (one line per token, </s> included)")
    values = np.empty(len(lines))
    for number, line in enumerate(lines, start=1):
        try:
            values[number - 1] = float(line.split()[0])
        except ValueError:
            raise RnnlmpyError(f"{path}:{number}: not a probability: {line.strip()[:40]!r}") from None
        if not 0.0 <= values[number - 1] <= 1.0:
            raise RnnlmpyError(f"{path}:{number}: probability {values[number - 1]} is outside [0, 1]")
    return values


@dataclass
class Interpolation:
    """Scores of one token stream under the RNN, the other model and their mixture."""

    lam: float
    rnn_log10: float
    other_log10: float
    combined_log10: float
    counted: int  # tokens in the perplexities
    rnn_oov: int  # tokens the RNN does not know (scored by the other model only)
    skipped: int  # tokens neither model knows

    @property
    def rnn_ppl(self) -> float:
        return 10.0 ** (-self.rnn_log10 / max(self.counted, 1))

    @property
    def other_ppl(self) -> float:
        return 10.0 ** (-self.other_log10 / max(self.counted, 1))

    @property
    def combined_ppl(self) -> float:
        return 10.0 ** (-self.combined_log10 / max(self.counted, 1))


def interpolate(rnn_probabilities: np.ndarray, rnn_known: np.ndarray, other: np.ndarray, lam: float) -> Interpolation:
    """Mix per-token probabilities with weight ``lam`` on the RNN (arrays of shape (tokens,))."""
    if not 0.0 <= lam <= 1.0:
        raise RnnlmpyError(f"-lambda must be between 0 and 1 (got {lam})")
    counted = rnn_known | (other > 0)
    mixed = np.where(rnn_known, lam * rnn_probabilities, 0.0) + (1 - lam) * other
    with np.errstate(divide="ignore"):
        rnn_log = np.where(rnn_known, np.log10(np.maximum(rnn_probabilities, 1e-300)), RNN_OOV_LOG10)
        other_log = np.log10(other)
        combined_log = np.log10(mixed)
    return Interpolation(
        lam=lam,
        rnn_log10=float(rnn_log[counted].sum()),
        other_log10=float(other_log[counted].sum()),
        combined_log10=float(combined_log[counted].sum()),
        counted=int(counted.sum()),
        rnn_oov=int((~rnn_known & counted).sum()),
        skipped=int((~counted).sum()),
    )


def tune_lambda(rnn_probabilities: np.ndarray, rnn_known: np.ndarray, other: np.ndarray,
                iterations: int = 200, tolerance: float = 1e-7) -> float:
    """EM estimate of the RNN's weight that maximises the mixture's likelihood.

    Each step sets lambda to the mean posterior share of the RNN over tokens
    both models score; the likelihood never decreases.
    """
    both = rnn_known & (other > 0)
    p, q = rnn_probabilities[both], other[both]
    if len(p) == 0:
        raise RnnlmpyError("cannot tune -lambda: no token is scored by both models")
    lam = 0.5
    for _ in range(iterations):
        share = lam * p / (lam * p + (1 - lam) * q)
        updated = float(share.mean())
        if abs(updated - lam) < tolerance:
            return updated
        lam = updated
    return lam


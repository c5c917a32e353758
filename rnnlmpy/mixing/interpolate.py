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
from typing import Optional, Union

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.text import SENTENCE_END, as_tokens, read_text, token_lines
from ..ngram import NgramModel, read_ngram, score_sentences
from ..rnnlm.evaluation import PerplexityResult, evaluate_file
from ..rnnlm.model import RnnlmModel
from ..rnnlm.nbest import read_nbest, score_nbest
from .sharded import rescore_nbest_sharded

RNN_OOV_LOG10 = -8.0  # rnnlm's penalty for a token only the other model knows
DEFAULT_LAMBDA = 0.5  # weight of the RNN when -lambda is not given
Lambda = Union[float, str, None]  # a weight in [0, 1], "auto" (EM on a validation text) or None (the default)


def ngram_token_probabilities(model: NgramModel, tokens: list[str]) -> np.ndarray:
    """P_ngram of every token of an RNN token stream (float64, 0 for an n-gram OOV); a ``str`` is text
    (``base.text.as_tokens``)."""
    scores = score_sentences(model, token_lines(as_tokens(tokens)))
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
        return metrics.perplexity(self.rnn_log10, max(self.counted, 1))

    @property
    def other_ppl(self) -> float:
        return metrics.perplexity(self.other_log10, max(self.counted, 1))

    @property
    def combined_ppl(self) -> float:
        return metrics.perplexity(self.combined_log10, max(self.counted, 1))


def interpolate(rnn_probabilities: np.ndarray, rnn_known: np.ndarray, other: np.ndarray, lam: float) -> Interpolation:
    """Mix per-token probabilities with weight ``lam`` on the RNN (arrays of shape (tokens,))."""
    if not 0.0 <= lam <= 1.0:
        raise RnnlmpyError(f"-lambda must be between 0 and 1 (got {lam})")
    counted = rnn_known | (other > 0)
    mixed = metrics.mix([lam, 1 - lam], [np.where(rnn_known, rnn_probabilities, 0.0), other])
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
    """EM estimate of the RNN's weight over the tokens both models score (see ``metrics.em_weights``).

    -lambda auto stops EM after ``iterations`` steps or once lambda moves by less than ``tolerance``.
    """
    both = rnn_known & (other > 0)
    if not both.any():
        raise RnnlmpyError("cannot tune -lambda: no token is scored by both models")
    pair = np.vstack([rnn_probabilities[both], other[both]])
    return float(metrics.em_weights(pair, iterations, tolerance)[0])


def check_options(arpa_file: Optional[str], lm_prob_file: Optional[str], lam: Lambda, valid_file: Optional[str],
                  nbest: bool = False) -> None:
    """Refuse combinations of interpolation options that cannot work, with one clear line."""
    if arpa_file and lm_prob_file:
        raise RnnlmpyError("give either -ngram or -lm-prob, not both")
    if lam is not None and not (arpa_file or lm_prob_file):
        raise RnnlmpyError("-lambda needs another model to interpolate with (-ngram ARPA or -lm-prob FILE)")
    if lam == "auto" and nbest:
        raise RnnlmpyError("-lambda auto needs a validation text; give -lambda a number with -nbest")
    if lam == "auto" and not (valid_file and arpa_file):
        raise RnnlmpyError("-lambda auto needs -ngram ARPA and -valid FILE to tune the weight on")


def other_probabilities(tokens: list[str], ngram_model: Optional[NgramModel], lm_prob_file: Optional[str]
                        ) -> np.ndarray:
    """The other model's P of every token (float64, (N,)): from the n-gram, or read from the -lm-prob file."""
    if ngram_model is not None:
        return ngram_token_probabilities(ngram_model, tokens)
    return read_lm_prob(lm_prob_file, len(tokens))


@dataclass
class InterpolatedTest:
    """A test text scored by the RNN, by the other model and by their mixture."""

    rnn: PerplexityResult
    other: np.ndarray  # float64 (N,): the other model's P of every token
    mixed: Interpolation
    tuned: bool  # lambda was tuned by EM on the validation text


def interpolate_file(model: RnnlmModel, test_file: str, arpa_file: Optional[str] = None,
                     lm_prob_file: Optional[str] = None, lam: Lambda = None, valid_file: Optional[str] = None,
                     dynamic_alpha: float = 0.0, threads: int = 1) -> InterpolatedTest:
    """Score ``test_file`` with the RNN mixed with an n-gram (ARPA or binary) or a -lm-prob file (``ppl -ngram``).

    ``lam`` is the RNN's weight, "auto" (EM on ``valid_file``, n-gram only) or
    None (0.5). ``dynamic_alpha`` > 0 scores the RNN by dynamic evaluation;
    ``threads`` share an independent model's sentences.
    """
    check_options(arpa_file, lm_prob_file, lam, valid_file)
    if not (arpa_file or lm_prob_file):
        raise RnnlmpyError("interpolation needs another model (-ngram ARPA or -lm-prob FILE)")
    ngram_model = read_ngram(arpa_file) if arpa_file else None
    result = evaluate_file(model, test_file, dynamic_alpha, threads)
    other = other_probabilities(result.tokens, ngram_model, lm_prob_file)
    tuned = lam == "auto"
    if tuned:
        valid = evaluate_file(model, valid_file, threads=threads)
        lam = tune_lambda(valid.probabilities, valid.known, ngram_token_probabilities(ngram_model, valid.tokens))
    elif lam is None:
        lam = DEFAULT_LAMBDA
    return InterpolatedTest(result, other, interpolate(result.probabilities, result.known, other, lam), tuned)


def rescore_nbest_file(model: RnnlmModel, nbest_file: str, arpa_file: Optional[str] = None,
                       lm_prob_file: Optional[str] = None, lam: Lambda = None, threads: int = 1,
                       executor=None, model_file: Optional[str] = None, shards: int = 1) -> np.ndarray:
    """One log10 score per hypothesis of an n-best file (rnnlm's -nbest), mixed with another model if given;
    ``threads`` score the hypotheses at once (the same scores). With an ``executor`` (``base.executor``) the
    hypotheses are split into ``shards`` tasks that load ``model_file`` on the workers (the same scores again)."""
    check_options(arpa_file, lm_prob_file, lam, None, nbest=True)
    hypotheses = read_nbest(nbest_file)
    tokens = [token for _, words in hypotheses for token in (*words, SENTENCE_END)]
    other = None
    if arpa_file or lm_prob_file:
        other = other_probabilities(tokens, read_ngram(arpa_file) if arpa_file else None, lm_prob_file)
    weight = 1.0 if other is None else (DEFAULT_LAMBDA if lam is None else lam)
    if executor is not None:
        return rescore_nbest_sharded(model, model_file, nbest_file, executor, shards, other, weight)
    return score_nbest(model, hypotheses, other, weight, threads)

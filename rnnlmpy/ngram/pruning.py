"""Relative-entropy pruning of backoff n-gram models (Stolcke 1998), as SRILM's ``ngram -prune``.

An n-gram (h, w) of order 2 or more is removed when removing it alone changes
the model's perplexity by a relative amount below the threshold, estimated as

    deltaH = -P(h) * ( P(w|h) * log10(P'(w|h) / P(w|h))
                       + numerator(h) * log10(BOW'(h) / BOW(h)) )
    relative change = 10 ** deltaH - 1

where P'(w|h) = BOW'(h) P(w|h') is the backed-off probability the n-gram gets
once removed, BOW(h) = numerator(h) / denominator(h) with numerator(h) = 1 -
the sum of h's explicit probabilities and denominator(h) = 1 - the sum of their
backed-off probabilities P(w|h'), and BOW'(h) is that ratio without w. P(h) is
the chain of the model's own probabilities of h's words (the first one's, when
it is ``<s>``, taken as ``</s>``'s), as SRILM does, or the training text's
relative frequency of h, where the counts are at hand: for Kneser-Ney models the
lower orders are continuation distributions, poor estimates of how often a
history occurs (Chelba et al. 2010; SRILM's -prune-history-lm). As SRILM does,
every n-gram is judged against the unpruned model; orders are taken from the highest down, and an
n-gram that is still the context of a kept longer n-gram stays. Then every
backoff weight is computed again, lower orders first, so that each context of
the pruned model sums to 1.

Numerators and denominators below SRILM's Prob_Epsilon count as 0; a context
whose numerator is negative (probabilities summing above 1) is left as it is.
Where the explicit words of a context take all the lower order's mass
(denominator 0) the context's probabilities are scaled to sum to 1 and its
backoff weight is 1, as SRILM does; SRILM also scales them when judging the
n-grams there, which this module does not (it never changes a probability
before the last step).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.text import SENTENCE_END
from .kneser_ney import SENTENCE_START, NgramModel, SentenceStream, score_stream, select_ngrams

PROB_EPSILON = 3e-6  # SRILM's Prob_Epsilon: backoff numerators and denominators below it count as 0


def ngram_words(model: NgramModel) -> list[np.ndarray]:
    """The word ids of every n-gram, order by order, in table order: int32 arrays (count, n)."""
    vocab_size = model.vocab_size
    words = [np.arange(model.vocab_size, dtype=np.int32)[:, None]]
    for table in model.orders[1:]:
        context = table.keys // vocab_size
        words.append(np.concatenate([words[-1][context], (table.keys % vocab_size).astype(np.int32)[:, None]],
                                    axis=1))
    return words


def backed_off_log10(model: NgramModel, grams: np.ndarray) -> np.ndarray:
    """log10 P(last word | the words before it) of each row of ``grams`` (rows, m) word ids, through backoff."""
    rows, width = grams.shape
    if rows == 0:
        return np.zeros(0)
    if width == 1:
        return model.orders[0].log10_prob[grams[:, 0]]
    stream = SentenceStream(ids=np.ascontiguousarray(grams, dtype=np.int32).reshape(-1),
                            position=np.tile(np.arange(width, dtype=np.int32), rows), sentences=rows)
    log10_prob, _ = score_stream(model, stream)
    return log10_prob[width - 1::width]


def history_log10(model: NgramModel) -> list[np.ndarray]:
    """log10 P(h) of every n-gram h used as a history, order by order: the chain rule over the model's own
    probabilities, the first word's taken as ``</s>``'s when it is ``<s>`` (never predicted), as SRILM does."""
    first = model.orders[0].log10_prob.copy()
    start, end = model.index.get(SENTENCE_START), model.index.get(SENTENCE_END)
    if start is not None:
        first[start] = first[end] if end is not None else 0.0
    joint = [first]
    for table in model.orders[1:]:
        joint.append(joint[-1][table.keys // model.vocab_size] + table.log10_prob)
    return joint


def suffix_log10(model: NgramModel, n: int, words: np.ndarray, suffix_below: Optional[np.ndarray]):
    """For the n-grams at index ``n`` (order n+1, word ids ``words``): log10 P(w|h') through backoff, h' being
    h without its first word, and the index of each one's suffix n-gram (words 2..n+1) at index n-1, -1 where
    the model lacks it. ``suffix_below``: the same indices for index n-1 (None for n = 1).

    The suffix is looked up in one step from its context's suffix; only n-grams
    without an explicit suffix (a pruned model) go through the scorer.
    """
    table = model.orders[n]
    last = table.keys % model.vocab_size
    if n == 1:
        suffix = last
    else:
        suffix = model.lookup(n, suffix_below[table.keys // model.vocab_size], last)
    log10_prob = np.empty(len(table))
    found = suffix >= 0
    log10_prob[found] = model.orders[n - 1].log10_prob[suffix[found]]
    if not np.all(found):
        log10_prob[~found] = backed_off_log10(model, words[~found, 1:])
    return log10_prob, suffix


def _backoff_terms(model: NgramModel, n: int, backoff_log10: np.ndarray):
    """For the n-grams at index ``n`` (order n+1): their contexts, P(w|h), and the numerator and denominator of
    every context's backoff weight (index n-1), snapped to 0 below PROB_EPSILON."""
    table = model.orders[n]
    context = table.keys // model.vocab_size
    probability = 10.0 ** table.log10_prob
    size = len(model.orders[n - 1])
    numerator = 1.0 - np.bincount(context, weights=probability, minlength=size)
    denominator = 1.0 - np.bincount(context, weights=10.0 ** backoff_log10, minlength=size)
    numerator[np.abs(numerator) < PROB_EPSILON] = 0.0
    denominator[np.abs(denominator) < PROB_EPSILON] = 0.0
    return context, probability, numerator, denominator


PRUNE_HISTORIES = ("counts", "model")  # how a history is weighed: its frequency in the text, or the model's P(h)


def perplexity_changes(model: NgramModel, words: list[np.ndarray], joint=None) -> list[np.ndarray]:
    """Stolcke's relative perplexity change for removing each n-gram alone (index 0, unigrams: +inf, never
    removed); +inf also where the context's numerator is negative. ``joint``: log10 P(h) of every n-gram
    (``history_log10``'s layout; default: the model's own, ``history_log10``)."""
    joint = history_log10(model) if joint is None else joint
    changes = [np.full(len(model.orders[0]), np.inf)]
    suffix = None
    for n in range(1, model.order):
        backoff_log10, suffix = suffix_log10(model, n, words[n], suffix)
        context, probability, numerator, denominator = _backoff_terms(model, n, backoff_log10)
        degenerate = (denominator < PROB_EPSILON) & (numerator > PROB_EPSILON)
        numerator[degenerate] = 0.0
        denominator[degenerate] = 0.0
        numerator, denominator = numerator[context], denominator[context]
        old_backoff = model.orders[n - 1].log10_backoff[context]
        with np.errstate(divide="ignore", invalid="ignore"):
            new_backoff = np.log10(numerator + probability) - np.log10(denominator + 10.0 ** backoff_log10)
            delta_log10 = backoff_log10 + new_backoff - model.orders[n].log10_prob
            delta_entropy = -(10.0 ** joint[n - 1][context]) * (probability * delta_log10
                                                                 + numerator * (new_backoff - old_backoff))
        change = 10.0 ** delta_entropy - 1.0
        change[(numerator < 0) | np.isnan(change)] = np.inf
        changes.append(change)
    return changes


def recompute_backoffs(model: NgramModel, words: list[np.ndarray]) -> None:
    """Set every backoff weight to numerator / denominator (in place), lower orders first: each context then
    sums to 1. Contexts with no explicit word get 1; see the module's note on degenerate contexts."""
    suffix = None
    for n in range(1, model.order):
        backoff_log10, suffix = suffix_log10(model, n, words[n], suffix)
        context, _, numerator, denominator = _backoff_terms(model, n, backoff_log10)
        # (a context whose explicit probabilities are all but 0 is left as it is: nothing to scale)
        degenerate = (denominator < PROB_EPSILON) & (numerator > PROB_EPSILON) & (numerator < 1.0 - PROB_EPSILON)
        if np.any(degenerate):  # the explicit words take all the mass the lower order has: make them sum to 1
            scaled = degenerate[context]
            model.orders[n].log10_prob[scaled] -= np.log10(1.0 - numerator[context[scaled]])
        usable = (numerator >= PROB_EPSILON) & (denominator >= PROB_EPSILON) & ~degenerate
        backoff = np.zeros(len(numerator))
        backoff[usable] = np.log10(numerator[usable]) - np.log10(denominator[usable])
        model.orders[n - 1].log10_backoff[:] = backoff


def check_prune_threshold(threshold: float) -> None:
    """RnnlmpyError unless ``threshold`` is a finite number > 0."""
    if not threshold > 0 or not np.isfinite(threshold):
        raise RnnlmpyError(f"-prune takes a threshold > 0, a relative change in perplexity such as 1e-7 "
                           f"(got {threshold!r})")


def prune_relative_entropy(model: NgramModel, threshold: float, history: str = "model") -> tuple[NgramModel, list[int]]:
    """A new model without the n-grams whose removal changes perplexity by a relative amount below
    ``threshold`` (SRILM's ``-prune``); returns it and the number of n-grams removed per order.

    ``history`` "model" weighs each history h by the model's own P(h), as SRILM
    does; "counts" by its relative frequency in the training text (the n-grams'
    ``frequency``, which only a model estimated here has).
    """
    if history not in PRUNE_HISTORIES:
        raise RnnlmpyError(f"the pruning history is one of {', '.join(PRUNE_HISTORIES)} (got {history!r})")
    check_prune_threshold(threshold)
    joint = None
    if history == "counts":
        if any(table.frequency is None for table in model.orders):
            raise RnnlmpyError("this model has no training counts (it was read from a file): prune it weighing "
                               "histories by the model (-prune-history model)")
        with np.errstate(divide="ignore"):
            joint = [np.log10(table.frequency) for table in model.orders]
    words = ngram_words(model)
    changes = perplexity_changes(model, words, joint)
    keep = [np.ones(len(model.orders[0]), dtype=bool)] + [None] * (model.order - 1)
    vocab_size = model.vocab_size
    for n in range(model.order - 1, 0, -1):
        removable = changes[n] < threshold
        if n + 1 < model.order:  # the context of a kept longer n-gram stays
            longer = model.orders[n + 1].keys[keep[n + 1]] // vocab_size
            removable &= np.bincount(longer, minlength=len(removable)) == 0
        keep[n] = ~removable
    pruned = NgramModel(words=list(model.words), orders=select_ngrams(model.orders, keep, vocab_size))  # copies
    recompute_backoffs(pruned, [w[k] for w, k in zip(words, keep)])
    return pruned, [int(np.count_nonzero(~k)) for k in keep]

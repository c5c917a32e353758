"""Interpolated modified Kneser-Ney n-gram models: counting, estimation and scoring.

Counting never builds Python tuples. Every n-gram is numbered by order: the
n-gram ending at corpus position ``i`` has the key ``id(its (n-1)-gram prefix,
which ends at i-1) * V + word[i]``, and ``np.unique`` over those integer keys
gives the distinct n-grams, their counts and, for every position, the id of the
n-gram ending there. Keys stay below (distinct (n-1)-grams) * V, far inside
int64, whatever the order.

Estimation follows Chen & Goodman's interpolated modified Kneser-Ney, as SRILM
(``-kndiscount -interpolate``) and KenLM build it: the highest order uses raw
counts, lower orders use continuation counts (the number of distinct words
seen before the n-gram), except n-grams that start with ``<s>``, which keep
raw counts; three discounts D1, D2, D3+ per order come from that order's
count-of-counts; unigrams are interpolated with a uniform distribution over
the vocabulary (``<s>`` excluded: it is context only, never predicted).

A model is the arrays of a backoff table: for order n, the n-grams sorted by
(context id, word), their log10 probability and log10 backoff weight. The same
arrays come from estimation or from reading an ARPA file (arpa.py), and one
vectorised scorer serves both.
"""

from __future__ import annotations

import array
import itertools
import math
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.text import SENTENCE_END, as_sentences, read_text, split_tokens, text_lines

SENTENCE_START = "<s>"
NO_PROBABILITY = -99.0  # log10 "probability" ARPA files give <s>, which is never predicted
MAX_ORDER = 7
DISCOUNT_FALLBACK = (0.5, 1.0, 1.5)  # D1, D2, D3+ where the estimates fail: KenLM's --discount_fallback defaults


@dataclass
class NgramOrder:
    """The n-grams of one order, sorted by ``keys = context * vocab_size + word``.

    ``context[j]`` indexes the n-gram's (n-1)-word prefix in the order below
    (for unigrams it is 0); ``log10_prob`` is log10 P(word | prefix) and
    ``log10_backoff`` the backoff weight of the n-gram used as a context
    (0 when it is never one). A model estimated from a text also has each
    n-gram's ``frequency`` there (relative-entropy pruning can weigh histories by it).
    """

    keys: np.ndarray  # int64 (count,)
    log10_prob: np.ndarray  # float64 (count,)
    log10_backoff: np.ndarray  # float64 (count,)
    frequency: Optional[np.ndarray] = None  # float64 (count,): share of the text's n-word sequences; None if read

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class NgramModel:
    """A backoff n-gram model: vocabulary and one NgramOrder per order (index 0 = unigrams)."""

    words: list[str]
    orders: list[NgramOrder]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {word: i for i, word in enumerate(self.words)}

    @property
    def order(self) -> int:
        """The highest n-gram order."""
        return len(self.orders)

    @property
    def vocab_size(self) -> int:
        """Number of words, ``<s>`` and ``</s>`` included."""
        return len(self.words)

    def score_stream(self, stream: "SentenceStream") -> tuple[np.ndarray, np.ndarray]:
        """log10 P and matched order of every token of ``stream`` (``score_stream``)."""
        return score_stream(self, stream)

    def lookup(self, order: int, contexts: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Index of each n-gram (context id, word) at ``order`` (1-based), -1 where absent."""
        table = self.orders[order - 1]
        result = np.full(len(contexts), -1, dtype=np.int64)
        if len(table.keys) == 0:  # an ARPA file may declare 'ngram N=0'
            return result
        valid = np.flatnonzero((contexts >= 0) & (words >= 0))  # only these can be present
        keys = contexts[valid].astype(np.int64) * self.vocab_size + words[valid]
        by_key = np.argsort(keys, kind="stable")  # sorted queries make the binary searches cache-friendly
        found = np.empty(len(keys), dtype=np.int64)
        found[by_key] = np.searchsorted(table.keys, keys[by_key])
        found = np.minimum(found, len(table.keys) - 1)
        hit = table.keys[found] == keys
        result[valid[hit]] = found[hit]
        return result


# ---------------------------------------------------------------- reading text

@dataclass
class SentenceStream:
    """Sentences as one id stream, each wrapped in ``<s> ... </s>``.

    ``position[i]`` is the position of token i inside its sentence (``<s>`` is 0).
    """

    ids: np.ndarray  # int32 (tokens,)
    position: np.ndarray  # int32 (tokens,)
    sentences: int


def read_sentences(path: str, what: str = "text", allow_empty: bool = False) -> list[list[str]]:
    """Non-empty lines of a text file as token lists (empty lines are skipped, as SRILM does).

    Raises RnnlmpyError (naming ``what``) when the file has no words, unless ``allow_empty``.
    """
    text = read_text(path, what)
    sentences = [tokens for tokens in (split_tokens(line) for line in text_lines(text)) if tokens]
    if not sentences and not allow_empty:
        raise RnnlmpyError(f"{what} {path!r} is empty (no words)")
    return sentences


def sentence_stream(sentences: list[list[str]], index: dict[str, int], grow: bool) -> SentenceStream:
    """Encode sentences with ``index`` (adding new words when ``grow``; else unknown words are -1)."""
    lengths = np.fromiter((len(s) + 2 for s in sentences), dtype=np.int64, count=len(sentences))
    flat = []
    start, end = index.setdefault(SENTENCE_START, len(index)), index.setdefault(SENTENCE_END, len(index))
    if grow:
        for sentence in sentences:
            flat.append(start)
            for token in sentence:
                flat.append(index.setdefault(token, len(index)))
            flat.append(end)
    else:
        get = index.get
        for sentence in sentences:
            flat.append(start)
            flat.extend(get(token, -1) for token in sentence)
            flat.append(end)
    ids = np.array(flat, dtype=np.int32)
    sentence_begin = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = (np.arange(len(ids)) - sentence_begin).astype(np.int32)
    return SentenceStream(ids=ids, position=position, sentences=len(sentences))


def encode_training_text(path: str) -> tuple[SentenceStream, list[str]]:
    """The non-empty lines of a text file as one ``<s> w ... </s>`` id stream, and the words by id (``<s>``,
    ``</s>``, then the others in order of first appearance): ``sentence_stream`` of ``read_sentences``, line by
    line, without holding every token as a string."""
    text = read_text(path, "training file")
    index = {SENTENCE_START: 0, SENTENCE_END: 1}
    setdefault = index.setdefault
    ids = array.array("i")
    lengths = array.array("q")
    for line in text_lines(text.replace("\t", " ") if "\t" in text else text):
        tokens = [setdefault(token, len(index)) for token in line.split(" ") if token]
        if tokens:
            ids.append(0)
            ids.extend(tokens)
            ids.append(1)
            lengths.append(len(tokens) + 2)
    del text
    if not lengths:
        raise RnnlmpyError(f"training file {path!r} is empty (no words)")
    lengths = np.frombuffer(lengths, dtype=np.int64)
    ids = np.frombuffer(ids, dtype=np.int32)
    sentence_begin = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(len(ids), dtype=np.int32)
    position -= sentence_begin.astype(np.int32)
    return SentenceStream(ids=ids, position=position, sentences=len(lengths)), list(index)


# ---------------------------------------------------------------- counting

@dataclass
class NgramCounts:
    """Distinct n-grams of one order, sorted by key, with their relations to the order below."""

    keys: np.ndarray  # int64: context id * V + word
    counts: np.ndarray  # int64 raw counts
    suffix: np.ndarray  # int64: id of the (n-1)-gram of words 2..n (unigrams: -1)
    starts_sentence: np.ndarray  # bool: the n-gram begins with <s>


def _unique(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(keys, return_index=True, return_inverse=True, return_counts=True)`` from one unstable sort
    (the first occurrence of each key is the least index in its run)."""
    order = np.argsort(keys)
    ordered = keys[order]
    starts_run = np.empty(len(keys), dtype=bool)
    starts_run[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_run[1:])
    run_starts = np.flatnonzero(starts_run)
    unique = ordered[run_starts]
    del ordered
    first = np.minimum.reduceat(order, run_starts) if len(keys) else order
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(starts_run) - 1
    counts = np.diff(np.append(run_starts, len(keys)))
    return unique, first, inverse, counts


def count_ngrams(stream: SentenceStream, order: int, vocab_size: int) -> list[NgramCounts]:
    """Count all n-grams of orders 1..order in the stream (n-grams never cross sentences)."""
    ids = stream.ids.astype(np.int64)
    position = stream.position
    result = []
    counts = np.bincount(ids, minlength=vocab_size)
    result.append(NgramCounts(keys=np.arange(vocab_size, dtype=np.int64), counts=counts,
                              suffix=np.full(vocab_size, -1, dtype=np.int64),
                              starts_sentence=np.arange(vocab_size) == ids[0]))
    ending_here = ids.copy()  # id of the (n-1)-gram ending at each position (-1: none)
    for n in range(2, order + 1):
        valid = np.flatnonzero(position >= n - 1)
        keys = ending_here[valid - 1] * vocab_size + ids[valid]
        unique, first, inverse, counts = _unique(keys)
        del keys
        representative = valid[first]
        result.append(NgramCounts(keys=unique, counts=counts, suffix=ending_here[representative],
                                  starts_sentence=position[representative] == n - 1))
        ending_here.fill(-1)
        ending_here[valid] = inverse
    return result


# ---------------------------------------------------------------- estimation

def kneser_ney_discounts(counts: np.ndarray, fallback=DISCOUNT_FALLBACK) -> tuple[np.ndarray, bool]:
    """[0, D1, D2, D3+] from the count-of-counts n1..n4 of ``counts`` (Chen & Goodman's estimates), and
    whether they could be estimated.

    The estimates need n1, n2 and n3 above 0 and give each Dk in (0, k]; where the data
    are too few or too regular for that (small or artificial text, duplicated lines),
    ``fallback`` (D1, D2, D3+) is used instead and the flag is False, as KenLM's
    ``--discount_fallback`` does (SRILM and KenLM without it stop with an error).
    """
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4))
    if n1 > 0 and n2 > 0 and n3 > 0:
        y = n1 / (n1 + 2 * n2)
        estimates = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
        if np.all(estimates > 0) and np.all(estimates <= np.arange(1, 4)):
            return np.concatenate([[0.0], estimates]), True
    return np.array([0.0, *fallback], dtype=np.float64), False


def comma_separated(values, kind, what: str) -> list:
    """``values`` as a list of ``kind`` (int or float): a list as it is, or text such as ``0,1,1``."""
    if not isinstance(values, str):
        return [kind(v) for v in values]
    try:
        return [kind(v) for v in values.replace(" ", "").split(",")]
    except ValueError:
        raise RnnlmpyError(f"{what} takes comma-separated {'whole numbers' if kind is int else 'numbers'} "
                           f"(got {values!r})") from None


def check_discount_fallback(values) -> tuple[float, float, float]:
    """(D1, D2, D3+) from 1 to 3 numbers, a list or text ``D1[,D2[,D3+]]`` (the last one repeated, as KenLM reads
    them); each Dk must be in (0, k]."""
    values = comma_separated(values, float, "-discount-fallback")
    if not 1 <= len(values) <= 3:
        raise RnnlmpyError(f"the fallback discounts are 1 to 3 numbers D1[,D2[,D3+]] (got {len(values)})")
    values += [values[-1]] * (3 - len(values))
    for k, value in enumerate(values, start=1):
        if not 0 < value <= k:
            raise RnnlmpyError(f"fallback discount D{k if k < 3 else '3+'} must be in (0, {k}] (got {value:g}): "
                               f"a discount takes at most the count it discounts")
    return tuple(values)


def check_order(order: int) -> None:
    """RnnlmpyError unless 1 <= order <= MAX_ORDER."""
    if not 1 <= order <= MAX_ORDER:
        raise RnnlmpyError(f"-order must be between 1 and {MAX_ORDER} (got {order})")


def check_cutoffs(cutoffs, order: int) -> list[int]:
    """Per-order count cutoffs from a list or text such as ``0,1,1`` (n-grams of order k seen at most
    ``cutoffs[k-1]`` times are dropped), padded to ``order`` with the last value, as KenLM's ``--prune``.

    Unigrams are never dropped (the first value must be 0) and the values must not
    decrease with the order: then every kept n-gram's prefix and suffix are kept too,
    since an n-gram is never seen more often than its parts.
    """
    cutoffs = comma_separated(cutoffs, int, "-cutoffs")
    if not cutoffs:
        return [0] * order
    if len(cutoffs) > order:
        raise RnnlmpyError(f"{len(cutoffs)} count cutoffs for a model of order {order}: give at most one per order")
    if cutoffs[0] != 0:
        raise RnnlmpyError(f"the first count cutoff (unigrams) must be 0, got {cutoffs[0]}: unigrams are never "
                           "dropped")
    if any(c < 0 for c in cutoffs) or any(b < a for a, b in zip(cutoffs, cutoffs[1:])):
        raise RnnlmpyError(f"count cutoffs must be >= 0 and not decrease with the order (got "
                           f"{','.join(map(str, cutoffs))}): a dropped n-gram would leave its extensions without "
                           "a context")
    return cutoffs + [cutoffs[-1]] * (order - len(cutoffs))


def select_ngrams(orders: list[NgramOrder], keep: list[np.ndarray], vocab_size: int) -> list[NgramOrder]:
    """The orders with only the n-grams where ``keep[n]`` (bool per n-gram) is True, keys renumbered.

    Every kept n-gram's context must be kept (the caller's rule guarantees it);
    renumbering is monotone, so the keys stay sorted.
    """
    result = []
    below_rank = None
    for n, (table, kept) in enumerate(zip(orders, keep)):
        keys = table.keys[kept]
        if n > 0:
            keys = below_rank[keys // vocab_size] * vocab_size + keys % vocab_size
        result.append(NgramOrder(keys=keys, log10_prob=table.log10_prob[kept], log10_backoff=table.log10_backoff[kept],
                                 frequency=None if table.frequency is None else table.frequency[kept]))
        below_rank = np.cumsum(kept, dtype=np.int64) - 1
    return result


def estimate_kneser_ney(counted: list[NgramCounts], vocab_size: int, start_id: int, cutoffs=None,
                        fallback=DISCOUNT_FALLBACK, say: Optional[Callable[[str], None]] = None
                        ) -> tuple[list[NgramOrder], list]:
    """Interpolated modified Kneser-Ney from raw counts; returns (orders, discounts per order).

    ``cutoffs`` (``check_cutoffs``) drop the n-grams of order k whose raw count is at
    most ``cutoffs[k-1]``, as KenLM's ``--prune``: discounts and continuation counts
    are those of the whole text, and a dropped n-gram's whole count goes to its
    context's backoff weight, so that every context still sums to 1. ``say`` gets one
    line when an order's discounts fall back to ``fallback`` (default: stderr).
    """
    order = len(counted)
    cutoffs = check_cutoffs(cutoffs or [], order)
    fallback = check_discount_fallback(fallback)
    keep = [np.ones(len(counted[0].keys), dtype=bool)]
    keep += [counted[n].counts > cutoffs[n] for n in range(1, order)]
    adjusted = []
    for n in range(order):
        raw = counted[n].counts
        if n == order - 1:
            adjusted.append(raw)
            continue
        continuation = np.bincount(counted[n + 1].suffix, minlength=len(raw)).astype(np.int64)
        adjusted.append(np.where(counted[n].starts_sentence, raw, continuation))
    all_discounts = []
    fell_back = []
    probabilities = []
    gammas = []  # gammas[n][j]: interpolation weight of n-gram j (order n+1) used as a context
    for n in range(order):
        counts = adjusted[n].astype(np.float64)
        if n == 0:
            predicted = np.arange(vocab_size) != start_id
            discounts, estimated = kneser_ney_discounts(adjusted[0][predicted], fallback)
            all_discounts.append(discounts)
            if not estimated:
                fell_back.append(n + 1)
            discounted = np.maximum(counts - discounts[np.minimum(adjusted[0], 3)], 0.0) * predicted
            total = counts[predicted].sum()
            if total <= 0:
                raise RnnlmpyError("the training text has no words to count")
            seen = adjusted[0][predicted]
            gamma = float(np.sum(discounts[np.minimum(seen, 3)] * (seen > 0))) / total
            probability = discounted / total + gamma / predicted.sum()
            probability[~predicted] = 0.0
            probabilities.append(probability)
            continue
        context = counted[n].keys // vocab_size
        discounts, estimated = kneser_ney_discounts(adjusted[n], fallback)
        all_discounts.append(discounts)
        if not estimated:
            fell_back.append(n + 1)
        size_below = len(counted[n - 1].keys)
        total = np.bincount(context, weights=counts, minlength=size_below)
        class_of_count = np.minimum(adjusted[n], 3)
        # a kept n-gram gives its discount to the backoff mass, a dropped one its whole count
        taken = np.where(keep[n], discounts[class_of_count] * (adjusted[n] > 0), counts)
        mass = np.bincount(context, weights=taken, minlength=size_below)
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.where(total > 0, mass / total, 1.0)
        gammas.append(gamma)
        discounted = np.maximum(counts - discounts[class_of_count], 0.0)
        probability = discounted / total[context] + gamma[context] * probabilities[n - 1][counted[n].suffix]
        probabilities.append(probability)
    if fell_back:
        (say or _print_to_stderr)(
            f"warning: modified Kneser-Ney discounts cannot be estimated for order{'s' if len(fell_back) > 1 else ''} "
            f"{', '.join(map(str, fell_back))} (a count of 1, 2 or 3 never occurs, or an estimate is out of range: "
            f"small or artificial text?); using D1 {fallback[0]:g} D2 {fallback[1]:g} D3+ {fallback[2]:g} there "
            f"(-discount-fallback)")
    orders = []
    for n in range(order):
        with np.errstate(divide="ignore"):
            log_prob = np.log10(probabilities[n])
        if n == 0:
            log_prob[start_id] = NO_PROBABILITY
        if n < order - 1:
            backoff = np.log10(gammas[n])
        else:
            backoff = np.zeros(len(counted[n].keys))
        frequency = counted[n].counts / max(int(counted[n].counts.sum()), 1)
        orders.append(NgramOrder(keys=counted[n].keys, log10_prob=log_prob, log10_backoff=backoff,
                                 frequency=frequency))
    if any(not np.all(kept) for kept in keep):
        orders = select_ngrams(orders, keep, vocab_size)
    return orders, all_discounts


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def train_ngram(path: str, order: int, cutoffs=None, fallback=DISCOUNT_FALLBACK,
                say: Optional[Callable[[str], None]] = None) -> tuple[NgramModel, list]:
    """Build an interpolated modified Kneser-Ney model of ``order`` from a text file.

    Returns the model and the discounts [0, D1, D2, D3+] of each order. ``cutoffs``,
    ``fallback`` and ``say`` as ``estimate_kneser_ney`` takes them.
    """
    check_order(order)
    stream, words = encode_training_text(path)
    counted = count_ngrams(stream, order, len(words))
    del stream
    orders, discounts = estimate_kneser_ney(counted, len(words), 0, cutoffs, fallback, say)
    return NgramModel(words=words, orders=orders), discounts


# ---------------------------------------------------------------- scoring

@dataclass(repr=False)
class NgramScores:
    """Per-token scores of a text: log10 P of each predicted token (``</s>`` included)."""

    tokens: list[str]  # predicted tokens, in order (no <s>)
    log10_prob: np.ndarray  # float64 (tokens,); -inf for OOV
    matched_order: np.ndarray  # int (tokens,): order of the n-gram found (0 for OOV)
    is_oov: np.ndarray  # bool (tokens,)
    sentences: int

    @property
    def words(self) -> int:
        """Words, ``</s>`` not included (SRILM's "words")."""
        return len(self.tokens) - self.sentences

    @property
    def oovs(self) -> int:
        return int(np.count_nonzero(self.is_oov))

    @property
    def logprob(self) -> float:
        """Sum of log10 P over the scored tokens."""
        return float(np.sum(self.log10_prob[~self.is_oov]))

    @property
    def ppl(self) -> float:
        """Perplexity counting ``</s>`` (SRILM's ppl)."""
        return metrics.perplexity(self.logprob, max(self.words - self.oovs + self.sentences, 1))

    @property
    def ppl1(self) -> float:
        """Perplexity without ``</s>`` (SRILM's ppl1)."""
        return metrics.perplexity(self.logprob, max(self.words - self.oovs, 1))

    def __repr__(self) -> str:
        return (f"NgramScores(sentences={self.sentences}, words={self.words}, oovs={self.oovs}, "
                f"logprob={self.logprob:.6g}, ppl={self.ppl:.6g})")


def score_stream(model: NgramModel, stream: SentenceStream) -> tuple[np.ndarray, np.ndarray]:
    """log10 P and matched order of every position of the stream (``<s>`` positions: NaN, 0).

    Vectorised over positions: for each order the n-gram ending at every
    position is looked up at once, then each token takes its longest match
    plus the backoff weights of the longer contexts that did not match.
    """
    ids = stream.ids.astype(np.int64)
    tokens = len(ids)
    ending = []  # ending[n-1][i]: id of the n-gram ending at i, -1 if not in the model
    for n in range(1, model.order + 1):
        if n == 1:
            current = np.where(ids >= 0, ids, -1)
        else:
            context = np.full(tokens, -1, dtype=np.int64)
            fits = stream.position >= n - 1
            context[1:] = ending[-1][:-1]
            context[~fits] = -1
            current = model.lookup(n, context, ids)
        ending.append(current)
    log10_prob = np.full(tokens, np.nan)
    matched = np.zeros(tokens, dtype=np.int64)
    backoff_sum = np.zeros(tokens)
    for n in range(model.order, 0, -1):
        found = ending[n - 1]
        take = (found >= 0) & (matched == 0)
        log10_prob[take] = model.orders[n - 1].log10_prob[found[take]] + backoff_sum[take]
        matched[take] = n
        if n > 1:
            # not matched at order n: add the backoff weight of the (n-1)-word context ending at i-1
            context = np.full(tokens, -1, dtype=np.int64)
            context[1:] = ending[n - 2][:-1]
            context[stream.position < n - 1] = -1
            has = (matched == 0) & (context >= 0)
            backoff_sum[has] += model.orders[n - 2].log10_backoff[context[has]]
    return log10_prob, matched


def scoring_stream(sentences: list[list[str]], index: dict[str, int]) -> tuple[SentenceStream, list[str]]:
    """The sentences as the stream a model with word ids ``index`` scores (``<s>`` added; -1 for a word it lacks)
    and the tokens predicted: each sentence's words and ``</s>``, a word the model lacks read as ``<unk>`` when
    the model has one. One dictionary look-up per token, the rest on arrays."""
    tokens = [token for sentence in sentences for token in (*sentence, SENTENCE_END)]
    predicted = np.fromiter(map(index.get, tokens, itertools.repeat(-1)), dtype=np.int32, count=len(tokens))
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences)) + 2  # with <s> and </s>
    unknown = index.get("<unk>")
    if unknown is not None:
        missing = predicted < 0
        missing[np.cumsum(lengths - 1) - 1] = False  # the </s> closing each sentence stays itself
        for j in np.flatnonzero(missing).tolist():
            tokens[j] = "<unk>"
        predicted[missing] = unknown
    starts = np.cumsum(lengths) - lengths
    ids = np.empty(int(lengths.sum()), dtype=np.int32)
    is_start = np.zeros(len(ids), dtype=bool)
    is_start[starts] = True
    ids[is_start] = index.get(SENTENCE_START, -1)
    ids[~is_start] = predicted
    position = (np.arange(len(ids)) - np.repeat(starts, lengths)).astype(np.int32)
    return SentenceStream(ids=ids, position=position, sentences=len(sentences)), tokens


def score_sentences(model, sentences: list[list[str]], source: Optional[str] = None) -> NgramScores:
    """Score sentences SRILM-style with ``model`` (an NgramModel, or any model with ``index``, ``vocab_size`` and
    ``score_stream``, as the binary format's): each wrapped in <s> ... </s>; unknown words are OOVs.

    A word outside the vocabulary is scored as ``<unk>`` when the model has one. With
    ``source`` (the text's file name), a text with no word the model can score (none at all,
    or only OOVs) raises RnnlmpyError instead of giving a meaningless perplexity. Sentences given as strings
    are split into words (``base.text.as_sentences``).
    """
    sentences = as_sentences(sentences)
    stream, tokens = scoring_stream(sentences, model.index)
    log10_prob, matched = model.score_stream(stream)  # an NgramModel's, or a binary model's compiled walk
    predicted = stream.position > 0
    is_oov = stream.ids[predicted] < 0
    probabilities = log10_prob[predicted]
    probabilities[is_oov] = -math.inf
    scores = NgramScores(tokens=tokens, log10_prob=probabilities, matched_order=matched[predicted], is_oov=is_oov,
                         sentences=stream.sentences)
    if source is not None:
        _require_scorable_words(scores, sentences, source)
    return scores


def _require_scorable_words(scores: NgramScores, sentences: list[list[str]], source: str) -> None:
    """RnnlmpyError when no word of the text (``</s>`` not counted) is in the model."""
    sentence_ends = np.cumsum([len(sentence) + 1 for sentence in sentences], dtype=np.int64) - 1
    known = np.count_nonzero(~scores.is_oov) - np.count_nonzero(~scores.is_oov[sentence_ends])
    if known == 0:
        if scores.words == 0:
            raise RnnlmpyError(f"test file {source!r} is empty (no words)")
        raise RnnlmpyError(f"test file {source!r} has no word the model knows (all {scores.words} are OOVs and "
                           f"the model has no <unk>): nothing to score")

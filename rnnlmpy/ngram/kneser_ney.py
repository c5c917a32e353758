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

import itertools
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.text import SENTENCE_END, as_sentences, read_text, split_tokens, text_lines

SENTENCE_START = "<s>"
NO_PROBABILITY = -99.0  # log10 "probability" ARPA files give <s>, which is never predicted
MAX_ORDER = 7


@dataclass
class NgramOrder:
    """The n-grams of one order, sorted by ``keys = context * vocab_size + word``.

    ``context[j]`` indexes the n-gram's (n-1)-word prefix in the order below
    (for unigrams it is 0); ``log10_prob`` is log10 P(word | prefix) and
    ``log10_backoff`` the backoff weight of the n-gram used as a context
    (0 when it is never one).
    """

    keys: np.ndarray  # int64 (count,)
    log10_prob: np.ndarray  # float64 (count,)
    log10_backoff: np.ndarray  # float64 (count,)

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


# ---------------------------------------------------------------- counting

@dataclass
class NgramCounts:
    """Distinct n-grams of one order, sorted by key, with their relations to the order below."""

    keys: np.ndarray  # int64: context id * V + word
    counts: np.ndarray  # int64 raw counts
    suffix: np.ndarray  # int64: id of the (n-1)-gram of words 2..n (unigrams: -1)
    starts_sentence: np.ndarray  # bool: the n-gram begins with <s>


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
        unique, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                                   return_counts=True)
        representative = valid[first]
        result.append(NgramCounts(keys=unique, counts=counts, suffix=ending_here[representative],
                                  starts_sentence=position[representative] == n - 1))
        ending_here = np.full(len(ids), -1, dtype=np.int64)
        ending_here[valid] = inverse.reshape(-1)
    return result


# ---------------------------------------------------------------- estimation

def kneser_ney_discounts(counts: np.ndarray) -> np.ndarray:
    """[0, D1, D2, D3+] from the count-of-counts n1..n4 of ``counts`` (Chen & Goodman's estimates).

    Where the data are too few for the estimates (n1, n2 or n3 is 0) or one falls
    outside (0, k], every count gets the single discount Y = n1 / (n1 + 2 n2)
    (0.5 when even that is undefined); SRILM and KenLM stop with an error there.
    """
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4))
    if n1 == 0 and n2 == 0:
        return np.array([0.0, 0.5, 0.5, 0.5])
    y = n1 / (n1 + 2 * n2)
    if n1 > 0 and n2 > 0 and n3 > 0:
        estimates = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
        if np.all(estimates > 0) and np.all(estimates <= np.arange(1, 4)):
            return np.concatenate([[0.0], estimates])
    return np.array([0.0, y, y, y])


def estimate_kneser_ney(counted: list[NgramCounts], vocab_size: int, start_id: int) -> tuple[list[NgramOrder], list]:
    """Interpolated modified Kneser-Ney from raw counts; returns (orders, discounts per order)."""
    order = len(counted)
    adjusted = []
    for n in range(order):
        raw = counted[n].counts
        if n == order - 1:
            adjusted.append(raw)
            continue
        continuation = np.bincount(counted[n + 1].suffix, minlength=len(raw)).astype(np.int64)
        adjusted.append(np.where(counted[n].starts_sentence, raw, continuation))
    all_discounts = []
    probabilities = []
    gammas = []  # gammas[n][j]: interpolation weight of n-gram j (order n+1) used as a context
    for n in range(order):
        counts = adjusted[n].astype(np.float64)
        if n == 0:
            predicted = np.arange(vocab_size) != start_id
            discounts = kneser_ney_discounts(adjusted[0][predicted])
            all_discounts.append(discounts)
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
        discounts = kneser_ney_discounts(adjusted[n])
        all_discounts.append(discounts)
        size_below = len(counted[n - 1].keys)
        total = np.bincount(context, weights=counts, minlength=size_below)
        class_of_count = np.minimum(adjusted[n], 3)
        mass = np.bincount(context, weights=discounts[class_of_count] * (adjusted[n] > 0), minlength=size_below)
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.where(total > 0, mass / total, 1.0)
        gammas.append(gamma)
        discounted = np.maximum(counts - discounts[class_of_count], 0.0)
        probability = discounted / total[context] + gamma[context] * probabilities[n - 1][counted[n].suffix]
        probabilities.append(probability)
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
        orders.append(NgramOrder(keys=counted[n].keys, log10_prob=log_prob, log10_backoff=backoff))
    return orders, all_discounts


def train_ngram(path: str, order: int) -> tuple[NgramModel, list]:
    """Build an interpolated modified Kneser-Ney model of ``order`` from a text file.

    Returns the model and the discounts [0, D1, D2, D3+] of each order.
    """
    if not 1 <= order <= MAX_ORDER:
        raise RnnlmpyError(f"-order must be between 1 and {MAX_ORDER} (got {order})")
    sentences = read_sentences(path, "training file")
    index: dict[str, int] = {}
    stream = sentence_stream(sentences, index, grow=True)
    words = list(index)
    counted = count_ngrams(stream, order, len(words))
    orders, discounts = estimate_kneser_ney(counted, len(words), index[SENTENCE_START])
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

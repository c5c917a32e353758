"""An RNNLM word by word and sentence by sentence, for decoders and rescoring: explicit states, one word's
probability, the next word's distribution, and many sentences scored at once, each from the sentence start.

A state is the hidden vector and the previous words (most recent first; the first is the next input). It is
what a token stream carries from one position to the next (``streams``): stepping through a text word by word
gives the probabilities ``evaluation.score_tokens`` gives, because both run the same scoring kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base.system import split_evenly, thread_map
from . import network
from .evaluation import SLICES_PER_THREAD, test_start_state
from .model import RnnlmModel, state_size
from .streams import SENTENCE_END_INDEX, TokenStream

NO_INPUT = -1  # the stream's word for "nothing read" (a null context; an unknown word)


@dataclass(frozen=True, eq=False)
class RnnState:
    """A point in a text: the hidden state ``hidden`` (H,) (read-only) and the previous ``words`` (ids, most
    recent first, at most ``history_length`` of them; ``words[0]`` is read next; empty: a null context).

    States are values: equal when their words and hidden vectors are equal, hashable, never changed in place.
    """

    hidden: np.ndarray
    words: tuple[int, ...]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RnnState) and self.words == other.words
                and np.array_equal(self.hidden, other.hidden))

    def __hash__(self) -> int:
        return hash((self.words, self.hidden.tobytes()))

    def __repr__(self) -> str:
        return f"RnnState(words={self.words}, hidden=[{self.hidden.size} values])"


def history_length(model: RnnlmModel) -> int:
    """How many previous words a state keeps: those the direct connections read (at least the next input)."""
    config = model.config
    return max(config.direct_order, 1) if config.direct_size > 0 else 1


def _frozen(hidden: np.ndarray) -> np.ndarray:
    hidden = np.array(hidden, copy=True)
    hidden.flags.writeable = False
    return hidden


def sentence_start_state(model: RnnlmModel, bos: bool = True) -> RnnState:
    """The state before a sentence's first word: the test start state (``ppl``'s) having read ``</s>`` (``bos``),
    or having read nothing (a null context)."""
    return RnnState(_frozen(test_start_state(model)), (SENTENCE_END_INDEX,) if bos else ())


def score_next_word(model: RnnlmModel, state: RnnState, word: int, bundle=None) -> tuple[float, RnnState]:
    """P(``word`` | ``state``) and the state after it; ``word`` is an id (-1: a word the model does not know,
    probability 0, read as no input). ``bundle``: ``network.kernel_network(model)``, kept by a caller that
    steps many times.

    One stream position of the scoring kernel: the previous words fill the positions before it, so that the
    direct connections see them, and ``history_start`` hides the positions the state has no word for.
    """
    keep = history_length(model)
    words = np.zeros(keep + 2, dtype=np.int32)
    known = len(state.words)
    for back, previous in enumerate(state.words):
        words[keep - back] = previous
    if known == 0:
        words[keep] = NO_INPUT
    words[keep + 1] = word
    hidden = np.array(state.hidden, copy=True)
    probabilities = np.zeros(keep + 1, dtype=np.float64)
    network.score_span(model, words, keep, keep + 1, keep - known, hidden, probabilities, bundle)
    if model.config.independent and word == SENTENCE_END_INDEX:
        following = (SENTENCE_END_INDEX,)  # the kernel reset the state; older words are cut off there too
    else:
        following = ((word,) + state.words)[:keep]
    return float(probabilities[keep]), RnnState(_frozen(hidden), following)


def next_word_probabilities(model: RnnlmModel, state: RnnState) -> np.ndarray:
    """P(every word | ``state``) (float64, (V,), in vocabulary order)."""
    config = model.config
    hidden = np.empty(state_size(config), dtype=config.numpy_dtype)
    network.hidden_step(model, state.words[0] if state.words else NO_INPUT,
                        np.array(state.hidden, dtype=config.numpy_dtype), hidden)
    history = np.zeros(network.MAX_DIRECT_ORDER, dtype=np.int64)
    history[:len(state.words)] = state.words
    out = np.zeros(model.vocabulary.size, dtype=config.numpy_dtype)
    network.distribution(model, hidden, history, 1.0, out)
    return out.astype(np.float64)


def score_sentence_batch(model: RnnlmModel, word_ids: np.ndarray, lengths: np.ndarray, bos: bool = True,
                         eos: bool = True, threads: int = 1) -> np.ndarray:
    """P of every word of S sentences, each from ``sentence_start_state(model, bos)``: the sentences' word ids
    one after another (int32; -1: unknown, P = 0) and their ``lengths`` (int64 (S,)). Returns float64: each
    sentence's words' probabilities, then ``</s>``'s when ``eos``, sentence after sentence.

    The sentences are segments of one stream, scored by ``threads`` threads with the kernel that scores an
    independent model's sentences in ``ppl``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    count = len(lengths)
    scored = lengths + int(eos)  # predicted tokens of each sentence
    begins = np.cumsum(scored + 1) - (scored + 1)  # each segment opens with the word it reads first
    words = np.zeros(int(scored.sum()) + count, dtype=np.int32)
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    words[begins] = SENTENCE_END_INDEX if bos else NO_INPUT
    words[_within(begins + 1, lengths)] = word_ids  # with eos, the </s> after each sentence is already there (0)
    stream = TokenStream(words)
    ends = begins + scored
    probabilities = np.zeros(len(stream), dtype=np.float64)
    start = test_start_state(model)[None, :]
    bounds = np.concatenate([[0], np.cumsum(scored + 1)]).astype(np.int64)  # sentence k: words bounds[k]:[k + 1]
    parts = [(int(np.searchsorted(bounds, first)), int(np.searchsorted(bounds, last)))
             for first, last in split_evenly(bounds, threads * SLICES_PER_THREAD)] if threads > 1 else [(0, count)]

    def score_part(part: tuple[int, int]) -> None:
        first, last = part
        if last > first:
            network.score_segments(model, stream, begins[first:last], ends[first:last], start,
                                   start_index=np.zeros(last - first, dtype=np.int64), probabilities=probabilities)

    thread_map(score_part, parts, threads)
    return probabilities[_within(begins, scored)]


def _within(begins: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Every index ``begins[k] + j`` for ``0 <= j < lengths[k]``, k by k (int64)."""
    total = int(lengths.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(begins, lengths) + offsets

"""N-best rescoring (rnnlm's -nbest): one log10 score per hypothesis, alone or mixed with another model."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.system import thread_map
from ..base.text import SENTENCE_END, read_text, split_tokens, text_lines
from . import network
from .model import RnnlmModel
from .streams import language_model_stream

NBEST_OOV_LOG10 = -5.0  # rnnlm's score for a word neither model knows, in n-best rescoring


def read_nbest(path: str) -> list[tuple[str, list[str]]]:
    """An n-best list: lines ``ID w1 w2 ...`` as (ID, words)."""
    text = read_text(path, "n-best file")
    hypotheses = []
    for number, line in enumerate(text_lines(text), start=1):
        tokens = split_tokens(line)
        if not tokens:
            raise RnnlmpyError(f"n-best file {path!r} line {number} is empty; lines are 'ID word word ...'")
        hypotheses.append((tokens[0], tokens[1:]))
    if not hypotheses:
        raise RnnlmpyError(f"n-best file {path!r} is empty")
    return hypotheses


def nbest_start_state(model: RnnlmModel) -> np.ndarray:
    """rnnlm's n-best start: one step on ``</s>`` from an all-zero state."""
    hidden = np.empty(model.config.hidden_size, dtype=model.config.numpy_dtype)
    network.hidden_step(model, 0, np.zeros_like(hidden), hidden)
    return hidden


def score_nbest(model: RnnlmModel, hypotheses: list[tuple[str, list[str]]], other: Optional[np.ndarray] = None,
                lam: float = 1.0, threads: int = 1) -> np.ndarray:
    """log10 score of each hypothesis (its words and ``</s>``), for rescoring.

    Hypotheses with the same ID start from the same state; a new ID starts
    from the state after the first hypothesis of the previous ID (taken as its
    1-best), as rnnlm does. ``other`` holds another model's probability of
    every token of every hypothesis in order (``</s>`` included); the score is
    then sum log10(lam * P_rnn + (1 - lam) * P_other). A token the RNN does not
    know scores log10 P_other, or -5 when that is 0 too.

    The first hypotheses of the IDs are scored in order (each ID's start state
    depends on them); all the others are then shared among ``threads`` threads,
    with the same scores as one thread.
    """
    lengths = np.array([len(words) + 1 for _, words in hypotheses], dtype=np.int64)
    ends = np.cumsum(lengths)
    begins = ends - lengths
    word_ids = model.vocabulary.encode([token for _, words in hypotheses for token in (*words, SENTENCE_END)])
    stream = language_model_stream(word_ids)  # each hypothesis ends with </s>, so each next one reads </s> first
    ids = [hypothesis_id for hypothesis_id, _ in hypotheses]
    first = np.array([index == 0 or ids[index] != ids[index - 1] for index in range(len(ids))])
    group = np.cumsum(first) - 1  # the ID group of each hypothesis
    leaders = np.flatnonzero(first)
    # the leaders, chained: group g starts where group g-1's leader ended (group 0 from the n-best start)
    starts = np.empty((len(leaders) + 1, model.config.hidden_size), dtype=model.config.numpy_dtype)
    starts[0] = nbest_start_state(model)
    probabilities = network.score_segments(model, stream, begins[leaders], ends[leaders], starts[:1],
                                           final_states=starts[1:])
    followers = np.flatnonzero(~first)

    def score_followers(part: np.ndarray) -> None:
        network.score_segments(model, stream, begins[part], ends[part], starts, start_index=group[part],
                               probabilities=probabilities)

    thread_map(score_followers, np.array_split(followers, max(1, min(threads, len(followers)))), threads)
    known = word_ids >= 0
    q = other if other is not None else np.zeros(len(word_ids))
    mixed = metrics.mix([lam, 1 - lam], [np.where(known, probabilities, 0.0), q])
    with np.errstate(divide="ignore"):
        logs = np.where(mixed > 0, np.log10(np.maximum(mixed, 1e-300)), NBEST_OOV_LOG10)
    return np.add.reduceat(logs, begins) if len(logs) else np.zeros(0)

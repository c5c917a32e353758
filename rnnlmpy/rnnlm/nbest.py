"""N-best rescoring (rnnlm's -nbest): one log10 score per hypothesis, alone or mixed with another model."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.text import SENTENCE_END, read_text, split_tokens, text_lines
from . import network
from .model import RnnlmModel, state_size
from .streams import TokenStream, language_model_stream

LEADER_CHUNK = 256  # IDs whose first hypotheses are scored before their other hypotheses go to the threads
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
    hidden = np.empty(state_size(model.config), dtype=model.config.numpy_dtype)
    network.hidden_step(model, 0, np.zeros_like(hidden), hidden)
    return hidden


@dataclass(repr=False)
class NbestPlan:
    """The hypotheses as one stream, and the state each ID starts from once its first hypothesis is scored.

    Hypothesis i is the stream positions ``begins[i]:ends[i]`` (its words and ``</s>``);
    ``group[i]`` is its ID's number; ``leader[i]`` marks each ID's first
    hypothesis; ``starts[g]`` (``(G + 1, H)``) is the state ID g starts from.
    """

    word_ids: np.ndarray  # int32 (N,), -1 for words the model does not know
    stream: TokenStream
    begins: np.ndarray  # int64 (hypotheses,)
    ends: np.ndarray  # int64 (hypotheses,)
    group: np.ndarray  # int64 (hypotheses,)
    leader: np.ndarray  # bool (hypotheses,)
    starts: np.ndarray = field(default=None)  # (G + 1, H), filled by score_leaders
    probabilities: np.ndarray = field(default=None)  # float64 (N,), P of every token once scored

    @property
    def followers(self) -> np.ndarray:
        """Indices of the hypotheses that are not their ID's first (int64, ascending)."""
        return np.flatnonzero(~self.leader)


def plan_nbest(model: RnnlmModel, hypotheses: list[tuple[str, list[str]]]) -> NbestPlan:
    """Encode the hypotheses as one stream (each ends with ``</s>``, so the next one reads ``</s>`` first)."""
    lengths = np.array([len(words) + 1 for _, words in hypotheses], dtype=np.int64)
    ends = np.cumsum(lengths)
    word_ids = model.vocabulary.encode([token for _, words in hypotheses for token in (*words, SENTENCE_END)])
    ids = [hypothesis_id for hypothesis_id, _ in hypotheses]
    leader = np.array([index == 0 or ids[index] != ids[index - 1] for index in range(len(ids))], dtype=bool)
    return NbestPlan(word_ids, language_model_stream(word_ids), ends - lengths, ends, np.cumsum(leader) - 1, leader)


def score_leaders(model: RnnlmModel, plan: NbestPlan, first: int = 0, last: int | None = None) -> None:
    """Score the first hypotheses of IDs ``first <= g < last`` (all by default) in order, chaining the states:
    ID g + 1 starts where ID g's first hypothesis ended (ID 0 from the n-best start), as rnnlm does. Fills
    ``plan.starts[first + 1:last + 1]`` and those tokens of ``plan.probabilities`` (both made when
    ``first`` is 0); ``plan.starts[first]`` must be known."""
    leaders = np.flatnonzero(plan.leader)
    last = len(leaders) if last is None else last
    if first == 0:
        plan.starts = np.empty((len(leaders) + 1, state_size(model.config)), dtype=model.config.numpy_dtype)
        plan.starts[0] = nbest_start_state(model)
        plan.probabilities = np.zeros(len(plan.word_ids), dtype=np.float64)
    chosen = leaders[first:last]
    network.score_segments(model, plan.stream, plan.begins[chosen], plan.ends[chosen], plan.starts[first:first + 1],
                           final_states=plan.starts[first + 1:last + 1], probabilities=plan.probabilities)


def score_followers(model: RnnlmModel, plan: NbestPlan, part: np.ndarray, starts: np.ndarray,
                    start_index: np.ndarray, probabilities: np.ndarray) -> None:
    """Score the hypotheses ``part`` (int64 indices), hypothesis ``part[k]`` from ``starts[start_index[k]]``,
    into ``probabilities`` (float64, (N,))."""
    network.score_segments(model, plan.stream, plan.begins[part], plan.ends[part], starts, start_index=start_index,
                           probabilities=probabilities)


def hypothesis_scores(plan: NbestPlan, other: Optional[np.ndarray] = None, lam: float = 1.0) -> np.ndarray:
    """log10 score of each hypothesis from ``plan.probabilities``, mixed with ``other`` (see ``score_nbest``)."""
    known = plan.word_ids >= 0
    q = other if other is not None else np.zeros(len(plan.word_ids))
    mixed = metrics.mix([lam, 1 - lam], [np.where(known, plan.probabilities, 0.0), q])
    with np.errstate(divide="ignore"):
        logs = np.where(mixed > 0, np.log10(np.maximum(mixed, 1e-300)), NBEST_OOV_LOG10)
    return np.add.reduceat(logs, plan.begins) if len(logs) else np.zeros(0)


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
    depends on them), LEADER_CHUNK IDs at a time, while the other hypotheses of
    the IDs already started are scored by the other threads: the same scores as
    one thread.
    """
    plan = plan_nbest(model, hypotheses)
    followers = plan.followers

    def score_part(part: np.ndarray) -> None:
        score_followers(model, plan, part, plan.starts, plan.group[part], plan.probabilities)

    if threads <= 1 or len(followers) == 0:
        score_leaders(model, plan)
        score_part(followers)
        return hypothesis_scores(plan, other, lam)
    group_count = int(plan.group[-1]) + 1
    follower_groups = plan.group[followers]
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:

        def chain() -> list:
            """The leaders in order, a chunk of IDs at a time; each chunk's followers go to the pool at once."""
            parts = []
            for first in range(0, group_count, LEADER_CHUNK):
                last = min(group_count, first + LEADER_CHUNK)
                score_leaders(model, plan, first, last)
                begin, end = np.searchsorted(follower_groups, [first, last])
                if end > begin:
                    parts.append(pool.submit(score_part, followers[begin:end]))
            return parts

        for part in pool.submit(chain).result():
            part.result()
    return hypothesis_scores(plan, other, lam)

"""N-best rescoring (rnnlm's -nbest): one log10 score per hypothesis, alone or mixed with another model."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
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
                lam: float = 1.0) -> np.ndarray:
    """log10 score of each hypothesis (its words and ``</s>``), for rescoring.

    Hypotheses with the same ID start from the same state; a new ID starts
    from the state after the first hypothesis of the previous ID (taken as its
    1-best), as rnnlm does. ``other`` holds another model's probability of
    every token of every hypothesis in order (``</s>`` included); the score is
    then sum log10(lam * P_rnn + (1 - lam) * P_other). A token the RNN does not
    know scores log10 P_other, or -5 when that is 0 too.
    """
    scores = np.empty(len(hypotheses))
    state = nbest_start_state(model)
    id_start = state
    current_id, first_final = None, None
    position = 0
    for index, (hypothesis_id, words) in enumerate(hypotheses):
        if hypothesis_id != current_id:
            if first_final is not None:
                id_start = first_final
            current_id, first_final = hypothesis_id, None
        tokens = [*words, SENTENCE_END]
        word_ids = model.vocabulary.encode(tokens)
        probabilities, final = network.score_stream(model, language_model_stream(word_ids), id_start)
        if first_final is None:
            first_final = final
        known = word_ids >= 0
        q = other[position:position + len(tokens)] if other is not None else np.zeros(len(tokens))
        position += len(tokens)
        mixed = metrics.mix([lam, 1 - lam], [np.where(known, probabilities, 0.0), q])
        with np.errstate(divide="ignore"):
            logs = np.where(mixed > 0, np.log10(np.maximum(mixed, 1e-300)), NBEST_OOV_LOG10)
        scores[index] = float(logs.sum())
    return scores

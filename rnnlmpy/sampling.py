"""Text generation (rnnlm's -gen) and n-best rescoring (rnnlm's -nbest) with an RNNLM."""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import kernels
from .errors import RnnlmpyError
from .evaluation import RESET_VALUE, score_stream, test_start_state
from .model import RnnlmModel
from .streams import language_model_stream
from .textio import SENTENCE_END, read_text, split_tokens, text_lines

NBEST_OOV_LOG10 = -5.0  # rnnlm's score for a word neither model knows, in n-best rescoring


def generate(model: RnnlmModel, count: int, seed: int = 1, temperature: float = 1.0) -> list[str]:
    """Sample ``count`` tokens from the model; returns the sentences (lines), ``</s>`` ending each.

    Each step draws from the full distribution P(w | history) with scores
    divided by ``temperature`` (below 1: more conservative, above 1: more varied).
    """
    if count < 0:
        raise RnnlmpyError(f"-gen must be 0 or more (got {count})")
    if not temperature > 0:
        raise RnnlmpyError(f"-temperature must be positive (got {temperature})")
    config, vocabulary = model.config, model.vocabulary
    rng = np.random.default_rng(seed)
    activation = kernels.ACTIVATIONS[config.activation]
    hidden_prev = np.array(test_start_state(model), dtype=config.numpy_dtype)
    hidden = np.empty_like(hidden_prev)
    distribution = np.zeros(vocabulary.size, dtype=config.numpy_dtype)
    history = np.zeros(kernels.MAX_DIRECT_ORDER, dtype=np.int64)
    feature = np.zeros(1, dtype=np.int32)  # the previous word, </s> at the start
    lines, current = [], []
    for _ in range(count):
        kernels.hidden_forward(model.input_weights, model.recurrent, feature, 0, 1, hidden_prev, hidden, activation)
        kernels.output_distribution(model.class_weights, model.output_weights, vocabulary.class_start,
                                    vocabulary.class_end, hidden, model.direct, config.direct_order, history,
                                    temperature, distribution)
        cumulative = np.cumsum(distribution, dtype=np.float64)
        word = int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"),
                       vocabulary.size - 1))
        history[1:] = history[:-1]
        history[0] = word
        feature[0] = word
        if word == 0:
            lines.append(" ".join(current))
            current = []
        else:
            current.append(vocabulary.words[word])
        if config.independent and word == 0:
            hidden_prev[:] = RESET_VALUE
            history[:] = 0
        else:
            hidden_prev[:] = hidden
    if current:
        lines.append(" ".join(current))
    return lines


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
    kernels.hidden_forward(model.input_weights, model.recurrent, np.zeros(1, dtype=np.int32), 0, 1,
                           np.zeros_like(hidden), hidden, kernels.ACTIVATIONS[model.config.activation])
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
        probabilities, final = score_stream(model, language_model_stream(word_ids), id_start)
        if first_final is None:
            first_final = final
        known = word_ids >= 0
        q = other[position:position + len(tokens)] if other is not None else np.zeros(len(tokens))
        position += len(tokens)
        mixed = np.where(known, lam * probabilities, 0.0) + (1 - lam) * q
        with np.errstate(divide="ignore"):
            logs = np.where(mixed > 0, np.log10(np.maximum(mixed, 1e-300)), NBEST_OOV_LOG10)
        scores[index] = float(logs.sum())
    return scores

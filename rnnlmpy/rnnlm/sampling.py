"""Text generation (rnnlm's -gen): sampling from an RNNLM, token by token."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ..base.checks import check_rand_seed
from ..base.errors import RnnlmpyError
from . import network
from .evaluation import test_start_state
from .model import RnnlmModel

MAX_GENERATED_TOKENS = 10**12  # -gen: a bound that any real use stays far below


def generate(model: RnnlmModel, count: int, seed: int = 1, temperature: float = 1.0) -> list[str]:
    """Sample ``count`` tokens from the model; returns the sentences (lines), ``</s>`` ending each.

    Each step draws from the full distribution P(w | history) with scores
    divided by ``temperature`` (below 1: more conservative, above 1: more varied).
    """
    return list(generate_lines(model, count, seed, temperature))


def generate_lines(model: RnnlmModel, count: int, seed: int = 1, temperature: float = 1.0) -> Iterator[str]:
    """``generate``, one line at a time as each sentence ends (for output that starts at once).

    The arguments are checked at the call, not at the first line.
    """
    if not 0 <= count <= MAX_GENERATED_TOKENS:
        raise RnnlmpyError(f"-gen must be between 0 and {MAX_GENERATED_TOKENS:,} (got {count})")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise RnnlmpyError(f"-temperature must be a positive finite number (got {temperature})")
    check_rand_seed(seed)
    return _sample(model, count, seed, temperature)


def _sample(model: RnnlmModel, count: int, seed: int, temperature: float) -> Iterator[str]:
    config, vocabulary = model.config, model.vocabulary
    rng = np.random.default_rng(seed)
    hidden_prev = np.array(test_start_state(model), dtype=config.numpy_dtype)
    hidden = np.empty_like(hidden_prev)
    distribution = np.zeros(vocabulary.size, dtype=config.numpy_dtype)
    history = np.zeros(network.MAX_DIRECT_ORDER, dtype=np.int64)
    previous = 0  # the previous word, </s> at the start
    current = []
    for _ in range(count):
        network.hidden_step(model, previous, hidden_prev, hidden)
        network.distribution(model, hidden, history, temperature, distribution)
        cumulative = np.cumsum(distribution, dtype=np.float64)
        word = int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"),
                       vocabulary.size - 1))
        history[1:] = history[:-1]
        history[0] = word
        previous = word
        if word == 0:
            yield " ".join(current)
            current = []
        else:
            current.append(vocabulary.words[word])
        if config.independent and word == 0:
            hidden_prev[:] = network.start_state(config, flush=False)
            history[:] = 0
        else:
            hidden_prev[:] = hidden
    if current:
        yield " ".join(current)

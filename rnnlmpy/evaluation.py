"""Perplexity of an RNNLM on a token stream (the ``ppl`` command's engine)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import kernels
from .model import RnnlmModel
from .streams import TokenStream, language_model_stream
from .textio import read_corpus

RESET_VALUE = 1.0  # hidden state of an independent model at every sentence start (as rnnlm)
FLUSH_VALUE = 0.1  # hidden state at the start of a training or validation pass (as rnnlm)


def network_arrays(model: RnnlmModel) -> tuple:
    """The kernels' first seven arguments: weights and the output-class layout."""
    vocabulary = model.vocabulary
    return (model.input_weights, model.recurrent, model.class_weights, model.output_weights,
            vocabulary.word_class, vocabulary.class_start, vocabulary.class_end)


def score_stream(model: RnnlmModel, stream: TokenStream, hidden_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(target) of every position (float64, shape (N,); 0 where unscored) and the final state.

    ``hidden_start`` (shape (H,)) is the state before the first position; it is not modified.
    """
    hidden = np.array(hidden_start, dtype=model.config.numpy_dtype, copy=True)
    probabilities = np.zeros(len(stream), dtype=np.float64)
    kernels.score_span(*network_arrays(model), stream.feature_ptr, stream.feature_ids, stream.targets,
                       stream.boundaries, 0, len(stream), hidden, kernels.ACTIVATIONS[model.config.activation],
                       model.config.independent, RESET_VALUE, model.direct, model.config.direct_order, probabilities)
    return probabilities, hidden


@dataclass
class PerplexityResult:
    """Scores of a test text: ``probabilities[i]`` is P(token i), 0 for an OOV token."""

    tokens: list[str]
    word_ids: np.ndarray  # int32 (N,), -1 for OOV
    probabilities: np.ndarray  # float64 (N,)

    @property
    def oov_count(self) -> int:
        """Tokens not in the vocabulary (and no ``<unk>`` to stand for them): excluded from the score."""
        return int(np.count_nonzero(self.word_ids < 0))

    @property
    def scored_count(self) -> int:
        """Tokens that were scored, ``</s>`` included."""
        return len(self.word_ids) - self.oov_count

    @property
    def log10_probability(self) -> float:
        """Sum of log10 P over the scored tokens."""
        scored = self.probabilities[self.word_ids >= 0]
        return float(np.sum(np.log10(np.maximum(scored, 1e-300))))

    @property
    def perplexity(self) -> float:
        """10 ** (-log10 probability / scored tokens)."""
        if self.scored_count == 0:
            return math.inf
        return 10.0 ** (-self.log10_probability / self.scored_count)

    @property
    def entropy_bits(self) -> float:
        """Cross-entropy in bits per scored token."""
        return math.log2(self.perplexity)


def test_start_state(model: RnnlmModel) -> np.ndarray:
    """Hidden state a test pass starts from: the stored state, or the reset value if independent."""
    if model.config.independent:
        return np.full(model.config.hidden_size, RESET_VALUE, dtype=model.config.numpy_dtype)
    return model.hidden_state


def score_tokens(model: RnnlmModel, tokens: list[str]) -> PerplexityResult:
    """Score a token list (lines closed by ``</s>``) from the model's test start state."""
    word_ids = model.vocabulary.encode(tokens)
    probabilities, _ = score_stream(model, language_model_stream(word_ids), test_start_state(model))
    return PerplexityResult(tokens=tokens, word_ids=word_ids, probabilities=probabilities)


def read_test(model: RnnlmModel, path: str) -> list[str]:
    """A test file's tokens as the model reads them (words, or characters for a character model)."""
    return read_corpus(path, "test file", char_level=model.config.char_level)


def evaluate_file(model: RnnlmModel, path: str, dynamic_alpha: float = 0.0) -> PerplexityResult:
    """Score the text file ``path`` (see ``score_tokens``; ``dynamic_alpha`` > 0: dynamic evaluation)."""
    tokens = read_test(model, path)
    return score_dynamic(model, tokens, dynamic_alpha) if dynamic_alpha > 0 else score_tokens(model, tokens)


def score_dynamic(model: RnnlmModel, tokens: list[str], alpha: float) -> PerplexityResult:
    """Dynamic evaluation: score each token, then learn from it (SGD at ``alpha``, BPTT every token).

    Works on a copy of the weights; ``model`` itself is left unchanged.
    """
    from .training import KernelState  # training builds on this module, so import here
    word_ids = model.vocabulary.encode(tokens)
    stream = language_model_stream(word_ids)
    config = replace(model.config, bptt_block=1)
    state = KernelState.fresh(config)
    state.hidden_prev[:] = test_start_state(model)
    working = replace(model, **{name: array.copy() for name, array in model.weights().items()})
    probabilities = np.zeros(len(stream), dtype=np.float64)
    kernels.train_span(*network_arrays(working), stream.feature_ptr, stream.feature_ids, stream.targets,
                       stream.boundaries, 0, len(stream), state.hidden_prev, state.recurrent_update,
                       state.ring_position, state.ring_input, state.ring_hidden, state.ring_error, state.counters,
                       config.numpy_dtype(alpha), config.beta, config.gradient_cutoff, config.bptt, 1,
                       kernels.ACTIVATIONS[config.activation], config.independent, RESET_VALUE, working.direct,
                       config.direct_order, probabilities)
    return PerplexityResult(tokens=tokens, word_ids=word_ids, probabilities=probabilities)

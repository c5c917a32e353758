"""Perplexity of an RNNLM on a token stream (the ``ppl`` command's engine), static or dynamic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.system import split_evenly, thread_map
from ..base.text import as_tokens
from ..corpus import EncodedCorpus, encode_file
from . import batched_scoring, network
from .model import RnnlmModel
from .streams import TokenStream, language_model_stream, sentence_bounds

SLICES_PER_THREAD = 8  # an independent model's sentences are scored in this many slices per thread, each taken by
# the next free thread, so that a thread slowed down by another process does not hold the others up at the end


@dataclass(repr=False)
class PerplexityResult:
    """Scores of a test text: ``probabilities[i]`` is P(token i), 0 for an OOV token."""

    tokens: Sequence[str]  # a list, or a TokenSequence view of an encoded file
    word_ids: np.ndarray  # int32 (N,), -1 for OOV
    probabilities: np.ndarray  # float64 (N,)

    def __repr__(self) -> str:
        return (f"PerplexityResult(perplexity={self.perplexity:.4f}, scored={self.scored_count}, "
                f"oov={self.oov_count})")

    @property
    def known(self) -> np.ndarray:
        """Bool mask (N,) of the tokens the model scored."""
        return self.word_ids >= 0

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
        return metrics.log10_sum(self.probabilities[self.known])

    @property
    def perplexity(self) -> float:
        """10 ** (-log10 probability / scored tokens); infinite when nothing was scored."""
        return metrics.perplexity(self.log10_probability, self.scored_count)

    @property
    def entropy_bits(self) -> float:
        """Cross-entropy in bits per scored token."""
        return metrics.entropy_bits(self.log10_probability, self.scored_count)


def test_start_state(model: RnnlmModel) -> np.ndarray:
    """Hidden state (H,) a test pass starts from: the stored state, or the reset value if independent."""
    if model.config.independent:
        return network.start_state(model.config, flush=False)
    return model.hidden_state


def score_tokens(model: RnnlmModel, tokens: list[str], threads: int = 1) -> PerplexityResult:
    """Score a token list (lines closed by ``</s>``) from the model's test start state.

    A ``str`` is text, as KenLM's ``score("the company said")``: each line's words,
    then ``</s>`` (``base.text.as_tokens``); it is never scored character by character.
    An ``independent`` model's sentences do not depend on each other: ``threads``
    threads score slices of them at once, with the same result as one.
    """
    tokens = as_tokens(tokens)
    word_ids = model.vocabulary.encode(tokens)
    stream = language_model_stream(word_ids)
    probabilities = score_stream(model, stream, threads)
    return PerplexityResult(tokens=tokens, word_ids=word_ids, probabilities=probabilities)


def score_stream(model: RnnlmModel, stream: TokenStream, threads: int = 1) -> np.ndarray:
    """P(target) of every position of ``stream`` (float64, (N,); 0 where unscored) from the test start state,
    an ``independent`` model's sentences shared among ``threads`` threads."""
    start = test_start_state(model)
    if not model.config.independent or threads <= 1:
        return network.score_stream(model, stream, start)[0]
    probabilities = np.zeros(len(stream), dtype=np.float64)
    slices = split_evenly(sentence_bounds(stream), threads * SLICES_PER_THREAD)

    def score_slice(bounds: tuple[int, int]) -> None:
        network.score_segments(model, stream, np.array([bounds[0]]), np.array([bounds[1]]), start[None, :],
                               start_index=np.zeros(1, dtype=np.int64), probabilities=probabilities)

    thread_map(score_slice, slices, threads)
    return probabilities


def check_dynamic_rate(alpha: float) -> None:
    """RnnlmpyError unless ``alpha`` is a usable dynamic-evaluation rate (finite, 0 = off)."""
    if not (math.isfinite(alpha) and alpha >= 0):
        raise RnnlmpyError(f"-dynamic must be 0 (off) or a positive finite learning rate (got {alpha})")


def score(model: RnnlmModel, tokens: list[str], dynamic_alpha: float = 0.0, threads: int = 1) -> PerplexityResult:
    """Score tokens statically (an independent model's sentences by ``threads`` threads), or by dynamic
    evaluation when ``dynamic_alpha`` > 0 (one thread: each word learns from the ones before). A ``str`` is
    text, as in ``score_tokens``."""
    check_dynamic_rate(dynamic_alpha)
    tokens = as_tokens(tokens)
    if dynamic_alpha > 0:
        return score_dynamic(model, tokens, dynamic_alpha)
    return score_tokens(model, tokens, threads)


def corpus_word_ids(model: RnnlmModel, corpus: EncodedCorpus, begin: int = 0, end: int | None = None) -> np.ndarray:
    """The model's word ids (int32; ``<unk>`` or -1 for unknown words) of the corpus's tokens ``begin:end``."""
    return model.vocabulary.encode(corpus.types)[corpus.type_ids[begin:end]]


def evaluate_file(model: RnnlmModel, path: str, dynamic_alpha: float = 0.0, threads: int = 1) -> PerplexityResult:
    """Score the text file ``path`` (see ``score``; ``dynamic_alpha`` > 0: dynamic evaluation).

    The file is read as int32 ids (``rnnlmpy.corpus``, memory-mapped from the
    corpus cache when it was seen before); its tokens are not kept as strings.
    """
    check_dynamic_rate(dynamic_alpha)
    corpus = encode_file(path, "test file", char_level=model.config.char_level)
    tokens = corpus.tokens()
    if dynamic_alpha > 0:
        return score_dynamic(model, tokens, dynamic_alpha)
    word_ids = corpus_word_ids(model, corpus)
    probabilities = score_stream(model, language_model_stream(word_ids), threads)
    return PerplexityResult(tokens=tokens, word_ids=word_ids, probabilities=probabilities)


def score_dynamic(model: RnnlmModel, tokens: list[str], alpha: float) -> PerplexityResult:
    """Dynamic evaluation: score each token, then learn from it (SGD at ``alpha``, BPTT every token; the
    batched engine scores a window of ``bptt`` tokens, then takes one SGD step on it).

    Works on a copy of the weights; ``model`` itself is left unchanged. A ``str`` is text, as in ``score_tokens``.
    """
    tokens = as_tokens(tokens)
    word_ids = model.vocabulary.encode(tokens)
    stream = language_model_stream(word_ids)
    if model.config.batched:
        probabilities = batched_scoring.score_dynamic(model, stream, test_start_state(model), alpha)
        return PerplexityResult(tokens=tokens, word_ids=word_ids, probabilities=probabilities)
    state = network.KernelState.fresh(model.config, bptt_block=1)
    state.hidden_prev[:] = test_start_state(model)
    working = replace(model, **{name: array.copy() for name, array in model.weights().items()})
    probabilities = np.zeros(len(stream), dtype=np.float64)
    network.train_span(working, stream, 0, len(stream), state, alpha, bptt_block=1, probabilities=probabilities)
    return PerplexityResult(tokens=tokens, word_ids=word_ids, probabilities=probabilities)

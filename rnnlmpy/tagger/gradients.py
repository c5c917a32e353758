"""Gradients through time of the RNN tagger, in each reading direction.

For each k = 0..K, the mean over a tagged text of ``||d L(t) / d h_forward(t-k)||``
and of ``||d L(t) / d h_backward(t+k)||``, where ``L(t) = -ln P(gold tag of t)``
under one network's softmax over ``[h_forward(t), h_backward(t), 1]``: the
gradient training follows, back along each direction's own reading order. Each
sentence is read from a zero state, so only pairs within one sentence exist. The
networks of an ensemble are measured one by one and their pairs averaged together
(the ensemble averages posteriors, but each network is trained, and forgets, on
its own). Tokens whose gold tag the tagger does not know are not scored.

The cells' transposed Jacobians and the sweep are the language model's
(``kernels.jacobians``): a direction's states become a steps bundle
(``direction_steps``) and are swept in its reading order. A gated (lstm, gru)
network's directions are run by the window kernels they were trained on, and an
LSTM's gradient reaches h(t-k) through its cell state too.
"""

from __future__ import annotations

import numpy as np

from ..base.compiling import watch_numba
from ..base.errors import RnnlmpyError
from ..base.system import blas_threads
from ..base.text import as_sentences
from ..kernels import window_gru, window_lstm
from ..kernels.jacobians import ACTIVATIONS, ElmanSteps, GradientSweep, window_steps
from ..kernels.window import STATES, window_cache
from .files import read_tagged
from .gated import GATED_CELLS, direction_cells
from .rnn import RnnTagger, TaggerWeights, hidden_states
from .store import load_tagger

watch_numba()  # this module's kernels say when they compile (base.compiling)

DIRECTIONS = ("forward", "backward")
WINDOW_CELLS = {"lstm": window_lstm, "gru": window_gru}  # a gated tagger's cell -> its window kernels

__all__ = ["DIRECTIONS", "direction_steps", "tagger_gradient_norms", "tagger_gradient_norms_file"]


def direction_steps(tagger: RnnTagger, member: TaggerWeights, direction: str, sentences: list[list[str]]):
    """(steps bundle of ``kernels.jacobians`` over every token in the direction's reading order, hidden states
    float64 (tokens, H) in text order) of one network's ``direction`` ("forward", "backward") over ``sentences``,
    each from a zero state. The tanh cell's; a gated cell of the batched engine's window kernels gives its
    bundle by ``jacobians.window_steps`` from its forward pass's cache."""
    config = tagger.config
    if config.cell in GATED_CELLS:
        return _window_direction_steps(tagger, member, direction, sentences)
    size = config.hidden_size
    reverse = direction == "backward"
    input_weights = member.backward_input if reverse else member.forward_input
    recurrent = member.backward_recurrent if reverse else member.forward_recurrent
    sentence_start, token_type, type_ptr, type_ids = tagger.encode_types(sentences)
    tokens = len(token_type)
    type_inputs = np.add.reduceat(input_weights[type_ids], type_ptr[:-1], axis=0) if len(type_ids) \
        else np.zeros((len(type_ptr) - 1, size), dtype=input_weights.dtype)
    type_inputs[np.diff(type_ptr) == 0] = 0  # reduceat copies a row for an empty range
    states = np.empty((tokens, size), dtype=input_weights.dtype)
    hidden_states(config, type_inputs, recurrent, np.arange(tokens + 1, dtype=np.int64), token_type, sentence_start,
                  reverse, max((len(s) for s in sentences), default=1), states)
    states = states.astype(np.float64)
    return ElmanSteps(np.ascontiguousarray(recurrent, dtype=np.float64), _reading_order(states, direction),
                      ACTIVATIONS[config.activation]), states


def _window_direction_steps(tagger: RnnTagger, member, direction: str, sentences: list[list[str]]):
    """``direction_steps`` of a gated network: the direction read as one stream in its reading order by its window
    cell's ``forward`` (a reset at each sentence's first token read), the steps bundle from that pass's cache."""
    config = tagger.config
    sentence_start, feature_ptr, feature_ids = tagger.encode(as_sentences(sentences))
    cell = next(found for found in direction_cells(config, member, sentence_start, feature_ptr, feature_ids)
                if found.name == direction)
    tokens, size = len(cell.inputs), config.hidden_size
    inputs = _reading_order(cell.inputs, direction)[:, None, :]
    lengths = np.diff(sentence_start)
    firsts = (sentence_start[1:] - 1) if cell.reverse else sentence_start[:-1]  # text index of the first token read
    resets = np.zeros((tokens, 1), dtype=np.uint8)
    read_first = firsts[lengths > 0]
    resets[(tokens - 1 - read_first) if cell.reverse else read_first, 0] = 1
    dtype = inputs.dtype
    state = np.zeros((1, STATES[config.cell], size), dtype=dtype)
    outputs = np.empty((tokens, 1, size), dtype=dtype)
    cache = window_cache(config.cell, tokens, 1, size, dtype)
    WINDOW_CELLS[config.cell].forward(cell.weights, inputs, resets, state, outputs, cache, np.empty_like(state))
    states = _reading_order(outputs[:, 0].astype(np.float64), direction)  # back in text order
    return window_steps(config.cell, cell.weights.recurrent, cache), states


def _reading_order(array: np.ndarray, direction: str) -> np.ndarray:
    """``array`` (tokens, ...) in the direction's reading order (the backward one reads the text from its end)."""
    return np.ascontiguousarray(array[::-1] if direction == "backward" else array)


def tagger_gradient_norms(tagger, sentences: list[tuple[list[str], list[str]]], steps: int
                          ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Direction -> (mean norm float64 (K+1,), pairs int64 (K+1,)) for k = 0..``steps`` (see the module
    docstring); NaN where no pair is k apart. ``steps``: K >= 0 (its upper bound is the caller's, as for a
    language model)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise RnnlmpyError(f"-steps must be a whole number, at least 0 (got {steps!r})")
    if not isinstance(tagger, RnnTagger):
        raise RnnlmpyError("gradients through time need an RNN tagger; an HMM has no hidden state")
    config = tagger.config
    words = [sentence_words for sentence_words, _ in sentences]
    tag_index = {tag: i for i, tag in enumerate(tagger.tags)}
    gold = np.array([tag_index.get(tag, -1) for _, tags in sentences for tag in tags], dtype=np.int64)
    scored = gold >= 0
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    firsts = np.zeros(len(gold), dtype=np.bool_)
    firsts[np.cumsum(lengths)[:-1]] = True
    if len(gold):
        firsts[0] = True
    lasts = np.zeros(len(gold), dtype=np.bool_)
    lasts[np.cumsum(lengths) - 1] = True
    directions = DIRECTIONS if config.bidirectional else DIRECTIONS[:1]
    sweeps = {direction: GradientSweep(steps, config.hidden_size, config.cell == "lstm") for direction in directions}
    import scipy.linalg.cython_blas  # noqa: F401 (the OpenBLAS of Numba's np.dot, loaded for blas_threads to reach)
    with blas_threads(1):  # K + 1 rows per product: BLAS threads would only wait for each other
        for member in tagger.members:
            _sweep_member(tagger, member, directions, words, gold, scored, firsts, lasts, sweeps)
    return {direction: sweep.means() for direction, sweep in sweeps.items()}


def _sweep_member(tagger, member: TaggerWeights, directions: tuple, words: list[list[str]], gold: np.ndarray,
                  scored: np.ndarray, firsts: np.ndarray, lasts: np.ndarray, sweeps: dict) -> None:
    """One network's directions swept into ``sweeps`` (direction -> ``GradientSweep``): ``gold`` tag ids (tokens,)
    (-1: unknown, not ``scored``), each sentence's ``firsts`` and ``lasts`` tokens (bool (tokens,))."""
    size = tagger.config.hidden_size
    found = {direction: direction_steps(tagger, member, direction, words) for direction in directions}
    output = member.output_weights.astype(np.float64)
    joined = np.ones((len(gold), output.shape[1]))  # the tanh tagger's last column: its output bias's input
    for index, direction in enumerate(directions):
        joined[:, index * size:(index + 1) * size] = found[direction][1]
    scores = joined @ output.T
    if tagger.config.cell in GATED_CELLS:  # a separate bias
        scores += member.output_bias
    scores -= scores.max(axis=1, keepdims=True)
    probabilities = np.exp(scores)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    probabilities[np.flatnonzero(scored), gold[scored]] -= 1.0  # d(-ln P(gold))/d(scores)
    grad_joined = probabilities @ output
    for index, direction in enumerate(directions):
        steps_bundle, _ = found[direction]
        grads = grad_joined[:, index * size:(index + 1) * size]
        sweep = sweeps[direction]
        sweep.restart()
        sweep.add(steps_bundle, _reading_order(grads, direction), _reading_order(scored, direction),
                  _reading_order(lasts if direction == "backward" else firsts, direction), 0)


def tagger_gradient_norms_file(path: str, test_path: str, steps: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``tagger_gradient_norms`` of the tagger file ``path`` over the tagged text ``test_path`` (``word_TAG``
    lines, as training reads them)."""
    tagger = load_tagger(path)
    if not isinstance(tagger, RnnTagger):
        raise RnnlmpyError(f"tagger {path!r} is an HMM: gradients through time need an RNN tagger")
    return tagger_gradient_norms(tagger, read_tagged(test_path, "test file"), steps)

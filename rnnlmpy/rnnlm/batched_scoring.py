"""Scoring with the batched engine: ``network``'s scoring functions for a ``config.batched`` model.

A "hidden" state here is the model's whole state, (L*S*H,) (every layer's h, and
c for an LSTM); ``network.score_stream``, ``score_span``, ``score_segments``,
``hidden_step`` and ``distribution`` call these when ``model.config.batched``, so
``ppl`` (-debug 2, -independent, -nbest), ``gen``, ``ensemble``, ``compare`` and
the Python API score a batched model as they score any other. One stream is
scored in windows of SCORE_STEPS steps (one row each); segments that each start
from their own state (sentences of an independent model, n-best hypotheses)
are scored SCORE_STREAMS at a time, side by side, grouped by length so that each
ends exactly at its window's end.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..kernels import optimizers
from . import deep
from .batched_streams import BatchedText, lay_out
from .streams import SENTENCE_END_INDEX, TokenStream

SCORE_STEPS = 128  # steps of one scoring window
SCORE_STREAMS = 64  # segments scored side by side


def _score_text(model, text, state: np.ndarray, probabilities: np.ndarray) -> None:
    """Score a laid-out text (``batched_streams.BatchedText``) from ``state`` (B, L*S*H), updated in place;
    P(target) of each scored cell into ``probabilities`` at its stream position."""
    log10_out = np.zeros((min(SCORE_STEPS, max(text.steps, 1)), text.streams), dtype=np.float64)
    for begin in range(0, text.steps, SCORE_STEPS):
        end = min(begin + SCORE_STEPS, text.steps)
        window = deep.Window(inputs=text.inputs[begin:end], targets=text.targets[begin:end],
                             resets=text.resets[begin:end], weights=text.weights[begin:end])
        out = log10_out[:end - begin]
        deep.score_window(model, window, state, out)
        scored = text.weights[begin:end] > 0
        probabilities[text.positions[begin:end][scored]] = 10.0 ** out[scored]


def score_stream(model, stream: TokenStream, hidden_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(target) of every position (float64 (N,); 0 where unscored) and the final state (L*S*H,), from
    ``hidden_start`` (not modified)."""
    config = model.config
    state = np.array(hidden_start, dtype=config.numpy_dtype, copy=True).reshape(1, -1)
    probabilities = np.zeros(len(stream), dtype=np.float64)
    _score_text(model, lay_out(stream, 1, config.independent, config.numpy_dtype), state, probabilities)
    return probabilities, state[0]


def score_span(model, words: np.ndarray, begin: int, end: int, hidden_prev: np.ndarray,
               probabilities: np.ndarray) -> None:
    """P(target) of positions ``begin <= t < end`` of the stream ``words`` into ``probabilities``, from
    ``hidden_prev`` (L*S*H,), which holds the state after position ``end - 1`` on return."""
    found, final = score_stream(model, TokenStream(np.ascontiguousarray(words[begin:end + 1])), hidden_prev)
    probabilities[begin:end] = found
    hidden_prev[...] = final


def score_segments(model, stream: TokenStream, segment_begin: np.ndarray, segment_end: np.ndarray,
                   start_states: np.ndarray, start_index: np.ndarray | None, final_states: np.ndarray | None,
                   probabilities: np.ndarray) -> None:
    """``network.score_segments`` for the batched engine (same arguments; states (L*S*H,))."""
    config = model.config
    if start_index is None:  # chained: one after another, each from where the previous ended
        state = np.array(start_states[0], dtype=config.numpy_dtype, copy=True)
        for index, (begin, end) in enumerate(zip(segment_begin.tolist(), segment_end.tolist())):
            score_span(model, stream.words, begin, end, state, probabilities)
            if final_states is not None and len(final_states):
                final_states[index] = state
        return
    lengths = np.asarray(segment_end, dtype=np.int64) - np.asarray(segment_begin, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    group_starts = np.flatnonzero(np.diff(sorted_lengths, prepend=-1))
    for group_begin, group_end in zip(group_starts, [*group_starts[1:], len(order)]):
        for first in range(group_begin, group_end, SCORE_STREAMS):
            chosen = order[first:min(first + SCORE_STREAMS, group_end)]
            _score_group(model, stream, np.asarray(segment_begin, dtype=np.int64)[chosen], int(lengths[chosen[0]]),
                         start_states, np.asarray(start_index)[chosen], chosen, final_states, probabilities)


def _score_group(model, stream: TokenStream, begins: np.ndarray, length: int, start_states: np.ndarray,
                 start_index: np.ndarray, chosen: np.ndarray, final_states: np.ndarray | None,
                 probabilities: np.ndarray) -> None:
    """Segments of one ``length`` starting at ``begins``, side by side, each from ``start_states[start_index]``;
    their final states into ``final_states[chosen]``."""
    config = model.config
    state = np.array(start_states[start_index], dtype=config.numpy_dtype, copy=True, order="C")
    if length > 0:
        positions = begins[None, :] + np.arange(length, dtype=np.int64)[:, None]  # (length, b)
        inputs, targets = stream.inputs[positions], stream.targets[positions]
        resets = np.zeros(positions.shape, dtype=np.uint8)
        if config.independent and length > 1:
            resets[1:] = stream.targets[positions[:-1]] == SENTENCE_END_INDEX
        text = BatchedText(inputs=np.ascontiguousarray(np.where(inputs < 0, SENTENCE_END_INDEX, inputs),
                                                       dtype=np.int32),
                           targets=np.ascontiguousarray(np.where(targets < 0, 0, targets), dtype=np.int32),
                           weights=np.ascontiguousarray(targets >= 0, dtype=config.numpy_dtype), resets=resets,
                           positions=positions)
        _score_text(model, text, state, probabilities)
    if final_states is not None and len(final_states):
        final_states[chosen] = state


def hidden_step(model, word: int, state: np.ndarray, new_state: np.ndarray) -> None:
    """One step reading ``word`` (-1: unknown, read as ``</s>``) from ``state`` (L*S*H,) into ``new_state``."""
    out = np.empty(model.vocabulary.size, dtype=model.config.numpy_dtype)
    new_state[...] = deep.next_distribution(model, np.array(state, dtype=model.config.numpy_dtype, copy=True),
                                            SENTENCE_END_INDEX if word < 0 else int(word), out)


def distribution(model, state: np.ndarray, temperature: float, out: np.ndarray) -> None:
    """P(every word) (V,) into ``out`` given ``state`` (L*S*H,), read off its top layer's h; with
    ``temperature`` T, P ** (1/T) normalised (the scores divided by T)."""
    shape = deep.model_shape(model)
    size = shape.hidden_size
    top = (shape.layers - 1) * (len(state) // shape.layers)  # the top layer's h opens its part of the state
    module = deep.output_module(shape)
    layer, _ = deep.output_bundles(model, shape, None)
    module.distribution(layer, np.ascontiguousarray(state[top:top + size], dtype=shape.dtype), out)
    if temperature != 1.0:
        scaled = np.log(np.maximum(out.astype(np.float64), 1e-300)) / temperature
        scaled = np.exp(scaled - scaled.max())
        out[...] = scaled / scaled.sum()


def score_dynamic(model, stream: TokenStream, hidden_start: np.ndarray, alpha: float) -> np.ndarray:
    """Dynamic evaluation by windows of ``config.bptt`` steps (one stream): score a window, then take one SGD
    step at rate ``alpha`` on it (gradients clipped to ``config.clip_norm``, no dropout, float32 products), on
    copies of the weights (``model`` is left unchanged). Returns P(target) of every position (float64 (N,))."""
    config = model.config
    if config.dropout > 0 and replace(config, dropout=0.0).batched:
        config = replace(config, dropout=0.0)
    if config.product_precision != "float32":  # scoring's arithmetic, on any CPU: its steps too
        config = replace(config, product_precision="float32")
    working = replace(model, config=config, **{name: array.copy() for name, array in model.weights().items()})
    weights = {name: array for name, array in working.weights().items() if array.size > 0}
    grads = {name: np.zeros_like(array) for name, array in working.weights().items()}
    text = lay_out(stream, 1, config.independent, config.numpy_dtype)
    state = np.array(hidden_start, dtype=config.numpy_dtype, copy=True).reshape(1, -1)
    probabilities = np.zeros(len(stream), dtype=np.float64)
    log10_out = np.zeros((config.bptt, 1), dtype=np.float64)
    for begin in range(0, text.steps, config.bptt):
        end = min(begin + config.bptt, text.steps)
        window = deep.Window(inputs=text.inputs[begin:end], targets=text.targets[begin:end],
                             resets=text.resets[begin:end], weights=text.weights[begin:end])
        before = state.copy()
        out = log10_out[:end - begin]
        deep.score_window(working, window, state, out)
        scored = text.weights[begin:end] > 0
        probabilities[text.positions[begin:end][scored]] = 10.0 ** out[scored]
        deep.train_window(working, window, before, grads, 0)
        optimizers.clip_by_global_norm([grads[name] for name in weights], config.clip_norm or 0.0)
        for name, array in weights.items():
            array -= config.numpy_dtype(alpha) * grads[name]
    return probabilities

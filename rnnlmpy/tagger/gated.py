"""The tagger's gated cells (LSTM, GRU): the language model's window cells read sentences as streams.

A network of a gated tagger: a token's sparse features are summed into a dense
input (rows of the ``embedding``, kernel ``tagger_window.gather_inputs``), a
window cell (``window_lstm`` or ``window_gru``, the batched language model's
kernels) reads each sentence left to right and, bidirectionally, another one
right to left, and a softmax over tags (``window_softmax``) reads the two states
side by side. Training takes ``batch`` sentences at once as the streams of one
window (sorted into buckets of similar length, padded at their ends; every
stream starts from the zero state), the loss of a batch is the sum of
-ln P(gold tag) over its tokens divided by the batch's streams, and the update
is ``rnnlmpy.kernels.optimizers``' (clipped to a global norm). Dropout (inverted)
is on the summed inputs and on the states going into the softmax, in training only.
``bptt`` N > 0 cuts each direction's reading into windows of N steps, the state
carried from one to the next, the gradient stopping at each window's start
(truncated BPTT, as the language model's).

``direction_cells`` gives any tagger network (tanh included) as window-cell
weights and per-token inputs: what a tool that follows gradients through the
tagger's recurrences needs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple, Optional

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  the BLAS of Numba's np.dot, loaded now so that blas_threads finds it

from ..base.errors import RnnlmpyError
from ..base.store import DTYPES
from ..base.system import blas_threads
from ..kernels import window_gru, window_lstm, window_softmax
from ..kernels.optimizers import Optimizer, clip_factor, global_norm
from ..kernels.tagger_window import gather_inputs, join_directions, scatter_input_grads, split_joined_grads
from ..kernels.window import (ELMAN_ACTIVATIONS, GATES, STATES, CellGrads, GruWeights, LstmWeights, WindowCache,
                              weights_bundle, window_cache)

ELMAN = "elman"  # the per-token tanh tagger (kernels.tagger): no gated cell
GATED_CELLS = ("lstm", "gru")
CELL_KERNELS = {"lstm": window_lstm, "gru": window_gru}
BUCKET_BATCHES = 16  # training sorts this many batches' sentences by length before cutting them into batches
TAGGING_BATCH = 64  # sentences read at once when tagging
FORGET_BIAS = 1.0  # an LSTM's forget-gate bias starts here (every other bias at 0)


@dataclass
class GatedWeights:
    """The weights of one gated network (F features, E embedding width, G gate blocks, H hidden, D directions).

    When one-directional, the backward arrays have no rows.
    """

    embedding: np.ndarray  # (F, E): a token's input is the sum of its features' rows
    forward_input: np.ndarray  # (G*H, E) input -> gates, window layout (kernels.window)
    forward_recurrent: np.ndarray  # (G*H, H) h(t-1) -> gates
    forward_bias: np.ndarray  # (G*H,)
    backward_input: np.ndarray  # (G*H, E) or (0, E)
    backward_recurrent: np.ndarray  # (G*H, H) or (0, H)
    backward_bias: np.ndarray  # (G*H,) or (0,)
    output_weights: np.ndarray  # (tags, D*H)
    output_bias: np.ndarray  # (tags,)

    def arrays(self) -> dict[str, np.ndarray]:
        """The weight arrays by name (not copies)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def embedding_width(config) -> int:
    """E, the width of a token's dense input: ``config.embedding_size``, or the hidden size when 0."""
    return config.embedding_size or config.hidden_size


def gated_shapes(config, features: int, tags: int) -> dict[str, tuple[int, ...]]:
    """The shape of every array of a gated network with ``features`` features and ``tags`` tags."""
    size, width = config.hidden_size, embedding_width(config)
    gates = GATES[config.cell] * size
    back = gates if config.bidirectional else 0
    directions = 2 if config.bidirectional else 1
    return {"embedding": (features, width), "forward_input": (gates, width), "forward_recurrent": (gates, size),
            "forward_bias": (gates,), "backward_input": (back, width), "backward_recurrent": (back, size),
            "backward_bias": (back,), "output_weights": (tags, directions * size), "output_bias": (tags,)}


def gated_bytes(config, features: int, tags: int, longest: int) -> float:
    """Memory a gated tagger's training needs, in bytes: every network's weights, a best-epoch copy, one
    network's gradients and optimiser state (up to two slots), and the windows of one batch."""
    network = sum(int(np.prod(shape)) for shape in gated_shapes(config, features, tags).values())
    size, width = config.hidden_size, embedding_width(config)
    rows = longest * max(config.batch, TAGGING_BATCH)
    window = rows * (2 * width + 2 * (GATES[config.cell] + 4) * size + 4 * size + 2 * tags)
    itemsize = np.dtype(DTYPES[config.dtype]).itemsize
    return ((config.ensemble + 1 + 3) * network + window) * itemsize


def new_gated_weights(config, feature_count: int, tag_count: int, seed: int) -> GatedWeights:
    """Random initial weights of one gated network: uniform in +-``0.1 * config.init_scale``, biases 0 but an
    LSTM's forget gate (``FORGET_BIAS``)."""
    rng = np.random.default_rng(seed)
    dtype = DTYPES[config.dtype]
    scale = 0.1 * config.init_scale
    arrays = {}
    for name, shape in gated_shapes(config, feature_count, tag_count).items():
        if name.endswith("bias"):
            arrays[name] = np.zeros(shape, dtype=dtype)
        else:
            arrays[name] = rng.uniform(-scale, scale, size=shape).astype(dtype)
    size = config.hidden_size
    if config.cell == "lstm":
        for name in ("forward_bias", "backward_bias"):
            if arrays[name].size:
                arrays[name][size:2 * size] = FORGET_BIAS
    return GatedWeights(**arrays)


# ---------------------------------------------------------------- windows of sentences

class SentenceWindow(NamedTuple):
    """A batch of sentences as one window of T steps by B streams (``tagger_window``)."""

    forward: np.ndarray  # (T, B) int64: the token each step of the forward reading reads, -1 for padding
    backward: np.ndarray  # (T, B) int64: the same for the backward reading (the sentence reversed)
    lengths: np.ndarray  # (B,) int64
    tokens: np.ndarray  # (T, B) int64: the token of each step in reading order (0 on padding)
    scored: np.ndarray  # (T, B): 1 on tokens, 0 on padding


def sentence_window(sentence_start: np.ndarray, sentences: np.ndarray, dtype) -> SentenceWindow:
    """The window of the sentences ``sentences`` (indices into ``sentence_start`` (S+1,)), one stream each."""
    begins = sentence_start[sentences]
    lengths = (sentence_start[sentences + 1] - begins).astype(np.int64)
    steps = int(lengths.max()) if len(lengths) else 0
    t = np.arange(steps, dtype=np.int64)[:, None]
    inside = t < lengths[None, :]
    forward = np.where(inside, begins[None, :] + t, -1)
    backward = np.where(inside, begins[None, :] + lengths[None, :] - 1 - t, -1)
    return SentenceWindow(forward=forward, backward=backward, lengths=lengths, tokens=np.where(inside, forward, 0),
                          scored=inside.astype(dtype))


def training_batches(sentence_start: np.ndarray, order: np.ndarray, batch: int) -> list[np.ndarray]:
    """``order`` (sentence indices) cut into batches of ``batch`` sentences of similar lengths: each run of
    ``BUCKET_BATCHES`` batches is sorted by length first (less padding), and the batches keep the run's order."""
    lengths = np.diff(sentence_start)
    batches = []
    run = batch * BUCKET_BATCHES
    for begin in range(0, len(order), run):
        part = order[begin:begin + run]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[k:k + batch] for k in range(0, len(part), batch))
    return batches


# ---------------------------------------------------------------- one direction

class Direction(NamedTuple):
    """One direction's window cell: its kernels, weights bundle and, in training, its gradient bundle."""

    kernels: object
    weights: object
    grads: Optional[CellGrads]


def directions(config, member: GatedWeights, grads: Optional[GatedWeights]) -> list[Direction]:
    """The network's directions (forward, then backward when bidirectional) as window-cell bundles."""
    bundle = LstmWeights if config.cell == "lstm" else GruWeights
    names = ["forward", "backward"] if config.bidirectional else ["forward"]
    return [Direction(CELL_KERNELS[config.cell],
                      bundle(*(getattr(member, f"{name}_{part}") for part in ("input", "recurrent", "bias"))),
                      None if grads is None else
                      CellGrads(*(getattr(grads, f"{name}_{part}") for part in ("input", "recurrent", "bias"))))
            for name in names]


def read_direction(config, direction: Direction, inputs: np.ndarray, block: int, outputs: np.ndarray
                   ) -> list[tuple[int, int, np.ndarray, WindowCache]]:
    """Run one direction's cell over ``inputs`` (T,B,E) into ``outputs`` (T,B,H), in windows of ``block`` steps
    (0: one window), the state carried from window to window; every stream starts from the zero state.
    Returns each window's (first step, end step, resets, cache) for ``backpropagate_direction``."""
    steps, streams, _ = inputs.shape
    size = config.hidden_size
    dtype = outputs.dtype
    states = STATES[config.cell]
    state = np.zeros((streams, states, size), dtype=dtype)
    following = np.empty_like(state)
    block = block or steps
    windows = []
    for begin in range(0, steps, block):
        end = min(begin + block, steps)
        resets = np.zeros((end - begin, streams), dtype=np.uint8)
        if begin == 0:
            resets[0] = 1
        cache = window_cache(config.cell, end - begin, streams, size, dtype)
        direction.kernels.forward(direction.weights, inputs[begin:end], resets, state, outputs[begin:end], cache,
                                  following)
        windows.append((begin, end, resets, cache))
        state, following = following, state
    return windows


def backpropagate_direction(direction: Direction, inputs: np.ndarray, windows, grad_outputs: np.ndarray,
                            grad_inputs: np.ndarray) -> None:
    """Truncated BPTT of one direction inside each of its ``windows`` (from ``read_direction``): weight gradients
    added to ``direction.grads``, ``grad_inputs`` (T,B,E) written."""
    for begin, end, resets, cache in windows:
        direction.kernels.backward(direction.weights, inputs[begin:end], resets, cache, grad_outputs[begin:end],
                                   grad_inputs[begin:end], direction.grads)


def dropout_mask(rng: np.random.Generator, shape, rate: float, dtype) -> np.ndarray:
    """An inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    return ((rng.random(shape) >= rate) / (1.0 - rate)).astype(dtype)


# ---------------------------------------------------------------- training and reading

class GatedTrainer:
    """One gated network's training state: its gradient arrays and its optimiser, kept across epochs."""

    def __init__(self, config, member: GatedWeights):
        self.config = config
        self.member = member
        self.grads = GatedWeights(**{name: np.zeros_like(array) for name, array in member.arrays().items()})
        self.optimizer = Optimizer(config.optimizer, member.arrays())

    def epoch(self, feature_ptr: np.ndarray, feature_ids: np.ndarray, targets: np.ndarray,
              sentence_start: np.ndarray, order: np.ndarray, alpha: float, rng: np.random.Generator
              ) -> tuple[float, int]:
        """One pass over the sentences ``order`` in batches, updating the network; returns (sum of log10
        P(gold tag), tokens). ``feature_ptr`` (N+1,)/``feature_ids`` are the tokens' features, ``targets`` (N,)
        int32 their gold tags, ``sentence_start`` (S+1,) the sentences' first tokens."""
        log10_sum, tokens = 0.0, 0
        with blas_threads(1):  # a window's products are small: BLAS threads would wait more than they work
            for sentences in training_batches(sentence_start, order, self.config.batch):
                window = sentence_window(sentence_start, sentences, self.member.embedding.dtype)
                log10_sum += self.step(window, feature_ptr, feature_ids, targets, alpha, rng)
                tokens += int(window.lengths.sum())
        return log10_sum, tokens

    def step(self, window: SentenceWindow, feature_ptr, feature_ids, targets, alpha: float,
             rng: np.random.Generator) -> float:
        """Forward, backward and one update on one window of sentences; returns its sum of log10 P(gold tag)."""
        log10_sum = window_gradients(self.config, self.member, self.grads, window, feature_ptr, feature_ids, targets,
                                     rng)
        factor = clip_factor(global_norm(self.grads.arrays()), self.config.clip_norm)
        self.optimizer.step(self.member.arrays(), self.grads.arrays(), alpha, grad_scale=factor)
        return log10_sum


def window_gradients(config, member: GatedWeights, grads: GatedWeights, window: SentenceWindow, feature_ptr,
                     feature_ids, targets, rng: Optional[np.random.Generator]) -> float:
    """``grads`` (zeroed first) = the gradient of the window's loss, the sum of -ln P(gold tag) over its tokens
    divided by its streams (B), with dropout drawn from ``rng`` (None: none); returns the window's sum of log10
    P(gold tag)."""
    for array in grads.arrays().values():
        array[...] = 0
    joined, dropped_joined, readings = forward_window(config, member, window, feature_ptr, feature_ids, rng,
                                                      keep=True)
    steps, streams = window.forward.shape
    layer, layer_grads = window_softmax.bundles(member.arrays(), grads.arrays(), None, False)
    rows = steps * streams
    grad_joined = np.empty((rows, joined.shape[2]), dtype=joined.dtype)
    log10_out = np.zeros(rows, dtype=joined.dtype)
    window_softmax.train(layer, dropped_joined.reshape(rows, -1), targets[window.tokens].reshape(rows),
                         window.scored.reshape(rows), 1.0 / streams, grad_joined, layer_grads, log10_out)
    grad_joined = grad_joined.reshape(joined.shape)
    if readings["joined_mask"] is not None:
        grad_joined *= readings["joined_mask"]
    size = config.hidden_size
    grad_forward = np.empty((steps, streams, size), dtype=joined.dtype)
    grad_backward = np.empty_like(grad_forward) if config.bidirectional else grad_forward[:0]
    split_joined_grads(grad_joined, window.lengths, grad_forward, grad_backward)
    for direction, positions, grad_outputs, (inputs, mask, windows) in zip(
            directions(config, member, grads), (window.forward, window.backward), (grad_forward, grad_backward),
            readings["directions"]):
        grad_inputs = np.empty_like(inputs)
        backpropagate_direction(direction, inputs, windows, grad_outputs, grad_inputs)
        if mask is not None:
            grad_inputs *= mask
        scatter_input_grads(grads.embedding, feature_ptr, feature_ids, positions, grad_inputs)
    return float(log10_out.sum(dtype=np.float64))


def forward_window(config, member: GatedWeights, window: SentenceWindow, feature_ptr, feature_ids,
                   rng: Optional[np.random.Generator] = None, keep: bool = False):
    """Both directions over a window of sentences: (joined (T,B,D*H), the same after dropout, what ``step``
    needs) when ``keep``, else the joined states alone. Dropout only with ``rng`` (training)."""
    steps, streams = window.forward.shape
    dtype = member.embedding.dtype
    size, width = config.hidden_size, embedding_width(config)
    dropping = rng is not None and config.dropout > 0
    outputs, readings = [], []
    for direction, positions in zip(directions(config, member, None), (window.forward, window.backward)):
        inputs = np.empty((steps, streams, width), dtype=dtype)
        gather_inputs(member.embedding, feature_ptr, feature_ids, positions, inputs)
        mask = None
        if dropping:
            mask = dropout_mask(rng, inputs.shape, config.dropout, dtype)
            inputs *= mask
        out = np.empty((steps, streams, size), dtype=dtype)
        windows = read_direction(config, direction, inputs, config.bptt, out)
        outputs.append(out)
        readings.append((inputs, mask, windows))
    directions_count = len(outputs)
    joined = np.empty((steps, streams, directions_count * size), dtype=dtype)
    join_directions(outputs[0], outputs[-1], window.lengths, joined)
    if not keep:
        return joined
    dropped = joined
    joined_mask = None
    if dropping:
        joined_mask = dropout_mask(rng, joined.shape, config.dropout, dtype)
        dropped = joined * joined_mask
    return joined, dropped, {"directions": readings, "joined_mask": joined_mask}


def gated_posteriors(config, member: GatedWeights, sentence_start: np.ndarray, token_type: np.ndarray,
                     type_ptr: np.ndarray, type_ids: np.ndarray) -> np.ndarray:
    """P(tag | sentence) of every token under one gated network, (tokens, tags) float64; token t's features are
    those of its type ``token_type[t]`` (``type_ptr``/``type_ids``, as ``RnnTagger.encode_types``)."""
    tokens = int(sentence_start[-1])
    result = np.zeros((tokens, member.output_bias.shape[0]), dtype=np.float64)
    lengths = np.diff(sentence_start)
    order = np.argsort(lengths, kind="stable")
    order = order[lengths[order] > 0]
    with blas_threads(1):
        for begin in range(0, len(order), TAGGING_BATCH):
            tag_window(config, member, sentence_start, order[begin:begin + TAGGING_BATCH], token_type, type_ptr,
                       type_ids, result)
    return result


def tag_window(config, member: GatedWeights, sentence_start, sentences, token_type, type_ptr, type_ids, result):
    """Write into ``result`` (tokens, tags) P(tag | sentence) of the tokens of ``sentences``, read as one window."""
    window = sentence_window(sentence_start, sentences, member.embedding.dtype)
    by_type = SentenceWindow(forward=np.where(window.forward >= 0, token_type[window.tokens], -1),
                             backward=np.where(window.backward >= 0, token_type[np.maximum(window.backward, 0)],
                                               -1),
                             lengths=window.lengths, tokens=window.tokens, scored=window.scored)
    joined = forward_window(config, member, by_type, type_ptr, type_ids)
    inside = window.scored > 0
    scores = joined[inside].astype(np.float64) @ member.output_weights.T.astype(np.float64) + member.output_bias
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    result[window.tokens[inside]] = scores


# ---------------------------------------------------------------- any tagger network as window cells

class TaggerDirection(NamedTuple):
    """One direction of a tagger network as a window cell (``kernels.window``'s contract).

    ``inputs`` (tokens, In) are the per-token dense inputs in token order (row t: token t of the text given);
    the direction reads sentence s's rows ``sentence_start[s]:sentence_start[s+1]`` in order, or in reverse
    order when ``reverse``, from the zero state. The tanh tagger appears as an Elman cell whose input weights
    are the identity and whose bias is 0 (its per-direction input rows are already summed into ``inputs``).
    """

    name: str  # "forward" or "backward"
    hidden_type: str  # "lstm", "gru", or the Elman cell's activation ("tanh")
    weights: object  # LstmWeights, GruWeights or ElmanWeights (the tagger's own arrays where it can)
    inputs: np.ndarray  # (tokens, In)
    sentence_start: np.ndarray  # (S+1,) int64
    reverse: bool


def summed_rows(input_weights: np.ndarray, feature_ptr: np.ndarray, feature_ids: np.ndarray) -> np.ndarray:
    """(tokens, width): each token's sum of ``input_weights`` rows over its features (``gather_inputs``)."""
    tokens = len(feature_ptr) - 1
    out = np.empty((1, tokens, input_weights.shape[1]), dtype=input_weights.dtype)
    gather_inputs(input_weights, feature_ptr, feature_ids, np.arange(tokens, dtype=np.int64)[None, :], out)
    return out[0]


def direction_cells(config, member, sentence_start: np.ndarray, feature_ptr: np.ndarray,
                    feature_ids: np.ndarray) -> list[TaggerDirection]:
    """The directions of one network (``GatedWeights`` or the tanh tagger's ``TaggerWeights``) as window cells
    with their per-token inputs, for the tokens ``feature_ptr``/``feature_ids`` (``RnnTagger.encode``)."""
    names = ["forward", "backward"] if config.bidirectional else ["forward"]
    result = []
    if config.cell in GATED_CELLS:
        inputs = summed_rows(member.embedding, feature_ptr, feature_ids)
        for direction, name in zip(directions(config, member, None), names):
            result.append(TaggerDirection(name, config.cell, direction.weights, inputs, sentence_start,
                                          name == "backward"))
        return result
    if config.activation not in ELMAN_ACTIVATIONS:
        raise RnnlmpyError(f"a tagger of activation {config.activation!r} has no window cell")
    size = config.hidden_size
    for name in names:
        input_weights = getattr(member, f"{name}_input")
        identity = np.eye(size, dtype=input_weights.dtype)
        weights = weights_bundle(config.activation, identity, getattr(member, f"{name}_recurrent"),
                                 np.zeros(size, input_weights.dtype))
        result.append(TaggerDirection(name, config.activation, weights,
                                      summed_rows(input_weights, feature_ptr, feature_ids), sentence_start,
                                      name == "backward"))
    return result

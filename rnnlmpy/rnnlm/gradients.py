"""Gradients through time of a language model: how much the loss at t depends on the hidden state k steps back.

For each k = 0..K, the mean over a text of ``||d L(t) / d h(t-k)||``, where

- ``L(t) = -ln P(w(t) | history)`` is the loss of position t under the model's own
  output layer (class-factored softmax, hierarchical softmax, a full softmax; an
  NCE model's probability normalised over the vocabulary; direct connections
  included), the quantity whose gradient training follows;
- ``h(t-k)`` is the hidden state the output layer reads, k steps earlier: the one
  hidden layer of a per-word model, the top layer's h of a batched model (several
  layers: the lower layers do not read the top one, so the gradient flows through
  the top layer's recurrence alone, with the lower layers' outputs as its inputs;
  an LSTM's through both h and its cell state c, h(t-k) perturbed with c(t-k) held);
- the mean runs over the pairs (t, t-k) of the text where position t is scored and
  h(t) depends on h(t-k): for a model trained with ``-independent`` (its state
  reset at each sentence start) the pairs within one sentence; otherwise every
  pair, across sentences, as the model reads the text in ``ppl``.

The text is read as ``ppl`` reads it (the same start state, no dropout), in
chunks of CHUNK_STEPS steps: a forward pass keeps each chunk's start state, then
the chunks are visited last first, each run forwards again and swept backwards
by ``kernels.jacobians`` (a ring of the K + 1 pending gradients, multiplied by the
step's transposed Jacobian once per step, in float64: O(T K H^2)).
"""

from __future__ import annotations

import numpy as np

from ..base.compiling import watch_numba
from ..base.errors import RnnlmpyError
from ..base.system import blas_threads
from ..corpus import encode_file
from ..kernels.jacobians import ACTIVATIONS, ElmanSteps, GradientSweep, WordGruSteps, window_steps
from ..kernels.lm_gradients import record_span, step_width
from . import deep, network
from .batched_streams import lay_out
from .evaluation import corpus_word_ids, test_start_state
from .model import RnnlmModel
from .streams import SENTENCE_END_INDEX, TokenStream, language_model_stream

watch_numba()  # this module's kernels say when they compile (base.compiling)

DEFAULT_STEPS = 20  # k = 0..20: the span over which plain RNNs are expected to forget
MAX_STEPS = 1000  # the sweep costs K + 1 products per word: beyond this, a typo rather than a question
CHUNK_STEPS = 2048  # steps recorded at once (memory: a few (CHUNK_STEPS, G*H) arrays)

__all__ = ["CHUNK_STEPS", "DEFAULT_STEPS", "MAX_STEPS", "check_steps", "gradient_norms", "gradient_norms_file"]


def check_steps(steps) -> int:
    """``steps`` (K) as an int, RnnlmpyError unless it is a whole number in [0, MAX_STEPS]."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps <= MAX_STEPS:
        raise RnnlmpyError(f"-steps must be a whole number from 0 to {MAX_STEPS:,} (got {steps!r})")
    return int(steps)


def _cuts(stream: TokenStream, independent: bool) -> np.ndarray:
    """Bool (N,): where h(t) does not depend on h(t-1): the text's first position, and for an independent model
    each position after a ``</s>`` target (its state starts afresh there)."""
    cut = np.zeros(len(stream), dtype=np.bool_)
    if len(stream):
        cut[0] = True
        if independent:
            cut[1:] = stream.targets[:-1] == SENTENCE_END_INDEX
    return cut


def _chunks(count: int) -> list[tuple[int, int]]:
    """[begin, end) of each chunk of CHUNK_STEPS positions of a text of ``count`` positions."""
    return [(begin, min(begin + CHUNK_STEPS, count)) for begin in range(0, count, CHUNK_STEPS)]


def _per_word_norms(model: RnnlmModel, stream: TokenStream, sweep: GradientSweep) -> None:
    """The sweep of a per-word model (``kernels.lm_gradients.record_span`` records each chunk)."""
    config = model.config
    size, dtype = config.hidden_size, config.numpy_dtype
    bundle = network.kernel_network(model)
    gated = config.activation == network.GATED
    width = step_width("gru" if gated else "elman", size)
    previous = np.empty((CHUNK_STEPS, size), dtype=dtype)
    hidden = np.empty((CHUNK_STEPS, size), dtype=dtype)
    gates = np.empty((CHUNK_STEPS, width), dtype=dtype)
    grads = np.empty((CHUNK_STEPS, size), dtype=np.float64)
    no_grads = np.zeros((0, size), dtype=np.float64)
    state = np.array(test_start_state(model), dtype=dtype, copy=True)
    chunks = _chunks(len(stream))
    starts = []
    for begin, end in chunks:
        starts.append(state.copy())
        record_span(bundle, stream.words, begin, end, state, previous, hidden, gates, no_grads)
    recurrent = np.ascontiguousarray(model.recurrent, dtype=np.float64)
    scored, cut = stream.targets >= 0, _cuts(stream, config.independent)
    for (begin, end), start in zip(reversed(chunks), reversed(starts)):
        rows = end - begin
        record_span(bundle, stream.words, begin, end, start.copy(), previous, hidden, gates, grads)
        if gated:
            steps = WordGruSteps(recurrent, np.array(gates[:rows], dtype=np.float64),
                                 np.array(previous[:rows], dtype=np.float64))
        else:
            steps = ElmanSteps(recurrent, np.array(hidden[:rows], dtype=np.float64), ACTIVATIONS[config.activation])
        sweep.add(steps, grads[:rows], scored[begin:end], cut[begin:end], begin)


def _batched_norms(model: RnnlmModel, stream: TokenStream, sweep: GradientSweep) -> None:
    """The sweep of a batched model's top layer: its window kernels (``deep.forward_layers``) run each chunk as
    one stream, the output layer's ``train`` gives d(-ln P)/dh (its weight gradients go to scratch arrays)."""
    config = model.config
    shape = deep.model_shape(model)
    text = lay_out(stream, 1, config.independent, shape.dtype)
    state = np.array(test_start_state(model), dtype=shape.dtype, copy=True).reshape(1, shape.state_size)
    chunks = _chunks(text.steps)

    def window(begin: int, end: int) -> deep.Window:
        return deep.Window(inputs=text.inputs[begin:end], targets=text.targets[begin:end],
                           resets=text.resets[begin:end], weights=text.weights[begin:end])

    starts = []
    for begin, end in chunks:
        starts.append(state.copy())
        deep.forward_layers(shape, model, window(begin, end), state, [], [])
    module = deep.output_module(shape)
    arrays = deep.output_arrays(model)
    scratch = {name: np.zeros_like(array) for name, array in arrays.items()}
    layer, layer_grads = module.bundles(arrays, scratch, model.vocabulary, shape.tie_weights)
    top = shape.layers - 1
    scored, cut = stream.targets >= 0, _cuts(stream, config.independent)
    for (begin, end), start in zip(reversed(chunks), reversed(starts)):
        rows = end - begin
        piece = window(begin, end)
        caches: list = []
        inputs = deep.forward_layers(shape, model, piece, start.copy(), [], caches)
        weights = np.ascontiguousarray(piece.weights.reshape(rows), dtype=shape.dtype)
        grad_hidden = np.empty((rows, shape.hidden_size), dtype=shape.dtype)
        log10 = np.zeros(rows, dtype=shape.dtype)
        module.train(layer, np.ascontiguousarray(inputs[-1].reshape(rows, shape.hidden_size)),
                     np.ascontiguousarray(piece.targets.reshape(rows), dtype=np.int32), weights, 1.0, grad_hidden,
                     layer_grads, log10)
        steps = window_steps(shape.hidden_type, model.recurrent[top, 1], caches[top])
        sweep.add(steps, grad_hidden, scored[begin:end], cut[begin:end], begin)


def gradient_norms(model: RnnlmModel, stream: TokenStream, steps: int = DEFAULT_STEPS
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(mean ||dL(t)/dh(t-k)|| float64 (K+1,), pairs (t, t-k) averaged int64 (K+1,)) for k = 0..``steps`` over
    ``stream`` (see the module docstring for L, h and the pairs); NaN where no pair is k apart, infinite where an
    exploding recurrence passes float64's range."""
    steps = check_steps(steps)
    config = model.config
    sweep = GradientSweep(steps, config.hidden_size, config.batched and deep.model_shape(model).cell == "lstm")
    import scipy.linalg.cython_blas  # noqa: F401 (the OpenBLAS of Numba's np.dot, loaded for blas_threads to reach)
    with blas_threads(1):  # K + 1 rows per product: BLAS threads would only wait for each other
        if len(stream):
            (_batched_norms if config.batched else _per_word_norms)(model, stream, sweep)
    return sweep.means()


def gradient_norms_file(model: RnnlmModel, path: str, steps: int = DEFAULT_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """``gradient_norms`` over the text file ``path``, read as ``ppl`` reads a test file."""
    steps = check_steps(steps)
    corpus = encode_file(path, "test file", char_level=model.config.char_level)
    return gradient_norms(model, language_model_stream(corpus_word_ids(model, corpus)), steps)

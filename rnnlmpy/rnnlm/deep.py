"""The batched engine's numeric driver: a window of T steps x B streams through the embedding, L stacked
recurrent layers and the output layer, forwards and backwards (the window kernels of ``kernels.window``).

Shapes: V words, H hidden units (= the embedding size), L layers, G gate blocks
and S state vectors of the cell (``kernels.window.GATES``/``STATES``), C
classes (1: a full softmax). The parameters, by the names of ``RnnlmModel``:
``input_weights`` (V, H) the embedding; ``recurrent`` (L, 2, G*H, H), layer l's
input->gates ``[l, 0]`` and h(t-1)->gates ``[l, 1]``; ``gate_bias`` (L*G*H,);
``class_weights`` (C, H) and ``class_bias`` (C,) when C > 1 (else (0, H), (0,));
``output_weights`` (V, H), or (0, H) with tied weights (the embedding is then
the output word matrix); ``output_bias`` (V,); ``direct`` (0,); and
``hidden_state`` (L*S*H,): layer 0's h[, c], layer 1's, ... With ``-hs``
``output_weights`` holds the V - 1 tree nodes' rows, and there are no biases
nor class rows; with ``-nce`` the arrays are the full softmax's.

The loss of a window (Zaremba et al.'s convention) is the sum over its scored
tokens of -ln P(target), divided by B; ``train_window`` returns the gradient of
that. Dropout (inverted, rate p) is applied on the embedding's output, between
layers and on the top layer's output, never on the recurrent connections; its
masks come from ``np.random.default_rng(dropout_seed)``, so the same seed gives
the same masks (a resumed run needs no RNG state).

Both cores: ``train_window(..., threads=2)`` (and ``score_window``) runs the
layers on parts of the streams in threads at once (the kernels release the
GIL); a full softmax splits its words between the threads instead (its gemms
stay N rows tall, each thread owns its rows of grad W). BLAS should then run one
thread (``OPENBLAS_NUM_THREADS=1`` before the first product): the engine's
threads are its parallelism, and BLAS threads that wait for each other on a
busy machine halve the speed. The gemms go through Numba's ``np.dot``, which
needs SciPy's BLAS.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..base.errors import RnnlmpyError
from ..kernels import bfloat16, softmax_products, window_elman, window_gru, window_lstm, window_softmax
from ..kernels.precision import BFLOAT16, FLOAT32, MARKERS as PRECISION_MARKERS
from ..kernels.optimizers import checked_rows
from ..kernels.window import (GATES, STATES, CellGrads, cell_name, scatter_add_rows, weights_bundle, window_cache,
                              zero_rows)

CELL_MODULES = {"lstm": window_lstm, "gru": window_gru, "elman": window_elman}
INIT_SCALE = 0.1  # weights start uniform in [-INIT_SCALE, INIT_SCALE] (Zaremba et al.'s init_scale) ...
# ... up to 200 units; wider layers start within sqrt(2 / hidden) (init_scale), as Zaremba et al. shrink it for
# their wider models (0.05 at 650, 0.04 at 1500). At 0.1 a 2 x 500 LSTM's gates start saturated: PTB's first 212k
# words, one epoch, dropout 0.4, classes, SGD 0.5: valid PPL 632 (the unigram's level) at 0.1; 379 at 0.05, 372 at
# 0.063 = sqrt(2 / 500), 388 at 0.035.
FORGET_BIAS = 1.0  # an LSTM's forget-gate bias starts here, every other bias at 0
THREAD_POOLS: dict[int, ThreadPoolExecutor] = {}  # thread count -> its pool (see thread_pool)
SCRATCH = threading.local()  # per calling thread: .grads, (stream part, name) -> gradient array (scratch_grads)


@dataclass(frozen=True)
class DeepShape:
    """What the batched engine needs of a model's settings (built from a config by ``deep_shape``)."""

    hidden_type: str  # -hidden-type: lstm, gru, sigmoid, tanh, relu
    hidden_size: int  # H
    layers: int  # L
    dropout: float  # rate p on the non-recurrent connections, training only
    tie_weights: bool  # the embedding is the output word matrix
    vocab_size: int  # V
    class_count: int  # C (1: full softmax)
    dtype: np.dtype
    output_layer: str = "class"  # "class" (class-factored; one class: full softmax), "hs" (-hs), "nce" (-nce)
    product_precision: str = "float32"  # "bfloat16": training products take bfloat16 inputs (training_products)

    @property
    def cell(self) -> str:
        """The window cell: lstm, gru or elman."""
        return cell_name(self.hidden_type)

    @property
    def gates(self) -> int:
        """G * H: rows of a layer's gate matrices."""
        return GATES[self.cell] * self.hidden_size

    @property
    def states(self) -> int:
        """S: state vectors per layer."""
        return STATES[self.cell]

    @property
    def state_size(self) -> int:
        """L * S * H: the floats of one stream's state."""
        return self.layers * self.states * self.hidden_size


def deep_shape(config, vocab_size: int, class_count: int) -> DeepShape:
    """The ``DeepShape`` of a model of ``config`` (its ``activation``, ``hidden_size``, ``layers``, ``dropout``,
    ``tie_weights``, ``dtype`` and ``output_layer``, which a stand-in config may lack: then the softmax layers')
    with ``vocab_size`` words and ``class_count`` classes."""
    if not 0.0 <= float(config.dropout) < 1.0:
        raise RnnlmpyError(f"-dropout must be at least 0 and below 1 (got {config.dropout})")
    if config.layers < 1:
        raise RnnlmpyError(f"-layers must be at least 1 (got {config.layers})")
    return DeepShape(hidden_type=config.activation, hidden_size=config.hidden_size, layers=config.layers,
                     dropout=float(config.dropout), tie_weights=bool(config.tie_weights), vocab_size=vocab_size,
                     class_count=class_count, dtype=np.dtype(config.dtype),
                     output_layer=getattr(config, "output_layer", DeepShape.output_layer),
                     product_precision=getattr(config, "product_precision", DeepShape.product_precision))


def shape_weights(shape: DeepShape) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter array of a model of ``shape`` (the module docstring's table; a hierarchical
    softmax's ``output_weights`` are its V - 1 tree nodes, and it has no biases nor class rows)."""
    hidden, words, classes = shape.hidden_size, shape.vocab_size, shape.class_count
    factored = classes > 1 and shape.output_layer == "class"
    if shape.output_layer == "hs":
        return {"input_weights": (words, hidden), "recurrent": (shape.layers, 2, shape.gates, hidden),
                "gate_bias": (shape.layers * shape.gates,), "class_weights": (0, hidden), "class_bias": (0,),
                "output_weights": (max(words - 1, 0), hidden), "output_bias": (0,), "direct": (0,),
                "hidden_state": (shape.state_size,)}
    return {
        "input_weights": (words, hidden),
        "recurrent": (shape.layers, 2, shape.gates, hidden),
        "gate_bias": (shape.layers * shape.gates,),
        "class_weights": (classes if factored else 0, hidden),
        "class_bias": (classes if factored else 0,),
        "output_weights": (0 if shape.tie_weights else words, hidden),
        "output_bias": (words,),
        "direct": (0,),
        "hidden_state": (shape.state_size,),
    }


def weight_shapes(config, vocab_size: int, class_count: int) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter array of a batched model of ``config`` (see ``shape_weights``)."""
    return shape_weights(deep_shape(config, vocab_size, class_count))


def state_size(config) -> int:
    """L * S * H: the floats of one stream's recurrent state under ``config``."""
    cell = cell_name(config.activation)
    return config.layers * STATES[cell] * config.hidden_size


def init_scale(hidden_size: int) -> float:
    """The bound of the starting weights' uniform range for layers of ``hidden_size`` units: INIT_SCALE, or
    sqrt(2 / hidden_size) where that is smaller (above 200 units), so that a wide layer's gates do not start
    saturated."""
    return min(INIT_SCALE, math.sqrt(2.0 / hidden_size))


def initial_weights(config, vocab_size: int, class_count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Starting parameters: matrices uniform in [-init_scale(H), init_scale(H)] drawn from ``rng`` in the order of
    ``shape_weights``, biases and the state 0 except an LSTM's forget-gate biases (FORGET_BIAS)."""
    shape = deep_shape(config, vocab_size, class_count)
    bound = init_scale(shape.hidden_size)
    arrays = {}
    for name, dims in shape_weights(shape).items():
        if len(dims) > 1:
            arrays[name] = rng.uniform(-bound, bound, dims).astype(shape.dtype)
        else:
            arrays[name] = np.zeros(dims, dtype=shape.dtype)
    if shape.cell == "lstm":
        size = shape.hidden_size
        biases = arrays["gate_bias"].reshape(shape.layers, 4, size)
        biases[:, 1] = FORGET_BIAS
    return arrays


@dataclass
class Window:
    """A window of T steps x B streams: ``inputs`` (T,B) int32 word fed at each step, ``targets`` (T,B) int32 word
    to predict, ``resets`` (T,B) uint8 (1: the stream's state is zero before this step), ``weights`` (T,B) float
    (0: not scored, e.g. padding; its target is not read)."""

    inputs: np.ndarray
    targets: np.ndarray
    resets: np.ndarray
    weights: np.ndarray


def model_shape(model) -> DeepShape:
    """The ``DeepShape`` of a model (its config, vocabulary size and class count), after checking that its
    parameter arrays have the shapes and dtype of that shape (the kernels index them unchecked)."""
    vocabulary = model.vocabulary
    shape = deep_shape(model.config, vocabulary.size, vocabulary.class_count)
    for name, dims in shape_weights(shape).items():
        if name in ("direct", "hidden_state"):
            continue
        array = getattr(model, name)
        if array.shape != dims or array.dtype != shape.dtype or not array.flags.c_contiguous:
            raise RnnlmpyError(f"the model's {name} is {array.dtype} {array.shape}, not a contiguous "
                               f"{shape.dtype} {dims}")
    return shape


def output_module(shape: DeepShape):
    """The window output layer: the hierarchical softmax for -hs, NCE for -nce, the full softmax for one class,
    else the class-factored softmax."""
    if shape.output_layer == "hs":
        from ..kernels import window_hs  # the hierarchical softmax window layer
        return window_hs
    if shape.output_layer == "nce":
        from ..kernels import window_nce  # the NCE window layer
        return window_nce
    if shape.class_count == 1:
        return window_softmax
    from ..kernels import window_class  # the class-factored window layer
    return window_class


def output_bundles(model, shape: DeepShape, grads, seed: int = 0) -> tuple:
    """(layer bundle, gradient bundle or None) of ``model``'s output layer (``output_module``'s ``bundles``);
    NCE's also take the config (K, lnz, the noise's power) and seed their noise generator with ``seed``."""
    module = output_module(shape)
    if shape.output_layer == "nce":
        return module.bundles(output_arrays(model), grads, model.vocabulary, shape.tie_weights, model.config, seed)
    return module.bundles(output_arrays(model), grads, model.vocabulary, shape.tie_weights)


def noise_seed(dropout_seed: int, part: int) -> int:
    """The seed of an NCE window's noise for stream part ``part``: a function of the window's seed and the part
    only (a resumed run draws the same noise)."""
    return int(np.random.SeedSequence([dropout_seed, part]).generate_state(1, np.uint64)[0] >> np.uint64(1))


OUTPUT_ARRAYS = ("input_weights", "output_weights", "output_bias", "class_weights", "class_bias")
GRADIENT_NAMES = ("recurrent", "gate_bias") + OUTPUT_ARRAYS  # the arrays train_window gives gradients of


def check_window(shape: DeepShape, window: Window, state: np.ndarray) -> None:
    """Raise RnnlmpyError unless the window's arrays agree in shape and hold word ids in [0, V) (targets where
    scored), and ``state`` is (B, L*S*H) of the model's dtype."""
    steps_streams = window.inputs.shape
    if len(steps_streams) != 2 or min(steps_streams) < 1:
        raise RnnlmpyError(f"a window must be (steps, streams), at least 1 x 1 (got {steps_streams})")
    for name in ("targets", "resets", "weights"):
        if getattr(window, name).shape != steps_streams:
            raise RnnlmpyError(f"window {name} has shape {getattr(window, name).shape}, not {steps_streams}")
    words = shape.vocab_size
    if window.inputs.min() < 0 or window.inputs.max() >= words:
        raise RnnlmpyError(f"window inputs must be word ids in [0, {words})")
    scored = window.targets[window.weights != 0]
    if scored.size and (scored.min() < 0 or scored.max() >= words):
        raise RnnlmpyError(f"window targets must be word ids in [0, {words})")
    if state.shape != (steps_streams[1], shape.state_size) or state.dtype != shape.dtype \
            or not state.flags.c_contiguous:
        raise RnnlmpyError(f"the state must be a contiguous {shape.dtype} ({steps_streams[1]}, {shape.state_size}), "
                           f"not {state.dtype} {state.shape}")


def layer_bundle(shape: DeepShape, recurrent: np.ndarray, gate_bias: np.ndarray, layer: int, bundle,
                 products=FLOAT32):
    """Layer ``layer``'s weights bundle (``bundle`` = ``weights_bundle``, its products in the arithmetic of the
    ``precision`` marker ``products``) or gradient bundle (``CellGrads``) from the ``recurrent`` and ``gate_bias``
    arrays (views, no copies)."""
    gates = shape.gates
    bias = gate_bias[layer * gates:(layer + 1) * gates]
    if bundle is CellGrads:
        return CellGrads(recurrent[layer, 0], recurrent[layer, 1], bias)
    return weights_bundle(shape.hidden_type, recurrent[layer, 0], recurrent[layer, 1], bias, products)


def training_products(shape: DeepShape):
    """The ``precision`` marker of a training step's products (``-product-precision``; scoring is always in the
    model's float type). Refuses (RnnlmpyError, one line) bfloat16 where the AVX-512 BF16 instructions are
    missing: they would stop the process."""
    if shape.product_precision == "bfloat16" and not bfloat16.supported():
        raise RnnlmpyError("-product-precision bfloat16 needs a CPU with the AVX-512 BF16 instructions, and this "
                           "one has none; train with -product-precision float32")
    return PRECISION_MARKERS[shape.product_precision]


def dropout_masks(shape: DeepShape, steps: int, streams: int, dropout_seed: int) -> list:
    """L + 1 masks (T,B,H) of inverted dropout (0, or 1 / (1 - p)): the embedding's output, each layer's output;
    empty without dropout."""
    rate = shape.dropout
    if rate <= 0:
        return []
    rng = np.random.default_rng(dropout_seed)
    keep = shape.dtype.type(1.0 / (1.0 - rate))
    masks = []
    for _ in range(shape.layers + 1):
        draw = rng.random((steps, streams, shape.hidden_size), dtype=shape.dtype)
        masks.append(np.where(draw >= rate, keep, shape.dtype.type(0.0)).astype(shape.dtype))
    return masks


def apply_mask(values: np.ndarray, mask: np.ndarray) -> None:
    """``values *= mask`` in place (an inverted-dropout mask, same shape). Weights that have blown up (an exploded
    round, a crafted file) overflow here to inf or NaN, which the epoch's entropy check then rejects; NumPy's
    warnings about it are silenced (``errstate`` holds for the calling thread: each pool thread sets its own)."""
    with np.errstate(over="ignore", invalid="ignore"):
        np.multiply(values, mask, out=values)


def forward_layers(shape: DeepShape, model, window: Window, state: np.ndarray, masks: list, caches: list,
                   products=FLOAT32) -> list:
    """Embedding and layers forwards over ``window``: the list of each layer's input (T,B,H), then the top layer's
    output after dropout (the output layer's input); ``state`` (B, L*S*H) becomes the window's final state and
    ``caches`` receives each layer's ``WindowCache``. ``products``: the layers' arithmetic (``training_products``)."""
    steps, streams = window.inputs.shape
    size = shape.hidden_size
    layer_input = model.input_weights[window.inputs.reshape(-1)].reshape(steps, streams, size)
    if masks:
        apply_mask(layer_input, masks[0])
    by_layer = state.reshape(streams, shape.layers, shape.states, size)
    resets = np.ascontiguousarray(window.resets, dtype=np.uint8)
    inputs = [layer_input]
    for layer in range(shape.layers):
        weights = layer_bundle(shape, model.recurrent, model.gate_bias, layer, weights_bundle, products)
        state_in = np.ascontiguousarray(by_layer[:, layer])
        state_out = np.empty_like(state_in)
        outputs = np.empty((steps, streams, size), dtype=shape.dtype)
        cache = window_cache(shape.hidden_type, steps, streams, size, shape.dtype)
        CELL_MODULES[shape.cell].forward(weights, inputs[-1], resets, state_in, outputs, cache, state_out)
        by_layer[:, layer] = state_out
        caches.append(cache)
        if masks:
            apply_mask(outputs, masks[layer + 1])
        inputs.append(outputs)
    return inputs


def output_arrays(model) -> dict:
    """The output layer's arrays of ``model`` by name."""
    return {name: getattr(model, name) for name in OUTPUT_ARRAYS}


def stream_parts(streams: int, threads: int) -> list[slice]:
    """The streams of a window split into at most ``threads`` contiguous, near-equal parts (one per thread)."""
    count = max(1, min(threads, streams))
    bounds = [streams * part // count for part in range(count + 1)]
    return [slice(bounds[part], bounds[part + 1]) for part in range(count)]


def window_part(window: Window, part: slice) -> Window:
    """The streams ``part`` of ``window``."""
    return Window(inputs=window.inputs[:, part], targets=window.targets[:, part], resets=window.resets[:, part],
                  weights=window.weights[:, part])


def thread_pool(threads: int) -> ThreadPoolExecutor:
    """A pool of ``threads`` worker threads, made once per count and kept."""
    if threads not in THREAD_POOLS:
        THREAD_POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rnnlmpy-window")
    return THREAD_POOLS[threads]


def in_parts(work, parts: list) -> list:
    """``work(part_index)`` for every part: in threads when there are several (the kernels release the GIL)."""
    if len(parts) == 1:
        return [work(0)]
    return list(thread_pool(len(parts)).map(work, range(len(parts))))


def backward_layers(shape: DeepShape, model, window: Window, inputs: list, caches: list, masks: list,
                    grad_outputs: np.ndarray, grads: dict, products=FLOAT32) -> np.ndarray:
    """Backwards through the layers from ``grad_outputs`` (T,B',H), dLoss/d(the output layer's input), after
    ``forward_layers`` gave ``inputs`` and ``caches``: the layers' gradients ADDED to ``grads``; returns dLoss/d(the
    embedding rows looked up) (T*B', H), for the caller to scatter-add."""
    steps, streams = window.inputs.shape
    size = shape.hidden_size
    resets = np.ascontiguousarray(window.resets, dtype=np.uint8)
    for index in range(shape.layers - 1, -1, -1):
        if masks:
            apply_mask(grad_outputs, masks[index + 1])
        cell_weights = layer_bundle(shape, model.recurrent, model.gate_bias, index, weights_bundle, products)
        cell_grads = layer_bundle(shape, grads["recurrent"], grads["gate_bias"], index, CellGrads)
        grad_inputs = np.empty((steps, streams, size), dtype=shape.dtype)
        CELL_MODULES[shape.cell].backward(cell_weights, inputs[index], resets, caches[index], grad_outputs,
                                          grad_inputs, cell_grads)
        grad_outputs = grad_inputs
    if masks:
        apply_mask(grad_outputs, masks[0])
    return grad_outputs.reshape(steps * streams, size)


def train_part(shape: DeepShape, model, window: Window, state: np.ndarray, grads: dict, masks: list,
               scale: float, seed: int = 0) -> tuple[float, int, np.ndarray]:
    """``train_window``'s work on some of the streams (``state`` (B', L*S*H) theirs, ``masks`` their parts):
    gradients of ``scale`` * the sum of -ln P ADDED to ``grads``, except the embedding's lookup, whose gradient
    (T*B', H) is returned (with the sum of log10 P and the scored count) for the caller to scatter-add. ``seed``:
    NCE's noise (``noise_seed``)."""
    steps, streams = window.inputs.shape
    rows = steps * streams
    size = shape.hidden_size
    caches: list = []
    products = training_products(shape)
    inputs = forward_layers(shape, model, window, state, masks, caches, products)
    weights = np.ascontiguousarray(window.weights.reshape(rows), dtype=shape.dtype)
    targets = np.ascontiguousarray(window.targets.reshape(rows), dtype=np.int32)
    log10 = np.zeros(rows, dtype=shape.dtype)
    grad_hidden = np.empty((rows, size), dtype=shape.dtype)
    module = output_module(shape)
    layer, layer_grads = output_bundles(model, shape, grads, seed)
    module.train(layer, inputs[-1].reshape(rows, size), targets, weights, scale, grad_hidden, layer_grads, log10)
    embedding_grad = backward_layers(shape, model, window, inputs, caches, masks,
                                     grad_hidden.reshape(steps, streams, size), grads, products)
    return float(log10.sum(dtype=np.float64)), int(np.count_nonzero(weights)), embedding_grad


def softmax_by_vocabulary(shape: DeepShape, model, hidden: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                          scale: float, grads: dict, threads: int, products=FLOAT32) -> tuple[np.ndarray, np.ndarray]:
    """The full softmax's training step over all rows of ``hidden`` (N, H), its words split into ``threads``
    ranges, one per thread (``window_softmax.part_exponentials`` / ``part_gradients``): the gradients of W and b
    WRITTEN to ``grads`` (each thread its own rows of them); returns (dLoss/dhidden (N, H), log10 P(target) (N,), 0 where
    not scored). ``products``: the products' ``precision`` marker (``training_products``)."""
    rows, size = hidden.shape
    name = "input_weights" if shape.tie_weights else "output_weights"
    word_weights, bias = getattr(model, name), model.output_bias
    ranges = stream_parts(shape.vocab_size, threads)
    layers = [window_softmax.SoftmaxLayer(word_weights[words], bias[words]) for words in ranges]
    range_products = [products] * len(ranges)
    if products is BFLOAT16:  # each range's paired operands, kept from window to window
        range_products = [softmax_products.bfloat16_products(
            rows, words.stop - words.start, size,
            lambda field, pairs, dtype, key=index: scratch_array(("bfloat16", key, field), pairs, dtype))
            for index, words in enumerate(ranges)]
    layer_grads = [window_softmax.SoftmaxGrads(grads[name][words], grads["output_bias"][words]) for words in ranges]
    blocks = [scratch_array(("softmax block", index), (rows, words.stop - words.start), shape.dtype)
              for index, words in enumerate(ranges)]
    row_max, row_sum = np.zeros((len(ranges), rows)), np.zeros((len(ranges), rows))
    target_logits = np.zeros(rows)

    def exponentials(index: int) -> None:
        window_softmax.part_exponentials(layers[index], ranges[index].start, hidden, targets, weights, blocks[index],
                                         row_max[index], row_sum[index], target_logits, range_products[index])

    in_parts(exponentials, ranges)
    scored = weights != 0
    overall = row_max.max(axis=0)
    shares = np.exp(row_max - overall)
    total = np.where(scored, (row_sum * shares).sum(axis=0), 1.0)
    log10 = np.where(scored, (target_logits - overall - np.log(total)) / np.log(10.0), 0.0)
    factors = shares * (scale * weights / total)
    grad_parts = [np.empty((rows, size), dtype=shape.dtype) for _ in ranges]

    def gradients(index: int) -> None:
        window_softmax.part_gradients(layers[index], ranges[index].start, hidden, targets, weights, scale,
                                      blocks[index], factors[index], grad_parts[index], layer_grads[index],
                                      range_products[index])

    in_parts(gradients, ranges)
    grad_hidden = grad_parts[0]
    for part in grad_parts[1:]:
        grad_hidden += part
    return grad_hidden, log10


def train_by_vocabulary(shape: DeepShape, model, window: Window, state: np.ndarray, grads: dict, masks: list,
                        parts: list, zeroed: frozenset) -> tuple[float, int]:
    """``train_window`` in threads with a full softmax: the layers forwards and backwards on the ``parts`` of the
    streams, the softmax on all rows with the vocabulary split between the threads (its gemms stay N rows tall
    and no thread needs a (V, H) gradient of its own)."""
    steps, streams = window.inputs.shape
    rows, size = steps * streams, shape.hidden_size
    cell_grads = [grads] + [scratch_grads(index, {name: grads[name] for name in ("recurrent", "gate_bias")})
                            for index in range(1, len(parts))]
    part_caches: list = [[] for _ in parts]
    products = training_products(shape)
    written = ("input_weights" if shape.tie_weights else "output_weights", "output_bias")  # by the softmax
    cleared = [array for name, array in grads.items() if name not in written and name not in zeroed]

    def forward(index: int) -> list:
        share = [slice(array.size * index // len(parts), array.size * (index + 1) // len(parts)) for array in cleared]
        for array, elements in zip(cleared, share):
            array.reshape(-1)[elements] = 0
        for array in cell_grads[index].values() if index else ():
            array[...] = 0
        part = parts[index]
        return forward_layers(shape, model, window_part(window, part), state[part],
                              [mask[:, part] for mask in masks], part_caches[index], products)

    part_inputs = in_parts(forward, parts)
    top = np.empty((steps, streams, size), dtype=shape.dtype)
    for part, inputs in zip(parts, part_inputs):
        top[:, part] = inputs[-1]
    weights = np.ascontiguousarray(window.weights.reshape(rows), dtype=shape.dtype)
    targets = np.ascontiguousarray(window.targets.reshape(rows), dtype=np.int32)
    grad_hidden, log10 = softmax_by_vocabulary(shape, model, top.reshape(rows, size), targets, weights,
                                               1.0 / streams, grads, len(parts), products)
    grad_top = grad_hidden.reshape(steps, streams, size)

    def backward(index: int) -> np.ndarray:
        part = parts[index]
        return backward_layers(shape, model, window_part(window, part), part_inputs[index], part_caches[index],
                               [mask[:, part] for mask in masks], np.ascontiguousarray(grad_top[:, part]),
                               cell_grads[index], products)

    embedding_grads = in_parts(backward, parts)
    for extra in cell_grads[1:]:
        for name, array in extra.items():
            grads[name] += array
    for part, embedding_grad in zip(parts, embedding_grads):
        ids = np.ascontiguousarray(window.inputs[:, part].reshape(-1), dtype=np.int32)
        scatter_add_rows(grads["input_weights"], ids, embedding_grad)
    return float(log10.sum()), int(np.count_nonzero(weights))


def train_window(model, window: Window, state: np.ndarray, grads: dict, dropout_seed: int,
                 threads: int = 1, zeroed: frozenset = frozenset()) -> tuple[float, int]:
    """Forward and backward over ``window``: ``grads`` (name -> array of the parameter's shape, zeroed here) gets
    the gradient of the window's loss (sum of -ln P over scored tokens / B), ``state`` (B, L*S*H) the window's
    final state; returns (sum of log10 P(target) over the scored tokens, number of scored tokens).

    ``zeroed``: names of ``grads`` arrays the caller holds at zero already (``clear_rows`` after the last step),
    which are then not cleared again: a large embedding's or tree's gradient has only the few rows of one window
    set (``gradient_rows``), and clearing all of it every window costs more than the window's layers.

    With ``threads`` > 1 the layers run on that many parts of the streams, one per thread; a full softmax then
    takes all rows in every thread, each a range of the words (``train_by_vocabulary``), another output layer
    its thread's streams into gradient arrays of their own, summed at the end. The same masks and result, up to
    rounding (run BLAS single-threaded then); the result depends on ``threads``, not on timing. With NCE
    (``-nce``) the loss is NCE's, its noise drawn from ``dropout_seed`` too (``noise_seed``)."""
    shape = model_shape(model)
    check_window(shape, window, state)
    for name in GRADIENT_NAMES:
        weights, array = getattr(model, name), grads.get(name)
        if array is None or array.shape != weights.shape or array.dtype != weights.dtype \
                or not array.flags.c_contiguous:
            raise RnnlmpyError(f"the gradient of {name} must be a contiguous {weights.dtype} {weights.shape}")
    steps, streams = window.inputs.shape
    masks = dropout_masks(shape, steps, streams, dropout_seed)
    parts = stream_parts(streams, threads)
    if (len(parts) > 1 or shape.product_precision == "bfloat16") and output_module(shape) is window_softmax:
        return train_by_vocabulary(shape, model, window, state, grads, masks, parts, zeroed)
    part_grads = [grads] + [scratch_grads(index, grads) for index in range(1, len(parts))]

    def work(index: int) -> tuple[float, int, np.ndarray]:
        part = parts[index]
        for name, array in part_grads[index].items():
            if index or name not in zeroed:
                array[...] = 0
        return train_part(shape, model, window_part(window, part), state[part],
                          part_grads[index], [mask[:, part] for mask in masks], 1.0 / streams,
                          noise_seed(dropout_seed, index) if shape.output_layer == "nce" else 0)

    results = in_parts(work, parts)
    if len(parts) > 1:
        # untied: the embedding's gradient of every part is scattered below, not summed
        merged = [name for name in grads if name != "input_weights" or shape.tie_weights]

        def merge(index: int) -> None:  # each thread adds its share of every array's elements
            for name in merged:
                total = grads[name].reshape(-1)
                share = slice(total.size * index // len(parts), total.size * (index + 1) // len(parts))
                for extra in part_grads[1:]:
                    np.add(total[share], extra[name].reshape(-1)[share], out=total[share])

        in_parts(merge, parts)
    for part, (_, _, embedding_grad) in zip(parts, results):
        ids = np.ascontiguousarray(window.inputs[:, part].reshape(-1), dtype=np.int32)
        scatter_add_rows(grads["input_weights"], ids, embedding_grad)
    return sum(result[0] for result in results), sum(result[1] for result in results)


def gradient_rows(model, window: Window) -> dict[str, np.ndarray]:
    """The 2-D gradients of ``train_window`` on ``window`` that are zero but at a few rows: name -> those distinct
    rows (int64), for ``optimizers.global_norm`` and ``Optimizer.step``'s ``rows`` (which then read and update
    only them). The embedding's are the words the window reads (not when tied: the output layer adds to it), a
    hierarchical softmax's the tree nodes on the scored targets' paths; other gradients are not listed."""
    shape = model_shape(model)
    rows = {}
    if not shape.tie_weights:
        rows["input_weights"] = np.unique(window.inputs).astype(np.int64)
    module = output_module(shape)
    if hasattr(module, "gradient_rows"):
        layer, _ = output_bundles(model, shape, None)
        scored = window.weights.reshape(-1) != 0
        targets = np.ascontiguousarray(np.where(scored, window.targets.reshape(-1), 0), dtype=np.int32)
        rows["output_weights"] = module.gradient_rows(layer, targets, scored.view(np.uint8))
    return rows


def clear_rows(grads: dict, rows: dict) -> None:
    """Zero the listed rows of ``grads`` (``rows``: name -> distinct rows, as ``gradient_rows`` gives): after a
    step on a window, the arrays named in ``rows`` are all zero again (``train_window``'s ``zeroed``)."""
    for name, used in rows.items():
        zero_rows(grads[name], np.ascontiguousarray(checked_rows(used, grads[name]), dtype=np.int64))


def scratch_array(key, shape: tuple, dtype) -> np.ndarray:
    """A work array of ``shape`` and ``dtype`` (contents undefined) for ``key``, kept from call to call (per calling
    thread), so that a window's large buffers are not allocated, and their pages not faulted in, again each time."""
    if not hasattr(SCRATCH, "arrays"):
        SCRATCH.arrays = {}
    kept = SCRATCH.arrays.get(key)
    if kept is None or kept.shape != shape or kept.dtype != dtype:
        kept = SCRATCH.arrays[key] = np.empty(shape, dtype=dtype)
    return kept


def scratch_grads(index: int, grads: dict) -> dict:
    """Gradient arrays like ``grads`` for stream part ``index`` (> 0) (not zeroed: its thread does that), kept from
    call to call (per calling thread, so that two threads may each train a model)."""
    if not hasattr(SCRATCH, "grads"):
        SCRATCH.grads = {}
    arrays = {}
    for name, array in grads.items():
        key = (index, name)
        kept = SCRATCH.grads.get(key)
        if kept is None or kept.shape != array.shape or kept.dtype != array.dtype:
            kept = SCRATCH.grads[key] = np.zeros_like(array)
        arrays[name] = kept
    return arrays


def score_window(model, window: Window, state: np.ndarray, log10_out: np.ndarray, threads: int = 1) -> None:
    """log10 P(target) of every step into ``log10_out`` (T,B) (0 where not scored), no dropout, no gradients;
    ``state`` (B, L*S*H) becomes the window's final state. ``threads``: as for ``train_window``."""
    shape = model_shape(model)
    check_window(shape, window, state)
    if log10_out.shape != window.inputs.shape:
        raise RnnlmpyError(f"log10_out must be {window.inputs.shape}, not {log10_out.shape}")
    module = output_module(shape)
    layer, _ = output_bundles(model, shape, None)
    parts = stream_parts(window.inputs.shape[1], threads)

    def work(index: int) -> None:
        part = parts[index]
        piece = window_part(window, part)
        steps, streams = piece.inputs.shape
        rows = steps * streams
        inputs = forward_layers(shape, model, piece, state[part], [], [])
        scored = piece.weights.reshape(rows) != 0
        targets = np.ascontiguousarray(np.where(scored, piece.targets.reshape(rows), 0), dtype=np.int32)
        log10 = np.empty(rows, dtype=shape.dtype)
        module.score(layer, inputs[-1].reshape(rows, shape.hidden_size), targets, log10)
        log10_out[:, part] = np.where(scored, log10, 0.0).reshape(steps, streams)

    in_parts(work, parts)


def next_distribution(model, state: np.ndarray, word: int, out: np.ndarray) -> np.ndarray:
    """Feed ``word`` after ``state`` (L*S*H,): ``out`` (V,) = P(every next word); returns the new state."""
    shape = model_shape(model)
    if not 0 <= word < shape.vocab_size:
        raise RnnlmpyError(f"word id {word} is not in [0, {shape.vocab_size})")
    one = np.ones((1, 1))
    window = Window(inputs=np.full((1, 1), word, dtype=np.int32), targets=np.zeros((1, 1), dtype=np.int32),
                    resets=np.zeros((1, 1), dtype=np.uint8), weights=one)
    new_state = np.array(state, dtype=shape.dtype).reshape(1, shape.state_size)
    check_window(shape, window, new_state)
    inputs = forward_layers(shape, model, window, new_state, [], [])
    module = output_module(shape)
    layer, _ = output_bundles(model, shape, None)
    module.distribution(layer, np.ascontiguousarray(inputs[-1].reshape(shape.hidden_size)), out)
    return new_state.reshape(shape.state_size)

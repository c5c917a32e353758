"""The RNNLM's one door to its kernels: a model's arrays as kernel bundles, training state and span wrappers.

Every call into ``rnnlmpy.kernels`` for the language model goes through this
module. A model travels into a kernel as a few named bundles (``kernels.lm``:
``Network`` with its cell's and output layer's bundles, ``TrainingState``,
``Learning``, ``Merge``), built here by name, so no caller can feed arrays in
the wrong order; the kernels are compiled for the bundle types a model has.
``model`` arguments are ``RnnlmModel`` objects (``rnnlmpy.rnnlm.model``); this
module reads only their weights, vocabulary layout and config.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..base.compiling import watch_numba
from ..kernels import hogwild, layers, lm, nce
from ..kernels.cell import ACTIVATION_MARKERS as ELMAN_ACTIVATIONS
from ..kernels.class_softmax import ClassSoftmax
from ..kernels.direct import MAX_DIRECT_ORDER, DirectConnections
from ..kernels.elman import Elman
from ..kernels.gru import Gru
from ..kernels.hsoftmax import HierarchicalSoftmax, ThreadHierarchicalSoftmax
from ..kernels.nce import NoiseContrastive
from . import batched_scoring, deep
from .streams import TokenStream

watch_numba()  # this module's kernels say when they compile (base.compiling)

GATED = layers.GATED  # name tables of kernels.layers, also here for the modules and commands that read them here
ACTIVATIONS = layers.ACTIVATIONS
OUTPUT_LAYERS = tuple(layers.OUTPUT_LAYERS)
RESET_VALUE = 1.0  # hidden state of an independent model at every sentence start (as rnnlm)
FLUSH_VALUE = 0.1  # hidden state at the start of a training or validation pass (as rnnlm)
THREAD_SEED_STRIDE = 7_919  # thread k's noise sampler is seeded this many steps after thread 0's
NO_PROBABILITIES = np.zeros(0)  # train_span's per-position output, when it is not wanted
PRIVATE_WEIGHTS = ("class_weights", "recurrent", "gate_bias")  # a hogwild thread's private copies (with its hot
# tree rows): the small dense arrays that every word or block rewrites in full

__all__ = ["ACTIVATIONS", "FLUSH_VALUE", "GATED", "OUTPUT_LAYERS", "MAX_DIRECT_ORDER", "RESET_VALUE", "KernelState",
           "Merging", "PRIVATE_WEIGHTS", "distribution", "kernel_network", "merge", "warm_up", "hidden_step",
           "score_segments", "score_span", "score_stream", "start_state", "train_span"]


@dataclass
class KernelState:
    """The training kernel's state between calls, so that training can stop and resume at any word.

    Shapes: ``H`` hidden units, ring of ``R = bptt + bptt_block + 1`` steps.
    """

    hidden_prev: np.ndarray  # (H,)
    ring_position: np.ndarray  # (R,) int64 stream position of each stored step
    ring_input: np.ndarray  # (R, H) state fed into each step
    ring_hidden: np.ndarray  # (R, H) hidden state of each step
    ring_error: np.ndarray  # (R, H) output error of each step
    counters: np.ndarray  # (3,) int64: ring head, ring fill, words done in the epoch
    noise_state: np.ndarray  # (1,) uint64: the NCE noise sampler's RNG (unused by other output layers)
    ring_gates: np.ndarray  # (R, 3H) a GRU step's gates; (R, 0) for the Elman cell

    @classmethod
    def fresh(cls, config, bptt_block: int | None = None, epoch: int = 0, thread: int = 0) -> "KernelState":
        """State at the start of an epoch: empty ring, hidden state flushed (or reset, if independent).

        ``config`` is an RnnlmConfig; ``bptt_block`` overrides its block (dynamic evaluation uses 1);
        the noise sampler is seeded by ``config.rand_seed``, ``epoch`` and the training ``thread``.
        """
        size, dtype = config.hidden_size, config.numpy_dtype
        ring = config.bptt + (config.bptt_block if bptt_block is None else bptt_block) + 1
        gates = 3 * size if config.activation == GATED else 0
        return cls(
            hidden_prev=start_state(config, flush=True),
            ring_position=np.zeros(ring, dtype=np.int64),
            ring_input=np.zeros((ring, size), dtype=dtype),
            ring_hidden=np.zeros((ring, size), dtype=dtype),
            ring_error=np.zeros((ring, size), dtype=dtype),
            counters=np.zeros(3, dtype=np.int64),
            noise_state=nce.seed_state(config.rand_seed * 1_000_003 + epoch + THREAD_SEED_STRIDE * thread),
            ring_gates=np.zeros((ring, gates), dtype=dtype),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (for a checkpoint)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config=None, positions: int | None = None) -> "KernelState":
        """Rebuild from ``arrays()`` output, every array checked before a kernel sees it; ValueError naming the
        first array that is missing, of another dtype or shape, not finite, or holding an index out of range.

        The ring (R,) and hidden size (H,) come from ``ring_input``, or from ``config`` (an RnnlmConfig: R =
        bptt + bptt_block + 1, H, the precision, 3H gates for a GRU) when given; ``positions`` (the training
        stream's length N) bounds the stored stream positions (0 <= ring_position < N) and words done (<= N).
        The ring head must be in [0, R), its fill in [0, R]. An older checkpoint of an Elman model lacks the NCE
        and GRU parts (then they start fresh); its block-update accumulators, always zero between calls, are no
        longer kept and are ignored.
        """
        for name in ("hidden_prev", "ring_position", "ring_input", "ring_hidden", "ring_error", "counters"):
            if name not in arrays:
                raise ValueError(f"it lacks the array {name!r}")
        ring_input = arrays["ring_input"]
        if config is not None:
            ring, size, dtype = config.bptt + config.bptt_block + 1, config.hidden_size, np.dtype(config.numpy_dtype)
            gates = 3 * size if config.activation == GATED else 0
        elif ring_input.ndim == 2 and ring_input.dtype.kind == "f":
            (ring, size), dtype = ring_input.shape, ring_input.dtype
            gates = arrays["ring_gates"].shape[-1] if "ring_gates" in arrays and arrays["ring_gates"].ndim else 0
        else:
            raise ValueError(f"array 'ring_input' is {ring_input.dtype} of shape {ring_input.shape}, expected "
                             "floats (R, H)")
        if gates == 0:  # an Elman checkpoint may predate these two
            arrays = {"noise_state": nce.seed_state(0), "ring_gates": np.zeros((ring, 0), dtype=dtype), **arrays}
        if "noise_state" not in arrays or "ring_gates" not in arrays:
            raise ValueError(f"it lacks the array {'noise_state' if 'noise_state' not in arrays else 'ring_gates'!r}")
        expected = {"hidden_prev": ((size,), dtype), "ring_position": ((ring,), np.dtype(np.int64)),
                    "ring_input": ((ring, size), dtype), "ring_hidden": ((ring, size), dtype),
                    "ring_error": ((ring, size), dtype), "counters": ((3,), np.dtype(np.int64)),
                    "noise_state": ((1,), np.dtype(np.uint64)), "ring_gates": ((ring, gates), dtype)}
        for name, (shape, kind) in expected.items():
            array = arrays[name]
            if array.shape != shape or array.dtype != kind:
                raise ValueError(f"array {name!r} is {array.dtype} of shape {array.shape}, expected {kind} of "
                                 f"shape {shape}")
            if kind.kind == "f" and not np.all(np.isfinite(array)):
                raise ValueError(f"array {name!r} holds NaN or infinite values")
        head, fill, done = (int(value) for value in arrays["counters"])
        limit = np.iinfo(np.int64).max if positions is None else positions
        words = "0 or more words" if positions is None else f"0 to {positions} words"
        if not (0 <= head < ring and 0 <= fill <= ring and 0 <= done <= limit):
            raise ValueError(f"array 'counters' holds ring head {head}, fill {fill} and {done} words done; expected "
                             f"a head in [0, {ring}), a fill in [0, {ring}] and {words}")
        stored = arrays["ring_position"]
        if stored.size and not (0 <= int(stored.min()) and int(stored.max()) < limit):
            where = "0 or more" if positions is None else f"0..{positions - 1}"
            raise ValueError(f"array 'ring_position' holds stream positions {int(stored.min())} to "
                             f"{int(stored.max())}, outside {where}")
        return cls(**{f.name: np.array(arrays[f.name], copy=True, order="C") for f in fields(cls)})


@dataclass(frozen=True)
class Merging:
    """A hogwild thread's merging (``kernels.hogwild``): every ``every`` positions the change of each array in
    ``local`` since ``base``, times ``scale``, is added to the one in ``shared`` (tuples of flat views, in
    PRIVATE_WEIGHTS order, then the hot tree rows), under the lock in ``flags`` (int64 (2,), shared by the
    epoch's threads)."""

    shared: tuple
    local: tuple
    base: tuple
    flags: np.ndarray
    every: int
    scale: float = 1.0

    @classmethod
    def for_thread(cls, shared_model, local_model, hot_rows: np.ndarray, flags: np.ndarray, every: int,
                   scale: float = 1.0) -> "Merging":
        """Merging of ``local_model``'s PRIVATE_WEIGHTS and ``hot_rows`` (K, H) (its copy of the first K tree
        node rows) into ``shared_model``'s; the empty ones (a model's placeholder for a layer it lacks, no hot
        rows) are left out, so the kernel merges only arrays that hold something."""
        names = [name for name in PRIVATE_WEIGHTS if getattr(local_model, name).size > 0]
        shared = tuple(getattr(shared_model, name).reshape(-1) for name in names)
        local = tuple(getattr(local_model, name).reshape(-1) for name in names)
        if hot_rows.size > 0:
            shared += (shared_model.output_weights[:hot_rows.shape[0]].reshape(-1),)
            local += (hot_rows.reshape(-1),)
        return cls(shared=shared, local=local, base=tuple(array.copy() for array in local), flags=flags, every=every,
                   scale=scale)


def start_state(config, flush: bool) -> np.ndarray:
    """Hidden state (H,) before a pass: the reset value for an independent model, else 0.1 (``flush``) or 1.0;
    for the batched engine the zero state (L*S*H,), as after its resets."""
    if config.batched:
        return np.zeros(deep.state_size(config), dtype=config.numpy_dtype)
    value = RESET_VALUE if config.independent or not flush else FLUSH_VALUE
    return np.full(config.hidden_size, value, dtype=config.numpy_dtype)


def _elman(model) -> Elman:
    return Elman(input_weights=model.input_weights, recurrent=model.recurrent,
                 activation=ELMAN_ACTIVATIONS[model.config.activation])


def _gru(model) -> Gru:
    return Gru(input_weights=model.input_weights, recurrent=model.recurrent, bias=model.gate_bias)


def _class_softmax(model) -> ClassSoftmax:
    vocabulary = model.vocabulary
    return ClassSoftmax(class_weights=model.class_weights, output_weights=model.output_weights,
                        output_class=vocabulary.word_class, class_start=vocabulary.class_start,
                        class_end=vocabulary.class_end)


def _hierarchical_softmax(model) -> HierarchicalSoftmax:
    tree = model.vocabulary.huffman_tree
    return HierarchicalSoftmax(node_weights=model.output_weights, path_ptr=tree.path_ptr, path_nodes=tree.path_nodes,
                               path_codes=tree.path_codes)


def _noise_contrastive(model) -> NoiseContrastive:
    config = model.config
    accept, alias, log_noise = model.vocabulary.noise_table(config.nce_unigram_power)
    return NoiseContrastive(word_weights=model.output_weights, accept=accept, alias=alias, log_noise=log_noise,
                            samples=config.nce_samples, lnz=float(config.nce_lnz))


# how each kernel bundle is made from a model: by cell (kernels.layers.CELLS) and output layer name
CELL_BUNDLES = {"elman": _elman, "gru": _gru}
OUTPUT_BUNDLES = {"class": _class_softmax, "hs": _hierarchical_softmax, "nce": _noise_contrastive}


def _network(model, hot_rows: np.ndarray | None = None) -> lm.Network:
    """The model as the kernels' ``Network`` bundle; ``hot_rows`` (K, H): a hogwild thread's private copy of
    a hierarchical softmax's first K node rows (then its output bundle is a ``ThreadHierarchicalSoftmax``;
    None or empty: none)."""
    config = model.config
    output = OUTPUT_BUNDLES[config.output_layer](model)
    if hot_rows is not None and hot_rows.shape[0] > 0:
        if not isinstance(output, HierarchicalSoftmax):
            raise ValueError(f"hot tree rows given for a model with the {config.output_layer!r} output layer")
        output = ThreadHierarchicalSoftmax(tree=output, hot_rows=hot_rows)
    return lm.Network(cell=CELL_BUNDLES[layers.HIDDEN_TYPES[config.activation]](model), output=output,
                      direct=DirectConnections(weights=model.direct, order=config.direct_order),
                      independent=config.independent, reset_value=RESET_VALUE)


# the KernelState array a cell keeps of each stored step besides its input and error (by kernels.layers.CELLS
# name), and an output layer's own training state (by output layer name; none: an empty tuple)
CELL_STEP_RINGS = {"elman": "ring_hidden", "gru": "ring_gates"}
OUTPUT_STATES = {"nce": "noise_state"}


def _training_state(state: KernelState, model) -> lm.TrainingState:
    """The parts of ``state`` that ``model``'s cell and output layer use, as the kernels' ``TrainingState``."""
    config = model.config
    output_state = OUTPUT_STATES.get(config.output_layer)
    return lm.TrainingState(hidden_prev=state.hidden_prev, ring_position=state.ring_position,
                            ring_input=state.ring_input, ring_error=state.ring_error,
                            step_ring=getattr(state, CELL_STEP_RINGS[layers.HIDDEN_TYPES[config.activation]]),
                            counters=state.counters,
                            output_state=() if output_state is None else getattr(state, output_state))


def train_span(model, stream: TokenStream, begin: int, end: int, state: KernelState, alpha: float,
               bptt_block: int | None = None, probabilities: np.ndarray = NO_PROBABILITIES,
               hot_rows: np.ndarray | None = None, merging: Merging | None = None) -> tuple[float, int, int]:
    """SGD with truncated BPTT on positions ``begin <= t < end``, updating ``model``'s weights and ``state``.

    ``alpha`` is the learning rate; ``bptt_block`` overrides the config's block.
    If ``probabilities`` (float64, (N,)) is given, P(target) of each position
    before its update is written there. ``hot_rows`` (K, H) is a hogwild
    thread's private copy of a hierarchical softmax's first K node rows
    (``hogwild``), trained instead of theirs in the model; ``merging`` is
    that thread's merging into the shared weights (which may end the call
    early, when another thread ends the round). Returns (sum of log10 P over
    scored targets, number of scored targets, the position after the last
    one trained: ``end`` unless the round ended).
    """
    config = model.config
    learning = lm.Learning(alpha=config.numpy_dtype(alpha), beta=config.beta, cutoff=config.gradient_cutoff,
                           bptt=config.bptt, bptt_block=config.bptt_block if bptt_block is None else bptt_block)
    merge_bundle = None if merging is None or merging.every == 0 else lm.Merge(
        every=merging.every, shared=merging.shared, local=merging.local, base=merging.base, flags=merging.flags,
        scale=merging.scale)
    return lm.train_span(network=_network(model, hot_rows), words=stream.words, begin=begin, end=end,
                         state=_training_state(state, model), learning=learning, merge=merge_bundle,
                         probabilities=probabilities)


def merge(merging: Merging) -> None:
    """Add a hogwild thread's change to the shared arrays now (waiting for the lock); continue from their sum."""
    hogwild.merge_changes(shared=merging.shared, local=merging.local, base=merging.base, flags=merging.flags,
                          scale=merging.scale)


def score_stream(model, stream: TokenStream, hidden_start: np.ndarray, normalised: bool = True
                 ) -> tuple[np.ndarray, np.ndarray]:
    """P(target) of every position (float64, shape (N,); 0 where unscored) and the final state (H,).

    ``hidden_start`` (shape (H,)) is the state before the first position; it is not modified.
    An NCE model normalises over the whole vocabulary unless ``normalised`` is False
    (then it gives its cheap unnormalised scores, as faster-rnnlm validates).
    """
    if model.config.batched:
        return batched_scoring.score_stream(model, stream, hidden_start)
    hidden = np.array(hidden_start, dtype=model.config.numpy_dtype, copy=True)
    probabilities = np.zeros(len(stream), dtype=np.float64)
    lm.score_span(network=_network(model), words=stream.words, begin=0, end=len(stream), history_start=0,
                  hidden_prev=hidden, probabilities=probabilities, normalised=normalised)
    return probabilities, hidden


def kernel_network(model) -> lm.Network | None:
    """The model as its scoring kernels' one argument: views of its arrays, no copy. Build it once and pass it
    to ``score_span`` when scoring many short spans (a decoder's word-by-word steps). None for the batched
    engine, which needs none."""
    return None if model.config.batched else _network(model)


def score_span(model, words: np.ndarray, begin: int, end: int, history_start: int, hidden_prev: np.ndarray,
               probabilities: np.ndarray, bundle: lm.Network | None = None) -> None:
    """P(target) of stream positions ``begin <= t < end`` of ``words`` (int32 (N + 1,), see ``streams``) into
    ``probabilities`` (float64 (N,)), from ``hidden_prev`` (H,), which holds the state after ``end - 1`` on
    return. Direct connections see ``</s>`` for every word before ``history_start``. ``bundle``: the model's
    ``kernel_network``, when the caller keeps one (none for the batched engine)."""
    if model.config.batched:
        batched_scoring.score_span(model, words, begin, end, hidden_prev, probabilities)
        return
    lm.score_span(network=_network(model) if bundle is None else bundle, words=words, begin=begin, end=end,
                  history_start=history_start, hidden_prev=hidden_prev, probabilities=probabilities,
                  normalised=True)


def score_segments(model, stream: TokenStream, segment_begin: np.ndarray, segment_end: np.ndarray,
                   start_states: np.ndarray, start_index: np.ndarray | None = None,
                   final_states: np.ndarray | None = None, probabilities: np.ndarray | None = None,
                   normalised: bool = True) -> np.ndarray:
    """Score segments ``[segment_begin[s], segment_end[s])`` (int64 (S,)) of ``stream``, each from its own state.

    Segment s starts from ``start_states[start_index[s]]`` (``start_states`` (K, H));
    without ``start_index`` the segments are chained: the first starts from
    ``start_states[0]``, each later one where the previous ended. The state after
    segment s goes to ``final_states[s]`` if given ((S, H)). P(target) goes into
    ``probabilities`` (float64, (N,); made if not given; positions outside the
    segments are left alone), which is returned. Segments may be scored by
    several threads at once (the kernel runs without the GIL).
    """
    config = model.config
    if probabilities is None:
        probabilities = np.zeros(len(stream), dtype=np.float64)
    if config.batched:
        batched_scoring.score_segments(model, stream, segment_begin, segment_end, start_states, start_index,
                                       final_states, probabilities)
        return probabilities
    lm.score_segments(network=_network(model), words=stream.words, segment_begin=segment_begin,
                      segment_end=segment_end,
                      start_index=np.zeros(0, dtype=np.int64) if start_index is None else start_index,
                      start_states=np.ascontiguousarray(start_states, dtype=config.numpy_dtype),
                      final_states=(np.zeros((0, config.hidden_size), dtype=config.numpy_dtype)
                                    if final_states is None else final_states),
                      probabilities=probabilities, normalised=normalised)
    return probabilities


def hidden_step(model, word: int, hidden_prev: np.ndarray, hidden: np.ndarray) -> None:
    """One recurrent step reading ``word`` (-1: no input; the batched engine reads ``</s>``): ``hidden`` (H,)
    from ``hidden_prev`` (H,) (the batched engine's whole state, (L*S*H,))."""
    if model.config.batched:
        batched_scoring.hidden_step(model, word, hidden_prev, hidden)
        return
    features = np.array([word] if word >= 0 else [], dtype=np.int32)
    cell = layers.HIDDEN_TYPES[model.config.activation]
    layers.CELLS[cell].step(CELL_BUNDLES[cell](model), features, hidden_prev, hidden)


def distribution(model, hidden: np.ndarray, history: np.ndarray, temperature: float, out: np.ndarray) -> None:
    """The full next-word distribution given ``hidden`` into ``out`` (V,), scores divided by ``temperature``.

    ``history`` (int64, (MAX_DIRECT_ORDER,)) holds the previous words, most recent first, for direct weights
    (the batched engine has none; its ``hidden`` is its whole state, (L*S*H,)).
    """
    config = model.config
    if config.batched:
        batched_scoring.distribution(model, hidden, temperature, out)
        return
    layers.OUTPUT_LAYERS[config.output_layer].distribution(
        OUTPUT_BUNDLES[config.output_layer](model), DirectConnections(model.direct, config.direct_order),
        hidden, history, temperature, out)


def warm_up(model, train_stream: TokenStream, valid_stream: TokenStream | None, state: KernelState) -> None:
    """Compile (or load from Numba's cache) the kernels training will call, without changing anything.

    Each kernel is called on an empty span with the very arrays of the real
    calls, so the compiled signature is the one training uses.
    """
    train_span(model, train_stream, 0, 0, state, model.training.alpha)
    if valid_stream is not None:
        lm.score_span(network=_network(model), words=valid_stream.words, begin=0, end=0, history_start=0,
                      hidden_prev=start_state(model.config, flush=True), probabilities=np.zeros(0, dtype=np.float64),
                      normalised=False)

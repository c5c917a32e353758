"""The RNNLM's one door to its kernels: arrays, training state and span wrappers with named arguments.

Every call into ``rnnlmpy.kernels`` for the language model goes through this
module, and every kernel argument is passed by name (Numba checks the names),
so no caller can feed arrays in the wrong order. ``model`` arguments are
``RnnlmModel`` objects (``rnnlmpy.rnnlm.model``); this module reads only their
weights, vocabulary layout and config.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..kernels import cell, direct, gru, hogwild, hsoftmax, lm, nce, output
from ..kernels.direct import MAX_DIRECT_ORDER
from .huffman import HuffmanTree
from .streams import TokenStream

GATED = "gru"  # the gated hidden type; the others are the Elman cell's activations
ACTIVATIONS = (*cell.ACTIVATIONS, GATED)  # names of the hidden types, in -hidden-type order
OUTPUT_LAYERS = tuple(lm.OUTPUT_LAYERS)  # "class" (class-factored softmax), "hs" (hierarchical softmax)
NO_NOISE = (np.zeros(1), np.zeros(1, dtype=np.int32), np.zeros(1))  # what a non-NCE model passes for the noise
NO_TREE = HuffmanTree(path_ptr=np.zeros(1, dtype=np.int64), path_nodes=np.zeros(0, dtype=np.int32),
                      path_codes=np.zeros(0, dtype=np.int8))  # what a class-softmax model passes for the tree
RESET_VALUE = 1.0  # hidden state of an independent model at every sentence start (as rnnlm)
FLUSH_VALUE = 0.1  # hidden state at the start of a training or validation pass (as rnnlm)
THREAD_SEED_STRIDE = 7_919  # thread k's noise sampler is seeded this many steps after thread 0's
NO_PROBABILITIES = np.zeros(0)  # train_span's per-position output, when it is not wanted
PRIVATE_WEIGHTS = ("class_weights", "recurrent", "gate_bias")  # a hogwild thread's private copies (with its hot
# tree rows): the small dense arrays that every word or block rewrites in full

__all__ = ["ACTIVATIONS", "FLUSH_VALUE", "MAX_DIRECT_ORDER", "OUTPUT_LAYERS", "RESET_VALUE", "KernelState",
           "Merging", "PRIVATE_WEIGHTS", "distribution", "merge", "output_tree", "warm_up",
           "hidden_step", "score_segments", "score_stream", "start_state", "train_span"]


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
        node rows) into ``shared_model``'s."""
        shared = tuple(getattr(shared_model, name).reshape(-1) for name in PRIVATE_WEIGHTS)
        shared += (shared_model.output_weights[:hot_rows.shape[0]].reshape(-1),)
        local = tuple(getattr(local_model, name).reshape(-1) for name in PRIVATE_WEIGHTS) + (hot_rows.reshape(-1),)
        return cls(shared=shared, local=local, base=tuple(array.copy() for array in local), flags=flags, every=every,
                   scale=scale)

    @classmethod
    def none(cls, config) -> "Merging":
        """No merging (one thread): empty arrays of the same types, so that one compiled kernel serves both."""
        empty = tuple(np.zeros(0, dtype=config.numpy_dtype) for _ in range(len(PRIVATE_WEIGHTS) + 1))
        return cls(shared=empty, local=empty, base=empty, flags=np.zeros(2, dtype=np.int64), every=0)


def start_state(config, flush: bool) -> np.ndarray:
    """Hidden state (H,) before a pass: the reset value for an independent model, else 0.1 (``flush``) or 1.0."""
    value = RESET_VALUE if config.independent or not flush else FLUSH_VALUE
    return np.full(config.hidden_size, value, dtype=config.numpy_dtype)


def output_tree(model) -> HuffmanTree:
    """The Huffman tree of a hierarchical-softmax model (built from the vocabulary's counts once, then kept)."""
    return model.vocabulary.huffman_tree if model.config.output_layer == "hs" else NO_TREE


def _network(model) -> dict:
    """The kernels' weight and output-layer arguments, by name."""
    vocabulary = model.vocabulary
    tree = output_tree(model)
    return dict(input_weights=model.input_weights, recurrent=model.recurrent, class_weights=model.class_weights,
                output_weights=model.output_weights, output_class=vocabulary.word_class,
                class_start=vocabulary.class_start, class_end=vocabulary.class_end,
                output_layer=lm.OUTPUT_LAYERS[model.config.output_layer], path_ptr=tree.path_ptr,
                path_nodes=tree.path_nodes, path_codes=tree.path_codes, nce_lnz=float(model.config.nce_lnz),
                gated=model.config.activation == GATED, gate_bias=model.gate_bias,
                activation=_activation_code(model.config))


def _activation_code(config) -> int:
    """The Elman cell's activation code (a GRU passes sigmoid, unused)."""
    return cell.ACTIVATIONS.get(config.activation, cell.SIGMOID)


def _noise(model) -> dict:
    """The NCE noise sampler's arguments (empty tables for other output layers)."""
    config = model.config
    if config.output_layer == "nce":
        accept, alias, log_noise = model.vocabulary.noise_table(config.nce_unigram_power)
    else:
        accept, alias, log_noise = NO_NOISE
    return dict(noise_accept=accept, noise_alias=alias, log_noise=log_noise,
                noise_samples=config.nce_samples if config.output_layer == "nce" else 0)


def _stream(stream: TokenStream) -> dict:
    return dict(words=stream.words)


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
    merging = merging or Merging.none(config)
    return lm.train_span(
        **_network(model), **_noise(model), noise_state=state.noise_state, **_stream(stream), begin=begin, end=end,
        hidden_prev=state.hidden_prev, ring_position=state.ring_position,
        ring_input=state.ring_input, ring_hidden=state.ring_hidden, ring_error=state.ring_error,
        counters=state.counters, alpha=config.numpy_dtype(alpha), beta=config.beta, cutoff=config.gradient_cutoff,
        bptt=config.bptt, bptt_block=config.bptt_block if bptt_block is None else bptt_block,
        ring_gates=state.ring_gates, independent=config.independent,
        reset_value=RESET_VALUE,
        direct=model.direct, direct_order=config.direct_order, probabilities=probabilities,
        hot_rows=model.output_weights[:0] if hot_rows is None else hot_rows, merge_every=merging.every,
        merge_shared=merging.shared, merge_local=merging.local, merge_base=merging.base,
        merge_scale=merging.scale, flags=merging.flags)


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
    config = model.config
    hidden = np.array(hidden_start, dtype=config.numpy_dtype, copy=True)
    probabilities = np.zeros(len(stream), dtype=np.float64)
    lm.score_span(**_network(model), **_stream(stream), begin=0, end=len(stream), history_start=0,
                  hidden_prev=hidden, independent=config.independent, reset_value=RESET_VALUE, direct=model.direct,
                  direct_order=config.direct_order, probabilities=probabilities, normalised=normalised)
    return probabilities, hidden


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
    chained = start_index is None
    lm.score_segments(**_network(model), **_stream(stream), segment_begin=segment_begin, segment_end=segment_end,
                      start_index=np.zeros(0, dtype=np.int64) if chained else start_index,
                      start_states=np.ascontiguousarray(start_states, dtype=config.numpy_dtype), chained=chained,
                      final_states=(np.zeros((0, config.hidden_size), dtype=config.numpy_dtype)
                                    if final_states is None else final_states),
                      independent=config.independent, reset_value=RESET_VALUE, direct=model.direct,
                      direct_order=config.direct_order, probabilities=probabilities, normalised=normalised)
    return probabilities


def hidden_step(model, word: int, hidden_prev: np.ndarray, hidden: np.ndarray) -> None:
    """One recurrent step reading ``word`` (-1: no input): ``hidden`` (H,) = act(recurrent @ hidden_prev + row)."""
    features = np.array([word] if word >= 0 else [], dtype=np.int32)
    if model.config.activation == GATED:
        gru.gru_forward(input_weights=model.input_weights, recurrent=model.recurrent, bias=model.gate_bias,
                        feature_ids=features, feature_begin=0, feature_end=len(features), hidden_prev=hidden_prev,
                        hidden_out=hidden, gates_out=np.empty(3 * hidden.shape[0], dtype=hidden.dtype))
        return
    cell.hidden_forward(input_weights=model.input_weights, recurrent=model.recurrent, feature_ids=features,
                        feature_begin=0, feature_end=len(features), hidden_prev=hidden_prev, hidden_out=hidden,
                        activation=_activation_code(model.config))


def distribution(model, hidden: np.ndarray, history: np.ndarray, temperature: float, out: np.ndarray) -> None:
    """The full next-word distribution given ``hidden`` into ``out`` (V,), scores divided by ``temperature``.

    ``history`` (int64, (MAX_DIRECT_ORDER,)) holds the previous words, most recent first, for direct weights.
    """
    vocabulary = model.vocabulary
    if model.config.output_layer == "hs":
        tree = output_tree(model)
        keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
        usable = 0
        if model.direct.shape[0] > 0 and model.config.direct_order > 0:
            usable = direct.direct_keys(history, model.config.direct_order, direct.DIRECT_CLASS_KEY,
                                        model.direct.shape[0] // 2, 0, keys)
        hsoftmax.hs_distribution(node_weights=model.output_weights, path_ptr=tree.path_ptr,
                                 path_nodes=tree.path_nodes, path_codes=tree.path_codes, hidden=hidden,
                                 direct=model.direct, keys=keys, usable=usable, temperature=temperature, out=out)
        return
    if model.config.output_layer == "nce":  # a full softmax over the word rows (lnz cancels)
        scores = model.output_weights.astype(np.float64) @ hidden.astype(np.float64)
        if model.direct.shape[0] > 0 and model.config.direct_order > 0:
            keys = np.zeros(MAX_DIRECT_ORDER, dtype=np.int64)
            usable = direct.direct_keys(history, model.config.direct_order, direct.DIRECT_CLASS_KEY,
                                        model.direct.shape[0] // 2, 0, keys)
            words = np.arange(scores.shape[0])
            for k in range(usable):
                scores += model.direct[(keys[k] + words) % model.direct.shape[0]]
        scores /= temperature
        scores = np.exp(scores - scores.max())
        out[:] = scores / scores.sum()
        return
    output.output_distribution(class_weights=model.class_weights, output_weights=model.output_weights,
                               class_start=vocabulary.class_start, class_end=vocabulary.class_end, hidden=hidden,
                               direct=model.direct, direct_order=model.config.direct_order, history=history,
                               temperature=temperature, distribution=out)


def warm_up(model, train_stream: TokenStream, valid_stream: TokenStream | None, state: KernelState) -> None:
    """Compile (or load from Numba's cache) the kernels training will call, without changing anything.

    Each kernel is called on an empty span with the very arrays of the real
    calls, so the compiled signature is the one training uses.
    """
    train_span(model, train_stream, 0, 0, state, model.training.alpha)
    if valid_stream is not None:
        config = model.config
        lm.score_span(**_network(model), **_stream(valid_stream), begin=0, end=0, history_start=0,
                      hidden_prev=start_state(config, flush=True), independent=config.independent,
                      reset_value=RESET_VALUE, direct=model.direct, direct_order=config.direct_order,
                      probabilities=np.zeros(0, dtype=np.float64), normalised=False)

"""The RNNLM's settings (RnnlmConfig), its parameters (RnnlmModel) and their initialisation.

Two engines train and score a model (``RnnlmConfig.batched`` says which): the
per-word engine (rnnlm's SGD, one word at a time, one layer) and the batched
engine (``deep``: LSTM, stacked layers, dropout, optimisers, minibatches of
windows). Per-word shapes: ``input_weights`` (V, H), ``recurrent`` (H, H),
``class_weights`` (C, H), ``output_weights`` (V, H), ``direct`` (D,),
``hidden_state`` (H,), with V words, H hidden units, C classes and D direct
weights; ``class_bias`` and ``output_bias`` are empty (0,). The batched
engine's shapes are ``deep.weight_shapes``'s (recurrent (L, 2, G*H, H),
biases, ``hidden_state`` (L*S*H,)). With hierarchical softmax
(``output_layer`` "hs") ``output_weights`` holds the V - 1 inner nodes of the
Huffman tree and ``class_weights`` is empty (0, H); with NCE (``output_layer``
"nce") ``output_weights`` holds the V word rows and ``class_weights`` is empty. ``weight_shapes`` is the one
statement of these shapes; ``model_file`` reads and writes the arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..base.checks import check_rand_seed
from ..base.errors import RnnlmpyError
from ..base.initialisation import initial_weights
from ..base.store import DTYPES
from ..base.system import check_fits
from ..kernels.layers import ACTIVATIONS as PER_WORD_TYPES
from ..kernels.layers import GATED, MAX_DIRECT_ORDER, OUTPUT_LAYERS
from ..kernels.optimizers import OPTIMIZERS
from ..kernels.window import ELMAN_ACTIVATIONS as WINDOW_ELMAN_TYPES
from ..kernels.window_hs import TIED_REFUSAL as HS_TIED_REFUSAL
from .vocab import Vocabulary

MAX_NCE_SAMPLES = 10_000  # -nce K: noise words per target
MAX_BPTT_STEPS = 10_000  # -bptt and -bptt-block: more steps back than this is never useful, only slow
PRODUCT_PRECISIONS = ("float32", "bfloat16")  # -product-precision: the arithmetic of the training products
MAX_LAYERS = 64  # -layers: a deeper stack never trains in a CPU's time
MAX_BATCH = 100_000  # -batch: streams at once
WEIGHT_NAMES = ("input_weights", "recurrent", "class_weights", "output_weights", "direct", "gate_bias", "class_bias",
                "output_bias")
LSTM = "lstm"  # the hidden type only the batched engine has
BATCHED_TYPES = (LSTM,)
ACTIVATIONS = (*PER_WORD_TYPES, *BATCHED_TYPES)  # every -hidden-type name, in option order
BATCHED_CELL_TYPES = (*WINDOW_ELMAN_TYPES, GATED, LSTM)  # the hidden types the batched engine has
# rnnlm's learning rate and clamp on back-propagated errors (made for its sigmoid); 4 steps back (rnnlm: 0)
PER_WORD_DEFAULTS = {"alpha": 0.1, "bptt": 4, "gradient_cutoff": 15.0}
# ... and what the hidden types whose derivative reaches 1 need instead (the sigmoid's is at most 1/4): their errors
# pass back through the recurrent matrix undamped and add up over the steps of a BPTT block, so that rnnlm's rate and
# clamp grow the recurrent and input weights until the state saturates within the first few hundred words. PTB's
# first 200k words, hidden 100, class 100, best validation PPL (rate/clamp): tanh 0.1/15 491 after retrying down to
# 5e-5, 0.01/15 287, 0.02/1 435, 0.01/1 254; relu 0.1/15 NaN down to 0.00625, 0.01/1 244; relu-trunc 0.1/15 261
# after retries, 0.01/1 245; sigmoid 0.1/15 220. Whole PTB: tanh 0.01/1 test PPL 178.6; relu 163.4 (its first
# epoch diverged at 0.01 and was retried at 0.005; 0.005 from the start: 262 on the 200k words). elu is not among
# them: its unbounded state still blows up at 0.01/1 and 0.005/1.
UNDAMPED_DEFAULTS = {"alpha": 0.01, "gradient_cutoff": 1.0}
PER_WORD_TYPE_DEFAULTS = {name: UNDAMPED_DEFAULTS for name in ("tanh", "relu", "relu-trunc")}
BATCHED_DEFAULTS = {  # the batched engine's defaults (Zaremba et al.'s small recipe with tied embeddings and
    # light dropout), written once (its initial weights: deep.init_scale, deep.FORGET_BIAS)
    "batch": 20,  # streams trained at once
    # the optimiser by hidden type: Adagrad for the old cells, whose minibatches SGD learns slowly (PTB, hidden 100,
    # -batch 20, 100 classes, 4 epochs, valid PPL: sigmoid 197.8 SGD / 190.4 Adagrad 0.1, tanh 208.1 / 185.5, gru
    # 166.6 / 142.6; sigmoid -hs: test 174.0 after 5 epochs, SGD 176.9 after 8); relu diverges under Adagrad's large
    # first steps (at 0.1, 0.05 and 0.03); the LSTM keeps Zaremba et al.'s SGD
    "optimizer": {"sigmoid": "adagrad", "tanh": "adagrad", "gru": "adagrad", "relu": "sgd", "lstm": "sgd"},
    "bptt": 20,  # window length (time steps)
    # the starting rate by -optimizer (momentum's velocity sums ~10 gradients: a tenth of SGD's; Adagrad: PTB, one
    # epoch, the 2 x 200 LSTM with 100 classes, valid PPL 197.2 at 0.1, 271.2 at 0.01)
    "alpha": {"sgd": 1.0, "momentum": 0.1, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.001},
    # ... and where a class-factored output (-class > 1) needs less: its class softmax puts ~15% of the tokens
    # in one class, a curvature that plain SGD at 1.0 overshoots until the LSTM saturates and stops learning
    # (PTB 200k words, 2 x 200, one epoch: valid PPL 647 at 1.0 and 0.7, 366 at 0.5, 428 at 0.25; full softmax 388)
    "class_alpha": {"sgd": 0.5},
    # ... times this for a tanh Elman layer under SGD: its derivative reaches 1 where the sigmoid's is at most 1/4,
    # and the larger steps saturate it (PTB 200k words, hidden 100, -batch 20, 3 epochs, valid PPL: class 100 at
    # 0.5 903, at 0.1 292, sigmoid at 0.5 293, relu at 0.5 272; -class 1, 2 epochs: 1.0 diverged, 0.2 356)
    "tanh_sgd_scale": 0.2,
    "clip_norm": 5.0,  # gradient norm clipped to this (0: off)
    # tied input and output word vectors and dropout 0.1: a 2 x 200 LSTM otherwise overfits PTB from the third
    # epoch (untied, no dropout: test PPL 130.8 after 7 epochs; tied with dropout 0.1: 107.3 after 11 epochs,
    # the halving schedule stopping by itself; docs/deep.md)
    "tie_weights": True,  # except with -hs (its rows are tree nodes)
    "dropout": 0.1,
}


@dataclass
class RnnlmConfig:
    """Hyper-parameters of an RNNLM. Per-word defaults are rnnlm's, except hidden 100 (rnnlm: 30), bptt 4
    (rnnlm: 0) and classes = the square root of the vocabulary size (rnnlm: 100). ``alpha``, ``bptt``,
    ``batch``, ``clip_norm``, ``dropout``, ``tie_weights`` and ``gradient_cutoff`` left None take the engine's
    default (PER_WORD_DEFAULTS, or PER_WORD_TYPE_DEFAULTS for its hidden type, or BATCHED_DEFAULTS) when the config
    is made, so that a config always holds the numbers it trains with."""

    hidden_size: int = 100
    class_count: Optional[int] = None  # None: the square root of the vocabulary size
    activation: str = "sigmoid"
    bptt: Optional[int] = None  # per-word: extra steps each error travels back in time (0 = plain backprop);
    # batched: the window length
    bptt_block: int = 10  # words between updates of the recurrent matrix (per-word engine)
    alpha: Optional[float] = None  # starting learning rate
    beta: float = 1e-7  # L2 regularisation
    gradient_cutoff: Optional[float] = None  # clamp on back-propagated errors; 0 = off
    min_improvement: float = 1.003
    independent: bool = False  # reset the state at every sentence end
    old_classes: bool = False  # frequency instead of sqrt-frequency classes
    dtype: str = "float32"
    rand_seed: int = 1
    direct_size: int = 0  # direct-connection (hashed max-ent n-gram) weights; rnnlm's -direct N means N * 10**6
    direct_order: int = 3  # history words + 1 hashed into them (1 = a bias only)
    char_level: bool = False  # every character is a token (spaces as <sp>)
    output_layer: str = "class"  # "class": class-factored softmax; "hs": hierarchical softmax; "nce": NCE
    nce_samples: int = 20  # NCE: noise words per target
    nce_unigram_power: float = 1.0  # NCE: noise distribution = counts ** power, normalised
    nce_lnz: float = 9.0  # NCE: the fixed log normaliser of the unnormalised scores
    diagonal_initialization: Optional[float] = None  # the recurrent matrix starts as this times I (None: random)
    layers: int = 1  # stacked recurrent layers (batched engine when > 1)
    dropout: Optional[float] = None  # dropout on the non-recurrent connections, training only (batched engine)
    optimizer: Optional[str] = None  # sgd, momentum, adagrad, rmsprop, adam (batched engine unless sgd); None: the
    # engine's default (per-word: sgd; batched: BATCHED_DEFAULTS["optimizer"] by hidden type)
    batch: Optional[int] = None  # streams trained at once (batched engine when > 1)
    clip_norm: Optional[float] = None  # the gradients' global norm is clipped to this, 0: off (batched engine)
    tie_weights: Optional[bool] = None  # the output layer's word rows are the input embedding (batched engine)
    product_precision: str = "float32"  # bfloat16 (batched full softmax only): the training steps' products, of the
    # layers and the softmax, take bfloat16 inputs summed in float32 (AVX-512 BF16: twice float32's multiply-adds
    # a cycle); weights, scoring and the rest stay float32

    def __post_init__(self) -> None:
        batched = self.batched
        if self.optimizer is None:
            self.optimizer = BATCHED_DEFAULTS["optimizer"].get(self.activation, "sgd") if batched else "sgd"
        per_word = {**PER_WORD_DEFAULTS, **PER_WORD_TYPE_DEFAULTS.get(self.activation, {})}
        if self.alpha is None:
            self.alpha = self._batched_alpha() if batched else per_word["alpha"]
        if self.gradient_cutoff is None:  # the batched engine clips the gradients' norm instead (clip_norm)
            self.gradient_cutoff = PER_WORD_DEFAULTS["gradient_cutoff"] if batched else per_word["gradient_cutoff"]
        if self.bptt is None:
            self.bptt = BATCHED_DEFAULTS["bptt"] if batched else PER_WORD_DEFAULTS["bptt"]
        if batched and self.batch is None:
            self.batch = BATCHED_DEFAULTS["batch"]
        if batched and self.clip_norm is None:
            self.clip_norm = BATCHED_DEFAULTS["clip_norm"]
        if self.dropout is None:
            self.dropout = BATCHED_DEFAULTS["dropout"] if batched else 0.0
        if self.tie_weights is None:  # a hierarchical softmax's rows are tree nodes, not words: nothing to tie
            self.tie_weights = BATCHED_DEFAULTS["tie_weights"] if batched and self.output_layer != "hs" else False

    def _batched_alpha(self) -> float:
        """The batched engine's starting rate for this optimiser, output layer and hidden type (BATCHED_DEFAULTS)."""
        factored = self.output_layer == "class" and self.class_count != 1  # None: sqrt(V) classes
        rates = {**BATCHED_DEFAULTS["alpha"], **(BATCHED_DEFAULTS["class_alpha"] if factored else {})}
        scale = BATCHED_DEFAULTS["tanh_sgd_scale"] if self.activation == "tanh" and self.optimizer == "sgd" else 1.0
        return rates.get(self.optimizer, 1.0) * scale

    @property
    def batched(self) -> bool:
        """Whether the batched engine trains and scores this model (LSTM, several layers, minibatches, dropout,
        an optimiser other than SGD or tied weights); else rnnlm's per-word engine."""
        return bool(self.activation in BATCHED_TYPES or self.layers > 1 or (self.batch or 1) > 1
                    or (self.dropout or 0) > 0 or self.optimizer not in (None, "sgd") or self.tie_weights)

    def _validate_engine(self) -> None:
        """The settings of the new options, and what each engine refuses (RnnlmpyError, one line)."""
        for name, value in (("-dropout", self.dropout), ("-clip-norm", self.clip_norm)):
            if value is not None and not math.isfinite(value):
                raise RnnlmpyError(f"{name} must be a finite number (got {value})")
        if not 1 <= self.layers <= MAX_LAYERS:
            raise RnnlmpyError(f"-layers must be between 1 and {MAX_LAYERS} (got {self.layers})")
        if not 0 <= self.dropout < 1:
            raise RnnlmpyError(f"-dropout must be at least 0 and below 1 (got {self.dropout})")
        if self.optimizer not in OPTIMIZERS:
            raise RnnlmpyError(f"-optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})")
        if self.batch is not None and not 1 <= self.batch <= MAX_BATCH:
            raise RnnlmpyError(f"-batch must be between 1 and {MAX_BATCH:,} (got {self.batch})")
        if self.clip_norm is not None and not self.clip_norm >= 0:
            raise RnnlmpyError(f"-clip-norm must be 0 (off) or more (got {self.clip_norm})")
        if self.product_precision not in PRODUCT_PRECISIONS:
            raise RnnlmpyError(f"-product-precision must be one of {', '.join(PRODUCT_PRECISIONS)} "
                               f"(got {self.product_precision!r})")
        if self.product_precision != "float32" and not (
                self.batched and self.output_layer == "class" and self.class_count == 1 and self.dtype == "float32"):
            raise RnnlmpyError(f"-product-precision {self.product_precision} is for the batched engine's full "
                               "softmax (-class 1) of a float32 model, with -batch, -layers or -hidden-type lstm")
        if not self.batched:
            if self.clip_norm is not None:
                raise RnnlmpyError("-clip-norm applies to the batched engine only (-hidden-type lstm, -layers, -batch, "
                                   "-dropout, -optimizer or -tie-weights); the per-word engine clamps with "
                                   "-gradient-cutoff")
            return
        refused = [("-direct", self.direct_size > 0),
                   ("-diagonal-initialization", self.diagonal_initialization is not None)]
        for option, given in refused:
            if given:
                raise RnnlmpyError(f"{option} is not part of the batched engine (-hidden-type lstm, -layers, -batch, "
                                   "-dropout, -optimizer, -tie-weights); drop it, or train a per-word model")
        if self.output_layer == "hs" and self.tie_weights:
            raise RnnlmpyError(HS_TIED_REFUSAL)
        if self.activation not in BATCHED_CELL_TYPES:
            raise RnnlmpyError(f"-hidden-type {self.activation} is not part of the batched engine; it has "
                               f"{', '.join(BATCHED_CELL_TYPES)}")
        if self.bptt < 1:
            raise RnnlmpyError(f"-bptt is the window length of the batched engine: at least 1 (got {self.bptt})")

    def validate(self) -> None:
        """Raise RnnlmpyError for out-of-range settings, saying what is allowed."""
        self._validate_engine()
        for name, value in (("-alpha", self.alpha), ("-beta", self.beta), ("-gradient-cutoff", self.gradient_cutoff),
                            ("-min-improvement", self.min_improvement), ("-nce-lnz", self.nce_lnz),
                            ("-nce-unigram-power", self.nce_unigram_power)):
            if not math.isfinite(value):
                raise RnnlmpyError(f"{name} must be a finite number (got {value})")
        if self.hidden_size < 1:
            raise RnnlmpyError(f"-hidden must be at least 1 (got {self.hidden_size})")
        check_rand_seed(self.rand_seed)
        if self.class_count is not None and self.class_count < 1:
            raise RnnlmpyError(f"-class must be at least 1; use -class 1 for a full softmax (got {self.class_count})")
        if self.output_layer not in OUTPUT_LAYERS:
            raise RnnlmpyError(f"the output layer must be one of {', '.join(OUTPUT_LAYERS)} (got {self.output_layer!r})")
        if not 1 <= self.nce_samples <= MAX_NCE_SAMPLES:
            raise RnnlmpyError(f"-nce must be between 1 and {MAX_NCE_SAMPLES:,} noise words (got {self.nce_samples})")
        if self.nce_unigram_power < 0:
            raise RnnlmpyError(f"-nce-unigram-power must be 0 or more (got {self.nce_unigram_power})")
        if self.activation not in ACTIVATIONS:
            raise RnnlmpyError(f"-hidden-type (-activation) must be one of {', '.join(ACTIVATIONS)} (got {self.activation!r})")
        if self.diagonal_initialization is not None and not math.isfinite(self.diagonal_initialization):
            raise RnnlmpyError(f"-diagonal-initialization must be a finite number (got {self.diagonal_initialization})")
        if not 0 <= self.bptt <= MAX_BPTT_STEPS:
            raise RnnlmpyError(f"-bptt must be between 0 and {MAX_BPTT_STEPS:,} (got {self.bptt})")
        if not 1 <= self.bptt_block <= MAX_BPTT_STEPS:
            raise RnnlmpyError(f"-bptt-block must be between 1 and {MAX_BPTT_STEPS:,} (got {self.bptt_block})")
        if not self.alpha > 0:
            raise RnnlmpyError(f"-alpha must be positive (got {self.alpha})")
        if not self.beta >= 0:
            raise RnnlmpyError(f"-beta must be 0 or more (got {self.beta})")
        if not self.gradient_cutoff >= 0:
            raise RnnlmpyError(f"-gradient-cutoff must be 0 (off) or more (got {self.gradient_cutoff})")
        if not self.min_improvement >= 0:
            raise RnnlmpyError(f"-min-improvement must be 0 or more (got {self.min_improvement})")
        if self.dtype not in DTYPES:
            raise RnnlmpyError(f"-precision must be float32 or float64 (got {self.dtype!r})")
        if self.direct_size < 0 or self.direct_size % 2:
            raise RnnlmpyError(f"the number of direct weights must be 0 or a positive even number (got {self.direct_size})")
        if not 0 <= self.direct_order <= MAX_DIRECT_ORDER:
            raise RnnlmpyError(f"-direct-order must be between 0 and {MAX_DIRECT_ORDER} (got {self.direct_order})")
        check_fits(self.training_bytes(1, 1), f"a model of {self.hidden_size:,} hidden units"
                   f"{f' and {self.direct_size:,} direct weights' if self.direct_size else ''}")  # before any input

    @property
    def numpy_dtype(self) -> type:
        """The NumPy float type of the weights."""
        return DTYPES[self.dtype]

    def training_bytes(self, vocab_size: int, class_count: int) -> float:
        """Memory training needs, in bytes: the weights three times (model, backup, checkpoint copy), the
        float64 total of the largest matrix's initialisation, and the BPTT ring (batched: the weights five
        times, with gradients and up to two optimiser states, and a window's activations)."""
        hidden = self.hidden_size
        if self.batched:
            weights = sum(math.prod(shape) for shape in weight_shapes(self, vocab_size, class_count).values())
            rows = self.bptt * (self.batch or 1)
            window = rows * (hidden * self.layers * 12 + max(class_count, 1) + 2 * vocab_size // max(class_count, 1))
            return (6 * weights + window) * np.dtype(self.numpy_dtype).itemsize + 8.0 * max(vocab_size, hidden) * hidden
        weights = sum(math.prod(shape) for shape in weight_shapes(self, vocab_size, class_count).values())
        ring = 3 * (self.bptt + self.bptt_block + 1) * hidden + hidden * hidden
        itemsize = np.dtype(self.numpy_dtype).itemsize
        return (3 * weights + ring) * itemsize + 8.0 * max(vocab_size, hidden) * hidden


@dataclass
class TrainingProgress:
    """Where training stands: schedule state, position and per-epoch history."""

    epoch: int = 0  # finished epochs
    alpha: float = 0.1  # current learning rate
    halving: bool = False
    last_valid_log10: float = -1e8
    finished: bool = False
    position: int = 0  # training words done in the current epoch (checkpoints)
    slices: list = field(default_factory=list)  # mid-epoch: [begin, end, next position] of each thread's slice
    epoch_log10: float = 0.0  # train log10 probability so far in the current epoch
    epoch_scored: int = 0
    train_file: str = ""
    valid_file: str = ""
    train_words: int = 0
    corpus_sha256: str = ""  # fingerprint of the training text and the validation text (or held-out split)
    threads: int = 0  # threads training this model (hogwild when more than 1); 0: not recorded (older files)
    history: list = field(default_factory=list)  # per epoch: the history file's records, less their timings


@dataclass
class RnnlmModel:
    """All parameters of a class-factored Elman RNNLM (shapes: see the module docstring)."""

    config: RnnlmConfig
    vocabulary: Vocabulary
    input_weights: np.ndarray  # (V, H)
    recurrent: np.ndarray  # (H, H)
    class_weights: np.ndarray  # (C, H)
    output_weights: np.ndarray  # (V, H)
    direct: np.ndarray  # (direct_size,) direct-connection weights (see kernels.py); empty without them
    hidden_state: np.ndarray  # (H,) state after the last validation pass; the test starts here
    training: TrainingProgress = field(default_factory=TrainingProgress)
    resume_state: dict = field(default_factory=dict)  # arrays of a mid-epoch checkpoint
    gate_bias: Optional[np.ndarray] = None  # (3H,) a GRU's gate biases; empty (0,) for the Elman cell
    class_bias: Optional[np.ndarray] = None  # (C,) batched engine's class biases; empty (0,) otherwise
    output_bias: Optional[np.ndarray] = None  # (V,) batched engine's word biases; empty (0,) otherwise

    def __post_init__(self) -> None:
        for name in ("gate_bias", "class_bias", "output_bias"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(0, dtype=self.recurrent.dtype))

    def __repr__(self) -> str:
        config = self.config
        layers = f"{config.layers} x " if config.layers > 1 else ""
        return (f"RnnlmModel({self.vocabulary.size:,} words, {self.vocabulary.class_count} classes, hidden "
                f"{layers}{config.hidden_size} {config.activation}, {self.parameter_count:,} weights, "
                f"{len(self.training.history)} epochs{'' if self.training.finished else ', unfinished'})")

    @property
    def parameter_count(self) -> int:
        """Number of trained weights."""
        return int(sum(getattr(self, name).size for name in WEIGHT_NAMES))

    def weights(self) -> dict[str, np.ndarray]:
        """The weight matrices by name (the arrays themselves, not copies)."""
        return {name: getattr(self, name) for name in WEIGHT_NAMES}


def weight_shapes(config: RnnlmConfig, vocab_size: int, class_count: int) -> dict[str, tuple[int, ...]]:
    """The shape of every weight array (WEIGHT_NAMES) of a model of ``vocab_size`` words and ``class_count`` classes
    (the batched engine's: ``deep.weight_shapes``)."""
    if config.batched:
        from . import deep  # the batched engine builds on this module
        shapes = deep.weight_shapes(config, vocab_size, class_count)
        return {name: shapes[name] for name in WEIGHT_NAMES}
    hidden = config.hidden_size
    hierarchical = config.output_layer == "hs"
    gates = 3 * hidden if config.activation == GATED else 0
    return {
        "input_weights": (vocab_size, gates or hidden),
        "recurrent": (gates or hidden, hidden),
        "class_weights": (class_count if config.output_layer == "class" else 0, hidden),
        "output_weights": (max(vocab_size - 1, 0) if hierarchical else vocab_size, hidden),
        "direct": (config.direct_size,),
        "gate_bias": (gates,),
        "class_bias": (0,),
        "output_bias": (0,),
    }


def state_size(config: RnnlmConfig) -> int:
    """Length of a model's ``hidden_state``: H per-word, L * S * H for the batched engine (``deep.state_size``)."""
    if config.batched:
        from . import deep
        return deep.state_size(config)
    return config.hidden_size


def new_model(config: RnnlmConfig, vocabulary: Vocabulary) -> RnnlmModel:
    """A freshly initialised model; ``config.rand_seed`` fixes every weight."""
    config.validate()
    check_fits(config.training_bytes(vocabulary.size, vocabulary.class_count),
               f"a model of {vocabulary.size:,} words and {config.hidden_size:,} hidden units")
    rng = np.random.default_rng(config.rand_seed)
    if config.batched:
        from . import deep
        weights = deep.initial_weights(config, vocabulary.size, vocabulary.class_count, rng)
        return RnnlmModel(config=config, vocabulary=vocabulary, **{name: weights[name] for name in WEIGHT_NAMES},
                          hidden_state=np.zeros(deep.state_size(config), dtype=config.numpy_dtype),
                          training=TrainingProgress(alpha=config.alpha))
    dtype = config.numpy_dtype
    shapes = weight_shapes(config, vocabulary.size, vocabulary.class_count)
    zero_start = ("direct", "gate_bias", "class_bias", "output_bias")
    model = RnnlmModel(
        config=config,
        vocabulary=vocabulary,
        **{name: initial_weights(shapes[name], rng, dtype) for name in WEIGHT_NAMES if name not in zero_start},
        **{name: np.zeros(shapes[name], dtype=dtype) for name in zero_start},
        hidden_state=np.full(config.hidden_size, 0.1, dtype=dtype),
        training=TrainingProgress(alpha=config.alpha),
    )
    if config.diagonal_initialization is not None:  # every square block of the recurrent matrix: x * I
        hidden = config.hidden_size
        for block in range(model.recurrent.shape[0] // hidden):
            model.recurrent[block * hidden:(block + 1) * hidden] = config.diagonal_initialization * np.eye(hidden)
    return model

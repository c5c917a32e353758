"""Model parameters (one dataclass) and the rnnlmpy model file.

File format (version 1): a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) with

- ``header``: UTF-8 JSON as a uint8 array: ``{"format": "rnnlmpy", "kind":
  "rnnlm", "version": 1, "config": {...}, "training": {...}}``;
- ``words``: the vocabulary, UTF-8, one word per ``\\n``-separated entry, as uint8;
- ``counts``, ``word_class``: per-word training count and output class;
- ``input_weights`` (V, H), ``recurrent`` (H, H), ``class_weights`` (C, H),
  ``output_weights`` (V, H), ``hidden_state`` (H,);
- ``resume/*``: present only in a mid-epoch checkpoint, the training kernel's
  state and the weights backed up at the last epoch end, so that an
  interrupted run resumes exactly where it stopped.

Files are written to a temporary file beside the target and renamed, so a
crash never leaves a half-written model. ``load_model`` detects the format
from the first bytes; other formats (the C++ rnnlm's) plug in there.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, fields
from typing import Optional

import numpy as np

from .errors import RnnlmpyError
from .kernels import ACTIVATIONS
from .vocab import Vocabulary, vocabulary_from_classes

FORMAT_NAME = "rnnlmpy"
FORMAT_VERSION = 1
WEIGHT_NAMES = ("input_weights", "recurrent", "class_weights", "output_weights", "direct")
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass
class RnnlmConfig:
    """Hyper-parameters of an RNNLM. Defaults are rnnlm's, except hidden 100 (rnnlm: 30), bptt 4 (rnnlm: 0)
    and classes = the square root of the vocabulary size (rnnlm: 100)."""

    hidden_size: int = 100
    class_count: Optional[int] = None  # None: the square root of the vocabulary size
    activation: str = "sigmoid"
    bptt: int = 4  # extra steps each error travels back in time; 0 = plain backprop
    bptt_block: int = 10  # words between updates of the recurrent matrix
    alpha: float = 0.1  # starting learning rate
    beta: float = 1e-7  # L2 regularisation
    gradient_cutoff: float = 15.0  # clamp on back-propagated errors; 0 = off
    min_improvement: float = 1.003
    independent: bool = False  # reset the state at every sentence end
    old_classes: bool = False  # frequency instead of sqrt-frequency classes
    dtype: str = "float32"
    rand_seed: int = 1
    direct_size: int = 0  # direct-connection (hashed max-ent n-gram) weights; rnnlm's -direct N means N * 10**6
    direct_order: int = 3  # history words + 1 hashed into them (1 = a bias only)
    char_level: bool = False  # every character is a token (spaces as <sp>)

    def validate(self) -> None:
        """Raise RnnlmpyError for out-of-range settings, saying what is allowed."""
        if self.hidden_size < 1:
            raise RnnlmpyError(f"-hidden must be at least 1 (got {self.hidden_size})")
        if self.class_count is not None and self.class_count < 1:
            raise RnnlmpyError(f"-class must be at least 1; use -class 1 for a full softmax (got {self.class_count})")
        if self.activation not in ACTIVATIONS:
            raise RnnlmpyError(f"-activation must be one of {', '.join(ACTIVATIONS)} (got {self.activation!r})")
        if self.bptt < 0:
            raise RnnlmpyError(f"-bptt must be 0 or more (got {self.bptt})")
        if self.bptt_block < 1:
            raise RnnlmpyError(f"-bptt-block must be at least 1 (got {self.bptt_block})")
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
        if not 0 <= self.direct_order <= 20:
            raise RnnlmpyError(f"-direct-order must be between 0 and 20 (got {self.direct_order})")

    @property
    def numpy_dtype(self) -> type:
        """The NumPy float type of the weights."""
        return DTYPES[self.dtype]


@dataclass
class TrainingProgress:
    """Where training stands: schedule state, position and per-epoch history."""

    epoch: int = 0  # finished epochs
    alpha: float = 0.1  # current learning rate
    halving: bool = False
    last_valid_log10: float = -1e8
    finished: bool = False
    position: int = 0  # next training position within the current epoch (checkpoints)
    epoch_log10: float = 0.0  # train log10 probability so far in the current epoch
    epoch_scored: int = 0
    train_file: str = ""
    valid_file: str = ""
    train_words: int = 0
    history: list = field(default_factory=list)


@dataclass
class RnnlmModel:
    """All parameters of a class-factored Elman RNNLM (shapes in kernels.py's conventions)."""

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

    @property
    def parameter_count(self) -> int:
        """Number of trained weights."""
        return int(sum(getattr(self, name).size for name in WEIGHT_NAMES))

    def weights(self) -> dict[str, np.ndarray]:
        """The weight matrices by name (the arrays themselves, not copies)."""
        return {name: getattr(self, name) for name in WEIGHT_NAMES}


def initial_weights(shape: tuple[int, ...], rng: np.random.Generator, dtype: type) -> np.ndarray:
    """rnnlm's initialisation: each weight is a sum of three uniform draws from [-0.1, 0.1]."""
    draws = rng.random((3,) + shape)
    return (draws.sum(axis=0) * 0.2 - 0.3).astype(dtype)


def new_model(config: RnnlmConfig, vocabulary: Vocabulary) -> RnnlmModel:
    """A freshly initialised model; ``config.rand_seed`` fixes every weight."""
    config.validate()
    rng = np.random.default_rng(config.rand_seed)
    dtype = config.numpy_dtype
    vocab_size, hidden_size = vocabulary.size, config.hidden_size
    return RnnlmModel(
        config=config,
        vocabulary=vocabulary,
        input_weights=initial_weights((vocab_size, hidden_size), rng, dtype),
        recurrent=initial_weights((hidden_size, hidden_size), rng, dtype),
        class_weights=initial_weights((vocabulary.class_count, hidden_size), rng, dtype),
        output_weights=initial_weights((vocab_size, hidden_size), rng, dtype),
        direct=np.zeros(config.direct_size, dtype=dtype),
        hidden_state=np.full(hidden_size, 0.1, dtype=dtype),
        training=TrainingProgress(alpha=config.alpha),
    )


def encode_words(words: list[str]) -> np.ndarray:
    """Words as one UTF-8 byte array, ``\\n``-separated (words never contain newlines)."""
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def decode_words(data: np.ndarray) -> list[str]:
    """Inverse of ``encode_words``."""
    return bytes(data).decode("utf-8").split("\n")


def save_model(model: RnnlmModel, path: str) -> None:
    """Write ``model`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    write_model_file(path, "rnnlm", {"config": asdict(model.config), "training": asdict(model.training)}, {
        "words": encode_words(model.vocabulary.words),
        "counts": model.vocabulary.counts,
        "word_class": model.vocabulary.word_class,
        "hidden_state": model.hidden_state,
        **model.weights(),
        **{f"resume/{name}": value for name, value in model.resume_state.items()},
    })


def write_model_file(path: str, kind: str, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write an rnnlmpy model file of ``kind`` ("rnnlm", "tagger"): JSON header plus named arrays, atomically."""
    header = {"format": FORMAT_NAME, "kind": kind, "version": FORMAT_VERSION, **header}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), **arrays}
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


def read_model_file(path: str, kind: Optional[str], advice: str = "") -> tuple[dict, dict[str, np.ndarray]]:
    """Read an rnnlmpy model file, checking its format, version and ``kind`` (None: any); return (header, arrays).

    ``advice`` is appended to the error for a model of another kind (what to use instead).
    """
    found = detect_format(path)
    if found == "rnnlm-cpp":
        raise RnnlmpyError(f"{path!r} is a C++ rnnlm language model, not a {kind or 'rnnlmpy'} model")
    if found != "rnnlmpy":
        raise RnnlmpyError(f"{path!r} is not an rnnlmpy model file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(bytes(arrays.pop("header")).decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as error:
        raise RnnlmpyError(f"model file {path!r} is corrupt or truncated ({error.__class__.__name__})") from None
    if header.get("format") != FORMAT_NAME:
        raise RnnlmpyError(f"{path!r} is not an rnnlmpy model file")
    if header.get("version") != FORMAT_VERSION:
        raise RnnlmpyError(
            f"model {path!r} has format version {header.get('version')}; this rnnlmpy reads version {FORMAT_VERSION}"
        )
    if kind is not None and header.get("kind") != kind:
        names = {"rnnlm": "language model (rnnlm)", "tagger": "POS tagger"}
        raise RnnlmpyError(f"model {path!r} is a {names.get(header.get('kind'), repr(header.get('kind')))}, "
                           f"not a {names.get(kind, kind)}{advice}")
    return header, arrays


def write_atomically(path: str, write) -> None:
    """Call ``write(binary_handle)`` on a temporary file beside ``path``, then rename it to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise RnnlmpyError(f"model path {path!r} is a directory")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as error:
        raise RnnlmpyError(f"cannot write model {path!r}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def detect_format(path: str) -> str:
    """Name the format of a model file: "rnnlmpy", "rnnlm-cpp" or "unknown"."""
    if os.path.isdir(path):
        raise RnnlmpyError(f"model {path!r} is a directory, not a file")
    try:
        with open(path, "rb") as handle:
            start = handle.read(64)
    except FileNotFoundError:
        raise RnnlmpyError(f"model file {path!r} does not exist") from None
    except OSError as error:
        raise RnnlmpyError(f"cannot read model {path!r}: {error.strerror}") from None
    if start.startswith(b"PK"):
        return "rnnlmpy"
    if start.startswith(b"version:"):
        return "rnnlm-cpp"
    return "unknown"


def load_model(path: str) -> RnnlmModel:
    """Read a language model: rnnlmpy's format or the C++ rnnlm's (text or binary), detected from the file.

    Raises RnnlmpyError for a missing, foreign, corrupt or newer file.
    """
    if detect_format(path) == "rnnlm-cpp":
        from .rnnlm_format import read_rnnlm  # the C++ format module builds on this one
        return read_rnnlm(path)
    header, arrays = read_model_file(path, "rnnlm", "; use it with rnnlmpy tag")
    try:
        return _model_from_arrays(header, arrays)
    except (KeyError, ValueError, TypeError) as error:
        raise RnnlmpyError(f"model file {path!r} is inconsistent: {error}") from None


def _model_from_arrays(header: dict, arrays: dict) -> RnnlmModel:
    known = {f.name for f in fields(RnnlmConfig)}
    config = RnnlmConfig(**{k: v for k, v in header["config"].items() if k in known})
    known = {f.name for f in fields(TrainingProgress)}
    training = TrainingProgress(**{k: v for k, v in header["training"].items() if k in known})
    words = decode_words(arrays["words"])
    vocabulary = vocabulary_from_classes(words, arrays["counts"], arrays["word_class"],
                                         arrays["class_weights"].shape[0])
    model = RnnlmModel(
        config=config,
        vocabulary=vocabulary,
        hidden_state=arrays["hidden_state"],
        training=training,
        resume_state={k[len("resume/"):]: v for k, v in arrays.items() if k.startswith("resume/")},
        **{name: np.ascontiguousarray(arrays[name]) for name in WEIGHT_NAMES if name != "direct"},
        direct=np.ascontiguousarray(arrays.get("direct", np.zeros(0, dtype=arrays["recurrent"].dtype))),
    )
    vocab_size, hidden_size = vocabulary.size, config.hidden_size
    expected = {
        "input_weights": (vocab_size, hidden_size),
        "recurrent": (hidden_size, hidden_size),
        "class_weights": (vocabulary.class_count, hidden_size),
        "output_weights": (vocab_size, hidden_size),
        "direct": (config.direct_size,),
    }
    for name, shape in expected.items():
        if getattr(model, name).shape != shape:
            raise ValueError(f"{name} has shape {getattr(model, name).shape}, expected {shape}")
    return model


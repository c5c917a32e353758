"""RNNLM model files: rnnlmpy's container (kind "rnnlm") and the C++ rnnlm's formats, told apart by sniffing.

Container arrays: ``words`` (the vocabulary, see ``base.store.encode_words``),
``counts`` and ``word_class`` (per word), the weights by their RnnlmModel names,
``hidden_state``, and ``resume/*`` only in a mid-epoch checkpoint (the training
kernel's state and the weights backed up at the last epoch end, so that an
interrupted run resumes exactly where it stopped). The JSON header holds the
config and the training progress.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import RNNLM_CPP, sniff
from ..base.store import checked_array, decode_words, encode_words, read_store, settings_from_header, write_store
from ..base.text import SENTENCE_END
from .cpp_format import read_rnnlm
from .model import WEIGHT_NAMES, RnnlmConfig, RnnlmModel, TrainingProgress, weight_shapes
from .vocab import vocabulary_from_classes

KIND = "rnnlm"
HISTORY_SUFFIX = ".history.jsonl"  # beside a model file: its epoch records, one JSON line each
TIMING_FIELDS = ("words_per_second", "seconds", "time")  # in the history file's records only: the model file
# holds no clock, so that the same command writes the same bytes


def save_model(model: RnnlmModel, path: str) -> None:
    """Write ``model`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    write_store(path, KIND, {"config": asdict(model.config), "training": asdict(model.training)}, {
        "words": encode_words(model.vocabulary.words),
        "counts": model.vocabulary.counts,
        "word_class": model.vocabulary.word_class,
        "hidden_state": model.hidden_state,
        **model.weights(),
        **{f"resume/{name}": value for name, value in model.resume_state.items()},
    })


def load_model(path: str) -> RnnlmModel:
    """Read a language model: rnnlmpy's format or the C++ rnnlm's (text or binary), detected from the file.

    Raises RnnlmpyError for a missing, foreign, corrupt, inconsistent or newer file, and for
    weights that are not finite numbers.
    """
    if sniff(path) == RNNLM_CPP:
        return read_rnnlm(path)
    header, arrays = read_store(path, KIND, "; use it with rnnlmpy tag")
    try:
        return _model_from_arrays(header, arrays)
    except (RnnlmpyError, KeyError, ValueError, TypeError) as error:
        detail = f"it lacks {error}" if isinstance(error, KeyError) else str(error)
        raise RnnlmpyError(f"model file {path!r} is inconsistent: {detail}") from None


def _model_from_arrays(header: dict, arrays: dict) -> RnnlmModel:
    config = settings_from_header(RnnlmConfig, header.get("config"), "config")
    training = settings_from_header(TrainingProgress, header.get("training"), "training")
    config.validate()
    dtype = np.dtype(config.numpy_dtype)
    words = checked_array(arrays, "words", 1, "u")
    if words.dtype != np.uint8:
        raise ValueError(f"array 'words' is {words.dtype}, expected uint8 (UTF-8 bytes)")
    words = decode_words(words)
    if len(set(words)) != len(words) or words[0] != SENTENCE_END:
        raise ValueError(f"its vocabulary must start with {SENTENCE_END} and hold each word once")
    counts = checked_array(arrays, "counts", 1, "iu")
    word_class = checked_array(arrays, "word_class", 1, "iu")
    if counts.shape != (len(words),) or word_class.shape != (len(words),) or np.any(counts < 0):
        raise ValueError(f"'counts' and 'word_class' must hold one value per word ({len(words)}), counts >= 0")
    one_dimensional = ("direct", "gate_bias")  # older files may lack these: then the model has none
    weights = {name: (checked_array(arrays, name, 1 if name in one_dimensional else 2, "f", finite=True)
                      if name in arrays or name not in one_dimensional else np.zeros(0, dtype=dtype))
               for name in WEIGHT_NAMES}
    hidden_state = checked_array(arrays, "hidden_state", 1, "f", finite=True)
    stored_classes = weights["class_weights"].shape[0] if config.output_layer == "class" else None
    vocabulary = vocabulary_from_classes(words, counts, word_class, stored_classes)
    hidden_size = config.hidden_size
    expected = weight_shapes(config, vocabulary.size, vocabulary.class_count)
    for name, shape in expected.items():
        if weights[name].shape != shape:
            raise ValueError(f"{name} has shape {weights[name].shape}, expected {shape}")
        if weights[name].dtype != dtype:
            raise ValueError(f"{name} is {weights[name].dtype}, but the model's precision is {config.dtype}")
    if hidden_state.shape != (hidden_size,):
        raise ValueError(f"hidden_state has shape {hidden_state.shape}, expected {(hidden_size,)}")
    resume_state = {k[len("resume/"):]: v for k, v in arrays.items() if k.startswith("resume/")}
    for name, array in resume_state.items():  # the weights backed up at the last epoch end
        if name.startswith("backup/") and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"array 'resume/{name}' holds NaN or infinite values")
    return RnnlmModel(
        config=config,
        vocabulary=vocabulary,
        hidden_state=hidden_state.astype(dtype, copy=False),
        training=training,
        resume_state=resume_state,
        **{name: np.ascontiguousarray(array) for name, array in weights.items()},
    )


def history_with_timings(history: list, model_path: str) -> list:
    """A model's epoch records (``model.training.history``), each with the timings (TIMING_FIELDS) of its
    record in the history file beside ``model_path``, where that file's last records match them (same epochs
    and learning rates); records without a match are returned as they are."""
    try:
        with open(model_path + HISTORY_SUFFIX, encoding="utf-8") as handle:
            logged = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):  # no history file, or not one (UnicodeDecodeError, JSONDecodeError)
        return history
    logged = logged[-len(history):] if history else []
    if len(logged) != len(history) or not all(
            isinstance(entry, dict) and isinstance(record, dict) and entry.get("epoch") == record.get("epoch")
            and entry.get("alpha") == record.get("alpha") for entry, record in zip(logged, history)):
        return history
    return [{**record, **{name: entry[name] for name in TIMING_FIELDS if name in entry}}
            for record, entry in zip(history, logged)]

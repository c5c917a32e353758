"""RNNLM model files: rnnlmpy's container (kind "rnnlm") and the C++ rnnlm's formats, told apart by sniffing.

Container arrays: ``words`` (the vocabulary, see ``base.store.encode_words``),
``counts`` and ``word_class`` (per word), the weights by their RnnlmModel names,
``hidden_state``, and ``resume/*`` only in a mid-epoch checkpoint (the training
kernel's state and the weights backed up at the last epoch end, so that an
interrupted run resumes exactly where it stopped; for the batched engine, the
streams' states ``resume/streams/state`` (B, L*S*H) and the optimiser's state
``resume/optimizer/*``). The JSON header holds the config and the training
progress.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import RNNLM_CPP, sniff
from ..base.store import (NUMBER, checked_array, checked_history, decode_words, encode_words, read_store,
                          settings_from_header, write_store)
from ..base.text import SENTENCE_END
from ..kernels import optimizers
from .cpp_format import read_rnnlm
from .model import WEIGHT_NAMES, RnnlmConfig, RnnlmModel, TrainingProgress, state_size, weight_shapes
from .network import GATED, KernelState
from .vocab import vocabulary_from_classes

KIND = "rnnlm"
HISTORY_SUFFIX = ".history.jsonl"  # beside a model file: its epoch records, one JSON line each
HISTORY_FIELDS = {"epoch": (int,), "alpha": NUMBER, "train_entropy": NUMBER}  # every epoch record has these
OPTIONAL_HISTORY_FIELDS = {"valid_entropy": (*NUMBER, type(None)), "valid_ppl": (*NUMBER, type(None)),
                           "accepted": (bool,), "threads": (int,), "words_per_second": NUMBER,
                           "seconds": NUMBER}  # (types as checked_history takes them; timings: older files only)
BACKUP_NAMES = (*WEIGHT_NAMES, "hidden_state")  # a checkpoint's resume/backup/*: the last epoch end's weights
BATCHED_BIASES = ("class_bias", "output_bias")  # empty in a per-word model, and then not written
STREAM_STATE = "streams/state"  # a batched checkpoint's resume/streams/state: (B, L*S*H) each stream's state
OPTIMIZER_PREFIX = "optimizer/"  # a batched checkpoint's resume/optimizer/*: the optimiser's state arrays
TIMING_FIELDS = ("words_per_second", "seconds", "time")  # in the history file's records only: the model file
# holds no clock, so that the same command writes the same bytes


def save_model(model: RnnlmModel, path: str) -> None:
    """Write ``model`` to ``path`` atomically (temporary file in the same folder, then rename). The batched
    engine's biases (BATCHED_BIASES) are left out where empty, so that a per-word model's file is one that
    earlier versions read."""
    arrays = {
        "words": encode_words(model.vocabulary.words),
        "counts": model.vocabulary.counts,
        "word_class": model.vocabulary.word_class,
        "hidden_state": model.hidden_state,
        **model.weights(),
        **{f"resume/{name}": value for name, value in model.resume_state.items()},
    }
    write_store(path, KIND, {"config": asdict(model.config), "training": asdict(model.training)},
                {name: value for name, value in arrays.items()
                 if value.size or name.rsplit("/", 1)[-1] not in BATCHED_BIASES})


def load_model(path: str) -> RnnlmModel:
    """Read a language model: rnnlmpy's format or the C++ rnnlm's (text or binary), detected from the file.

    Raises RnnlmpyError for a missing, foreign, corrupt, inconsistent or newer file, and for
    weights that are not finite numbers.
    """
    if sniff(path) == RNNLM_CPP:
        return read_rnnlm(path)
    header, arrays = read_store(path, KIND, "; use it with rnnlmpy tag", check_declared=_check_declared)
    try:
        return _model_from_arrays(header, arrays)
    except (RnnlmpyError, KeyError, ValueError, TypeError) as error:
        detail = f"it lacks {error}" if isinstance(error, KeyError) else str(error)
        raise RnnlmpyError(f"model file {path!r} is inconsistent: {detail}") from None


def _thread_prefixes(training: TrainingProgress) -> list[str]:
    """The ``resume/`` prefixes of a checkpoint's kernel states, one per thread slice (thread 0: ``kernel/``)."""
    return [f"kernel{index or ''}/" for index in range(max(len(training.slices), 1))]


def _check_declared(header: dict, declared: dict) -> None:
    """Refuse, before anything is inflated, arrays whose declared shapes (``declared``: name -> (shape, dtype),
    from the .npy headers) are not the ones the header's config and the declared vocabulary size give."""
    config = settings_from_header(RnnlmConfig, header.get("config"), "config")
    config.validate()
    counts, word_class = declared["counts"][0], declared["word_class"][0]
    if len(counts) != 1 or counts != word_class:
        raise ValueError(f"'counts' and 'word_class' must hold one value per word (they declare the shapes "
                         f"{counts} and {word_class})")
    vocab_size = counts[0]
    classes = declared.get("class_weights", ((1, 0),))[0]
    classes = classes[:1] if len(classes) == 2 else (1,)  # another number of dimensions is refused below
    if config.batched and classes[0] == 0:  # the batched engine's full softmax has no class rows
        classes = (1,)
    if config.output_layer == "class" and not 1 <= classes[0] <= vocab_size:
        raise ValueError(f"array 'class_weights' declares {classes[0]} classes for {vocab_size} words")
    hidden, ring = config.hidden_size, config.bptt + config.bptt_block + 1
    expected = {"words": declared["words"][0], "counts": (vocab_size,), "word_class": (vocab_size,),
                "hidden_state": (state_size(config),),
                **weight_shapes(config, vocab_size, classes[0] if config.output_layer == "class" else 0)}
    expected.update({f"resume/backup/{name}": expected[name] for name in BACKUP_NAMES})
    if config.batched:
        expected[f"resume/{STREAM_STATE}"] = (config.batch, state_size(config))
        for name, (shape, _) in declared.items():  # the optimiser's: a weight's shape, or at most a few numbers
            if name.startswith(f"resume/{OPTIMIZER_PREFIX}"):
                weight = optimizer_weight(name)
                expected[name] = expected[weight] if weight in WEIGHT_NAMES else (
                    tuple(shape) if len(shape) == 1 and shape[0] <= 16 else (1,))
        _check_shapes(declared, expected)
        return
    state = {"hidden_prev": (hidden,), "ring_position": (ring,), "ring_input": (ring, hidden),
             "ring_hidden": (ring, hidden), "ring_error": (ring, hidden), "counters": (3,), "noise_state": (1,),
             "ring_gates": (ring, 3 * hidden if config.activation == GATED else 0)}
    for prefix in _thread_prefixes(settings_from_header(TrainingProgress, header.get("training"), "training")):
        expected.update({f"resume/{prefix}{name}": shape for name, shape in state.items()})
    _check_shapes(declared, expected)


def _check_shapes(declared: dict, expected: dict) -> None:
    """ValueError for a declared array (name -> (shape, dtype)) that ``expected`` (name -> shape) lacks or
    shapes otherwise."""
    for name, (shape, _) in declared.items():
        if name == "header":
            continue
        if name not in expected:
            raise ValueError(f"it holds an array {name!r} that an rnnlm model of its header has not")
        if tuple(shape) != tuple(expected[name]):
            raise ValueError(f"array {name!r} declares the shape {shape} ({len(shape)} dimension(s)), expected "
                             f"{tuple(expected[name])}")


def _checked_progress(training: TrainingProgress) -> TrainingProgress:
    """``training`` if its numbers are in range and its history records typed; ValueError otherwise."""
    if not (math.isfinite(training.alpha) and training.alpha > 0):
        raise ValueError(f"its training alpha {training.alpha} is not a positive number")
    if not (math.isfinite(training.last_valid_log10) and math.isfinite(training.epoch_log10)):
        raise ValueError("its training log-probabilities are not finite")
    for name in ("epoch", "position", "epoch_scored", "train_words"):
        if getattr(training, name) < 0:
            raise ValueError(f"its training {name} is negative ({getattr(training, name)})")
    checked_history(training.history, HISTORY_FIELDS, OPTIONAL_HISTORY_FIELDS)
    done = 0
    for number, item in enumerate(training.slices):  # [begin, end, next] of each thread, tiling the stream
        if (not isinstance(item, list) or len(item) != 3 or not all(type(x) is int for x in item)
                or item[0] != (training.slices[number - 1][1] if number else 0) or not item[0] <= item[2] <= item[1]):
            raise ValueError(f"its thread slice {number} ({str(item)[:60]}) does not continue the ones before it")
        done += item[2] - item[0]
    if training.slices and done != training.position:
        raise ValueError(f"its thread slices have trained {done} words, but its position is {training.position}")
    return training


def _checked_resume_state(arrays: dict, config: RnnlmConfig, training: TrainingProgress,
                          expected: dict[str, tuple]) -> dict[str, np.ndarray]:
    """A checkpoint's ``resume/*`` arrays (without the prefix): each thread's kernel state and the backed-up
    weights (``expected``: their shapes) checked for shape, dtype, finiteness and index ranges. Mid-epoch
    (``training.position`` > 0) every thread's state and every backed-up weight must be there."""
    resume_state = {k[len("resume/"):]: v for k, v in arrays.items() if k.startswith("resume/")}
    mid_epoch = training.position > 0 and not training.finished
    if mid_epoch and not resume_state:
        raise ValueError(f"its training stopped at word {training.position} but it holds no training state")
    known = {f"backup/{name}" for name in BACKUP_NAMES}
    if config.batched:
        known.update(_checked_batched_state(resume_state, config, mid_epoch, expected))
    for prefix in [] if config.batched else _thread_prefixes(training):
        part = {k[len(prefix):]: v for k, v in resume_state.items() if k.startswith(prefix)}
        known.update(f"{prefix}{name}" for name in part)
        if part or mid_epoch:
            try:
                KernelState.from_arrays(part, config)
            except ValueError as error:
                raise ValueError(f"its training state resume/{prefix}: {error}") from None
    unknown = sorted(set(resume_state) - known)
    if unknown:
        raise ValueError(f"it holds an array 'resume/{unknown[0]}' that no thread of its checkpoint has")
    dtype = np.dtype(config.numpy_dtype)
    for name in BACKUP_NAMES:
        array = resume_state.get(f"backup/{name}")
        if array is None and (not mid_epoch or math.prod(expected[name]) == 0):  # older files lack empty ones
            continue
        if array is None or array.shape != expected[name] or array.dtype != dtype:
            found = "missing" if array is None else f"{array.dtype} of shape {array.shape}"
            raise ValueError(f"array 'resume/backup/{name}' is {found}, expected {dtype} of shape {expected[name]}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"array 'resume/backup/{name}' holds NaN or infinite values")
    return resume_state


def optimizer_weight(name: str) -> str:
    """The weight an optimiser state array belongs to, from its name (``resume/optimizer/<slot>.<weight>``); ""
    for one of no weight (adam's step count)."""
    key = name.rsplit("/", 1)[-1]
    return key.rsplit(".", 1)[-1] if "." in key else ""


def _checked_batched_state(resume_state: dict, config: RnnlmConfig, mid_epoch: bool,
                           expected: dict[str, tuple]) -> set[str]:
    """A batched checkpoint's streams' states and optimiser state (``resume_state``, names without ``resume/``)
    checked for shape, dtype and finiteness (the streams' state must be there mid-epoch); returns their names."""
    dtype = np.dtype(config.numpy_dtype)
    names = {name for name in resume_state if name == STREAM_STATE or name.startswith(OPTIMIZER_PREFIX)}
    state = resume_state.get(STREAM_STATE)
    shape = (config.batch, state_size(config))
    if state is None and mid_epoch:
        raise ValueError(f"it stopped mid-epoch but holds no array 'resume/{STREAM_STATE}'")
    if state is not None and (state.shape != shape or state.dtype != dtype):
        raise ValueError(f"array 'resume/{STREAM_STATE}' is {state.dtype} of shape {state.shape}, expected {dtype} "
                         f"of shape {shape}")
    for name in sorted(names):
        array = resume_state[name]
        weight = optimizer_weight(name)
        if name != STREAM_STATE and weight in WEIGHT_NAMES and (array.shape != expected[weight]
                                                                or array.dtype != dtype):
            raise ValueError(f"array 'resume/{name}' is {array.dtype} of shape {array.shape}, expected {dtype} of "
                             f"shape {expected[weight]}")
        if array.dtype.kind not in "fiu":
            raise ValueError(f"array 'resume/{name}' is {array.dtype}, expected numbers")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"array 'resume/{name}' holds NaN or infinite values")
        if array.dtype.kind in "iu" and array.size and int(array.min()) < 0:
            raise ValueError(f"array 'resume/{name}' holds a negative count")
    optimizer_state = {name[len(OPTIMIZER_PREFIX):]: resume_state[name] for name in names if name != STREAM_STATE}
    if optimizer_state or mid_epoch:  # what resuming restores: all of it, checked before the run starts
        shapes = {weight: (expected[weight], dtype) for weight in WEIGHT_NAMES if math.prod(expected[weight]) > 0}
        problem = optimizers.state_problem(config.optimizer, shapes, optimizer_state)
        if problem:
            raise ValueError(f"its training state resume/{OPTIMIZER_PREFIX}: {problem}")
    return names


def _model_from_arrays(header: dict, arrays: dict) -> RnnlmModel:
    config = settings_from_header(RnnlmConfig, header.get("config"), "config")
    training = _checked_progress(settings_from_header(TrainingProgress, header.get("training"), "training"))
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
    one_dimensional = ("direct", "gate_bias", "class_bias", "output_bias")  # older files may lack these: then
    # the model has none
    dimensions = {name: 1 if name in one_dimensional else 4 if name == "recurrent" and config.batched else 2
                  for name in WEIGHT_NAMES}
    weights = {name: (checked_array(arrays, name, dimensions[name], "f", finite=True)
                      if name in arrays or name not in one_dimensional else np.zeros(0, dtype=dtype))
               for name in WEIGHT_NAMES}
    hidden_state = checked_array(arrays, "hidden_state", 1, "f", finite=True)
    stored_classes = weights["class_weights"].shape[0] if config.output_layer == "class" else None
    if config.batched and stored_classes == 0:  # the batched engine's full softmax
        stored_classes = 1
    vocabulary = vocabulary_from_classes(words, counts, word_class, stored_classes)
    hidden_size = state_size(config)
    expected = weight_shapes(config, vocabulary.size, vocabulary.class_count)
    for name, shape in expected.items():
        if weights[name].shape != shape:
            raise ValueError(f"{name} has shape {weights[name].shape}, expected {shape}")
        if weights[name].dtype != dtype:
            raise ValueError(f"{name} is {weights[name].dtype}, but the model's precision is {config.dtype}")
    if hidden_state.shape != (hidden_size,):
        raise ValueError(f"hidden_state has shape {hidden_state.shape}, expected {(hidden_size,)}")
    resume_state = _checked_resume_state(arrays, config, training, {**expected, "hidden_state": (hidden_size,)})
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

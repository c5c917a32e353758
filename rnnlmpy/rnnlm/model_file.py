"""RNNLM model files: rnnlmpy's container (kind "rnnlm") and the C++ rnnlm's formats, told apart by sniffing.

Container arrays: ``words`` (the vocabulary, see ``base.store.encode_words``),
``counts`` and ``word_class`` (per word), the weights by their RnnlmModel names,
``hidden_state``, and ``resume/*`` only in a mid-epoch checkpoint (the training
kernel's state and the weights backed up at the last epoch end, so that an
interrupted run resumes exactly where it stopped). The JSON header holds the
config and the training progress.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import RNNLM_CPP, sniff
from ..base.store import decode_words, encode_words, read_store, write_store
from .cpp_format import read_rnnlm
from .model import WEIGHT_NAMES, RnnlmConfig, RnnlmModel, TrainingProgress
from .vocab import vocabulary_from_classes

KIND = "rnnlm"


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

    Raises RnnlmpyError for a missing, foreign, corrupt or newer file.
    """
    if sniff(path) == RNNLM_CPP:
        return read_rnnlm(path)
    header, arrays = read_store(path, KIND, "; use it with rnnlmpy tag")
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


"""Tagger model files: an RNN tagger in the rnnlmpy container (kind "tagger"), or the tutorial's HMM text."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Union

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import HMM, sniff
from ..base.store import (DTYPES, NUMBER, checked_array, checked_history, decode_words, encode_words,
                          read_store, settings_from_header, write_store)
from .hmm import HmmTagger
from .gated import ELMAN, GatedWeights, gated_shapes
from .rnn import RnnTagger, TaggerConfig, TaggerWeights

Tagger = Union[HmmTagger, RnnTagger]  # both have tag(sentences) -> tags per sentence
HISTORY_FIELDS = {"epoch": (int,), "alpha": NUMBER, "train_entropy": NUMBER}  # every epoch record has these
OPTIONAL_HISTORY_FIELDS = {"network": (int,), "seconds": NUMBER, "valid_accuracy": (*NUMBER, type(None))}


def save_tagger(tagger: RnnTagger, path: str) -> None:
    """Write an RNN tagger as an rnnlmpy model file of kind "tagger" (atomically)."""
    arrays = {f"network{k}/{name}": array for k, member in enumerate(tagger.members)
              for name, array in member.arrays().items()}
    write_store(path, "tagger", {"model_type": "rnn", "config": tagger.config.header(), "history": tagger.history},
                {"features": encode_words(tagger.features), "tags": encode_words(tagger.tags),
                 "known_words": encode_words(sorted(tagger.known_words)), "transitions": tagger.transitions,
                 **arrays})


def load_tagger(path: str) -> Tagger:
    """Read a tagger: an RNN tagger (rnnlmpy file) or an HMM (the tutorial's text format), told apart by sniffing."""
    if sniff(path) == HMM:
        return HmmTagger.read(path)
    header, arrays = read_store(path, "tagger", "; a language model is used with rnnlmpy ppl",
                                check_declared=_check_declared)
    try:
        return _tagger_from_arrays(header, arrays)
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as error:
        raise RnnlmpyError(f"tagger model {path!r} is inconsistent: {error}") from None
    except RnnlmpyError as error:
        raise RnnlmpyError(f"tagger model {path!r} holds an unusable setting: {error}") from None


def _expected_shapes(config: TaggerConfig, features: int, tags: int) -> dict[str, tuple[int, ...]]:
    """The shape of every weight array of a tagger with ``features`` input features and ``tags`` tags."""
    if config.cell != ELMAN:
        return gated_shapes(config, features, tags)
    size, directions = config.hidden_size, 2 if config.bidirectional else 1
    return {"forward_input": (features, size), "forward_recurrent": (size, size),
            "backward_input": (features if directions == 2 else 1, size), "backward_recurrent": (size, size),
            "output_weights": (tags, directions * size + 1)}


def _check_declared(header: dict, declared: dict) -> None:
    """Refuse, before anything is inflated, arrays whose declared shapes (name -> (shape, dtype)) are not the ones
    the header's config and the first network's declared feature and tag counts give."""
    config = settings_from_header(TaggerConfig, header.get("config"), "config")
    config.validate()
    inputs = "network0/forward_input" if config.cell == ELMAN else "network0/embedding"
    for name in (inputs, "network0/output_weights"):
        if name not in declared:
            raise ValueError(f"it has no array {name!r}")
    rows = declared[inputs][0], declared["network0/output_weights"][0]
    if len(rows[0]) != 2 or len(rows[1]) != 2:
        raise ValueError(f"arrays {inputs!r} and 'network0/output_weights' declare the shapes "
                         f"{rows[0]} and {rows[1]}, expected 2 dimensions")
    tags = rows[1][0]
    expected = {"features": None, "tags": None, "known_words": None, "transitions": (tags + 1, tags + 1)}
    for k in range(config.ensemble):
        expected.update({f"network{k}/{name}": shape for name, shape in
                         _expected_shapes(config, rows[0][0], tags).items()})
    for name, (shape, _) in declared.items():
        if name == "header":
            continue
        if name not in expected:
            raise ValueError(f"it holds an array {name!r} that a tagger of its header has not")
        if expected[name] is not None and tuple(shape) != expected[name]:
            raise ValueError(f"array {name!r} declares the shape {shape}, expected {expected[name]}")


def _tagger_from_arrays(header: dict, arrays: dict) -> RnnTagger:
    """An RnnTagger from a container's header and arrays, every setting typed and every array shaped and finite."""
    config = settings_from_header(TaggerConfig, header.get("config"), "config")
    config.validate()
    features = decode_words(checked_array(arrays, "features", 1, "u"))
    tags = decode_words(checked_array(arrays, "tags", 1, "u"))
    known_words = decode_words(checked_array(arrays, "known_words", 1, "u"))
    expected = _expected_shapes(config, len(features), len(tags))
    members = []
    weights_class = TaggerWeights if config.cell == ELMAN else GatedWeights
    for k in range(config.ensemble):
        weights = {}
        for item in fields(weights_class):
            name = f"network{k}/{item.name}"
            array = checked_array(arrays, name, len(expected[item.name]), "f", finite=True)
            if array.shape != expected[item.name]:
                raise ValueError(f"array {name!r} has shape {array.shape}, expected {expected[item.name]}")
            if array.dtype != DTYPES[config.dtype]:  # the kernels are compiled for one precision throughout
                raise ValueError(f"array {name!r} is {array.dtype}, but the tagger's precision is {config.dtype}")
            weights[item.name] = np.ascontiguousarray(array)
        members.append(weights_class(**weights))
    transitions = checked_array(arrays, "transitions", 2, "f")
    if transitions.shape != (len(tags) + 1, len(tags) + 1) or np.isnan(transitions).any() or np.any(transitions > 0):
        raise ValueError(f"array 'transitions' has shape {transitions.shape}, expected "
                         f"{(len(tags) + 1, len(tags) + 1)} log probabilities (NaN or more than 0 is none; -inf "
                         "is an impossible transition)")
    history = checked_history(header.get("history", []), HISTORY_FIELDS, OPTIONAL_HISTORY_FIELDS)
    return RnnTagger(config=config, features=features, tags=tags,
                     known_words=set(known_words) if known_words != [""] else set(), members=members,
                     transitions=transitions, history=history)


def check_tagger_output(path: str) -> None:
    """Raise RnnlmpyError unless ``path`` may receive a tagger: absent, or an existing tagger model (not a folder)."""
    if os.path.isdir(path):
        raise RnnlmpyError(f"model path {path!r} is a directory")
    if os.path.exists(path):
        try:
            load_tagger(path)
        except RnnlmpyError:
            raise RnnlmpyError(f"{path!r} exists and is not a tagger model; refusing to overwrite it") from None

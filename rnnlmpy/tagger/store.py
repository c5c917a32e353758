"""Tagger model files: an RNN tagger in the rnnlmpy container (kind "tagger"), or the tutorial's HMM text."""

from __future__ import annotations

import os
from dataclasses import asdict, fields
from typing import Union

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import HMM, sniff
from ..base.store import checked_array, decode_words, encode_words, read_store, settings_from_header, write_store
from .hmm import HmmTagger
from .rnn import RnnTagger, TaggerConfig, TaggerWeights

Tagger = Union[HmmTagger, RnnTagger]  # both have tag(sentences) -> tags per sentence


def save_tagger(tagger: RnnTagger, path: str) -> None:
    """Write an RNN tagger as an rnnlmpy model file of kind "tagger" (atomically)."""
    arrays = {f"network{k}/{name}": array for k, member in enumerate(tagger.members)
              for name, array in member.arrays().items()}
    write_store(path, "tagger", {"model_type": "rnn", "config": asdict(tagger.config), "history": tagger.history},
                {"features": encode_words(tagger.features), "tags": encode_words(tagger.tags),
                 "known_words": encode_words(sorted(tagger.known_words)), "transitions": tagger.transitions,
                 **arrays})


def load_tagger(path: str) -> Tagger:
    """Read a tagger: an RNN tagger (rnnlmpy file) or an HMM (the tutorial's text format), told apart by sniffing."""
    if sniff(path) == HMM:
        return HmmTagger.read(path)
    header, arrays = read_store(path, "tagger", "; a language model is used with rnnlmpy ppl")
    try:
        return _tagger_from_arrays(header, arrays)
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as error:
        raise RnnlmpyError(f"tagger model {path!r} is inconsistent: {error}") from None
    except RnnlmpyError as error:
        raise RnnlmpyError(f"tagger model {path!r} holds an unusable setting: {error}") from None


def _tagger_from_arrays(header: dict, arrays: dict) -> RnnTagger:
    """An RnnTagger from a container's header and arrays, every setting typed and every array shaped and finite."""
    config = settings_from_header(TaggerConfig, header.get("config"), "config")
    config.validate()
    features = decode_words(checked_array(arrays, "features", 1, "u"))
    tags = decode_words(checked_array(arrays, "tags", 1, "u"))
    known_words = decode_words(checked_array(arrays, "known_words", 1, "u"))
    size, directions = config.hidden_size, 2 if config.bidirectional else 1
    expected = {"forward_input": (len(features), size), "forward_recurrent": (size, size),
                "backward_input": (len(features) if directions == 2 else 1, size), "backward_recurrent": (size, size),
                "output_weights": (len(tags), directions * size + 1)}
    members = []
    for k in range(config.ensemble):
        weights = {}
        for item in fields(TaggerWeights):
            name = f"network{k}/{item.name}"
            array = checked_array(arrays, name, 2, "f", finite=True)
            if array.shape != expected[item.name]:
                raise ValueError(f"array {name!r} has shape {array.shape}, expected {expected[item.name]}")
            weights[item.name] = np.ascontiguousarray(array)
        members.append(TaggerWeights(**weights))
    transitions = checked_array(arrays, "transitions", 2, "f")
    if transitions.shape != (len(tags) + 1, len(tags) + 1) or np.isnan(transitions).any():
        raise ValueError(f"array 'transitions' has shape {transitions.shape}, expected "
                         f"{(len(tags) + 1, len(tags) + 1)} log probabilities")
    history = header.get("history", [])
    if not isinstance(history, list):
        raise ValueError("its header's 'history' is not a list")
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

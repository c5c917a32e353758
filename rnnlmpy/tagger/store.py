"""Tagger model files: an RNN tagger in the rnnlmpy container (kind "tagger"), or the tutorial's HMM text."""

from __future__ import annotations

import os
from dataclasses import asdict, fields
from typing import Union

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import HMM, sniff
from ..base.store import decode_words, encode_words, read_store, write_store
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
        known = {f.name for f in fields(TaggerConfig)}
        config = TaggerConfig(**{k: v for k, v in header["config"].items() if k in known})
        members = [TaggerWeights(**{f.name: np.ascontiguousarray(arrays[f"network{k}/{f.name}"])
                                    for f in fields(TaggerWeights)}) for k in range(config.ensemble)]
        known_words = decode_words(arrays["known_words"])
        return RnnTagger(config=config, features=decode_words(arrays["features"]), tags=decode_words(arrays["tags"]),
                         known_words=set(known_words) if known_words != [""] else set(), members=members,
                         transitions=arrays["transitions"], history=header.get("history", []))
    except (KeyError, TypeError, ValueError) as error:
        raise RnnlmpyError(f"tagger model {path!r} is inconsistent: {error}") from None


def check_tagger_output(path: str) -> None:
    """Raise RnnlmpyError unless ``path`` may receive a tagger: absent, or an existing tagger model (not a folder)."""
    if os.path.isdir(path):
        raise RnnlmpyError(f"model path {path!r} is a directory")
    if os.path.exists(path):
        try:
            load_tagger(path)
        except RnnlmpyError:
            raise RnnlmpyError(f"{path!r} exists and is not a tagger model; refusing to overwrite it") from None

"""Linear interpolation of any number of language models (RNNs of any vocabulary, n-grams), EM-tuned.

Every member scores the same token stream (each line closed by ``</s>``): an
RNN through its own vocabulary (``<unk>`` where it has one), an n-gram through
its ARPA vocabulary. A token that some member cannot score at all is left out
of every perplexity of the ensemble report, and the report says how many.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.system import thread_map
from ..base.text import read_corpus
from ..ngram import read_ngram
from ..rnnlm.evaluation import check_dynamic_rate, score
from ..rnnlm.model_file import load_model
from .interpolate import ngram_token_probabilities


@dataclass
class Member:
    """One model of an ensemble and its per-token probabilities (0 where it cannot score a token)."""

    name: str
    kind: str  # "rnn" or "ngram"
    valid: Optional[np.ndarray]
    test: np.ndarray


def load_member(path: str, kind: str, valid_tokens: Optional[list[str]], test_tokens: list[str],
                dynamic_alpha: float = 0.0) -> Member:
    """Score the texts with the model at ``path`` ("rnn": rnnlmpy or C++ rnnlm model; "ngram": ARPA or binary n-gram model).

    ``dynamic_alpha`` > 0 scores RNN members by dynamic evaluation (each text separately).
    """
    if kind == "rnn":
        model = load_model(path)
        if model.config.char_level:
            raise RnnlmpyError(f"{path!r} is a character model; an ensemble combines word models")

        def probabilities(tokens):
            return score(model, tokens, dynamic_alpha).probabilities
    else:
        model = read_ngram(path)

        def probabilities(tokens):
            return ngram_token_probabilities(model, tokens)
    return Member(os.path.basename(path), kind, probabilities(valid_tokens) if valid_tokens is not None else None,
                  probabilities(test_tokens))


def perplexity(probabilities: np.ndarray) -> float:
    """Perplexity of per-token probabilities (N,), all of them scored."""
    return metrics.perplexity(metrics.log10_sum(probabilities), len(probabilities))


@dataclass
class EnsembleReport:
    """Each member's and the mixture's perplexity on the tokens every member scores."""

    members: list[Member]
    weights: np.ndarray
    tuned: bool
    valid_used: Optional[np.ndarray]  # bool mask of valid tokens all members score
    test_used: np.ndarray

    def __repr__(self) -> str:
        weights = ", ".join(f"{m.name}={w:.4f}" for m, w in zip(self.members, self.weights))
        return f"EnsembleReport({weights}; test PPL {perplexity(self.mixture('test')):.4f})"

    def mixture(self, split: str) -> np.ndarray:
        used = self.test_used if split == "test" else self.valid_used
        return metrics.mix(self.weights, [getattr(m, split)[used] for m in self.members])

    def format(self) -> str:
        has_valid = self.valid_used is not None
        lines = [f"{'member':30s} {'weight':>8s} {'valid PPL':>10s} {'test PPL':>10s}"]
        for member, weight in zip(self.members, self.weights):
            valid = f"{perplexity(member.valid[self.valid_used]):10.2f}" if has_valid else f"{'':10s}"
            lines.append(f"{member.name:30s} {weight:8.4f} {valid} {perplexity(member.test[self.test_used]):10.2f}")
        how = "EM on valid" if self.tuned else "given"
        valid = f"{perplexity(self.mixture('valid')):10.2f}" if has_valid else f"{'':10s}"
        lines.append(f"{'ensemble (weights ' + how + ')':30s} {1.0:8.4f} {valid} "
                     f"{perplexity(self.mixture('test')):10.2f}")
        excluded = int((~self.test_used).sum())
        lines.append(f"test tokens: {int(self.test_used.sum()):,} scored by every member (</s> included); "
                     f"{excluded:,} left out because at least one member cannot score them (OOV, no <unk>)")
        return "\n".join(lines)


def check_plan(member_count: int, weights: Optional[list[float]], has_valid: bool) -> None:
    """Refuse an ensemble that cannot be built: fewer than two members, bad fixed weights, or nothing to tune on."""
    if member_count < 2:
        raise RnnlmpyError("an ensemble needs at least two members (-rnnlm and/or -ngram)")
    if weights is not None:
        if len(weights) != member_count:
            raise RnnlmpyError(f"-weights has {len(weights)} values for {member_count} members")
        if not all(math.isfinite(w) and w >= 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
            raise RnnlmpyError(f"-weights must be non-negative and sum to 1 (got {','.join(map(str, weights))})")
    elif not has_valid:
        raise RnnlmpyError("tuning the weights needs -valid FILE (or give -weights w1,w2,...)")


def combine(members: list[Member], weights: Optional[list[float]] = None) -> EnsembleReport:
    """Mix the members: ``weights`` as given, or tuned by EM on the validation probabilities."""
    has_valid = all(m.valid is not None for m in members)
    check_plan(len(members), weights, has_valid)
    test_used = np.all(np.vstack([m.test for m in members]) > 0, axis=0)
    valid_used = np.all(np.vstack([m.valid for m in members]) > 0, axis=0) if has_valid else None
    if weights is not None:
        chosen, tuned = np.array(weights, dtype=np.float64), False
    else:
        if not valid_used.any():
            raise RnnlmpyError("no validation token is scored by every member")
        chosen, tuned = metrics.em_weights(np.vstack([m.valid[valid_used] for m in members])), True
    if not test_used.any():
        raise RnnlmpyError("no test token is scored by every member")
    return EnsembleReport(members, chosen, tuned, valid_used, test_used)


def score_member_task(path: str, kind: str, valid_file: Optional[str], test_file: str,
                      dynamic_alpha: float = 0.0) -> Member:
    """On a worker: read the texts and score them with one member (see ``load_member``)."""
    valid_tokens = read_corpus(valid_file, "validation file") if valid_file else None
    return load_member(path, kind, valid_tokens, read_corpus(test_file, "test file"), dynamic_alpha)


def run_ensemble(rnn_files: list[str], arpa_files: list[str], test_file: str, valid_file: Optional[str] = None,
                 weights: Optional[list[float]] = None, dynamic_alpha: float = 0.0,
                 threads: int = 1, executor=None) -> EnsembleReport:
    """Score the texts with every RNN and ARPA model and mix them (the ``ensemble`` command).

    The plan is checked before any model is loaded. Up to ``threads`` members
    are loaded and scored at once, or, given an ``executor`` (``base.executor``:
    a Dask cluster), each member is a task on a worker that reads the files at
    the paths given; the report is the same either way.
    """
    check_plan(len(rnn_files) + len(arpa_files), weights, valid_file is not None)
    check_dynamic_rate(dynamic_alpha)
    plan = [(path, "rnn") for path in rnn_files] + [(path, "ngram") for path in arpa_files]
    if executor is not None:
        futures = [executor.submit(score_member_task, path, kind, valid_file, test_file,
                                   dynamic_alpha if kind == "rnn" else 0.0) for path, kind in plan]
        return combine([future.result() for future in futures], weights)
    valid_tokens = read_corpus(valid_file, "validation file") if valid_file else None
    test_tokens = read_corpus(test_file, "test file")
    members = thread_map(lambda item: load_member(item[0], item[1], valid_tokens, test_tokens,
                                                  dynamic_alpha if item[1] == "rnn" else 0.0), plan, threads)
    return combine(members, weights)

"""``Mixture``: a word-by-word linear interpolation of language models, behind the ``LanguageModel`` interface.

P(word) = sum_k weights[k] * P_k(word). A member that cannot score a token (an OOV without ``<unk>``) gives it
probability 0 and the others' shares remain; a token no member scores is left out. This is the rule of ``ppl
-ngram MODEL -lambda L`` (weights L and 1 - L), and of ``ensemble`` wherever every member scores every token.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.system import resolve_threads
from .language_model import FileScore, LanguageModel, State

WEIGHT_SUM_TOLERANCE = 1e-6  # the weights must sum to 1 within this (as ``ensemble -weights``)


@dataclass(frozen=True)
class MixtureState(State):
    """A point in a text for a mixture: each member's state, in member order."""

    members: tuple[State, ...]


class Mixture(LanguageModel):
    """Linear interpolation of ``models`` (``LanguageModel`` objects or model paths) with ``weights`` (one per
    model, non-negative, summing to 1; default: equal), word by word. ``Mixture.fit`` tunes the weights by EM.
    """

    def __init__(self, models: Sequence[Union[LanguageModel, str]], weights: Optional[Sequence[float]] = None
                 ) -> None:
        if isinstance(models, (str, os.PathLike, LanguageModel)) or not len(models):
            raise RnnlmpyError("a Mixture needs a list of one or more models (LanguageModel objects or paths)")
        self.models = tuple(model if isinstance(model, LanguageModel) else LanguageModel(model) for model in models)
        for model in self.models:
            if model._char_level():
                raise RnnlmpyError(f"{model!r} is a character model; a mixture combines word models")
        if weights is None:
            weights = [1.0 / len(self.models)] * len(self.models)
        self.weights = np.array([float(w) for w in weights], dtype=np.float64)
        if len(self.weights) != len(self.models):
            raise RnnlmpyError(f"{len(self.weights)} weights for {len(self.models)} models")
        if not (np.all(np.isfinite(self.weights)) and np.all(self.weights >= 0)
                and abs(float(self.weights.sum()) - 1.0) <= WEIGHT_SUM_TOLERANCE):
            raise RnnlmpyError(f"mixture weights must be non-negative and sum to 1 (got {self.weights.tolist()})")
        union: dict[str, int] = {}
        for model in self.models:
            for word in model.vocabulary:
                union.setdefault(word, len(union))
        self._index = union
        self._words = tuple(union)
        self._places = [np.array([union[word] for word in model.vocabulary], dtype=np.int64) for model in self.models]

    @classmethod
    def fit(cls, models: Sequence[Union[LanguageModel, str]], path: str, threads: Optional[int] = None) -> "Mixture":
        """The mixture of ``models`` whose weights maximise the likelihood of the text file ``path`` (EM over the
        tokens every model scores: the weights ``rnnlmpy ensemble -valid path`` finds)."""
        mixture = cls(models)
        threads = resolve_threads(threads, every_core=True)
        rows = [model._file_probabilities(path, threads)[1] for model in mixture.models]
        mixture._check_lengths(rows, path)
        stacked = np.vstack(rows)
        used = np.all(stacked > 0, axis=0)
        if not used.any():
            raise RnnlmpyError(f"no token of {path!r} is scored by every model: nothing to tune the weights on")
        mixture.weights = metrics.em_weights(stacked[:, used])
        return mixture

    def __repr__(self) -> str:
        members = ", ".join(f"{model!r}: {weight:.4g}" for model, weight in zip(self.models, self.weights))
        return f"Mixture({members})"

    @property
    def vocabulary(self) -> Sequence[str]:
        """Every word some model knows, in the models' order."""
        return self._words

    def _contains(self, word: str) -> bool:
        return word in self._index

    def _unknown_index(self) -> int:
        return self._index.get("<unk>", -1)

    def _mix(self, rows: list[np.ndarray]) -> np.ndarray:
        return metrics.mix(self.weights, rows)

    def _sentence_probabilities(self, sentences, bos, eos, threads):
        return self._mix([model._sentence_probabilities(sentences, bos, eos, threads) for model in self.models])

    def _check_lengths(self, rows: list[np.ndarray], path: str) -> None:
        if len({len(row) for row in rows}) > 1:
            raise RnnlmpyError(f"the models read {path!r} as different numbers of tokens")

    def _file_probabilities(self, path, threads):
        scored = [model._file_probabilities(path, threads) for model in self.models]
        self._check_lengths([probabilities for _, probabilities in scored], path)
        return scored[0][0], self._mix([probabilities for _, probabilities in scored])

    def perplexity_of_file(self, path: str, threads: Optional[int] = None) -> FileScore:
        """The mixture's log probability and perplexity of a text file, every line closed by ``</s>`` (``ppl
        -ngram ARPA -lambda L``'s "combine" lines for an RNN and an n-gram with weights L and 1 - L)."""
        threads = resolve_threads(threads, every_core=True)
        rows = [model._file_probabilities(path, threads)[1] for model in self.models]
        self._check_lengths(rows, path)
        counted = np.any(np.vstack(rows) > 0, axis=0)
        with np.errstate(divide="ignore"):
            combined = float(np.log10(self._mix(rows))[counted].sum())
        scored = int(counted.sum())
        return FileScore(combined, metrics.perplexity(combined, max(scored, 1)), scored, len(counted) - scored)

    def begin_sentence(self, bos: bool = True) -> MixtureState:
        """Every model's sentence start (after ``<s>``, or a null context)."""
        return MixtureState(tuple(model.begin_sentence(bos) for model in self.models))

    def score_word(self, state: MixtureState, word: str) -> tuple[float, MixtureState]:
        """(log10 of the mixed P(``word`` | ``state``), the state after it)."""
        if not isinstance(state, MixtureState) or len(state.members) != len(self.models):
            raise RnnlmpyError(f"not a state of this mixture: {state!r}")
        steps = [model.score_word(member, word) for model, member in zip(self.models, state.members)]
        mixed = sum(weight * 10.0 ** log10_prob for weight, (log10_prob, _) in zip(self.weights.tolist(), steps))
        return (math.log10(mixed) if mixed > 0 else -math.inf), MixtureState(tuple(after for _, after in steps))

    def _distribution(self, state):
        if not isinstance(state, MixtureState) or len(state.members) != len(self.models):
            raise RnnlmpyError(f"not a state of this mixture: {state!r}")
        mixed = np.zeros(len(self._words))
        for model, member, weight, places in zip(self.models, state.members, self.weights, self._places):
            own = model._distribution(member)
            unknown = model._unknown_index()
            full = np.full(len(self._words), own[unknown] if unknown >= 0 else 0.0)  # what score_word gives them
            full[places] = own
            mixed += weight * full
        return mixed

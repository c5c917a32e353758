"""Token streams in the compressed-row form the kernels read (see ``rnnlmpy.kernels.cell``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SENTENCE_END_INDEX = 0  # ``</s>`` is word 0 of every vocabulary


@dataclass
class TokenStream:
    """Inputs, targets and sentence ends of ``len(targets)`` positions.

    Position ``t`` reads the features ``feature_ids[feature_ptr[t]:feature_ptr[t+1]]``
    and predicts ``targets[t]`` (-1: not scored); ``boundaries[t]`` is True where
    a sentence ends.
    """

    feature_ptr: np.ndarray  # int64, (N + 1,)
    feature_ids: np.ndarray  # int32, (number of features,)
    targets: np.ndarray  # int32, (N,)
    boundaries: np.ndarray  # bool, (N,)

    def __len__(self) -> int:
        return len(self.targets)


def language_model_stream(word_ids: np.ndarray) -> TokenStream:
    """Stream for next-word prediction: position t reads word t-1 and predicts word t.

    The word before the first is ``</s>``; an unknown previous word (-1) gives
    the position no input feature, an unknown target is not scored.
    """
    word_ids = np.asarray(word_ids, dtype=np.int32)
    previous = np.empty_like(word_ids)
    previous[:1] = SENTENCE_END_INDEX
    previous[1:] = word_ids[:-1]
    known = previous >= 0
    feature_ptr = np.zeros(len(word_ids) + 1, dtype=np.int64)
    np.cumsum(known, out=feature_ptr[1:])
    return TokenStream(
        feature_ptr=feature_ptr,
        feature_ids=np.ascontiguousarray(previous[known]),
        targets=word_ids,
        boundaries=word_ids == SENTENCE_END_INDEX,
    )

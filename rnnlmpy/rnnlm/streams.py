"""Token streams as the language-model kernels read them: one int32 array of word ids.

A stream of N positions is the array ``words`` of N + 1 word ids: position ``t``
reads ``words[t]`` (its input; -1: none) and predicts ``words[t + 1]`` (its
target; -1: not scored); a target of ``</s>`` (0) ends a sentence. Inputs and
targets are both views of the one array, so a stream costs 4 bytes per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SENTENCE_END_INDEX = 0  # ``</s>`` is word 0 of every vocabulary


@dataclass(repr=False)
class TokenStream:
    """Positions ``0 <= t < N`` of next-word prediction over ``words`` (int32, shape (N + 1,))."""

    words: np.ndarray  # int32, (N + 1,): the word before the first position, then the N targets

    def __len__(self) -> int:
        return len(self.words) - 1

    def __repr__(self) -> str:
        return f"TokenStream({len(self):,} positions)"

    @property
    def inputs(self) -> np.ndarray:
        """Word read at each position (int32 view, (N,); -1: an unknown word, no input)."""
        return self.words[:-1]

    @property
    def targets(self) -> np.ndarray:
        """Word predicted at each position (int32 view, (N,); -1: not scored)."""
        return self.words[1:]

    @property
    def boundaries(self) -> np.ndarray:
        """Bool (N,): True where the target is ``</s>``, a sentence's end."""
        return self.targets == SENTENCE_END_INDEX


def language_model_stream(word_ids: np.ndarray) -> TokenStream:
    """Stream for next-word prediction: position t reads word t-1 and predicts word t (int32 ids, (N,)).

    The word before the first is ``</s>``; an unknown previous word (-1) gives
    the position no input, an unknown target is not scored.
    """
    words = np.empty(len(word_ids) + 1, dtype=np.int32)
    words[0] = SENTENCE_END_INDEX
    words[1:] = word_ids
    return TokenStream(words)


def sentence_bounds(stream: TokenStream) -> np.ndarray:
    """Positions where a sentence may start (int64, ascending): 0, after every ``</s>`` target, and N."""
    after_ends = np.flatnonzero(stream.targets == SENTENCE_END_INDEX) + 1
    return np.unique(np.concatenate([[0], after_ends, [len(stream)]])).astype(np.int64)

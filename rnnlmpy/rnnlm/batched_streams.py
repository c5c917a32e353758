"""A token stream laid out for the batched engine: B streams side by side, read in windows of T steps.

Stream ``b`` holds positions ``b * M <= p < (b + 1) * M`` of the text (``M``
steps, the text's N positions split into B contiguous parts, the last one
padded); step ``t`` of every stream is row ``t`` of the ``(M, B)`` arrays, so a
window of steps ``[t0, t1)`` is a row slice, C-contiguous as the engine wants
it. Padding and unknown targets have weight 0 (not scored; target 0, a valid
id); an unknown input word reads ``</s>``'s row (the engine has no "no input"),
so every id a kernel sees is in range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .streams import SENTENCE_END_INDEX, TokenStream


@dataclass(frozen=True)
class BatchedText:
    """The ``(M, B)`` arrays of a laid-out stream: word read, word predicted, its weight (1 scored, 0 not),
    where the state restarts from zero (1), and each cell's stream position (-1: padding)."""

    inputs: np.ndarray  # int32 (M, B)
    targets: np.ndarray  # int32 (M, B)
    weights: np.ndarray  # float (M, B)
    resets: np.ndarray  # uint8 (M, B)
    positions: np.ndarray  # int64 (M, B)

    @property
    def steps(self) -> int:
        """M, the steps of each stream."""
        return self.inputs.shape[0]

    @property
    def streams(self) -> int:
        """B, the streams side by side."""
        return self.inputs.shape[1]


def checkpoint_position_problem(position: int, words: int, streams: int, window_steps: int) -> str:
    """Why ``position`` (rows trained) cannot be where a checkpoint of training on a text of ``words`` positions,
    laid out as ``streams`` streams in windows of ``window_steps``, stopped ("" if it can): a checkpoint stops at
    a window boundary, or at the epoch's end (the last window may be shorter)."""
    total = -(-words // streams) * streams if words else 0
    if position > total:
        return f"its position {position} is past the end of the text ({total} rows)"
    if position % (window_steps * streams) and position != total:
        return f"its position {position} is not a window boundary of this text"
    return ""


def lay_out(stream: TokenStream, streams: int, independent: bool, dtype: type) -> BatchedText:
    """``stream`` as ``streams`` contiguous parts side by side (``BatchedText``). With ``independent`` every
    sentence's first word (the position after a ``</s>`` target) starts from the zero state; the caller gives
    each stream's state before its first step. Unknown input words (-1) read ``</s>``'s row."""
    count = len(stream)
    steps = -(-count // streams) if count else 0
    positions = np.arange(steps * streams, dtype=np.int64).reshape(streams, steps).T.copy()
    inside = positions < count
    safe = np.where(inside, positions, 0)
    targets = np.where(inside, stream.targets[safe] if count else 0, -1)
    inputs = np.where(inside, stream.inputs[safe] if count else 0, SENTENCE_END_INDEX)
    resets = np.zeros((steps, streams), dtype=np.uint8)
    if independent and count:
        previous_end = np.zeros(count, dtype=bool)
        previous_end[1:] = stream.targets[:-1] == SENTENCE_END_INDEX
        resets |= (inside & previous_end[safe]).astype(np.uint8)
    return BatchedText(inputs=np.ascontiguousarray(np.where(inputs < 0, SENTENCE_END_INDEX, inputs), dtype=np.int32),
                       targets=np.ascontiguousarray(np.where(targets < 0, 0, targets), dtype=np.int32),
                       weights=np.ascontiguousarray(targets >= 0, dtype=dtype),
                       resets=resets, positions=np.where(inside, positions, -1))

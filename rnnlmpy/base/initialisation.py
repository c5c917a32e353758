"""Random initial weights, shared by every network (the language model's and the tagger's)."""

from __future__ import annotations

import numpy as np

INITIALISATION_CHUNK = 2**20  # draws made at a time for the second and third uniform draw of a matrix


def initial_weights(shape: tuple[int, ...], rng: np.random.Generator, dtype: type) -> np.ndarray:
    """rnnlm's initialisation: each weight is a sum of three uniform draws from [-0.1, 0.1].

    The draws are the numbers ``rng.random((3,) + shape)`` would give, summed in
    the same order, but made a chunk at a time into one float64 total: 8 bytes
    of temporary memory per weight instead of 40.
    """
    count = int(np.prod(shape))
    total = rng.random(count)
    buffer = np.empty(min(count, INITIALISATION_CHUNK))
    for _ in range(2):
        for begin in range(0, count, INITIALISATION_CHUNK):
            part = buffer[:min(INITIALISATION_CHUNK, count - begin)]
            rng.random(out=part)
            total[begin:begin + len(part)] += part
    total *= 0.2
    total -= 0.3
    return total.astype(dtype).reshape(shape)

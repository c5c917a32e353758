"""Hogwild threads' private copies: adding one thread's change to the shared weights in one pass."""

from __future__ import annotations

from numba import njit


@njit(cache=True, fastmath=True, nogil=True)
def add_change(shared, local, base):
    """``shared += local - base``, then ``local = base = shared`` (all flat, same shape (N,)).

    ``local`` is a thread's private copy, ``base`` its value at the last
    merge; one pass with no temporary arrays. The caller holds the lock that
    keeps two merges off the same ``shared`` array.
    """
    for i in range(shared.shape[0]):
        value = shared[i] + (local[i] - base[i])
        shared[i] = value
        local[i] = value
        base[i] = value

"""Hogwild threads' private copies: adding a thread's change to the shared weights, under a lock the kernels take.

A training thread (``lm.train_span`` with merging on) trains private copies of
a few small, hot arrays and adds its change to the shared ones every few
hundred words without leaving the kernel, so the threads never wait for
Python or its GIL. The threads of one epoch share ``flags`` (int64, (2,)):
``flags[LOCK]`` is a spin lock (0 free, 1 held), taken with an atomic
compare-and-swap; ``flags[ROUND_OVER]`` becomes 1 when a thread has trained
its share of a round, telling the others to stop at their next merge.
"""

from __future__ import annotations

from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

LOCK, ROUND_OVER = 0, 1  # slots of the threads' shared flags


@intrinsic
def compare_and_swap(typingctx, array, index, expected, new):
    """Atomically (sequentially consistent): ``old = array[index]``; if ``old == expected``, ``array[index] = new``;
    returns ``old``. ``array`` is a C-contiguous int64 array."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array_value, index_value, expected_value, new_value = args
        view = context.make_array(array_type)(context, builder, array_value)
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [index_value], wraparound=False)
        outcome = builder.cmpxchg(pointer, expected_value, new_value, "seq_cst", "seq_cst")
        return builder.extract_value(outcome, 0)

    return types.int64(array, index, types.int64, types.int64), codegen


@njit(cache=True, nogil=True)
def try_lock(flags):
    """Take ``flags[LOCK]`` if it is free; True if this call took it."""
    return compare_and_swap(flags, LOCK, 0, 1) == 0


@njit(cache=True, nogil=True)
def unlock(flags):
    """Free ``flags[LOCK]`` (held by the caller)."""
    compare_and_swap(flags, LOCK, 1, 0)


@njit(cache=True, nogil=True)
def round_over(flags):
    """True once a thread has ended the round (an atomic read of ``flags[ROUND_OVER]``)."""
    return compare_and_swap(flags, ROUND_OVER, -1, -1) != 0


@njit(cache=True, nogil=True)
def end_round(flags):
    """Tell the other threads to stop at their next merge."""
    compare_and_swap(flags, ROUND_OVER, 0, 1)


@njit(cache=True, fastmath=True, nogil=True)
def add_change(shared, local, base, scale):
    """``shared += scale * (local - base)``, then ``local = base = shared`` (all flat, same shape (N,)).

    ``local`` is a thread's private copy, ``base`` its value at the last
    merge; one pass with no temporary arrays. The caller holds the lock that
    keeps two merges off the same ``shared`` array.
    """
    for i in range(shared.shape[0]):
        value = shared[i] + scale * (local[i] - base[i])
        shared[i] = value
        local[i] = value
        base[i] = value


@njit(cache=True, fastmath=True, nogil=True)
def merge_changes(shared, local, base, flags, scale):
    """``add_change`` for each triple ``(shared[k], local[k], base[k])`` (tuples of flat arrays), under the
    lock ``flags[LOCK]``, waiting for it if another thread holds it (a merge
    takes about 25 µs for an HS model), so that every merge happens on time.
    """
    while not try_lock(flags):
        pass
    for k in range(len(shared)):
        add_change(shared[k], local[k], base[k], shared[k].dtype.type(scale))
    unlock(flags)

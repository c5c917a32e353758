"""Hogwild training of one epoch by several threads (as faster-rnnlm), with private copies of the hot matrices.

Each thread trains its own contiguous slice of the epoch with its own hidden
state and BPTT ring. The big, sparsely touched weights (input rows, output
rows, direct connections) are shared and updated without locks. The small
dense matrices that every word rewrites in full (the class weights, the
recurrent matrix, a GRU's gate biases) would bounce between the cores' caches
on every word and serialise the threads, and so would a hierarchical softmax's
node rows nearest the root, on almost every word's path; so each thread trains
a private copy of them and adds 1/N of its change to the shared one every
``SYNC_WORDS`` words (see ``merge_scale``: the shared matrices move by the mean
of the N threads' changes), then continues from the shared matrices. The training kernel does these
merges itself, under a lock of its own (``kernels.hogwild``), so a thread
calls into Python only once per round. One thread trains the model itself,
exactly as a single pass.

Threads seldom run at the same speed (another process takes a core for a
while), so the first to finish its slice would sit idle while the others
train the rest of theirs on fewer cores. Instead, whenever a thread would be
idle, the longest unfinished remainder is cut in two at a sentence end and the
idle thread trains the second half, from a fresh state, as a new slice.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import replace

import numpy as np

from ..base.system import split_evenly
from . import network
from .model import RnnlmModel
from .network import KernelState
from .streams import TokenStream, sentence_bounds

SYNC_WORDS = 100  # words a thread trains on its private matrices before adding its change to the shared ones:
# the shorter the interval, the fresher the matrices each change is computed on (perplexity) and the more often
# a thread takes the merge lock (speed); 100 keeps two threads' perplexity at one thread's
HOT_TREE_ROWS = 256  # hierarchical softmax: the node rows nearest the root (nodes 0..255), on almost every path
MIN_SPLIT_WORDS = 2_000  # an unfinished remainder shorter than this is not cut for an idle thread


def merge_scale(threads: int) -> float:
    """The share of a thread's change that a merge adds to the shared matrices: 1/N with N threads, so that
    the shared matrices move by the mean of the threads' changes (parameter averaging for the small dense
    matrices; the big input and output rows, updated in place, stay plain hogwild).

    A thread's private copies miss the others' updates of up to ``SYNC_WORDS`` words each, so a change is
    computed on matrices up to (N - 1) * SYNC_WORDS words old, and the N changes, each made in about the same
    direction, add up: adding all of each makes the shared matrices overshoot (the validation perplexity
    swings, rnnlm's schedule halves the rate early, and many threads diverge). Adding the mean keeps the
    size of a step independent of the number of threads.
    """
    return 1.0 / max(threads, 1)


def epoch_slices(stream: TokenStream, threads: int) -> list[list[int]]:
    """Split the positions into at most ``threads`` contiguous slices of about equal length, each ending
    after a sentence end: [[begin, end, next position], ...] with next = begin."""
    if threads <= 1 or len(stream) == 0:
        return [[0, len(stream), 0]]
    return [[begin, end, begin] for begin, end in split_evenly(sentence_bounds(stream), threads)]


class _Replica:
    """One thread's view of the model: the shared big weights, private copies of ``network.PRIVATE_WEIGHTS``
    and, for a hierarchical softmax, of the HOT_TREE_ROWS node rows nearest the root (``hot_rows``), merged
    into the shared ones by the training kernel (``merging``)."""

    def __init__(self, model: RnnlmModel, flags: np.ndarray, scale: float = 1.0):
        private = {name: getattr(model, name).copy() for name in network.PRIVATE_WEIGHTS}
        self.model = replace(model, **private)
        hot = HOT_TREE_ROWS if model.config.output_layer == "hs" else 0
        self.hot_rows = model.output_weights[:hot].copy()
        self.merging = network.Merging.for_thread(model, self.model, self.hot_rows, flags, SYNC_WORDS, scale)


class HogwildEpoch:
    """Train slices ``[[begin, end, next], ...]`` of ``stream`` on ``threads`` threads (default: one per slice),
    a KernelState per slice; one thread trains the unfinished slices one after another.

    ``slices`` and ``states`` are updated in place (each slice's next position,
    and the slices cut for idle threads, see ``share_out``) so that a
    checkpoint can record where every slice stands.
    """

    def __init__(self, model: RnnlmModel, stream: TokenStream, slices: list[list[int]], states: list[KernelState],
                 threads: int | None = None):
        self.model, self.stream, self.slices, self.states = model, stream, slices, states
        self.threads = max(1, threads or len(slices))
        self.flags = np.zeros(2, dtype=np.int64)  # the threads' lock and end-of-round flag (kernels.hogwild)
        self.alpha = 0.0
        self.sentence_starts = None  # sentence_bounds(stream), once a slice is cut
        self.replicas = ([_Replica(model, self.flags, merge_scale(self.threads)) for _ in range(self.threads)]
                         if self.threads > 1 else None)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.threads) if self.threads > 1 else None

    def close(self) -> None:
        """Stop the worker threads."""
        if self.pool is not None:
            self.pool.shutdown()

    def share_out(self) -> None:
        """While fewer slices are unfinished than there are threads, cut the longest remainder (of at least
        MIN_SPLIT_WORDS) at the sentence end nearest its middle; the second half becomes a new slice right
        after it (so the slices still tile the stream in order), with a fresh KernelState."""
        while True:
            unfinished = [k for k, (_, end, position) in enumerate(self.slices) if position < end]
            if not unfinished or len(unfinished) >= self.threads:
                return
            longest = max(unfinished, key=lambda k: self.slices[k][1] - self.slices[k][2])
            _, end, position = self.slices[longest]
            if end - position < MIN_SPLIT_WORDS:
                return
            if self.sentence_starts is None:
                self.sentence_starts = sentence_bounds(self.stream)
            starts = self.sentence_starts
            inside = starts[np.searchsorted(starts, position, side="right"):np.searchsorted(starts, end)]
            if len(inside) == 0:
                return
            cut = int(inside[np.argmin(np.abs(inside - (position + end) // 2))])
            self.slices[longest][1] = cut
            self.slices.insert(longest + 1, [cut, end, cut])
            self.states.insert(longest + 1, KernelState.fresh(self.model.config, epoch=self.model.training.epoch,
                                                              thread=len(self.slices) - 1))

    def train_round(self, words: int, alpha: float) -> tuple[float, int, int]:
        """The first ``threads`` unfinished slices train up to ``words`` more positions at learning rate ``alpha``.

        With several threads the round ends for all of them as soon as one has
        trained its ``words`` or its slice (the others stop at their next
        merge), so no thread waits for a slower one. Returns (sum of log10 P
        over the scored targets, scored targets, positions trained), all
        threads together.
        """
        self.alpha = alpha
        self.flags[:] = 0  # no kernel runs between rounds
        if self.pool is not None:
            self.share_out()
        before = sum(position for _, _, position in self.slices)
        work = [(index, min(end, position + words)) for index, (_, end, position) in enumerate(self.slices)
                if position < end][:self.threads]
        if self.pool is None:
            results = [self._train_slice(0, *work[0])]
        else:
            results = list(self.pool.map(self._train_slice, range(len(work)), *zip(*work)))
        trained = sum(position for _, _, position in self.slices) - before
        return sum(r[0] for r in results), sum(r[1] for r in results), trained

    def _train_slice(self, thread: int, index: int, stop: int) -> tuple[float, int]:
        """Thread ``thread`` trains slice ``index`` up to position ``stop`` (or until another thread ends the
        round)."""
        if self.replicas is None:
            model, hot_rows, merging = self.model, None, None
        else:
            replica = self.replicas[thread]
            model, hot_rows, merging = replica.model, replica.hot_rows, replica.merging
        log10_sum, scored, position = network.train_span(model, self.stream, self.slices[index][2], stop,
                                                         self.states[index], self.alpha, hot_rows=hot_rows,
                                                         merging=merging)
        self.slices[index][2] = position
        return log10_sum, scored

"""Hogwild training of one epoch by several threads (as faster-rnnlm), with private copies of the hot matrices.

Each thread trains its own contiguous slice of the epoch with its own hidden
state and BPTT ring. The big, sparsely touched weights (input rows, output
rows, direct connections) are shared and updated without locks. The small
dense matrices that every word rewrites in full (the class weights, the
recurrent matrix, a GRU's gate biases) would bounce between the cores' caches
on every word and serialise the threads, and so would a hierarchical softmax's
node rows nearest the root, on almost every word's path; so each thread trains
a private copy of them and adds its change to the shared one every
``SYNC_WORDS`` words (under a lock), then continues from the shared sum: every thread's updates count, a
few hundred words late. One thread trains the model itself, exactly as a
single pass.
"""

from __future__ import annotations

import concurrent.futures
import threading
from dataclasses import replace

from ..base.system import split_evenly
from . import network
from .model import RnnlmModel
from .network import KernelState
from .streams import TokenStream, sentence_bounds

SYNC_WORDS = 100  # words a thread trains on its private matrices before adding its change to the shared ones
# (PTB, 2 threads, seeds 1-3: 2,000 overshot, validation PPL 171 against 157 on one thread; 200 gave 1.80x/1.86x
# (class/HS) at +1.3%/+1.7% test PPL; 100 gives 1.69x/1.62x at -0.7%/-1.0%: perplexity first)
PRIVATE_WEIGHTS = ("class_weights", "recurrent", "gate_bias")  # rewritten in full by every word or block
HOT_TREE_ROWS = 256  # hierarchical softmax: the node rows nearest the root (nodes 0..255), on almost every path


def epoch_slices(stream: TokenStream, threads: int) -> list[list[int]]:
    """Split the positions into at most ``threads`` contiguous slices of about equal length, each ending
    after a sentence end: [[begin, end, next position], ...] with next = begin."""
    if threads <= 1 or len(stream) == 0:
        return [[0, len(stream), 0]]
    return [[begin, end, begin] for begin, end in split_evenly(sentence_bounds(stream), threads)]


class _Replica:
    """One thread's view of the model: the shared big weights, private copies of PRIVATE_WEIGHTS and, for a
    hierarchical softmax, of the HOT_TREE_ROWS node rows nearest the root (``hot_rows``)."""

    def __init__(self, model: RnnlmModel):
        self.shared = model
        private = {name: getattr(model, name).copy() for name in PRIVATE_WEIGHTS}
        self.model = replace(model, **private)
        hot = HOT_TREE_ROWS if model.config.output_layer == "hs" else 0
        self.hot_rows = model.output_weights[:hot].copy()
        self.pairs = [(private[name], getattr(model, name)) for name in PRIVATE_WEIGHTS]
        self.pairs.append((self.hot_rows, model.output_weights[:hot]))
        self.bases = [local.copy() for local, _ in self.pairs]

    def merge(self, lock: threading.Lock) -> None:
        """Add this thread's change since the last merge to the shared arrays; continue from their sum."""
        with lock:
            for (local, shared), base in zip(self.pairs, self.bases):
                network.merge_change(shared, local, base)


class HogwildEpoch:
    """Train slices ``[[begin, end, next], ...]`` of ``stream`` at once, one thread and KernelState per slice.

    ``slices`` is updated in place (each slice's next position) so that a
    checkpoint can record where every thread stands.
    """

    def __init__(self, model: RnnlmModel, stream: TokenStream, slices: list[list[int]], states: list[KernelState]):
        self.model, self.stream, self.slices, self.states = model, stream, slices, states
        self.lock = threading.Lock()
        self.round_over = threading.Event()
        self.alpha = 0.0
        self.replicas = [_Replica(model) for _ in slices] if len(slices) > 1 else None
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(slices)) if len(slices) > 1 else None

    def close(self) -> None:
        """Stop the worker threads."""
        if self.pool is not None:
            self.pool.shutdown()

    def train_round(self, words: int, alpha: float) -> tuple[float, int, int]:
        """Every unfinished slice trains up to ``words`` more positions at learning rate ``alpha``.

        With several threads the round ends for all of them as soon as one has
        trained its ``words`` (the others stop at their next merge), so no
        thread waits for a slower one. Returns (sum of log10 P over the scored
        targets, scored targets, positions trained), all threads together.
        """
        self.alpha = alpha
        self.round_over.clear()
        before = sum(position for _, _, position in self.slices)
        work = [(index, min(end, position + words)) for index, (_, end, position) in enumerate(self.slices)
                if position < end]
        if self.pool is None:
            results = [self._train_slice(*work[0])]
        else:
            results = list(self.pool.map(self._train_slice, *zip(*work)))
        trained = sum(position for _, _, position in self.slices) - before
        return sum(r[0] for r in results), sum(r[1] for r in results), trained

    def _train_slice(self, index: int, stop: int) -> tuple[float, int]:
        """Train slice ``index`` up to position ``stop`` (or until another thread ends the round)."""
        position, state = self.slices[index][2], self.states[index]
        alpha = self.alpha
        if self.replicas is None:
            result = network.train_span(self.model, self.stream, position, stop, state, alpha)
            self.slices[index][2] = stop
            return result
        replica = self.replicas[index]
        log10_sum, scored = 0.0, 0
        while position < stop and not self.round_over.is_set():
            until = min(stop, position + SYNC_WORDS)
            part_log10, part_scored = network.train_span(replica.model, self.stream, position, until, state, alpha,
                                                         hot_rows=replica.hot_rows)
            replica.merge(self.lock)
            log10_sum += part_log10
            scored += part_scored
            position = until
            self.slices[index][2] = position
        if position == stop and stop < self.slices[index][1]:
            self.round_over.set()  # this thread did its share of the round: the others stop too
        return log10_sum, scored

"""One training epoch over the thread slices, and validation: the part of a training run that calls the kernels.

The threads train their slices of the epoch (see ``hogwild``) and meet every
PROGRESS_CHUNK words each, for progress, divergence and signal checks and
checkpoints. With ``anti_kasparek`` the model is checkpointed every that many
training words, never spending more than CHECKPOINT_TIME_SHARE of the time on
it; on Ctrl-C or SIGTERM a checkpoint is saved and TrainingInterrupted raised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..base import metrics
from ..base.compiling import compiling
from ..base.progress import ProgressReporter
from . import network
from .checkpoints import ModelWriter
from .hogwild import HogwildEpoch, epoch_slices
from .model import RnnlmModel
from .network import KernelState
from .options import RunOptions
from .session import STOP_SIGNALS, TrainingInterrupted
from .streams import TokenStream

PROGRESS_CHUNK = 20_000  # words per kernel call between progress updates
CHECKPOINT_TIME_SHARE = 0.05  # checkpoints wait until saving has cost at most this share of the training time


@dataclass
class TrainingRun:
    """What one training run works on: the model, its streams, every thread's kernel state (``states``, one
    per slice of ``model.training.slices``), the weights of the last accepted epoch (``backup``), where it
    saves (``writer``), its options and reporter, the signal flag (``interrupted()``: the signal's number, 0
    while none came) and the entropy (bits per word) above which an epoch has diverged (``limit``)."""

    model: RnnlmModel
    train_stream: TokenStream
    valid_stream: Optional[TokenStream]
    states: list[KernelState]
    backup: dict[str, np.ndarray]
    writer: ModelWriter
    options: RunOptions
    reporter: ProgressReporter
    interrupted: Callable[[], int]
    limit: float

    def start_epoch(self) -> None:
        """An epoch begins: the thread slices of the text, a fresh kernel state for each, the epoch's sums
        from zero."""
        progress = self.model.training
        progress.slices = epoch_slices(self.train_stream, progress.threads)
        self.states = [KernelState.fresh(self.model.config, epoch=progress.epoch, thread=index)
                       for index in range(len(progress.slices))]
        progress.epoch_log10, progress.epoch_scored = 0.0, 0

    def compile_kernels(self) -> None:
        """Get the kernels compiled (or loaded from Numba's cache) before any timing starts, saying so when they
        are compiled (``base.compiling``)."""
        with compiling(self.reporter.message):
            network.warm_up(self.model, self.train_stream, self.valid_stream, self.states[0])

    def train_epoch(self) -> tuple[float, int, bool]:
        """Train every slice of ``model.training.slices`` from its next position to its end, on
        ``model.training.threads`` threads (slice k with ``states[k]``; a checkpoint's slices may be more or
        fewer; one thread runs in this thread alone, exactly as a single pass).

        Returns (seconds, words trained, diverged). Checkpoints every
        ``options.checkpoint_words`` words (0: never) once saving has cost at
        most CHECKPOINT_TIME_SHARE of the time so far; on ``interrupted()``
        saves a checkpoint and raises TrainingInterrupted.
        """
        model, reporter, checkpoint_words = self.model, self.reporter, self.options.checkpoint_words
        progress = model.training
        total = len(self.train_stream)
        started = time.perf_counter()
        first_position = progress.position
        next_checkpoint = progress.position + checkpoint_words if checkpoint_words else total
        saving_seconds = 0.0
        epoch = HogwildEpoch(model, self.train_stream, progress.slices, self.states, progress.threads)
        try:
            while progress.position < total:
                log10_sum, scored, trained = epoch.train_round(min(PROGRESS_CHUNK, next_checkpoint - progress.position),
                                                               progress.alpha)
                progress.position += trained
                stop = progress.position
                progress.epoch_log10 += log10_sum
                progress.epoch_scored += scored
                if not metrics.entropy_bits(log10_sum, scored) <= self.limit:
                    progress.epoch_log10, progress.epoch_scored = log10_sum, scored
                    return time.perf_counter() - started, stop - first_position, True
                elapsed = time.perf_counter() - started
                speed = (stop - first_position) / max(elapsed, 1e-9)
                reporter.running(progress.epoch, progress.alpha,
                                 metrics.entropy_bits(progress.epoch_log10, progress.epoch_scored),
                                 stop / total, speed, (total - stop) / max(speed, 1e-9))
                signal_number = self.interrupted()
                if stop < total and signal_number:
                    self.writer.checkpoint(self.states, self.backup)
                    raise TrainingInterrupted(f"{STOP_SIGNALS[signal_number]}: saved the training state in "
                                              f"{self.writer.model_file} (epoch {progress.epoch}, word {stop:,} of "
                                              f"{total:,}); rerun the same command to resume exactly there",
                                              signal_number)
                if stop >= next_checkpoint and stop < total:
                    if saving_seconds <= CHECKPOINT_TIME_SHARE * elapsed:
                        saved = time.perf_counter()
                        self.writer.checkpoint(self.states, self.backup)
                        saving_seconds += time.perf_counter() - saved
                    next_checkpoint = stop + checkpoint_words
                if self.options.on_progress is not None:
                    self.options.on_progress(model)
        finally:
            epoch.close()
        return time.perf_counter() - started, total - first_position, False

    def validate(self) -> tuple[float, int, np.ndarray]:
        """Sum of log10 P over the scored validation tokens, their number, and the final hidden state (H,)."""
        stream = self.valid_stream
        probabilities, hidden = network.score_stream(self.model, stream,
                                                     network.start_state(self.model.config, flush=True))
        scored = stream.targets >= 0
        return metrics.log10_sum(probabilities[scored]), int(np.count_nonzero(scored)), hidden

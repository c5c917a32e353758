"""One training epoch over the thread slices, and validation: the part of a training run that calls the kernels.

The threads train their slices of the epoch (see ``hogwild``) and meet every
PROGRESS_CHUNK words each, for progress, divergence and signal checks and
checkpoints. With ``anti_kasparek`` the model is checkpointed every that many
training words, never spending more than CHECKPOINT_TIME_SHARE of the time on
it; on Ctrl-C or SIGTERM a checkpoint is saved and TrainingInterrupted raised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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
class RunBase:
    """What every training run works on, whichever the engine: the model, its streams, the weights of the last
    accepted epoch (``backup``), where it saves (``writer``), its options and reporter, the signal flag
    (``interrupted()``: the signal's number, 0 while none came) and the entropy (bits per word) above which an
    epoch has diverged (``limit``). An engine's run adds its own state and ``start_epoch``, ``compile_kernels``
    and ``train_epoch``."""

    model: RnnlmModel
    train_stream: TokenStream
    valid_stream: Optional[TokenStream]
    backup: dict[str, np.ndarray]
    writer: ModelWriter
    options: RunOptions
    reporter: ProgressReporter
    interrupted: Callable[[], int]
    limit: float

    def validate(self) -> tuple[float, int, np.ndarray]:
        """Sum of log10 P over the scored validation tokens, their number, and the final state (the per-word
        engine's hidden layer (H,), the batched engine's (L*S*H,))."""
        return validation_pass(self.model, self.valid_stream)


@dataclass
class TrainingRun(RunBase):
    """The per-word engine's run: a ``RunBase`` with every thread's kernel state (``states``, one per slice of
    ``model.training.slices``)."""

    states: list[KernelState] = field(default_factory=list)

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
        progress = self.model.training
        total = len(self.train_stream)
        pacer = EpochPacer(self, total, lambda: self.writer.checkpoint(self.states, self.backup))
        epoch = HogwildEpoch(self.model, self.train_stream, progress.slices, self.states, progress.threads)
        try:
            while progress.position < total:
                log10_sum, scored, trained = epoch.train_round(min(PROGRESS_CHUNK, pacer.next_checkpoint
                                                                   - progress.position), progress.alpha)
                progress.position += trained
                if pacer.round_done(log10_sum, scored):
                    return pacer.result(True)
        finally:
            epoch.close()
        return pacer.result(False)


def validation_pass(model: RnnlmModel, stream: TokenStream) -> tuple[float, int, np.ndarray]:
    """Score ``stream`` from the start state of a pass: the sum of log10 P over its scored tokens, their number,
    and the final state (either engine's)."""
    probabilities, hidden = network.score_stream(model, stream, network.start_state(model.config, flush=True))
    scored = stream.targets >= 0
    return metrics.log10_sum(probabilities[scored]), int(np.count_nonzero(scored)), hidden


class EpochPacer:
    """What an epoch does between two rounds of training, the same for both engines: sums, the divergence
    check, the progress line, Ctrl-C or SIGTERM (a checkpoint, then TrainingInterrupted), a checkpoint every
    ``options.checkpoint_words`` words once saving has cost at most CHECKPOINT_TIME_SHARE of the time so far,
    and ``options.on_progress``. ``run`` is the engine's run (``model``, ``options``, ``reporter``,
    ``writer``, ``interrupted``, ``limit``), ``total`` the epoch's positions, ``checkpoint()`` saves one."""

    def __init__(self, run, total: int, checkpoint: Callable[[], None]):
        progress = run.model.training
        self.run, self.total, self.checkpoint = run, total, checkpoint
        self.started = time.perf_counter()
        self.first_position = progress.position
        self.checkpoint_words = run.options.checkpoint_words
        self.next_checkpoint = progress.position + self.checkpoint_words if self.checkpoint_words else total
        self.saving_seconds = 0.0

    def result(self, diverged: bool) -> tuple[float, int, bool]:
        """(seconds, positions trained, ``diverged``): what ``train_epoch`` returns."""
        return time.perf_counter() - self.started, self.run.model.training.position - self.first_position, diverged

    def round_done(self, log10_sum: float, scored: int) -> bool:
        """A round of training has brought ``model.training.position`` to where it now is, scoring ``scored``
        targets with log10 P summing to ``log10_sum``: account for it; True if it diverged (then the epoch's
        sums are the round's)."""
        run, total = self.run, self.total
        progress = run.model.training
        stop = progress.position
        progress.epoch_log10 += log10_sum
        progress.epoch_scored += scored
        if not metrics.entropy_bits(log10_sum, scored) <= run.limit:
            progress.epoch_log10, progress.epoch_scored = log10_sum, scored
            return True
        elapsed = time.perf_counter() - self.started
        speed = (stop - self.first_position) / max(elapsed, 1e-9)
        run.reporter.running(progress.epoch, progress.alpha,
                             metrics.entropy_bits(progress.epoch_log10, progress.epoch_scored),
                             stop / max(total, 1), speed, (total - stop) / max(speed, 1e-9))
        signal_number = run.interrupted()
        if stop < total and signal_number:
            self.checkpoint()
            raise TrainingInterrupted(f"{STOP_SIGNALS[signal_number]}: saved the training state in "
                                      f"{run.writer.model_file} (epoch {progress.epoch}, word {stop:,} of "
                                      f"{total:,}); rerun the same command to resume exactly there", signal_number)
        if stop >= self.next_checkpoint and stop < total:
            if self.saving_seconds <= CHECKPOINT_TIME_SHARE * elapsed:
                saved = time.perf_counter()
                self.checkpoint()
                self.saving_seconds += time.perf_counter() - saved
            self.next_checkpoint = stop + self.checkpoint_words
        if run.options.on_progress is not None:
            run.options.on_progress(run.model)
        return False

"""One training epoch of the batched engine, and validation: what ``training`` runs for a ``config.batched`` model.

The training text is laid out as B streams side by side (``batched_streams``),
read in windows of T = ``config.bptt`` steps; each stream's state is carried
from window to window (truncated BPTT). Per window: the gradients
(``deep.train_window``, dropout masks seeded by the seed, the epoch and the
window's number, so a resumed run draws the same ones; the streams split
among ``-threads`` threads), clipping to ``config.clip_norm`` fused into one
optimiser step. ``BatchedRun`` extends ``epoch.RunBase`` as
``epoch.TrainingRun`` does (``start_epoch``, ``train_epoch``, ``validate``,
``backup``), so ``training`` runs the same schedule, progress lines,
checkpoints and signal handling for both engines. A checkpoint holds the
streams' states (``resume/streams/state``), the optimiser's state
(``resume/optimizer/*``) and the last epoch end's weights; the position is the
rows done, a whole number of windows, so a resumed run goes on exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..base.compiling import compiling
from ..base.progress import ProgressReporter
from ..kernels import optimizers
from . import deep, network
from .batched_streams import BatchedText, lay_out
from .checkpoints import ModelWriter, snapshot
from .epoch import EpochPacer, RunBase
from .model import RnnlmModel, state_size
from .model_file import OPTIMIZER_PREFIX, STREAM_STATE
from .options import RunOptions
from .streams import TokenStream

PROGRESS_WORDS = 20_000  # rows trained between progress lines, divergence checks and checkpoint decisions (a
# signal is noticed after the window it came in)


def dropout_seed(rand_seed: int, epoch: int, window: int) -> int:
    """The seed of one window's dropout masks: a function of the run's seed, the epoch and the window's number
    only, so that a resumed run draws the masks the uninterrupted one did."""
    return int(np.random.SeedSequence([rand_seed, epoch, window]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def trained_weights(model: RnnlmModel) -> dict[str, np.ndarray]:
    """The model's weight arrays that hold something (the empty placeholders left out), by name."""
    return {name: array for name, array in model.weights().items() if array.size > 0}


@dataclass
class BatchedRun(RunBase):
    """The batched engine's run: a ``RunBase`` with the streams' states ``state`` (B, L*S*H), the text laid out
    as streams, the optimiser and the gradient arrays (``zeroed``: those of them known to be all zero, see
    ``deep.train_window``)."""

    state: np.ndarray = field(init=False)
    text: BatchedText = field(init=False)
    optimizer: optimizers.Optimizer = field(init=False)
    grads: dict = field(init=False)
    zeroed: frozenset = field(init=False, default=frozenset())  # names of ``grads`` arrays known to be all zero

    def __post_init__(self) -> None:
        config = self.model.config
        self.text = lay_out(self.train_stream, config.batch, config.independent, config.numpy_dtype)
        self.state = np.zeros((config.batch, state_size(config)), dtype=config.numpy_dtype)
        weights = trained_weights(self.model)
        self.optimizer = optimizers.Optimizer(config.optimizer, weights, config.beta)
        self.grads = {name: np.zeros_like(array) for name, array in self.model.weights().items()}
        self.writer.unfinished_arrays = self.optimizer_arrays

    def optimizer_arrays(self) -> dict[str, np.ndarray]:
        """The optimiser's state as ``resume/`` arrays (``resume/optimizer/<slot>.<weight>``)."""
        return {f"{OPTIMIZER_PREFIX}{key}": array for key, array in self.optimizer.state.items()}

    @property
    def total_rows(self) -> int:
        """Rows of an epoch: steps per stream times streams (the text and the last stream's padding)."""
        return self.text.steps * self.text.streams

    @classmethod
    def resumed(cls, model: RnnlmModel, train_stream: TokenStream, valid_stream: Optional[TokenStream],
                writer: ModelWriter, options: RunOptions, reporter: ProgressReporter, limit: float) -> "BatchedRun":
        """A run going on from ``model``: a checkpoint's streams' states, optimiser state and weight backup when
        it holds them, else fresh ones and a snapshot of the model. Empties ``model.resume_state``."""
        resume, progress = model.resume_state, model.training
        backup = ({k[len("backup/"):]: v.copy() for k, v in resume.items() if k.startswith("backup/")}
                  if resume and progress.position > 0 else snapshot(model))
        run = cls(model, train_stream, valid_stream, backup, writer, options, reporter, lambda: 0, limit)
        if resume and progress.position > 0:  # (its position checked against the text: session.resume_or_create)
            run.state[...] = resume[STREAM_STATE]
        optimizer_state = {k[len(OPTIMIZER_PREFIX):]: v for k, v in resume.items() if k.startswith(OPTIMIZER_PREFIX)}
        if optimizer_state or (resume and progress.position > 0):  # every unfinished save holds it (sgd: none)
            run.optimizer.load_state(optimizer_state, f"model {writer.model_file!r} (a damaged checkpoint; use "
                                                      "-force to start anew)")
        model.resume_state = {}
        return run

    def start_epoch(self) -> None:
        """An epoch begins: every stream from the zero state, the epoch's sums from zero."""
        progress = self.model.training
        progress.slices = []
        progress.epoch_log10, progress.epoch_scored = 0.0, 0
        self.state[...] = 0

    def compile_kernels(self) -> None:
        """Get the engine's kernels compiled (or loaded from Numba's cache) before any timing starts: one
        window of one step, trained and scored on copies, changes nothing."""
        with compiling(self.reporter.message):
            window = self._window(0, min(1, self.text.steps))
            grads = {name: np.zeros_like(array) for name, array in self.grads.items()}
            deep.train_window(self.model, window, self.state.copy(), grads, 0)
            copies = {name: array.copy() for name, array in trained_weights(self.model).items()}
            optimizers.Optimizer(self.model.config.optimizer, copies, self.model.config.beta).step(
                copies, {name: grads[name] for name in copies}, self.model.training.alpha)
            if self.valid_stream is not None:
                network.score_stream(self.model, TokenStream(self.valid_stream.words[:2].copy()),
                                     network.start_state(self.model.config, flush=True))

    def _window(self, begin: int, end: int) -> "deep.Window":
        text = self.text
        return deep.Window(inputs=text.inputs[begin:end], targets=text.targets[begin:end],
                           resets=text.resets[begin:end], weights=text.weights[begin:end])

    def checkpoint(self) -> None:
        """Save the model with the streams' states and the last epoch's weights (and, as every save of an
        unfinished model, the optimiser's state: ``writer.unfinished_arrays``)."""
        model = self.model
        model.resume_state = {STREAM_STATE: self.state, **{f"backup/{k}": v for k, v in self.backup.items()}}
        try:
            self.writer.save()
        finally:
            model.resume_state = {}

    def train_epoch(self) -> tuple[float, int, bool]:
        """Train the windows from ``model.training.position`` (rows done) to the epoch's end.

        Returns (seconds, rows trained, diverged), as ``TrainingRun.train_epoch``: checkpoints every
        ``options.checkpoint_words`` rows (0: never) once saving has cost at most CHECKPOINT_TIME_SHARE of the
        time; on ``interrupted()`` saves a checkpoint and raises TrainingInterrupted.
        """
        model = self.model
        config, progress = model.config, model.training
        streams, window_steps = config.batch, config.bptt
        total = self.total_rows
        pacer = EpochPacer(self, total, self.checkpoint)
        weights = trained_weights(model)
        names = tuple(weights)
        threads = max(progress.threads, 1)
        while progress.position < total:
            chunk_log10, chunk_scored = 0.0, 0
            chunk_end = min(progress.position + max(PROGRESS_WORDS, 1), pacer.next_checkpoint, total)
            while progress.position < chunk_end and not self.interrupted():  # a signal: stop after this window
                step = progress.position // streams
                window_end = min(step + window_steps, self.text.steps)
                window = self._window(step, window_end)
                zeroed, self.zeroed = self.zeroed, frozenset()
                log10_sum, scored = deep.train_window(model, window, self.state, self.grads,
                                                      dropout_seed(config.rand_seed, progress.epoch,
                                                                   step // window_steps), threads, zeroed)
                grads = {name: self.grads[name] for name in names}
                rows = deep.gradient_rows(model, window)  # the few nonzero rows of the large gradients
                norm = optimizers.global_norm(grads, rows)
                if not math.isfinite(norm):  # a step would poison the weights: the round has diverged
                    log10_sum = -math.inf
                else:
                    self.optimizer.step(weights, grads, progress.alpha, rows=rows,
                                        grad_scale=optimizers.clip_factor(norm, config.clip_norm or 0.0))
                deep.clear_rows(self.grads, rows)  # those arrays are all zero again: not cleared whole next time
                self.zeroed = frozenset(rows)
                chunk_log10 += log10_sum
                chunk_scored += scored
                progress.position = window_end * streams
            if pacer.round_done(chunk_log10, chunk_scored):
                return pacer.result(True)
        return pacer.result(False)

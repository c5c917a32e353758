"""Training an RNNLM: ``train`` runs epochs under rnnlm's learning-rate schedule until it stops.

The pieces: ``options`` (RunOptions, the run's settings), ``session`` (signals,
reading the texts, a new or a resumed model), ``epoch`` (one epoch on the
kernels, validation), ``schedule`` (accept/reject, halving, stopping,
divergence), ``checkpoints`` (saving the model, checkpoints, the history file).
One training run at a time may write a model path (a lock). ``train`` on an
unfinished model file resumes exactly where it stopped (see ``session``).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.files import CONTAINER, check_output, exclusive_lock, remove_stale_temporaries
from ..base.progress import ProgressReporter, format_seconds
from ..base.system import blas_threads
from .checkpoints import ModelWriter, restore, resumed_states, snapshot
from .batched_training import BatchedRun
from .epoch import RunBase, TrainingRun
from .model import RnnlmConfig, RnnlmModel
from .options import RunOptions
from .schedule import LearningRateSchedule, divergence_limit
from .session import (STOP_SIGNALS, TrainingInterrupted, interrupt_flag, read_text, resume_or_create,
                      training_threads)

__all__ = ["RunOptions", "TrainingInterrupted", "train", "training_summary"]


def train(train_file: str, model_file: str, valid_file: Optional[str] = None, config: Optional[RnnlmConfig] = None,
          options: Optional[RunOptions] = None, **settings) -> RnnlmModel:
    """Train an RNNLM on ``train_file`` and write it to ``model_file``; return the model.

    ``config`` is the model's settings (default: RnnlmConfig()); ``options``
    the run's (RunOptions), and ``settings`` replaces fields of it by name
    (``max_iter=2, debug=0``). If ``model_file`` holds an unfinished rnnlmpy
    model of the same corpus and settings, training resumes from it.
    ``valid_file`` drives the learning-rate schedule; without it, 5% of the
    training lines (chosen by the seed) are held out for it. Every epoch's
    record is appended to ``model_file + ".history.jsonl"`` once that epoch is
    saved. Ends with one summary line (epochs, best validation perplexity,
    time, why it stopped). Raises TrainingInterrupted after Ctrl-C or SIGTERM
    (the state is saved first), RnnlmpyError on bad input.
    """
    options = RunOptions.of(options, **settings)
    options.validate(valid_file)
    config = config or RnnlmConfig()
    config.validate()
    check_output(model_file, [CONTAINER], [train_file, valid_file, *options.other_inputs], options.force,
                 "an rnnlmpy model")
    reporter = ProgressReporter(options.debug, options.log)
    with exclusive_lock(model_file), reporter.closing():
        for stale in remove_stale_temporaries(model_file):
            reporter.message(f"removed {stale} (left by an interrupted save)")
        return _train_locked(train_file, model_file, valid_file, config, options, reporter)


def _train_locked(train_file: str, model_file: str, valid_file: Optional[str], config: RnnlmConfig,
                  options: RunOptions, reporter: ProgressReporter) -> RnnlmModel:
    """``train``, once the model path is locked: set the run up, say what it trains, run the epochs."""
    started = time.perf_counter()
    text, valid_name, notices = read_text(train_file, valid_file, config, options)
    resuming = not options.force and os.path.exists(model_file)
    model = resume_or_create(model_file, text.train, config, text.fingerprint, reporter, options.force)
    config = model.config
    progress = model.training
    threads = training_threads(progress, options.threads, model_file)
    if options.alpha is not None:
        progress.alpha = options.alpha
    progress.train_file, progress.train_words = os.path.abspath(train_file), len(text.train)
    progress.valid_file = valid_name
    progress.corpus_sha256 = text.fingerprint
    vocabulary = model.vocabulary
    train_stream = text.train.to_stream(vocabulary)
    valid_stream = text.valid.to_stream(vocabulary) if text.valid is not None else None
    if valid_stream is not None and not np.any(valid_stream.targets >= 0):
        raise RnnlmpyError(f"validation file {valid_file!r} has no word of the training vocabulary")
    if not config.batched:
        states, backup = resumed_states(model, len(train_stream), model_file)
    if resuming:
        reporter.message(f"Resuming {model_file} at epoch {progress.epoch}, "
                         f"word {progress.position:,} of {len(train_stream):,}")
    for notice in notices:  # said once every check has passed, so that an error is the only line after the command
        reporter.message(notice)
    reporter.message(f"Model: {model_file}{options.model_note}")
    if config.batched:
        reporter.message(f"Vocab size: {vocabulary.size}  classes: {vocabulary.class_count}  "
                         f"hidden: {config.layers} x {config.hidden_size} ({config.activation})  "
                         f"batch: {config.batch}  window: {config.bptt}  optimizer: {config.optimizer}  "
                         f"parameters: {model.parameter_count:,}")
    else:
        reporter.message(f"Vocab size: {vocabulary.size}  classes: {vocabulary.class_count}  "
                         f"hidden: {config.hidden_size} ({config.activation})  bptt: {config.bptt}  "
                         f"bptt-block: {config.bptt_block}  parameters: {model.parameter_count:,}")
    reporter.message(f"Words in train file: {len(train_stream)}")
    if config.batched:
        reporter.message(f"Threads: {threads} (batched engine: each window's streams split among {threads} "
                         f"thread{'' if threads == 1 else 's'}; the same command trains the same model)")
    else:
        reporter.message(f"Threads: {threads} " + ("(the same command trains the same model; -threads N trains on "
                                                   "N slices at once, faster but not reproducible)" if threads == 1
                                                   else "(hogwild: faster, but the model differs from run to run)"))
    writer = ModelWriter(model, model_file, resuming)
    schedule = LearningRateSchedule(progress, config.min_improvement, config.alpha)
    limit = divergence_limit(vocabulary.size)
    if config.batched:
        run = BatchedRun.resumed(model, train_stream, valid_stream, writer, options, reporter, limit)
    else:
        run = TrainingRun(model, train_stream, valid_stream, backup, writer, options, reporter,
                          interrupted=lambda: 0, limit=limit, states=states)
    run.compile_kernels()  # (loads the BLAS library the batched engine's products call, before its threads are set)
    with interrupt_flag() as run.interrupted, blas_threads(1) if config.batched else contextlib.nullcontext():
        # the batched engine's threads split the streams; BLAS threads waiting on each other would only slow it
        _run_epochs(run, schedule)
    writer.save()
    reporter.message(training_summary(model_file, progress.history, time.perf_counter() - started, threads,
                                      schedule.stopped))
    return model


def _run_epochs(run: RunBase, schedule: LearningRateSchedule) -> None:
    """Train epoch after epoch until ``schedule`` says training is finished; each epoch's record is kept
    (``run.writer.keep``) and reported. TrainingInterrupted when a signal came during the last epoch."""
    model, options, reporter = run.model, run.options, run.reporter
    progress = model.training
    while not progress.finished:
        if schedule.reached_max_iter(options.max_iter):
            break
        if progress.position == 0:
            run.start_epoch()
        seconds, words, diverged = run.train_epoch()
        record = {
            "epoch": progress.epoch,
            "alpha": progress.alpha,
            "train_entropy": metrics.entropy_bits(progress.epoch_log10, progress.epoch_scored),
            "words_per_second": words / max(seconds, 1e-9),
            "seconds": seconds,
            "valid_entropy": None,
            "valid_ppl": None,
            "accepted": True,
            "threads": progress.threads,
        }
        progress.position, progress.slices = 0, []
        if not diverged and not options.one_iter:
            valid_log10, valid_scored, final_hidden = run.validate()
            record["valid_entropy"] = metrics.entropy_bits(valid_log10, valid_scored)
            record["valid_ppl"] = metrics.perplexity(valid_log10, valid_scored)
            diverged = not record["valid_entropy"] <= run.limit
        if diverged:
            _recover_from_divergence(run, schedule, record)
            run.writer.keep(record)
            continue
        if options.one_iter:
            schedule.one_pass_done()
            run.writer.keep(record)
            reporter.epoch_done(record)
            break
        model.hidden_state = final_hidden
        record["accepted"] = schedule.validated(valid_log10)
        if record["accepted"]:
            run.backup = snapshot(model)
        else:
            restore(model, run.backup)
        run.writer.keep(record)
        reporter.epoch_done(record)
        signal_number = run.interrupted()
        if signal_number and not progress.finished:
            raise TrainingInterrupted(f"{STOP_SIGNALS[signal_number]}: {run.writer.model_file} holds the model after "
                                      f"epoch {progress.epoch - 1}; rerun the same command to resume", signal_number)


def _recover_from_divergence(run: RunBase, schedule: LearningRateSchedule, record: dict) -> None:
    """rnnlm's reject-and-halve for an epoch whose entropy exploded: restore the last good weights, halve alpha
    (``schedule.diverged``), mark ``record`` and warn."""
    progress = run.model.training
    restore(run.model, run.backup)
    record["accepted"] = False
    record["diverged"] = True
    entropy = record["valid_entropy"] if record["valid_entropy"] is not None else record["train_entropy"]
    schedule.diverged()
    run.reporter.warning(f"epoch {progress.epoch} diverged (entropy {entropy:.4g} bits per word): restored the last "
                         f"good weights; retrying at alpha {progress.alpha:.6g}")


def training_summary(model_file: str, history: list, seconds: float, threads: int, stopped: str) -> str:
    """The line that ends a training run: the model, its epochs, the best validation perplexity, the run's
    time in seconds, its threads, and why it stopped (``stopped``)."""
    validated = [r for r in history if r.get("valid_ppl") is not None and r.get("accepted", True)]
    best = min(validated, key=lambda r: r["valid_ppl"], default=None)
    quality = (f"best validation PPL {best['valid_ppl']:.2f} (epoch {best['epoch']})" if best is not None
               else "no validation")
    return (f"Trained {model_file}: {len(history)} epoch{'' if len(history) == 1 else 's'}, {quality}, "
            f"{format_seconds(seconds)} on {threads} thread{'' if threads == 1 else 's'}; stopped: {stopped}")

"""Training loop of the RNNLM: rnnlm's learning-rate schedule, checkpoints, interruption and progress.

The schedule (as in the C++ rnnlm): train an epoch at learning rate ``alpha``,
score the validation text; if that made validation worse, restore the weights
of the previous epoch. Once an epoch improves validation log-probability by
less than the factor ``min_improvement``, halve ``alpha`` after every further
epoch; the next time that happens, stop. An epoch whose entropy explodes (or
is not a number) is divergence: its weights are thrown away, the last good
ones restored, and the epoch is retried at half the learning rate.

The model file is written at every epoch end. With ``anti_kasparek = N`` it is
also written every N training words (never spending more than 5% of the time
on it) with the full training state; Ctrl-C and SIGTERM (what batch schedulers
send before they kill a job) write that state too. ``train`` on an unfinished
model file resumes exactly where it stopped, provided the corpus and the
settings are the same (checked by fingerprint), on the threads it was started
with. One training run at a time may write a model path (a lock). The model
file holds no clock (the timings are in the history file): the same command
on one thread writes the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict
from typing import Callable, Iterator, Optional, TextIO

import numpy as np

from ..base import metrics
from ..base.compiling import compiling
from ..base.errors import RnnlmpyError
from ..base.files import (CONTAINER, append_bytes, check_output, check_writable, exclusive_lock,
                          remove_stale_temporaries)
from ..base.progress import ProgressReporter, format_seconds
from ..base.system import check_threads, resolve_threads
from . import network
from .model import RnnlmConfig, RnnlmModel, TrainingProgress, new_model
from .model_file import HISTORY_SUFFIX, TIMING_FIELDS, load_model, save_model
from .hogwild import HogwildEpoch, epoch_slices
from .network import KernelState
from .streams import TokenStream
from .training_text import TextPart, read_training_text
from .vocab import vocabulary_from_counts

PROGRESS_CHUNK = 20_000  # words per kernel call between progress updates
MIN_CHECKPOINT_WORDS = 10_000  # as rnnlm: -anti-kasparek 1..9999 means 10000
CHECKPOINT_TIME_SHARE = 0.05  # checkpoints wait until saving has cost at most this share of the training time
SLOW_OUTPUT_FACTOR = 4  # warn when the output layer costs this many times the square-root-classes layout
RESUMED_SETTINGS = ("hidden_size", "class_count", "activation", "bptt", "bptt_block", "beta", "gradient_cutoff",
                    "min_improvement", "independent", "old_classes", "dtype", "rand_seed", "direct_size",
                    "direct_order", "char_level", "output_layer", "nce_samples", "nce_unigram_power", "nce_lnz",
                    "diagonal_initialization")  # a checkpoint resumes only with these unchanged


class TrainingInterrupted(RnnlmpyError):
    """Ctrl-C or SIGTERM during training: the state was saved; the message says where and how to resume.

    ``exit_status`` is the shell's for that signal (128 + its number: 130 for Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, message: str, signal_number: int = signal.SIGINT):
        super().__init__(message)
        self.signal_number = int(signal_number)
        self.exit_status = 128 + self.signal_number

    def __reduce__(self):  # from a grid's worker process, with its signal
        return type(self), (str(self), self.signal_number)


STOP_SIGNALS = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}


DIVERGENCE_MARGIN_BITS = 2.0  # an entropy this far above a uniform guess's means training has diverged


def divergence_limit(vocab_size: int) -> float:
    """Entropy (bits per word) above which training has diverged: a uniform guess's plus 2 bits."""
    return math.log2(max(vocab_size, 2)) + DIVERGENCE_MARGIN_BITS


def _class_count_for(distinct: int, config: RnnlmConfig, reporter: ProgressReporter) -> None:
    """Settle ``config.class_count`` for ``distinct`` training words: the square root of the vocabulary by
    default; say so when -class is more than the words (one class per word) or makes the output layer much
    slower than necessary."""
    if config.output_layer != "class":
        if config.class_count not in (None, 1):
            raise RnnlmpyError(f"-class has no meaning with -{config.output_layer} (it needs no word classes)")
        config.class_count = 1
        return
    if config.class_count is None:
        config.class_count = max(1, int(round(math.sqrt(distinct))))
        reporter.message(f"classes: {config.class_count} (the square root of the {distinct:,}-word vocabulary; "
                         "set -class to choose)")
        return
    if config.class_count > distinct:
        reporter.warning(f"-class {config.class_count:,} is more than the {distinct:,} words of the vocabulary: "
                         f"every word gets a class of its own ({distinct:,} classes)")
        return
    cost = config.class_count + distinct / config.class_count
    best = 2 * math.sqrt(distinct)
    if cost > SLOW_OUTPUT_FACTOR * best:
        reporter.warning(f"-class {config.class_count:,} makes each word's output layer about {cost / best:.0f}x "
                         f"the work of -class {int(round(math.sqrt(distinct)))} (the square root of the "
                         f"{distinct:,}-word vocabulary): training will be that much slower")


def _resume_or_create(model_file: str, train: TextPart, config: RnnlmConfig, fingerprint: str,
                      reporter: ProgressReporter, force: bool) -> RnnlmModel:
    if force or not os.path.exists(model_file):
        words, counts = train.vocabulary_counts()
        _class_count_for(len(words), config, reporter)
        return new_model(config, vocabulary_from_counts(words, counts, config.class_count, config.old_classes))
    model = load_model(model_file)
    progress = model.training
    if progress.finished:
        raise RnnlmpyError(f"model {model_file!r} has finished training ({len(progress.history)} epochs); "
                           "use -force to train it anew, or -rnnlm to choose another path")
    if not progress.corpus_sha256:
        raise RnnlmpyError(f"model {model_file!r} is unfinished but does not say which text it was trained on "
                           "(it has no corpus fingerprint), so it cannot be resumed; use -force to start anew")
    if progress.corpus_sha256 != fingerprint:
        raise RnnlmpyError(f"model {model_file!r} is a checkpoint of training on other text (training file, "
                           "validation file or held-out split differ); resume with the same files and -rand-seed, "
                           "or use -force to start anew")
    if model.resume_state and progress.position > 0:  # the kernel states' stream positions, against this text
        problem = None
        if progress.slices and progress.slices[-1][1] != len(train):
            problem = f"its thread slices end at word {progress.slices[-1][1]}, not {len(train)}"
        elif progress.position > len(train):
            problem = f"its position {progress.position} is past the end of the text"
        for index in range(max(len(progress.slices), 1)):
            prefix = _state_prefix(index)
            try:
                KernelState.from_arrays({k[len(prefix):]: v for k, v in model.resume_state.items()
                                         if k.startswith(prefix)}, model.config, positions=len(train))
            except ValueError as error:
                problem = problem or f"resume/{prefix}: {error}"
        if problem:
            raise RnnlmpyError(f"model {model_file!r} is a damaged checkpoint ({problem}); use -force to start anew")
    stored, given = asdict(model.config), asdict(config)
    changed = [name for name in RESUMED_SETTINGS
               if given[name] != stored[name] and not (name == "class_count" and given[name] is None)]
    if changed:
        details = ", ".join(f"{name} {stored[name]} (now {given[name]})" for name in changed)
        raise RnnlmpyError(f"model {model_file!r} is a checkpoint with other settings: {details}; resume with the "
                           "same settings, or use -force to start anew")
    return model


def append_history(path: str, record: dict) -> None:
    """Append one epoch record as a JSON line (the model's ``.history.jsonl``)."""
    line = json.dumps({**record, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n"
    append_bytes(path, line.encode("utf-8"))


@contextlib.contextmanager
def _interrupt_flag() -> Iterator[Callable[[], int]]:
    """While training, Ctrl-C or SIGTERM only raises a flag (checked between kernel calls): the callable
    returns the signal's number, 0 while none came. A second signal stops at once (KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return
    raised = []

    def handler(signum, frame):
        if raised:
            raise KeyboardInterrupt
        raised.append(signum)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield lambda: raised[0] if raised else 0
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


def train(train_file: str, model_file: str, valid_file: Optional[str] = None, config: Optional[RnnlmConfig] = None,
          one_iter: bool = False, max_iter: Optional[int] = None, anti_kasparek: int = 0,
          alpha: Optional[float] = None, debug: int = 1, log: Optional[TextIO] = None,
          on_progress: Optional[Callable[[RnnlmModel], None]] = None, force: bool = False,
          other_inputs: tuple = (), model_note: str = "", threads: Optional[int] = None,
          cross_validation: Optional[tuple[int, int, int]] = None) -> RnnlmModel:
    """Train an RNNLM on ``train_file`` and write it to ``model_file``; return the model.

    If ``model_file`` holds an unfinished rnnlmpy model of the same corpus and
    settings, training resumes from it (``alpha``, if given, replaces the
    current learning rate). ``valid_file`` drives the learning-rate schedule;
    without it, 5% of the training lines (chosen by the seed) are held out for
    it. ``on_progress`` is called after every kernel call (about every 20,000
    words). ``force`` starts anew even if ``model_file`` exists (never over one
    of the inputs: ``other_inputs`` names more of them). Every epoch's record is
    appended to ``model_file + ".history.jsonl"`` once that epoch is saved.
    ``model_note`` is added to the line that names the model file.
    ``threads`` trains that many slices of each epoch at once on the shared
    weights (hogwild; None: ``default_threads(every_core=False)``, one unless
    ``$RNNLMPY_THREADS`` says otherwise, or the count an unfinished model was
    started with); one thread is reproducible bit for bit, and an unfinished
    model resumes only on the threads it was started with.
    ``cross_validation`` = (fold, folds, seed) validates on that fold of the
    training lines instead of ``valid_file`` (see ``training_text.fold_lines``).
    Ends with one summary line (epochs, best validation perplexity, time, why it stopped).
    Raises TrainingInterrupted after Ctrl-C or SIGTERM (the state is saved first).
    """
    if cross_validation is not None and (valid_file is not None or one_iter):
        raise RnnlmpyError("cross-validation holds out its own lines: give no -valid and no -one-iter")
    config = config or RnnlmConfig()
    config.validate()
    if max_iter is not None and max_iter < 1:
        raise RnnlmpyError(f"-max-iter must be at least 1 (got {max_iter})")
    if one_iter and max_iter is not None:
        raise RnnlmpyError("-one-iter trains exactly one pass; give either -one-iter or -max-iter, not both")
    if anti_kasparek < 0:
        raise RnnlmpyError(f"-anti-kasparek must be 0 (off) or a number of words (got {anti_kasparek})")
    if 0 < anti_kasparek < MIN_CHECKPOINT_WORDS:
        anti_kasparek = MIN_CHECKPOINT_WORDS
    if threads is not None:
        check_threads(threads)
    else:
        resolve_threads(None, every_core=False)  # a bad $RNNLMPY_THREADS fails now, not after reading the corpus
    check_output(model_file, [CONTAINER], [train_file, valid_file, *other_inputs], force, "an rnnlmpy model")
    reporter = ProgressReporter(debug, log)
    with exclusive_lock(model_file), reporter.closing():
        for stale in remove_stale_temporaries(model_file):
            reporter.message(f"removed {stale} (left by an interrupted save)")
        return _train_locked(train_file, model_file, valid_file, config, one_iter, max_iter, anti_kasparek, alpha,
                             reporter, on_progress, force, model_note, threads, cross_validation)


def _train_locked(train_file, model_file, valid_file, config, one_iter, max_iter, anti_kasparek, alpha, reporter,
                  on_progress, force, model_note, threads, cross_validation) -> RnnlmModel:
    started = time.perf_counter()
    held_out_seed = config.rand_seed if valid_file is None and not one_iter else None
    text = read_training_text(train_file, valid_file, held_out_seed, config.char_level, cross_validation)
    valid_name = os.path.abspath(valid_file) if valid_file else ""
    notices = []  # said once every check has passed, so that an error is the only line after the command
    if cross_validation is not None:
        fold, folds, seed = cross_validation
        valid_name = f"cross-validation fold {fold + 1} of {folds}: {len(text.held_lines)} lines (seed {seed})"
        notices.append(f"Validating on {valid_name}")
    elif text.held_lines is not None:
        held, lines = text.held_lines, text.line_count
        valid_name = f"held-out: {len(held)} of the {lines} training lines (-rand-seed {config.rand_seed})"
        notices.append(f"No -valid given: holding out {len(held):,} of the {lines:,} training lines "
                       f"({100 * len(held) / lines:.1f}%, chosen by -rand-seed {config.rand_seed}; first lines "
                       f"{', '.join(str(i + 1) for i in held[:5])}{', ...' if len(held) > 5 else ''}) "
                       "for the learning-rate schedule")

    resuming = not force and os.path.exists(model_file)
    model = _resume_or_create(model_file, text.train, config, text.fingerprint, reporter, force)
    config = model.config
    progress = model.training
    threads = _training_threads(progress, threads, model_file)
    if alpha is not None:
        progress.alpha = alpha
    progress.train_file, progress.train_words = os.path.abspath(train_file), len(text.train)
    progress.valid_file = valid_name
    progress.corpus_sha256 = text.fingerprint
    vocabulary = model.vocabulary
    train_stream = text.train.to_stream(vocabulary)
    valid_stream = text.valid.to_stream(vocabulary) if text.valid is not None else None
    if valid_stream is not None and not np.any(valid_stream.targets >= 0):
        raise RnnlmpyError(f"validation file {valid_file!r} has no word of the training vocabulary")

    if model.resume_state and progress.position > 0:
        if not progress.slices:  # a checkpoint of one thread, written before slices were kept
            progress.slices = [[0, len(train_stream), progress.position]]
        _check_slices(progress.slices, len(train_stream), model_file)
        states = [KernelState.from_arrays({k[len(_state_prefix(index)):]: v for k, v in model.resume_state.items()
                                           if k.startswith(_state_prefix(index))})
                  for index in range(len(progress.slices))]
        backup = {k[len("backup/"):]: v.copy() for k, v in model.resume_state.items() if k.startswith("backup/")}
    else:
        states = [KernelState.fresh(config)]
        backup = _snapshot(model)
    model.resume_state = {}
    if resuming:
        reporter.message(f"Resuming {model_file} at epoch {progress.epoch}, "
                         f"word {progress.position:,} of {len(train_stream):,}")
    for notice in notices:
        reporter.message(notice)
    reporter.message(f"Model: {model_file}{model_note}")
    reporter.message(f"Vocab size: {vocabulary.size}  classes: {vocabulary.class_count}  "
                     f"hidden: {config.hidden_size} ({config.activation})  bptt: {config.bptt}  "
                     f"bptt-block: {config.bptt_block}  parameters: {model.parameter_count:,}")
    reporter.message(f"Words in train file: {len(train_stream)}")
    reporter.message(f"Threads: {threads} " + ("(the same command trains the same model; -threads N trains on N "
                                               "slices at once, faster but not reproducible)" if threads == 1 else
                                               "(hogwild: faster, but the model differs from run to run)"))
    _compile_kernels(model, train_stream, valid_stream, states[0], reporter)
    history_file = model_file + HISTORY_SUFFIX
    check_writable(history_file)  # before any epoch: a FIFO or device there would fail the first save's append
    limit = divergence_limit(vocabulary.size)
    earlier_history = [] if resuming else [history_file]  # an earlier model's history, removed once this one is saved

    def write_model() -> None:
        """Save the model; the first time a new model is saved, the history file of the one it replaced ends."""
        save_model(model, model_file)
        while earlier_history:
            with contextlib.suppress(FileNotFoundError):
                os.remove(earlier_history.pop())

    def keep(record: dict) -> None:
        """An epoch ends: its record (less the timings) joins the model's history, the model is saved, then the
        whole record joins the history file."""
        progress.history.append({name: value for name, value in record.items() if name not in TIMING_FIELDS})
        write_model()
        append_history(history_file, record)

    stopped = ""
    with _interrupt_flag() as interrupted:
        while not progress.finished:
            if max_iter is not None and progress.epoch >= max_iter:
                progress.finished = True
                stopped = f"-max-iter {max_iter} reached"
                break
            if progress.position == 0:
                progress.slices = epoch_slices(train_stream, threads)
                states = [KernelState.fresh(config, epoch=progress.epoch, thread=index)
                          for index in range(len(progress.slices))]
                progress.epoch_log10, progress.epoch_scored = 0.0, 0
            seconds, words, diverged = _train_epoch(model, train_stream, states, backup, model_file, write_model,
                                                    anti_kasparek, reporter, on_progress, interrupted, limit,
                                                    threads)
            record = {
                "epoch": progress.epoch,
                "alpha": progress.alpha,
                "train_entropy": metrics.entropy_bits(progress.epoch_log10, progress.epoch_scored),
                "words_per_second": words / max(seconds, 1e-9),
                "seconds": seconds,
                "valid_entropy": None,
                "valid_ppl": None,
                "accepted": True,
                "threads": threads,
            }
            progress.position, progress.slices = 0, []
            if not diverged and not one_iter:
                valid_log10, valid_scored, final_hidden = _validate(model, valid_stream)
                record["valid_entropy"] = metrics.entropy_bits(valid_log10, valid_scored)
                record["valid_ppl"] = metrics.perplexity(valid_log10, valid_scored)
                diverged = not record["valid_entropy"] <= limit
            if diverged:
                _recover_from_divergence(model, backup, record, reporter)
                keep(record)
                continue
            if one_iter:
                progress.finished = True
                stopped = "-one-iter (one pass, no validation)"
                keep(record)
                reporter.epoch_done(record)
                break
            model.hidden_state = final_hidden
            record["accepted"] = bool(valid_log10 >= progress.last_valid_log10)
            if record["accepted"]:
                backup = _snapshot(model)
            else:
                _restore(model, backup)
            stop = False
            if valid_log10 * config.min_improvement < progress.last_valid_log10:
                if progress.halving:
                    stop = True
                else:
                    progress.halving = True
            if progress.halving and not stop:
                progress.alpha /= 2
            progress.last_valid_log10 = valid_log10
            if stop:
                progress.finished = True
                stopped = (f"converged (validation improved by less than -min-improvement {config.min_improvement:g} "
                           "a second time)")
            else:
                progress.epoch += 1
            keep(record)
            reporter.epoch_done(record)
            signal_number = interrupted()
            if signal_number and not progress.finished:
                raise TrainingInterrupted(f"{STOP_SIGNALS[signal_number]}: {model_file} holds the model after epoch "
                                          f"{progress.epoch - 1}; rerun the same command to resume", signal_number)
    write_model()
    reporter.message(training_summary(model_file, progress.history, time.perf_counter() - started, threads, stopped))
    return model


def _training_threads(progress: TrainingProgress, threads: Optional[int], model_file: str) -> int:
    """The threads to train on: those an unfinished model was started with (``threads``, if given, must be
    the same: the thread count is part of how a model is trained), else ``threads`` or the default; recorded
    in ``progress``."""
    if progress.threads and threads is not None and threads != progress.threads:
        raise RnnlmpyError(f"model {model_file!r} is a checkpoint of training on {progress.threads} thread"
                           f"{'s' if progress.threads > 1 else ''}; resume without -threads (or with -threads "
                           f"{progress.threads}), or use -force to start anew")
    progress.threads = progress.threads or resolve_threads(threads, every_core=False)
    return progress.threads


def training_summary(model_file: str, history: list, seconds: float, threads: int, stopped: str) -> str:
    """The line that ends a training run: the model, its epochs, the best validation perplexity, the run's
    time in seconds, its threads, and why it stopped (``stopped``)."""
    validated = [r for r in history if r.get("valid_ppl") is not None and r.get("accepted", True)]
    best = min(validated, key=lambda r: r["valid_ppl"], default=None)
    quality = (f"best validation PPL {best['valid_ppl']:.2f} (epoch {best['epoch']})" if best is not None
               else "no validation")
    return (f"Trained {model_file}: {len(history)} epoch{'' if len(history) == 1 else 's'}, {quality}, "
            f"{format_seconds(seconds)} on {threads} thread{'' if threads == 1 else 's'}; stopped: {stopped}")


MIN_ALPHA_SHARE = 1e-6  # divergence halves alpha; below this share of the starting alpha, give up


def _recover_from_divergence(model: RnnlmModel, backup: dict[str, np.ndarray], record: dict,
                             reporter: ProgressReporter) -> None:
    """rnnlm's reject-and-halve for an epoch whose entropy exploded: restore the last good weights, halve alpha."""
    progress = model.training
    _restore(model, backup)
    record["accepted"] = False
    record["diverged"] = True
    entropy = record["valid_entropy"] if record["valid_entropy"] is not None else record["train_entropy"]
    progress.alpha /= 2
    if progress.alpha < MIN_ALPHA_SHARE * model.config.alpha:
        raise RnnlmpyError(f"training diverges even at alpha {progress.alpha:.3g}; the model file keeps the last "
                           "good weights; try a smaller -alpha or -gradient-cutoff")
    reporter.warning(f"epoch {progress.epoch} diverged (entropy {entropy:.4g} bits per word): restored the last "
                     f"good weights; retrying at alpha {progress.alpha:.6g}")


def _check_slices(slices: list, total: int, model_file: str) -> None:
    """A checkpoint's thread slices must tile the training positions in order; RnnlmpyError if not."""
    expected_begin = 0
    for item in slices:
        if (not isinstance(item, list) or len(item) != 3 or not all(isinstance(x, int) for x in item)
                or item[0] != expected_begin or not item[0] <= item[2] <= item[1]):
            raise RnnlmpyError(f"model {model_file!r} is a damaged checkpoint (its thread slices do not cover the "
                               "training text); use -force to start anew")
        expected_begin = item[1]
    if expected_begin != total:
        raise RnnlmpyError(f"model {model_file!r} is a damaged checkpoint (its thread slices do not cover the "
                           "training text); use -force to start anew")


def _compile_kernels(model: RnnlmModel, train_stream: TokenStream, valid_stream: Optional[TokenStream],
                     state: KernelState, reporter: ProgressReporter) -> None:
    """Get the kernels compiled (or loaded from Numba's cache) before any timing starts, saying so when they are
    compiled (``base.compiling``)."""
    with compiling(reporter.message):
        network.warm_up(model, train_stream, valid_stream, state)


def _snapshot(model: RnnlmModel) -> dict[str, np.ndarray]:
    arrays = {name: value.copy() for name, value in model.weights().items()}
    arrays["hidden_state"] = model.hidden_state.copy()
    return arrays


def _restore(model: RnnlmModel, backup: dict[str, np.ndarray]) -> None:
    for name, value in backup.items():
        getattr(model, name)[...] = value


def _train_epoch(model: RnnlmModel, stream: TokenStream, states: list[KernelState], backup: dict[str, np.ndarray],
                 model_file: str, write_model: Callable[[], None], anti_kasparek: int, reporter: ProgressReporter,
                 on_progress: Optional[Callable[[RnnlmModel], None]], interrupted: Callable[[], int],
                 limit: float, threads: int) -> tuple[float, int, bool]:
    """Train every slice of ``model.training.slices`` from its next position to its end.

    ``threads`` threads train the slices, slice k with ``states[k]`` (see
    ``hogwild``; a checkpoint's slices may be more or fewer); one thread runs
    in this thread alone, exactly as a single pass. The threads meet
    every PROGRESS_CHUNK words each, for progress, checks and checkpoints.
    Returns (seconds, words trained, diverged). Checkpoints (through
    ``write_model``, which saves the model to ``model_file``) every
    ``anti_kasparek`` words (0: never) once saving has cost at most 5% of the
    time so far; on ``interrupted()`` saves a checkpoint and raises TrainingInterrupted.
    """
    progress = model.training
    total = len(stream)
    started = time.perf_counter()
    first_position = progress.position
    next_checkpoint = progress.position + anti_kasparek if anti_kasparek else total
    saving_seconds = 0.0
    epoch = HogwildEpoch(model, stream, progress.slices, states, threads)
    try:
        while progress.position < total:
            log10_sum, scored, trained = epoch.train_round(min(PROGRESS_CHUNK, next_checkpoint - progress.position),
                                                           progress.alpha)
            progress.position += trained
            stop = progress.position
            progress.epoch_log10 += log10_sum
            progress.epoch_scored += scored
            if not metrics.entropy_bits(log10_sum, scored) <= limit:
                progress.epoch_log10, progress.epoch_scored = log10_sum, scored
                return time.perf_counter() - started, stop - first_position, True
            elapsed = time.perf_counter() - started
            speed = (stop - first_position) / max(elapsed, 1e-9)
            reporter.running(progress.epoch, progress.alpha,
                             metrics.entropy_bits(progress.epoch_log10, progress.epoch_scored),
                             stop / total, speed, (total - stop) / max(speed, 1e-9))
            signal_number = interrupted()
            if stop < total and signal_number:
                _save_checkpoint(model, states, backup, write_model)
                raise TrainingInterrupted(f"{STOP_SIGNALS[signal_number]}: saved the training state in {model_file} "
                                          f"(epoch {progress.epoch}, word {stop:,} of {total:,}); rerun the same "
                                          "command to resume exactly there", signal_number)
            if stop >= next_checkpoint and stop < total:
                if saving_seconds <= CHECKPOINT_TIME_SHARE * elapsed:
                    saved = time.perf_counter()
                    _save_checkpoint(model, states, backup, write_model)
                    saving_seconds += time.perf_counter() - saved
                next_checkpoint = stop + anti_kasparek
            if on_progress is not None:
                on_progress(model)
    finally:
        epoch.close()
    return time.perf_counter() - started, total - first_position, False


def _save_checkpoint(model: RnnlmModel, states: list[KernelState], backup: dict[str, np.ndarray],
                     write_model: Callable[[], None]) -> None:
    """Write the model (``write_model``) with every thread's kernel state and the last epoch's weights, so that
    training resumes where it stopped (exactly, for one thread)."""
    model.resume_state = {**{f"{_state_prefix(index)}{k}": v for index, state in enumerate(states)
                             for k, v in state.arrays().items()},
                          **{f"backup/{k}": v for k, v in backup.items()}}
    try:
        write_model()
    finally:
        model.resume_state = {}


def _state_prefix(thread: int) -> str:
    """Prefix of thread ``thread``'s kernel state in a checkpoint (thread 0's is that of one-thread checkpoints)."""
    return "kernel/" if thread == 0 else f"kernel{thread}/"


def _validate(model: RnnlmModel, stream: TokenStream) -> tuple[float, int, np.ndarray]:
    """Sum of log10 P over the scored validation tokens, their number, and the final state."""
    probabilities, hidden = network.score_stream(model, stream, network.start_state(model.config, flush=True))
    scored = stream.targets >= 0
    return metrics.log10_sum(probabilities[scored]), int(np.count_nonzero(scored)), hidden

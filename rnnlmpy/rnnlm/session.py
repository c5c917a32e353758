"""A training session's set-up: interruption by signal, reading the texts, and a new model or a resumed one.

``train`` on an unfinished model file resumes exactly where it stopped,
provided the corpus and the settings are the same (checked by fingerprint),
on the threads it was started with; ``resume_or_create`` makes those checks.
Ctrl-C and SIGTERM (what batch schedulers send before they kill a job) only
raise a flag while training runs (``interrupt_flag``); the loop saves and
raises TrainingInterrupted.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from dataclasses import asdict
from typing import Callable, Iterator, Optional

from ..base.errors import RnnlmpyError, StoppedBySignal, Terminated
from ..base.progress import ProgressReporter
from ..base.system import resolve_threads
from .batched_streams import checkpoint_position_problem
from .checkpoints import state_prefix
from .model import RnnlmConfig, RnnlmModel, TrainingProgress, new_model
from .model_file import load_model
from .network import KernelState
from .options import RunOptions
from .training_text import TextPart, TrainingText, read_training_text
from .vocab import vocabulary_from_counts

SLOW_OUTPUT_FACTOR = 4  # warn when the output layer costs this many times the square-root-classes layout
RESUMED_SETTINGS = ("hidden_size", "class_count", "activation", "bptt", "bptt_block", "beta", "gradient_cutoff",
                    "min_improvement", "independent", "old_classes", "dtype", "rand_seed", "direct_size",
                    "direct_order", "char_level", "output_layer", "nce_samples", "nce_unigram_power", "nce_lnz",
                    "diagonal_initialization", "layers", "dropout", "optimizer", "batch", "clip_norm",
                    "tie_weights", "product_precision")  # a checkpoint resumes only with these unchanged
STOP_SIGNALS = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}


class TrainingInterrupted(StoppedBySignal):
    """Ctrl-C or SIGTERM during training: the state was saved; the message says where and how to resume."""


@contextlib.contextmanager
def interrupt_flag() -> Iterator[Callable[[], int]]:
    """While training, Ctrl-C or SIGTERM only raises a flag (checked between kernel calls): the callable
    returns the signal's number, 0 while none came. A second signal stops at once (KeyboardInterrupt, or
    Terminated for SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return
    raised = []

    def handler(signum, frame):
        if raised:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        raised.append(signum)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield lambda: raised[0] if raised else 0
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


def read_text(train_file: str, valid_file: Optional[str], config: RnnlmConfig,
              options: RunOptions) -> tuple[TrainingText, str, list[str]]:
    """Read the training and validation text; return it, the validation text's name (as the model records
    it) and the notices to print once every check has passed (how the validation lines were chosen)."""
    held_out_seed = config.rand_seed if valid_file is None and not options.one_iter else None
    text = read_training_text(train_file, valid_file, held_out_seed, config.char_level, options.cross_validation)
    valid_name = os.path.abspath(valid_file) if valid_file else ""
    notices = []
    if options.cross_validation is not None:
        fold, folds, seed = options.cross_validation
        valid_name = f"cross-validation fold {fold + 1} of {folds}: {len(text.held_lines)} lines (seed {seed})"
        notices.append(f"Validating on {valid_name}")
    elif text.held_lines is not None:
        held, lines = text.held_lines, text.line_count
        valid_name = f"held-out: {len(held)} of the {lines} training lines (-rand-seed {config.rand_seed})"
        notices.append(f"No -valid given: holding out {len(held):,} of the {lines:,} training lines "
                       f"({100 * len(held) / lines:.1f}%, chosen by -rand-seed {config.rand_seed}; first lines "
                       f"{', '.join(str(i + 1) for i in held[:5])}{', ...' if len(held) > 5 else ''}) "
                       "for the learning-rate schedule")
    return text, valid_name, notices


def class_count_for(distinct: int, config: RnnlmConfig, reporter: ProgressReporter) -> None:
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


def resume_or_create(model_file: str, train: TextPart, config: RnnlmConfig, fingerprint: str,
                     reporter: ProgressReporter, force: bool) -> RnnlmModel:
    """A new model of ``config`` (with ``force``, or when ``model_file`` does not exist), else the unfinished
    model at ``model_file``, checked to be a checkpoint of this text (``fingerprint``) and these settings."""
    if force or not os.path.exists(model_file):
        words, counts = train.vocabulary_counts()
        class_count_for(len(words), config, reporter)
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
    if model.resume_state and progress.position > 0 and model.config.batched:
        problem = checkpoint_position_problem(progress.position, len(train), model.config.batch, model.config.bptt)
        if problem:
            raise RnnlmpyError(f"model {model_file!r} is a damaged checkpoint ({problem}); use -force to start anew")
    if model.resume_state and progress.position > 0 and not model.config.batched:  # the kernel states' stream
        # positions, against this text
        problem = None
        if progress.slices and progress.slices[-1][1] != len(train):
            problem = f"its thread slices end at word {progress.slices[-1][1]}, not {len(train)}"
        elif progress.position > len(train):
            problem = f"its position {progress.position} is past the end of the text"
        for index in range(max(len(progress.slices), 1)):
            prefix = state_prefix(index)
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


def training_threads(progress: TrainingProgress, threads: Optional[int], model_file: str) -> int:
    """The threads to train on: those an unfinished model was started with (``threads``, if given, must be
    the same: the thread count is part of how a model is trained), else ``threads`` or the default; recorded
    in ``progress``."""
    if progress.threads and threads is not None and threads != progress.threads:
        raise RnnlmpyError(f"model {model_file!r} is a checkpoint of training on {progress.threads} thread"
                           f"{'s' if progress.threads > 1 else ''}; resume without -threads (or with -threads "
                           f"{progress.threads}), or use -force to start anew")
    progress.threads = progress.threads or resolve_threads(threads, every_core=False)
    return progress.threads

"""Training loop of the RNNLM: rnnlm's learning-rate schedule, checkpoints and progress.

The schedule (as in the C++ rnnlm): train an epoch at learning rate ``alpha``,
score the validation text; if that made validation worse, restore the weights
of the previous epoch. Once an epoch improves validation log-probability by
less than the factor ``min_improvement``, halve ``alpha`` after every further
epoch; the next time that happens, stop.

With ``anti_kasparek = N`` the model file is rewritten every N training words
with the full training state, and ``train`` on an existing model file resumes
from it, exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Callable, Optional, TextIO

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.files import CONTAINER, sniff
from ..base.progress import ProgressReporter
from ..base.text import SENTENCE_END, read_corpus, token_lines
from . import network
from .model import RnnlmConfig, RnnlmModel, new_model
from .model_file import load_model, save_model
from .network import KernelState
from .streams import TokenStream, language_model_stream
from .vocab import build_vocabulary

PROGRESS_CHUNK = 20_000  # words per kernel call between progress updates
MIN_CHECKPOINT_WORDS = 10_000  # as rnnlm: -anti-kasparek 1..9999 means 10000


def _check_output_path(model_file: str) -> None:
    folder = os.path.dirname(os.path.abspath(model_file))
    if not os.path.isdir(folder):
        raise RnnlmpyError(f"cannot write model {model_file!r}: folder {folder!r} does not exist")
    if os.path.isdir(model_file):
        raise RnnlmpyError(f"model path {model_file!r} is a directory")


def _resume_or_create(model_file: str, train_tokens: list[str], config: RnnlmConfig, reporter: ProgressReporter,
                      force: bool) -> RnnlmModel:
    if force or not os.path.exists(model_file):
        if config.class_count is None:
            distinct = len(set(train_tokens))
            config.class_count = max(1, int(round(math.sqrt(distinct))))
            reporter.message(f"classes: {config.class_count} (the square root of the {distinct:,}-word vocabulary; "
                             "set -class to choose)")
        vocabulary = build_vocabulary(train_tokens, config.class_count, config.old_classes)
        return new_model(config, vocabulary)
    if sniff(model_file) != CONTAINER:
        raise RnnlmpyError(f"{model_file!r} exists and is not an rnnlmpy model; refusing to overwrite it "
                           "(use -force to replace it, or -rnnlm to choose another path)")
    model = load_model(model_file)
    if model.training.finished:
        raise RnnlmpyError(f"model {model_file!r} has finished training ({model.training.epoch} epochs); "
                           "use -force to train it anew, or -rnnlm to choose another path")
    if model.training.train_words != len(train_tokens):
        raise RnnlmpyError(f"model {model_file!r} was trained on {model.training.train_words} words, but the "
                           f"training file has {len(train_tokens)}; resume with the same training file "
                           "(or use -force to start anew)")
    reporter.message(f"Resuming {model_file} at epoch {model.training.epoch}, "
                     f"word {model.training.position} of {len(train_tokens)}")
    return model


HOLD_OUT_SHARE = 0.05  # without -valid: this share of the training lines, at most HOLD_OUT_MAX_LINES
HOLD_OUT_MAX_LINES = 5_000


def hold_out(tokens: list[str], seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Split a token stream's lines into (training tokens, held-out tokens, held-out line numbers).

    5% of the lines (at least 1, at most 5,000; a single line is an error)
    chosen by ``seed``: the same seed always holds out the same lines.
    """
    lines = [[*line, SENTENCE_END] for line in token_lines(tokens)]
    if len(lines) < 2:
        raise RnnlmpyError("the training file has a single line: give -valid FILE (or -one-iter)")
    count = min(max(1, int(round(len(lines) * HOLD_OUT_SHARE))), HOLD_OUT_MAX_LINES)
    held = np.sort(np.random.default_rng(seed).choice(len(lines), size=count, replace=False))
    held_set = set(held.tolist())
    train_part = [t for i, line in enumerate(lines) if i not in held_set for t in line]
    valid_part = [t for i in held.tolist() for t in lines[i]]
    return train_part, valid_part, held


def append_history(path: str, record: dict) -> None:
    """Append one epoch record as a JSON line (the model's ``.history.jsonl``)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({**record, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


def train(train_file: str, model_file: str, valid_file: Optional[str] = None, config: Optional[RnnlmConfig] = None,
          one_iter: bool = False, max_iter: Optional[int] = None, anti_kasparek: int = 0,
          alpha: Optional[float] = None, debug: int = 1, log: Optional[TextIO] = None,
          on_progress: Optional[Callable[[RnnlmModel], None]] = None, force: bool = False) -> RnnlmModel:
    """Train an RNNLM on ``train_file`` and write it to ``model_file``; return the model.

    If ``model_file`` holds an unfinished rnnlmpy model, training resumes from
    it (its stored settings win over ``config``; ``alpha``, if given, replaces
    the current learning rate). ``valid_file`` drives the learning-rate
    schedule; without it, 5% of the training lines (chosen by the seed) are
    held out for it. ``on_progress`` is called after every kernel call (about
    every 20,000 words). ``force`` starts anew even if ``model_file`` exists.
    Every epoch's record is also appended to ``model_file + ".history.jsonl"``.
    """
    config = config or RnnlmConfig()
    config.validate()
    reporter = ProgressReporter(debug, log)
    if max_iter is not None and max_iter < 1:
        raise RnnlmpyError(f"-max-iter must be at least 1 (got {max_iter})")
    if anti_kasparek < 0:
        raise RnnlmpyError(f"-anti-kasparek must be 0 (off) or a number of words (got {anti_kasparek})")
    if 0 < anti_kasparek < MIN_CHECKPOINT_WORDS:
        anti_kasparek = MIN_CHECKPOINT_WORDS
    _check_output_path(model_file)
    train_tokens = read_corpus(train_file, "training file", char_level=config.char_level)
    valid_tokens = (read_corpus(valid_file, "validation file", char_level=config.char_level)
                    if valid_file is not None else None)
    valid_name = os.path.abspath(valid_file) if valid_file else ""
    if valid_file is None and not one_iter:
        train_tokens, valid_tokens, held = hold_out(train_tokens, config.rand_seed)
        lines = len(held) + train_tokens.count(SENTENCE_END)
        valid_name = f"held-out: {len(held)} of the {lines} training lines (-rand-seed {config.rand_seed})"
        reporter.message(f"No -valid given: holding out {len(held):,} of the {lines:,} training lines "
                         f"({100 * len(held) / lines:.1f}%, chosen by -rand-seed {config.rand_seed}; first lines "
                         f"{', '.join(str(i + 1) for i in held[:5])}{', ...' if len(held) > 5 else ''}) "
                         "for the learning-rate schedule")

    model = _resume_or_create(model_file, train_tokens, config, reporter, force)
    config = model.config
    progress = model.training
    if alpha is not None:
        progress.alpha = alpha
    progress.train_file, progress.train_words = os.path.abspath(train_file), len(train_tokens)
    progress.valid_file = valid_name
    vocabulary = model.vocabulary
    train_stream = language_model_stream(vocabulary.encode(train_tokens))
    valid_stream = language_model_stream(vocabulary.encode(valid_tokens)) if valid_tokens is not None else None
    if valid_stream is not None and not np.any(valid_stream.targets >= 0):
        raise RnnlmpyError(f"validation file {valid_file!r} has no word of the training vocabulary")
    reporter.message(f"Vocab size: {vocabulary.size}  classes: {vocabulary.class_count}  "
                     f"hidden: {config.hidden_size} ({config.activation})  bptt: {config.bptt}  "
                     f"bptt-block: {config.bptt_block}  parameters: {model.parameter_count:,}")
    reporter.message(f"Words in train file: {len(train_stream)}")

    if model.resume_state and progress.position > 0:
        state = KernelState.from_arrays({k[len("kernel/"):]: v for k, v in model.resume_state.items()
                                         if k.startswith("kernel/")})
        backup = {k[len("backup/"):]: v.copy() for k, v in model.resume_state.items() if k.startswith("backup/")}
    else:
        state = KernelState.fresh(config)
        backup = _snapshot(model)
    model.resume_state = {}

    while not progress.finished:
        if max_iter is not None and progress.epoch >= max_iter:
            progress.finished = True
            break
        if progress.position == 0:
            state = KernelState.fresh(config)
            progress.epoch_log10, progress.epoch_scored = 0.0, 0
        seconds, words = _train_epoch(model, train_stream, state, backup, model_file, anti_kasparek, reporter,
                                      on_progress)
        record = {
            "epoch": progress.epoch,
            "alpha": progress.alpha,
            "train_entropy": metrics.entropy_bits(progress.epoch_log10, progress.epoch_scored),
            "words_per_second": words / max(seconds, 1e-9),
            "seconds": seconds,
            "valid_entropy": None,
            "valid_ppl": None,
            "accepted": True,
        }
        progress.position = 0
        if one_iter:
            progress.finished = True
            progress.history.append(record)
            append_history(model_file + ".history.jsonl", record)
            reporter.epoch_done(record)
            break
        valid_log10, valid_scored, final_hidden = _validate(model, valid_stream)
        model.hidden_state = final_hidden
        record["valid_entropy"] = metrics.entropy_bits(valid_log10, valid_scored)
        record["valid_ppl"] = metrics.perplexity(valid_log10, valid_scored)
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
        progress.history.append(record)
        append_history(model_file + ".history.jsonl", record)
        reporter.epoch_done(record)
        if stop:
            progress.finished = True
        else:
            progress.epoch += 1
            save_model(model, model_file)
    save_model(model, model_file)
    return model


def _snapshot(model: RnnlmModel) -> dict[str, np.ndarray]:
    arrays = {name: value.copy() for name, value in model.weights().items()}
    arrays["hidden_state"] = model.hidden_state.copy()
    return arrays


def _restore(model: RnnlmModel, backup: dict[str, np.ndarray]) -> None:
    for name, value in backup.items():
        getattr(model, name)[...] = value


def _train_epoch(model: RnnlmModel, stream: TokenStream, state: KernelState, backup: dict[str, np.ndarray],
                 model_file: str, anti_kasparek: int, reporter: ProgressReporter,
                 on_progress: Optional[Callable[[RnnlmModel], None]]) -> tuple[float, int]:
    """Train from ``model.training.position`` to the end of the stream; return (seconds, words trained)."""
    progress = model.training
    total = len(stream)
    started = time.perf_counter()
    first_position = progress.position
    next_checkpoint = progress.position + anti_kasparek if anti_kasparek else total
    while progress.position < total:
        stop = min(total, progress.position + PROGRESS_CHUNK, next_checkpoint)
        log10_sum, scored = network.train_span(model, stream, progress.position, stop, state, progress.alpha)
        progress.position = stop
        progress.epoch_log10 += log10_sum
        progress.epoch_scored += scored
        elapsed = time.perf_counter() - started
        speed = (stop - first_position) / max(elapsed, 1e-9)
        reporter.running(progress.epoch, progress.alpha, metrics.entropy_bits(progress.epoch_log10, progress.epoch_scored),
                         stop / total, speed, (total - stop) / max(speed, 1e-9))
        if stop == next_checkpoint and stop < total:
            model.resume_state = {**{f"kernel/{k}": v for k, v in state.arrays().items()},
                                  **{f"backup/{k}": v for k, v in backup.items()}}
            save_model(model, model_file)
            model.resume_state = {}
            next_checkpoint = stop + anti_kasparek
        if on_progress is not None:
            on_progress(model)
    return time.perf_counter() - started, total - first_position


def _validate(model: RnnlmModel, stream: TokenStream) -> tuple[float, int, np.ndarray]:
    """Sum of log10 P over the scored validation tokens, their number, and the final state."""
    probabilities, hidden = network.score_stream(model, stream, network.start_state(model.config, flush=True))
    scored = stream.targets >= 0
    return metrics.log10_sum(probabilities[scored]), int(np.count_nonzero(scored)), hidden


def _train_member(arguments: tuple) -> tuple[int, str, float, float]:
    """Worker: train one member; returns (seed, model path, final validation perplexity, seconds)."""
    train_file, model_file, valid_file, config, options = arguments
    started = time.perf_counter()
    model = train(train_file, model_file, valid_file, config, debug=0, **options)
    kept = [r["valid_ppl"] for r in model.training.history if r.get("valid_ppl") is not None and r["accepted"]]
    return config.rand_seed, model_file, kept[-1] if kept else math.nan, time.perf_counter() - started


def train_members(train_file: str, model_prefix: str, seeds: list[int], jobs: int = 1,
                  valid_file: Optional[str] = None, config: Optional[RnnlmConfig] = None, **options):
    """Train one model per seed, ``jobs`` at a time in worker processes; yields results as members finish.

    Member k is written to ``f"{model_prefix}.seed{seed}"`` (atomically, like any
    model), so a crash loses only the members still training; rerunning resumes them.
    Yields (seed, model path, final validation perplexity, seconds).
    """
    import concurrent.futures
    import multiprocessing
    from dataclasses import replace

    config = config or RnnlmConfig()
    if jobs < 1:
        raise RnnlmpyError(f"-jobs must be at least 1 (got {jobs})")
    if len(set(seeds)) != len(seeds):
        raise RnnlmpyError(f"the seeds must differ (got {','.join(map(str, seeds))})")
    work = [(train_file, f"{model_prefix}.seed{seed}", valid_file, replace(config, rand_seed=seed), options)
            for seed in seeds]
    if jobs == 1:
        for arguments in work:
            yield _train_member(arguments)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_train_member, arguments) for arguments in work]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()

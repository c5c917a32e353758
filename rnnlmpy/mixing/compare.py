"""The n-gram baseline comparison: KN n-grams, RNNLMs and their tuned interpolation in one table."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.text import read_corpus
from ..ngram import ngram_counts, read_ngram, train_ngram
from ..rnnlm.evaluation import score_tokens
from ..rnnlm.model_file import history_with_timings, load_model
from .interpolate import interpolate, ngram_token_probabilities, tune_lambda


@dataclass
class ComparisonRow:
    """One model's line in the table: perplexities on the same token streams, size, seconds."""

    name: str
    valid_ppl: float
    test_ppl: float
    size: str
    seconds: float
    note: str = ""


def _ppl(probabilities: np.ndarray) -> float:
    scored = probabilities[probabilities > 0]
    return metrics.perplexity(metrics.log10_sum(scored), len(scored))


def compare_models(train_file: Optional[str], valid_file: str, test_file: str, rnn_files: Optional[list[str]] = None,
                   orders: tuple[int, ...] = (3, 5), ngram_files: tuple[str, ...] = ()) -> list[ComparisonRow]:
    """Build KN n-grams of ``orders`` on ``train_file`` (none without one), read those of ``ngram_files`` (ARPA or
    binary) and compare them with the given RNN models.

    Every perplexity is measured on the same token streams (each line closed
    by ``</s>``); each RNN is also interpolated with the highest-order n-gram
    (the last given of that order), lambda tuned by EM on the validation text.
    """
    valid_tokens = read_corpus(valid_file, "validation file")
    test_tokens = read_corpus(test_file, "test file")
    rows = []
    ngrams = []  # (order, row name, valid probabilities, test probabilities)
    sources = [(order, None) for order in (orders if train_file else ())] + [(0, path) for path in ngram_files]
    for order, path in sources:
        started = time.perf_counter()
        model = train_ngram(train_file, order)[0] if path is None else read_ngram(path)
        seconds = time.perf_counter() - started
        valid = ngram_token_probabilities(model, valid_tokens)
        test = ngram_token_probabilities(model, test_tokens)
        name = f"KN{order}" if path is None else os.path.basename(path)
        ngrams.append((model.order, name, valid, test))
        note = "modified Kneser-Ney" if path is None else f"order {model.order}, read"
        rows.append(ComparisonRow(name, _ppl(valid), _ppl(test), f"{sum(ngram_counts(model)):,} n-grams", seconds,
                                  note))
    if not ngrams:
        raise RnnlmpyError("nothing to compare the RNNs with: give a training text to build n-grams from, or an "
                           "n-gram model")
    best_order = max(order for order, *_ in ngrams)
    _, best_name, ngram_valid, ngram_test = [item for item in ngrams if item[0] == best_order][-1]
    for path in rnn_files or []:
        started = time.perf_counter()
        model = load_model(path)
        valid = score_tokens(model, valid_tokens)
        test = score_tokens(model, test_tokens)
        seconds = time.perf_counter() - started + sum(r.get("seconds", 0.0) for r in
                                                      history_with_timings(model.training.history, path))
        name = os.path.basename(path)
        config = model.config
        hidden = (f"{config.layers} x {config.hidden_size} {config.activation}" if config.batched
                  else f"hidden {config.hidden_size}")
        rows.append(ComparisonRow(name, valid.perplexity, test.perplexity, f"{model.parameter_count:,} weights",
                                  seconds, f"{hidden}, {len(model.training.history)} epochs"))
        lam = tune_lambda(valid.probabilities, valid.known, ngram_valid)
        mixed_valid = interpolate(valid.probabilities, valid.known, ngram_valid, lam)
        mixed_test = interpolate(test.probabilities, test.known, ngram_test, lam)
        rows.append(ComparisonRow(f"{name} + {best_name}", mixed_valid.combined_ppl, mixed_test.combined_ppl,
                                  "", 0.0, f"lambda {lam:.3f} (EM on valid)"))
    return rows


def format_table(rows: list[ComparisonRow]) -> str:
    """The comparison as an aligned text table."""
    header = ("model", "valid PPL", "test PPL", "size", "time (s)", "")
    body = [(r.name, f"{r.valid_ppl:.2f}", f"{r.test_ppl:.2f}", r.size, f"{r.seconds:.1f}" if r.seconds else "",
             r.note) for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in [header, *body])

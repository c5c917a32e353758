"""The n-gram baseline comparison: KN n-grams, RNNLMs and their tuned interpolation in one table."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base import metrics
from ..base.text import read_corpus
from ..ngram import train_ngram
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


def compare_models(train_file: str, valid_file: str, test_file: str, rnn_files: Optional[list[str]] = None,
                   orders: tuple[int, ...] = (3, 5)) -> list[ComparisonRow]:
    """Build KN n-grams of ``orders`` on ``train_file`` and compare them with the given RNN models.

    Every perplexity is measured on the same token streams (each line closed
    by ``</s>``); each RNN is also interpolated with the highest-order n-gram,
    lambda tuned by EM on the validation text.
    """
    valid_tokens = read_corpus(valid_file, "validation file")
    test_tokens = read_corpus(test_file, "test file")
    rows = []
    ngram_probabilities = {}
    for order in orders:
        started = time.perf_counter()
        model, _ = train_ngram(train_file, order)
        seconds = time.perf_counter() - started
        valid = ngram_token_probabilities(model, valid_tokens)
        test = ngram_token_probabilities(model, test_tokens)
        ngram_probabilities[order] = (valid, test)
        size = f"{sum(len(table) for table in model.orders):,} n-grams"
        rows.append(ComparisonRow(f"KN{order}", _ppl(valid), _ppl(test), size, seconds, "modified Kneser-Ney"))
    best_order = max(orders)
    for path in rnn_files or []:
        started = time.perf_counter()
        model = load_model(path)
        valid = score_tokens(model, valid_tokens)
        test = score_tokens(model, test_tokens)
        seconds = time.perf_counter() - started + sum(r.get("seconds", 0.0) for r in
                                                      history_with_timings(model.training.history, path))
        name = os.path.basename(path)
        rows.append(ComparisonRow(name, valid.perplexity, test.perplexity, f"{model.parameter_count:,} weights",
                                  seconds, f"hidden {model.config.hidden_size}, {len(model.training.history)} epochs"))
        ngram_valid, ngram_test = ngram_probabilities[best_order]
        lam = tune_lambda(valid.probabilities, valid.known, ngram_valid)
        mixed_valid = interpolate(valid.probabilities, valid.known, ngram_valid, lam)
        mixed_test = interpolate(test.probabilities, test.known, ngram_test, lam)
        rows.append(ComparisonRow(f"{name} + KN{best_order}", mixed_valid.combined_ppl, mixed_test.combined_ppl,
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

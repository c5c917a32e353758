"""Scoring big inputs on many workers: line ranges of a text (or groups of an n-best list) as separate tasks.

The tasks go to any ``concurrent.futures`` executor (``rnnlmpy.base.executor``:
local processes or a Dask cluster); each worker reads the files at the paths
given (shared storage) and scores its share with the same kernels, and the
results are merged in input order, so the output is byte for byte a local
run's. Only independent work is split: the sentences of an ``-independent``
model (no state crosses a line), and n-best hypotheses once each ID's first
hypothesis has been scored here (the next ID starts from its state).
"""

from __future__ import annotations

import concurrent.futures
from typing import Optional

import numpy as np

from ..base.errors import RnnlmpyError
from ..corpus import encode_file, line_bounds
from ..base.system import split_evenly
from ..rnnlm.evaluation import PerplexityResult, corpus_word_ids, score_stream
from ..rnnlm.model_file import load_model
from ..rnnlm.nbest import hypothesis_scores, plan_nbest, read_nbest, score_followers, score_leaders
from ..rnnlm.streams import language_model_stream


def _check_independent(model, model_file: str) -> None:
    if not model.config.independent:
        raise RnnlmpyError(f"{model_file!r} carries its state from line to line (not an -independent model), so its "
                           "text cannot be split among workers; score it without -scheduler")


def score_lines_task(model_file: str, test_file: str, begin: int, end: int) -> np.ndarray:
    """On a worker: P of every token of the test file's tokens ``begin:end`` (whole lines), float64."""
    model = load_model(model_file)
    corpus = encode_file(test_file, "test file", char_level=model.config.char_level)
    word_ids = corpus_word_ids(model, corpus, begin, end)
    return score_stream(model, language_model_stream(word_ids))


def evaluate_file_sharded(model, model_file: str, test_file: str, executor: concurrent.futures.Executor,
                          shards: int) -> PerplexityResult:
    """``evaluate_file`` of an independent ``model`` (read from ``model_file``, which the workers load) with the
    test lines split into ``shards`` tasks."""
    _check_independent(model, model_file)
    corpus = encode_file(test_file, "test file", char_level=model.config.char_level)
    word_ids = corpus_word_ids(model, corpus)
    bounds = line_bounds(corpus.type_ids)
    cuts = np.unique(bounds[np.linspace(0, len(bounds) - 1, min(shards, len(bounds) - 1) + 1).astype(np.int64)])
    ranges = list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))
    futures = [executor.submit(score_lines_task, model_file, test_file, begin, end) for begin, end in ranges]
    probabilities = np.concatenate([future.result() for future in futures]) if futures else np.zeros(0)
    return PerplexityResult(tokens=corpus.tokens(), word_ids=word_ids, probabilities=probabilities)


def score_followers_task(model_file: str, nbest_file: str, part: np.ndarray, starts: np.ndarray,
                         start_index: np.ndarray) -> np.ndarray:
    """On a worker: the token probabilities of the n-best hypotheses ``part``, each from its ID's start state,
    concatenated in the order of ``part``."""
    model = load_model(model_file)
    plan = plan_nbest(model, read_nbest(nbest_file))
    probabilities = np.zeros(len(plan.word_ids), dtype=np.float64)
    score_followers(model, plan, part, starts, start_index, probabilities)
    return np.concatenate([probabilities[plan.begins[i]:plan.ends[i]] for i in part.tolist()]) if len(part) \
        else np.zeros(0)


def rescore_nbest_sharded(model, model_file: str, nbest_file: str, executor: concurrent.futures.Executor,
                          shards: int, other: Optional[np.ndarray] = None, lam: float = 1.0) -> np.ndarray:
    """``score_nbest`` of ``model`` (read from ``model_file``, which the workers load): the first hypothesis of
    each ID is scored here, the others split into ``shards`` tasks (an ID's hypotheses never split)."""
    plan = plan_nbest(model, read_nbest(nbest_file))
    score_leaders(model, plan)
    followers = plan.followers
    if len(followers) == 0:
        return hypothesis_scores(plan, other, lam)
    new_id = np.flatnonzero(np.diff(plan.group[followers]) != 0) + 1  # cut only where an ID ends
    bounds = np.concatenate([[0], new_id, [len(followers)]]).astype(np.int64)
    pieces = [followers[begin:end] for begin, end in split_evenly(bounds, shards)]
    futures = []
    for piece in pieces:
        groups, start_index = np.unique(plan.group[piece], return_inverse=True)
        futures.append(executor.submit(score_followers_task, model_file, nbest_file, piece, plan.starts[groups],
                                       start_index.reshape(-1)))
    for piece, future in zip(pieces, futures):
        scored = future.result()
        offset = 0
        for index in piece.tolist():
            length = int(plan.ends[index] - plan.begins[index])
            plan.probabilities[plan.begins[index]:plan.ends[index]] = scored[offset:offset + length]
            offset += length
    return hypothesis_scores(plan, other, lam)

"""Benchmark the NCE kernels: nanoseconds per position for draw_noise + nce_backward_into.

    python -m tools.bench.nce_kernel [--hidden 100] [--noise 20] [--steps 200000] [--vocab 10000 200000]

Each position draws its target from the noise distribution itself (a Zipf-like
unigram, so rows are touched as in real text), K noise words, and takes one NCE
step (float32 and float64 weights, with and without 2 x 10^6 direct weights over 3
orders), all inside one compiled loop so only the kernels are timed. For
comparison, the full softmax that ``-nce-accurate-test`` style scoring costs per
position (full_log10_probability) is timed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from rnnlmpy.kernels.nce import (draw_noise, full_log10_probability, nce_backward_into, nce_work,
                                 seed_state)
from rnnlmpy.rnnlm.noise import alias_table, log_probabilities, noise_distribution


@njit(cache=True)
def nce_loop(weights, hidden, hidden_error, accept, alias, log_noise, state, noise_count, steps, direct, keys,
             usable):
    """``steps`` positions of (draw the target, draw noise, NCE step); returns the summed loss. The work arrays
    are allocated once, as in the training loop."""
    noise_ids = np.empty(noise_count, dtype=np.int32)
    words, repeats, logits = nce_work(noise_count)
    target = np.empty(1, dtype=np.int32)
    total = 0.0
    for _ in range(steps):
        draw_noise(accept, alias, state, 1, target)
        draw_noise(accept, alias, state, noise_count, noise_ids)
        hidden_error[:] = 0
        total += nce_backward_into(weights, target[0], noise_ids, noise_count, log_noise, 9.0, hidden, hidden_error,
                                   0.01, 0.0, direct, keys, usable, 0.01, 1e-8, words, repeats, logits)
    return total


@njit(cache=True)
def draw_loop(accept, alias, state, noise_count, steps):
    """Only the draws of ``nce_loop`` (1 + K per position)."""
    noise_ids = np.empty(noise_count + 1, dtype=np.int32)
    check = 0
    for _ in range(steps):
        draw_noise(accept, alias, state, noise_count + 1, noise_ids)
        check += noise_ids[0]
    return check


@njit(cache=True)
def full_loop(weights, hidden, accept, alias, state, steps, direct, keys, usable, scratch):
    """``steps`` exact scorings (softmax over all V rows) of targets drawn from the noise distribution."""
    target = np.empty(1, dtype=np.int32)
    total = 0.0
    for _ in range(steps):
        draw_noise(accept, alias, state, 1, target)
        total += full_log10_probability(weights, hidden, target[0], direct, keys, usable, scratch)
    return total


def zipf_counts(vocab: int) -> np.ndarray:
    """Counts ~ 1 / rank (a natural-language unigram)."""
    return np.maximum(1, (1e7 / np.arange(1, vocab + 1))).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--noise", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--vocab", type=int, nargs="+", default=[10_000, 200_000])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"H={args.hidden} K={args.noise}, {args.steps:,} positions per figure, ns per position")
    print(f"{'V':>8} {'dtype':>8} {'direct':>7} {'draws':>8} {'draw+nce':>9} {'full softmax':>13}")
    for vocab in args.vocab:
        probabilities = noise_distribution(zipf_counts(vocab))
        started = time.perf_counter()
        accept, alias = alias_table(probabilities)
        table_seconds = time.perf_counter() - started
        log_noise = log_probabilities(probabilities)
        draw_loop(accept, alias, seed_state(0), args.noise, 10)
        started = time.perf_counter()
        draw_loop(accept, alias, seed_state(1), args.noise, args.steps)
        draw_ns = (time.perf_counter() - started) / args.steps * 1e9
        for dtype in (np.float32, np.float64):
            for direct_size in (0, 2_000_000):
                weights = (rng.random((vocab, args.hidden)) * 0.1 - 0.05).astype(dtype)
                hidden = rng.random(args.hidden).astype(dtype)
                hidden_error = np.zeros(args.hidden, dtype=dtype)
                direct = np.zeros(direct_size, dtype=dtype)
                keys = rng.integers(0, max(direct_size, 1), 20).astype(np.int64)
                usable = 3 if direct_size else 0
                nce_loop(weights, hidden, hidden_error, accept, alias, log_noise, seed_state(0), args.noise, 10,
                         direct, keys, usable)  # compile
                started = time.perf_counter()
                nce_loop(weights, hidden, hidden_error, accept, alias, log_noise, seed_state(1), args.noise,
                         args.steps, direct, keys, usable)
                step_ns = (time.perf_counter() - started) / args.steps * 1e9
                scratch = np.empty(vocab)
                full_steps = max(1, args.steps // vocab * 20)
                full_loop(weights, hidden, accept, alias, seed_state(0), 1, direct, keys, usable, scratch)
                started = time.perf_counter()
                full_loop(weights, hidden, accept, alias, seed_state(1), full_steps, direct, keys, usable, scratch)
                full_ns = (time.perf_counter() - started) / full_steps * 1e9
                print(f"{vocab:>8} {np.dtype(dtype).name:>8} {direct_size:>7.0e} {draw_ns:>8.0f} {step_ns:>9.0f} "
                      f"{full_ns:>13.0f}")
        print(f"{'':>8} (alias table for V={vocab:,}: {table_seconds * 1000:.0f} ms)")


if __name__ == "__main__":
    main()

"""Micro-benchmark of the GRU cell kernels against the Elman cell's: ns per forward step and per BPTT step.

    python -m tools.bench.gru_kernel [--hidden 100] [--vocab 10000] [--bptt 4] [--bptt-block 10] [--dtype both]

Each kernel is called from a small compiled loop (as train_span calls it), one
input feature per position; BPTT runs over a full ring of ``bptt + block + 1``
steps back ``bptt + block - 1`` steps, as train_span does, with the output
errors refilled before each call. Reports the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from numba import njit

from rnnlmpy.kernels.cell import (RING_FILL, RING_HEAD, SIGMOID, backpropagate_through_time,
                                  hidden_forward)
from rnnlmpy.kernels.gru import gru_backpropagate, gru_forward
from tools.bench import common


@njit
def gru_forward_loop(input_weights, recurrent, bias, feature_ptr, feature_ids, hidden_prev, hidden, gates):
    for t in range(feature_ptr.shape[0] - 1):
        gru_forward(input_weights, recurrent, bias, feature_ids, feature_ptr[t], feature_ptr[t + 1], hidden_prev,
                    hidden, gates)
        hidden_prev, hidden = hidden, hidden_prev
    return hidden_prev[0]


@njit
def cell_forward_loop(input_weights, recurrent, feature_ptr, feature_ids, hidden_prev, hidden):
    for t in range(feature_ptr.shape[0] - 1):
        hidden_forward(input_weights, recurrent, feature_ids, feature_ptr[t], feature_ptr[t + 1], hidden_prev,
                       hidden, SIGMOID)
        hidden_prev, hidden = hidden, hidden_prev
    return hidden_prev[0]


@njit
def gru_bptt_loop(calls, input_weights, recurrent, bias, feature_ptr, feature_ids, ring_position, ring_input,
                  ring_gates, ring_error, errors, counters, steps_back, alpha, error, carry, step_deltas,
                  step_reset_inputs):
    zero = recurrent.dtype.type(0.0)
    for _ in range(calls):
        ring_error[:] = errors
        gru_backpropagate(input_weights, recurrent, bias, feature_ptr, feature_ids, ring_position, ring_input,
                          ring_gates, ring_error, counters, steps_back, alpha, zero, zero, error, carry, step_deltas,
                          step_reset_inputs)


@njit
def cell_bptt_loop(calls, input_weights, recurrent, feature_ptr, feature_ids, ring_position,
                   ring_input, ring_hidden, ring_error, errors, counters, steps_back, alpha, delta, carry):
    zero = recurrent.dtype.type(0.0)
    for _ in range(calls):
        ring_error[:] = errors
        backpropagate_through_time(input_weights, recurrent, feature_ptr, feature_ids,
                                   ring_position, ring_input, ring_hidden, ring_error, counters, steps_back, alpha,
                                   zero, zero, SIGMOID, delta, carry)


def bench(dtype, hidden, vocab, positions, bptt, block, calls, repeats):
    rng = np.random.default_rng(1)
    width = 3 * hidden
    scale = dtype(0.1)
    gru_input = (rng.standard_normal((vocab, width)) * scale).astype(dtype)
    gru_recurrent = (rng.standard_normal((width, hidden)) * scale).astype(dtype)
    gru_bias = np.zeros(width, dtype=dtype)
    cell_input = (rng.standard_normal((vocab, hidden)) * scale).astype(dtype)
    cell_recurrent = (rng.standard_normal((hidden, hidden)) * scale).astype(dtype)
    feature_ptr = np.arange(positions + 1, dtype=np.int64)
    feature_ids = rng.integers(0, vocab, positions).astype(np.int32)
    state = lambda: np.full(hidden, 0.1, dtype=dtype)  # noqa: E731

    forward_gru = common.best_seconds(lambda: gru_forward_loop(
        gru_input, gru_recurrent, gru_bias, feature_ptr, feature_ids, state(), state(), np.empty(width, dtype=dtype)),
        repeats, warm_up=True)
    forward_cell = common.best_seconds(lambda: cell_forward_loop(
        cell_input, cell_recurrent, feature_ptr, feature_ids, state(), state()), repeats, warm_up=True)

    capacity, steps_back = bptt + block + 1, bptt + block - 1
    counters = np.array([capacity - 1, capacity, 0], dtype=np.int64)
    assert counters[RING_HEAD] == capacity - 1 and counters[RING_FILL] == capacity
    ring_position = np.arange(capacity, dtype=np.int64)
    ring_input = rng.uniform(-1, 1, (capacity, hidden)).astype(dtype)
    ring_hidden = rng.uniform(0, 1, (capacity, hidden)).astype(dtype)
    ring_gates = rng.uniform(0, 1, (capacity, width)).astype(dtype)
    errors = (rng.standard_normal((capacity, hidden)) * 0.01).astype(dtype)
    alpha = dtype(1e-6)
    bptt_gru = common.best_seconds(lambda: gru_bptt_loop(
        calls, gru_input, gru_recurrent, gru_bias, feature_ptr, feature_ids, ring_position, ring_input, ring_gates,
        np.zeros_like(errors), errors, counters, steps_back, alpha, np.empty(hidden, dtype=dtype),
        np.empty(hidden, dtype=dtype), np.empty((capacity, width), dtype=dtype),
        np.empty((capacity, hidden), dtype=dtype)), repeats, warm_up=True)
    bptt_cell = common.best_seconds(lambda: cell_bptt_loop(
        calls, cell_input, cell_recurrent, feature_ptr, feature_ids,
        ring_position, ring_input, ring_hidden, np.zeros_like(errors), errors, counters, steps_back, alpha,
        np.empty(hidden, dtype=dtype), np.empty(hidden, dtype=dtype)), repeats, warm_up=True)
    steps = calls * steps_back
    return {
        "dtype": np.dtype(dtype).name, "hidden": hidden, "bptt": bptt, "bptt_block": block,
        "gru_forward_ns_per_step": round(forward_gru / positions * 1e9, 1),
        "cell_forward_ns_per_step": round(forward_cell / positions * 1e9, 1),
        "gru_bptt_ns_per_step": round(bptt_gru / steps * 1e9, 1),
        "cell_bptt_ns_per_step": round(bptt_cell / steps * 1e9, 1),
        # per trained word: one forward, and (steps_back / block) BPTT steps
        "gru_ns_per_word": round((forward_gru / positions + bptt_gru / steps * steps_back / block) * 1e9, 1),
        "cell_ns_per_word": round((forward_cell / positions + bptt_cell / steps * steps_back / block) * 1e9, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--bptt", type=int, default=4)
    parser.add_argument("--bptt-block", type=int, default=10)
    parser.add_argument("--positions", type=int, default=200000)
    parser.add_argument("--calls", type=int, default=10000, help="BPTT calls per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    args = parser.parse_args()
    dtypes = [np.float32, np.float64] if args.dtype == "both" else [np.dtype(args.dtype).type]
    for dtype in dtypes:
        print(json.dumps(bench(dtype, args.hidden, args.vocab, args.positions, args.bptt, args.bptt_block,
                               args.calls, args.repeats)))


if __name__ == "__main__":
    main()

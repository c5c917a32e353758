"""Micro-benchmark of the batched engine's training window: words/s of ``deep.train_window`` and where its time goes.

    OPENBLAS_NUM_THREADS=1 python -m tools.bench.window_kernel [--vocab 10000] [--hidden 200] [--layers 2]
        [--batch 20] [--bptt 20] [--hidden-type lstm] [--dtype float32] [--windows 10] [--repeats 3]

The Zaremba-small shapes by default (PTB's 10,000 words, 2 layers of 200 LSTM
units, 20 streams x 20 steps, full softmax). Reports, as JSON: words/s (wall)
and CPU ms per window of ``train_window`` with the streams in 1 and 2 threads,
and the CPU ms per window of its parts (the softmax layer's ``train``, one
layer's ``forward`` and ``backward``) next to the ms of the softmax's three
gemms alone, the floor of a full softmax. CPU time is the steadier figure on a
shared machine; run BLAS single-threaded (the engine's threads are its own).
Best of ``--repeats`` runs of ``--windows`` random windows.
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import numpy as np
from numba import njit

from rnnlmpy.kernels import window, window_softmax
from rnnlmpy.rnnlm import deep


@njit(cache=True)
def softmax_gemms(hidden, weights, grad_hidden):
    """The three gemms of a full softmax over ``hidden`` (N, H) in one chunk: logits, grad W, grad hidden."""
    logits = np.empty((hidden.shape[0], weights.shape[0]), dtype=hidden.dtype)
    weight_grad = np.empty_like(weights)
    np.dot(hidden, weights.T, logits)
    np.dot(logits.T, hidden, weight_grad)
    np.dot(logits, weights, grad_hidden)


def best(function, repeats: int) -> tuple[float, float]:
    """(shortest wall seconds, shortest CPU seconds) of ``repeats`` calls of ``function``, after one untimed."""
    function()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def bench(args: argparse.Namespace) -> dict:
    """The figures of one configuration (see the module docstring)."""
    config = SimpleNamespace(activation=args.hidden_type, hidden_size=args.hidden, layers=args.layers, dropout=0.0,
                             tie_weights=False, dtype=args.dtype)
    arrays = deep.initial_weights(config, args.vocab, 1, np.random.default_rng(1))
    model = SimpleNamespace(config=config, vocabulary=SimpleNamespace(size=args.vocab, class_count=1), **arrays)
    grads = {name: np.zeros_like(array) for name, array in arrays.items() if name not in ("direct", "hidden_state")}
    rng = np.random.default_rng(0)
    steps, streams, size, dtype = args.bptt, args.batch, args.hidden, np.dtype(args.dtype)
    windows = [deep.Window(inputs=rng.integers(0, args.vocab, (steps, streams)).astype(np.int32),
                           targets=rng.integers(0, args.vocab, (steps, streams)).astype(np.int32),
                           resets=np.zeros((steps, streams), np.uint8), weights=np.ones((steps, streams), dtype))
               for _ in range(args.windows)]
    state = np.zeros((streams, deep.state_size(config)), dtype)
    words = steps * streams * args.windows
    results = {"shape": {"vocab": args.vocab, "hidden": size, "layers": args.layers, "batch": streams,
                         "bptt": steps, "hidden_type": args.hidden_type, "dtype": args.dtype}}
    for threads in (1, 2):
        wall, cpu = best(lambda: [deep.train_window(model, item, state, grads, 0, threads=threads)
                                  for item in windows], args.repeats)
        results[f"threads_{threads}"] = {"words_per_second": round(words / wall),
                                         "wall_ms_per_window": round(wall / args.windows * 1e3, 1),
                                         "cpu_ms_per_window": round(cpu / args.windows * 1e3, 1)}

    rows = steps * streams
    hidden = rng.uniform(-1, 1, (rows, size)).astype(dtype)
    layer = window_softmax.SoftmaxLayer(arrays["output_weights"], arrays["output_bias"])
    layer_grads = window_softmax.SoftmaxGrads(grads["output_weights"], grads["output_bias"])
    targets = windows[0].targets.reshape(rows)
    ones, log10, grad_hidden = np.ones(rows, dtype), np.zeros(rows, dtype), np.zeros((rows, size), dtype)
    cell = deep.CELL_MODULES[window.cell_name(args.hidden_type)]
    shape = deep.deep_shape(config, args.vocab, 1)
    weights = deep.layer_bundle(shape, arrays["recurrent"], arrays["gate_bias"], 0, window.weights_bundle)
    cell_grads = deep.layer_bundle(shape, grads["recurrent"], grads["gate_bias"], 0, window.CellGrads)
    inputs = hidden.reshape(steps, streams, size)
    resets = np.zeros((steps, streams), np.uint8)
    state_in = np.zeros((streams, shape.states, size), dtype)
    state_out, outputs = np.zeros_like(state_in), np.zeros_like(inputs)
    cache = window.window_cache(args.hidden_type, steps, streams, size, dtype)
    grad_inputs = np.zeros_like(inputs)
    parts = {
        "softmax_train": lambda: window_softmax.train(layer, hidden, targets, ones, 1.0 / streams, grad_hidden,
                                                      layer_grads, log10),
        "softmax_gemms_only": lambda: softmax_gemms(hidden, layer.weights, grad_hidden),
        "layer_forward": lambda: cell.forward(weights, inputs, resets, state_in, outputs, cache, state_out),
        "layer_backward": lambda: cell.backward(weights, inputs, resets, cache, hidden.reshape(inputs.shape),
                                                grad_inputs, cell_grads),
    }
    results["cpu_ms_per_window_of"] = {name: round(best(work, max(args.repeats, 5))[1] * 1e3, 2)
                                       for name, work in parts.items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=10_000)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--bptt", type=int, default=20)
    parser.add_argument("--hidden-type", default="lstm", choices=["lstm", "gru", "sigmoid", "tanh", "relu"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    print(json.dumps(bench(parser.parse_args()), indent=1))


if __name__ == "__main__":
    main()

"""Micro-benchmark of the batched engine's class-factored output layer and optimisers, float32.

    python -m tools.bench.window_output [--vocab 10000] [--hidden 200] [--rows 400] [--classes 100,50,200]
                                        [--layers 2] [--repeats 15]

(a) ``window_class.train`` over one window of N rows (targets drawn from Zipf
counts, classes assigned as ``rnnlmpy train`` does, and equal-size classes)
against a full softmax of the same shapes: ``window_softmax.train`` where the
package has it, and a plain NumPy softmax (one gemm for the logits, two for the
gradients). (b) One step of each optimiser (and the gradient clipping) over the
parameters of an L-layer LSTM with that vocabulary. Cases alternate, twice; the
best of ``--repeats`` calls each. Timings under load on a shared machine are
noisy: set OMP_NUM_THREADS=1 for a steady A/B (two BLAS threads stall on small
products when the other core is busy).
"""

from __future__ import annotations

import argparse
import importlib
from types import SimpleNamespace

import numpy as np

from rnnlmpy.kernels import window_class
from rnnlmpy.kernels.optimizers import OPTIMIZERS, Optimizer, clip_by_global_norm, clip_factor, global_norm
from rnnlmpy.rnnlm.vocab import assign_classes
from tools.bench import common
from tools.bench.hs_kernel import zipf_counts


def classes_of(word_class: np.ndarray) -> SimpleNamespace:
    """A vocabulary's class ranges (what ``window_class.bundles`` reads) from each word's class."""
    used = np.arange(int(word_class.max()) + 1)
    return SimpleNamespace(word_class=word_class.astype(np.int32),
                           class_start=np.searchsorted(word_class, used, side="left").astype(np.int32),
                           class_end=np.searchsorted(word_class, used, side="right").astype(np.int32))


def output_cases(vocab: int, hidden_size: int, rows: int, class_counts: list[int]) -> dict:
    """Name -> a call training one window's output layer."""
    rng = np.random.default_rng(0)
    counts = zipf_counts(vocab)
    targets = rng.choice(vocab, size=rows, p=counts / counts.sum()).astype(np.int32)
    hidden = rng.uniform(-1, 1, (rows, hidden_size)).astype(np.float32)
    weights = np.ones(rows, dtype=np.float32)
    grad_hidden = np.zeros((rows, hidden_size), dtype=np.float32)
    log10_out = np.zeros(rows, dtype=np.float32)

    def arrays(classes):
        return {"class_weights": rng.uniform(-0.1, 0.1, (classes, hidden_size)).astype(np.float32),
                "class_bias": np.zeros(classes, dtype=np.float32),
                "output_weights": rng.uniform(-0.1, 0.1, (vocab, hidden_size)).astype(np.float32),
                "output_bias": np.zeros(vocab, dtype=np.float32)}

    cases = {}
    for classes in class_counts:
        for kind, word_class in (("frequency", assign_classes(counts, classes)),
                                 ("equal", np.arange(vocab) * classes // vocab)):
            model = arrays(classes)
            grads = {key: np.zeros_like(value) for key, value in model.items()}
            layer, grad_bundle = window_class.bundles(model, grads, classes_of(word_class), False)
            words = (layer.class_end - layer.class_start)[layer.word_class[targets]].mean()
            cases[f"class {classes}, {kind} classes ({words:.0f} words/target class)"] = (
                lambda layer=layer, grad_bundle=grad_bundle: window_class.train(
                    layer, hidden, targets, weights, 0.05, grad_hidden, grad_bundle, log10_out))
    model = arrays(0)
    try:
        full = importlib.import_module("rnnlmpy.kernels.window_softmax")
    except ImportError:
        full = None
    if full is not None:
        grads = {key: np.zeros_like(value) for key, value in model.items()}
        layer, grad_bundle = full.bundles(model, grads, None, False)
        cases["full softmax (window_softmax)"] = lambda: full.train(layer, hidden, targets, weights, 0.05,
                                                                     grad_hidden, grad_bundle, log10_out)
    matrix = model["output_weights"]

    def plain_softmax():
        logits = hidden @ matrix.T
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        logits[np.arange(rows), targets] -= 1.0
        return logits.T @ hidden, logits @ matrix

    cases["full softmax (plain NumPy)"] = plain_softmax
    return cases


def optimizer_cases(vocab: int, hidden_size: int, layers: int, classes: int, rows: int) -> tuple[dict, int]:
    """(name -> a call of one optimiser step or clipping over an LSTM's parameters, number of parameters)."""
    rng = np.random.default_rng(1)
    shapes = {"input_weights": (vocab, hidden_size), "recurrent": (layers, 2, 4 * hidden_size, hidden_size),
              "gate_bias": (layers * 4 * hidden_size,), "class_weights": (classes, hidden_size),
              "class_bias": (classes,), "output_weights": (vocab, hidden_size), "output_bias": (vocab,)}
    weights = {key: rng.uniform(-0.1, 0.1, shape).astype(np.float32) for key, shape in shapes.items()}
    grads = {key: rng.normal(0, 1e-3, shape).astype(np.float32) for key, shape in shapes.items()}
    used = {"input_weights": np.unique(rng.integers(0, vocab, rows)).astype(np.int32)}
    cases = {f"{name} step": (lambda optimizer=Optimizer(name, weights): optimizer.step(weights, grads, 1e-9))
             for name in OPTIMIZERS}
    cases[f"sgd step, the embedding's {len(used['input_weights'])} used rows only"] = (
        lambda optimizer=Optimizer("sgd", weights): optimizer.step(weights, grads, 1e-9, rows=used))
    cases["clip_by_global_norm, nothing to scale"] = lambda: clip_by_global_norm(grads, 1e9)
    norm = [clip_by_global_norm(grads, 0.0)]

    def clip_scaling():  # to just under the last norm: scales every call, and the gradients stay far from denormal
        norm[0] = clip_by_global_norm(grads, 0.999 * norm[0])

    cases["clip_by_global_norm, scaling"] = clip_scaling
    sgd, adam = Optimizer("sgd", weights), Optimizer("adam", weights)

    def clip_then_step(optimizer):
        norm[0] = clip_by_global_norm(grads, 0.999 * norm[0])
        optimizer.step(weights, grads, 1e-9)

    def fused(optimizer):
        optimizer.step(weights, grads, 1e-9, grad_scale=clip_factor(global_norm(grads), 0.5 * norm[0]))

    for optimizer in (sgd, adam):
        cases[f"clip, then {optimizer.name} step"] = lambda optimizer=optimizer: clip_then_step(optimizer)
        cases[f"{optimizer.name} step with the clipping fused"] = lambda optimizer=optimizer: fused(optimizer)
    return cases, sum(array.size for array in weights.values())


def run(cases: dict, repeats: int, per: str, rows: int = 0) -> None:
    """Each case's best time, alternating over the cases twice."""
    for round_number in (1, 2):
        for name, call in cases.items():
            seconds = common.best_seconds(call, repeats=repeats, warm_up=True)
            speed = f", {rows / seconds:10,.0f} words/s" if rows else ""
            print(f"  round {round_number}: {name:60s} {seconds * 1e3:8.2f} ms/{per}{speed}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--rows", type=int, default=400, help="rows of a window (T * B)")
    parser.add_argument("--classes", default="100,50,200")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    options = parser.parse_args()
    class_counts = [int(value) for value in options.classes.split(",")]
    print(f"output layer, one window: V = {options.vocab:,}, H = {options.hidden}, N = {options.rows}, float32")
    run(output_cases(options.vocab, options.hidden, options.rows, class_counts), options.repeats, "window",
        options.rows)
    cases, parameters = optimizer_cases(options.vocab, options.hidden, options.layers, class_counts[0], options.rows)
    print(f"optimisers: {options.layers} x {options.hidden} LSTM, V = {options.vocab:,}, class {class_counts[0]}: "
          f"{parameters:,} float32 parameters")
    run(cases, options.repeats, "step")


if __name__ == "__main__":
    main()

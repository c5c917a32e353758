"""Micro-benchmark: one hierarchical-softmax SGD step against one class-softmax SGD step, per word.

    python -m tools.bench.hs_kernel [--hidden 100] [--vocab 10000,200000] [--calls 200000] [--dtype float32]

For each vocabulary size V (Zipf counts, count of rank r proportional to 1/r) it
draws target words from the same Zipf distribution and times, in a compiled loop
over the targets, (a) ``hsoftmax.hs_backward`` on the word's Huffman path and (b)
the class-factored softmax of ``output``: ``target_probability`` then the two
``output_backward`` calls (word rows, class rows), with sqrt(V) classes assigned
as ``rnnlmpy train`` does. No direct connections, no L2. Prints ns per word for
each and the average path length / class sizes that explain them.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from numba import njit

from rnnlmpy.kernels.hsoftmax import hs_backward
from rnnlmpy.kernels.output import largest_class_size, output_backward, target_probability
from rnnlmpy.rnnlm.huffman import build_huffman_tree
from rnnlmpy.rnnlm.vocab import assign_classes
from tools.bench import common

NO_KEYS = np.zeros(4, dtype=np.int64)


@njit
def hs_loop(node_weights, path_ptr, path_nodes, path_codes, targets, hidden, hidden_error, alpha, direct):
    total = 0.0
    for i in range(targets.shape[0]):
        word = targets[i]
        hidden_error[:] = 0
        total += hs_backward(node_weights, path_nodes, path_codes, path_ptr[word], path_ptr[word + 1], hidden,
                             hidden_error, alpha, 0.0, direct, NO_KEYS, 0, alpha, 0.0, node_weights[:0])
    return total


@njit
def class_loop(class_weights, output_weights, output_class, class_start, class_end, targets, hidden, hidden_error,
               alpha, direct, class_probabilities, word_probabilities):
    total = 0.0
    for i in range(targets.shape[0]):
        target = targets[i]
        hidden_error[:] = 0
        target_class = output_class[target]
        p = target_probability(class_weights, output_weights, output_class, class_start, class_end, hidden, target,
                               class_probabilities, word_probabilities, direct, NO_KEYS, 0, NO_KEYS, 0)
        total += math.log10(max(p, 1e-300))
        output_backward(output_weights, class_start[target_class], class_end[target_class], word_probabilities,
                        target, hidden, hidden_error, alpha, 0.0)
        output_backward(class_weights, 0, class_weights.shape[0], class_probabilities, target_class, hidden,
                        hidden_error, alpha, 0.0)
    return total


def zipf_counts(size: int) -> np.ndarray:
    return np.maximum(100_000_000 // np.arange(1, size + 1), 1).astype(np.int64)


def bench(size: int, hidden_size: int, calls: int, dtype: str) -> None:
    rng = np.random.default_rng(1)
    counts = zipf_counts(size)
    targets = rng.choice(size, size=calls, p=counts / counts.sum()).astype(np.int32)
    hidden = rng.uniform(0, 1, size=hidden_size).astype(dtype)
    hidden_error = np.zeros(hidden_size, dtype=dtype)
    direct = np.zeros(0, dtype=dtype)
    alpha = 0.01

    start = time.perf_counter()
    tree = build_huffman_tree(counts)
    build_seconds = time.perf_counter() - start
    node_weights = (rng.uniform(-0.1, 0.1, size=(size - 1, hidden_size))).astype(dtype)
    hs_loop(node_weights, tree.path_ptr, tree.path_nodes, tree.path_codes, targets[:10], hidden, hidden_error, alpha,
            direct)  # compile
    hs_seconds = common.best_seconds(lambda: hs_loop(node_weights, tree.path_ptr, tree.path_nodes, tree.path_codes,
                                                     targets, hidden, hidden_error, alpha, direct))
    path_length = tree.lengths[targets].mean()

    class_count = max(int(round(math.sqrt(size))), 1)
    output_class = assign_classes(counts, class_count)
    used = int(output_class.max()) + 1
    class_start = np.searchsorted(output_class, np.arange(used), side="left").astype(np.int32)
    class_end = np.searchsorted(output_class, np.arange(used), side="right").astype(np.int32)
    class_weights = rng.uniform(-0.1, 0.1, size=(used, hidden_size)).astype(dtype)
    output_weights = rng.uniform(-0.1, 0.1, size=(size, hidden_size)).astype(dtype)
    class_probabilities = np.empty(used, dtype=dtype)
    word_probabilities = np.empty(largest_class_size(class_start, class_end), dtype=dtype)
    arguments = (class_weights, output_weights, output_class, class_start, class_end)
    class_loop(*arguments, targets[:10], hidden, hidden_error, alpha, direct, class_probabilities,
               word_probabilities)  # compile
    class_seconds = common.best_seconds(lambda: class_loop(*arguments, targets, hidden, hidden_error, alpha, direct,
                                                           class_probabilities, word_probabilities))
    class_members = (class_end - class_start)[output_class[targets]].mean()

    print(f"V = {size:,}, H = {hidden_size}, {dtype}, {calls:,} Zipf-drawn targets "
          f"(Huffman tree built in {build_seconds:.2f} s)")
    print(f"  hierarchical softmax: {1e9 * hs_seconds / calls:8.0f} ns/word  "
          f"(mean path {path_length:.2f} nodes, longest {tree.max_depth})")
    print(f"  class softmax:        {1e9 * class_seconds / calls:8.0f} ns/word  "
          f"({used} classes + mean {class_members:.0f} words in the target's class)")
    print(f"  speed-up: {class_seconds / hs_seconds:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--vocab", default="10000,200000")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    options = parser.parse_args()
    for size in (int(v) for v in options.vocab.split(",")):
        bench(size, options.hidden, options.calls, options.dtype)


if __name__ == "__main__":
    main()

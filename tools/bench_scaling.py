#!/usr/bin/env python3
"""Thread scaling: training words/s and test perplexity of one epoch for 1, 2, 4, ... threads.

    python tools/bench_scaling.py [--corpus PTB_DIR] [--repeat 8] [--threads 1,2,4,8,16] [--layers hs,class]
                                  [--out bench-results]

The training text is PTB's training set written ``--repeat`` times into one
file (real text, long enough that 16 threads each get a few hundred thousand
words), every copy after the first with its sentences in another order (so
that threads whose slices start at copies of the text never train the same
sentence at the same moment). For every output layer and thread count, ``rnnlmpy train -one-iter``
(hidden 100, bptt 4, block 10, seed 1) runs in a fresh process; words/s are
the epoch's own figure (training only), and the model's test perplexity on
PTB's test set is scored on one thread. A first small run compiles the
kernels (or loads them from Numba's cache), and its time is reported as
such. Reported per run: words/s, speed-up and efficiency (speed-up / threads)
against the one-thread run, the change in test perplexity, and any attempt
that diverged (the epoch is then retried at half the learning rate, and its
speed is the retry's). Run it on a
machine with at least as many cores as the largest thread count.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_rnnlm import RNNLMPY, parse_arguments  # noqa: E402

from rnnlmpy.rnnlm.model_file import HISTORY_SUFFIX  # noqa: E402

LAYERS = {"hs": ["-hs"], "class": ["-class", "100"], "nce": ["-nce", "20"]}
COMMON = ["-hidden", "100", "-bptt", "4", "-bptt-block", "10", "-rand-seed", "1", "-debug", "0", "-force"]


def run(command: list[str]) -> str:
    """Run an rnnlmpy command; its stdout (exit on failure, with its stderr)."""
    done = subprocess.run(RNNLMPY + command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: rnnlmpy {' '.join(command)}\n{done.stderr}")
    return done.stdout


def train_epoch(train: str, test: str, model: str, layer: str, threads: int) -> dict:
    """One epoch on ``threads`` threads; its words/s (from the training history) and the test perplexity."""
    started = time.perf_counter()
    run(["train", "-train", train, "-rnnlm", model, "-one-iter", "-threads", str(threads), *COMMON, *LAYERS[layer]])
    seconds = time.perf_counter() - started
    with open(model + HISTORY_SUFFIX, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    os.remove(model + HISTORY_SUFFIX)
    output = run(["ppl", "-rnnlm", model, "-test", test, "-threads", "1"])
    perplexity = float(re.search(r"PPL net:\s*([0-9.]+)", output).group(1))
    final = records[-1]  # the epoch that was kept; any before it diverged and were retried at half the rate
    return {"layer": layer, "threads": threads, "words_per_second": final["words_per_second"],
            "train_seconds": final["seconds"], "process_seconds": seconds, "test_ppl": perplexity,
            "diverged": sum(1 for record in records if record.get("diverged")), "final_alpha": final["alpha"]}


def main() -> None:
    def extra(parser):
        parser.add_argument("--repeat", type=int, default=8, help="copies of PTB's training text in the corpus")
        parser.add_argument("--threads", default=None, help="comma-separated (default: 1, 2, 4, ... up to the cores)")
        parser.add_argument("--layers", default="hs,class")

    args, ptb = parse_arguments(__doc__, extra)
    cores = os.cpu_count() or 1
    thread_counts = ([int(n) for n in args.threads.split(",")] if args.threads
                     else [2 ** k for k in range(cores.bit_length()) if 2 ** k <= cores])
    layers = args.layers.split(",")
    results = {"cores": cores, "repeat": args.repeat, "runs": []}
    with tempfile.TemporaryDirectory() as work:
        train = os.path.join(work, "train.txt")
        with open(os.path.join(ptb, "ptb.train.txt"), encoding="utf-8") as handle:
            text = handle.read()
        sentences = text.splitlines(keepends=True)
        with open(train, "w", encoding="utf-8") as handle:
            for copy in range(args.repeat):  # each copy in its own sentence order: no two threads train in step
                order = list(sentences)
                if copy > 0:
                    random.Random(copy).shuffle(order)
                handle.writelines(order)
        started = time.perf_counter()
        for layer in layers:  # compile (or load from the cache) each layer's kernels on a small text
            run(["train", "-train", os.path.join(ptb, "ptb.valid.txt"), "-rnnlm", os.path.join(work, "warm"),
                 "-one-iter", "-threads", "2", *COMMON, *LAYERS[layer]])
        results["first_run_seconds"] = round(time.perf_counter() - started, 1)
        print(f"first runs (compile or cache load, {', '.join(layers)}): {results['first_run_seconds']} s",
              flush=True)
        for layer in layers:
            base = None
            for threads in thread_counts:
                result = train_epoch(train, os.path.join(ptb, "ptb.test.txt"), os.path.join(work, "model"), layer,
                                     threads)
                base = base or result
                result["speed_up"] = result["words_per_second"] / base["words_per_second"]
                result["efficiency"] = result["speed_up"] / threads * base["threads"]
                result["ppl_change"] = result["test_ppl"] / base["test_ppl"] - 1
                results["runs"].append(result)
                print(f"{layer:6s} {threads:3d} threads: {result['words_per_second']:12,.0f} words/s  "
                      f"x{result['speed_up']:.2f} ({result['efficiency']:.0%} per thread)  test PPL "
                      f"{result['test_ppl']:.2f} ({result['ppl_change']:+.1%})"
                      + (f", {result['diverged']} diverged attempt(s), kept alpha {result['final_alpha']:g}"
                         if result["diverged"] else ""), flush=True)
    with open(os.path.join(args.out, "scaling.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()

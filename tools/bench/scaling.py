"""Thread scaling: training words/s and test perplexity of one epoch for 1, 2, 4, ... threads.

    python -m tools.bench.scaling [--corpus PTB_DIR] [--repeat 8] [--threads 1,2,4,8,16] [--layers hs,class]
                                  [--quick] [--out bench-results]

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
machine with at least as many cores as the largest thread count. ``--quick``: the text twice, 1 and 2 threads.
"""

from __future__ import annotations

import os
import random
import tempfile
import time

from tools.bench import common

TOOL = "tools.bench.scaling"


def train_epoch(train: str, corpus: str, model: str, layer: str, threads: int) -> dict:
    """One epoch on ``threads`` threads; its words/s (from the training history) and the test perplexity."""
    run = common.train_text(train, model, layer, threads, options=["-one-iter"])
    perplexity, _ = common.score_ptb(corpus, model, threads=1)
    final = run.records[-1]  # the epoch that was kept; any before it diverged and were retried at half the rate
    return {"layer": layer, "threads": threads, "words_per_second": final["words_per_second"],
            "train_seconds": final["seconds"], "process_seconds": run.measured.seconds, "test_ppl": perplexity,
            "diverged": sum(1 for record in run.records if record.get("diverged")), "final_alpha": final["alpha"]}


def main() -> int:
    def extra(parser):
        parser.add_argument("--repeat", type=int, default=8, help="copies of PTB's training text in the corpus")
        parser.add_argument("--threads", default=None, help="comma-separated (default: 1, 2, 4, ... up to the cores)")
        parser.add_argument("--layers", default="hs,class")

    args, ptb = common.arguments(__doc__, extra)
    if args.quick:
        args.repeat, args.threads = min(args.repeat, 2), args.threads or "1,2"
    cores = os.cpu_count() or 1
    thread_counts = ([int(n) for n in args.threads.split(",")] if args.threads
                     else [2 ** k for k in range(cores.bit_length()) if 2 ** k <= cores])
    layers = args.layers.split(",")
    for layer in layers:
        common.layer_options(layer)
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
            common.train_text(os.path.join(ptb, "ptb.valid.txt"), os.path.join(work, "warm"), layer, threads=2,
                              options=["-one-iter"])
        results["first_run_seconds"] = round(time.perf_counter() - started, 1)
        print(f"first runs (compile or cache load, {', '.join(layers)}): {results['first_run_seconds']} s",
              flush=True)
        for layer in layers:
            base = None
            for threads in thread_counts:
                result = train_epoch(train, ptb, os.path.join(work, "model"), layer, threads)
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
    common.write_results(args, "scaling", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """One row per layer and thread count: words/s, speed-up, efficiency, test PPL and its change."""
    rows = [(run["layer"], run["threads"], f"{run['words_per_second']:,.0f}", f"{run['speed_up']:.2f}x",
             f"{run['efficiency']:.0%}", f"{run['test_ppl']:.2f}", f"{run['ppl_change']:+.1%}",
             run["diverged"] or "") for run in results["runs"]]
    return (f"PTB's training text written {results['repeat']} times, one epoch, {results['cores']} cores; first runs "
            f"(compile or cache load): {results['first_run_seconds']} s.\n\n"
            + common.table(["layer", "threads", "words/s", "speed-up", "per thread", "test PPL", "PPL change",
                            "diverged attempts"], rows))


if __name__ == "__main__":
    common.run(main)

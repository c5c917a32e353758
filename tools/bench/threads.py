"""Benchmark threads on PTB: hogwild training (words/s, test PPL) and threaded scoring, 1 thread vs N.

    python -m tools.bench.threads [--corpus DIR] [--threads 2] [--seeds 1,2,3] [--layers class,hs]
                                  [--max-iter N] [--speed-rounds 5] [--skip-training] [--quick] [--out bench-results]

Training runs the real ``rnnlmpy train`` (hidden 100, bptt 4, block 10; class
100 or -hs) to the end of its schedule (or -max-iter) once per seed and thread
count, one run at a time, and reports the mean training words/s of its epochs
and its test PPL (scored on one thread). Those runs last minutes each, and this
machine's speed drifts over minutes by more than the goal's margin, so the
speed-up is also measured in pairs: ``--speed-rounds`` rounds of one epoch
(``-one-iter``, seed 1) on 1 thread, then at once on N threads; the median of
the rounds' ratios is the paired speed-up. Scoring is timed in one process, 1
and N threads alternating, best of 3: n-best rescoring of PTB test sentences
with 9 perturbed copies each (10 hypotheses per ID), and ppl of an -independent
model on the test text repeated 5 times; the scores must be identical.
The issue's goals: >= 1.8x on 2 threads, test PPL within 1% of one thread. ``--quick``: one seed, one
epoch, one paired round.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import numpy as np

from rnnlmpy.base.text import read_corpus, read_text, split_tokens, text_lines
from rnnlmpy.rnnlm.evaluation import score_tokens
from rnnlmpy.rnnlm.model_file import load_model
from rnnlmpy.rnnlm.nbest import score_nbest
from tools.bench import common

TOOL = "tools.bench.threads"


def train_run(corpus: str, model: str, layer: str, seed: int, threads: int, max_iter) -> dict:
    """Train one model; return its mean epoch words/s, epochs and test PPL."""
    records = common.train_ptb(corpus, model, layer, threads, seed, options=[
        "-valid", f"{corpus}/ptb.valid.txt", *(["-max-iter", str(max_iter)] if max_iter else [])]).records
    test_ppl, _ = common.score_ptb(corpus, model, threads=1)
    speeds = [r["words_per_second"] for r in records if r.get("words_per_second")]
    return {"words_per_second": sum(speeds) / len(speeds), "epochs": len(records), "test_ppl": test_ppl}


def epoch_speed(corpus: str, model: str, layer: str, threads: int) -> float:
    """Words/s of one ``-one-iter`` epoch of PTB (seed 1) on ``threads`` threads."""
    return common.train_ptb(corpus, model, layer, threads, seed=1, options=["-one-iter"]).words_per_second


def paired_speed(corpus: str, workdir: str, layer: str, threads: int, rounds: int) -> dict:
    """``rounds`` pairs of one epoch on 1 thread and then on ``threads``; words/s of each and the median ratio."""
    pairs = []
    for _ in range(rounds):
        one = epoch_speed(corpus, f"{workdir}/{layer}-speed-1.model", layer, 1)
        many = epoch_speed(corpus, f"{workdir}/{layer}-speed-{threads}.model", layer, threads)
        pairs.append((one, many))
        print(f"{layer} one epoch: 1 thread {one:,.0f} words/s, {threads} threads {many:,.0f} ({many / one:.2f}x)",
              flush=True)
    return {"pairs": pairs, "median_speedup": statistics.median(many / one for one, many in pairs)}


def scoring(corpus: str, model_path: str, independent_path: str, threads: int) -> dict:
    """Time n-best rescoring and independent ppl on 1 and ``threads`` threads (best of 3, alternating)."""
    model, independent = load_model(model_path), load_model(independent_path)
    rng = np.random.default_rng(1)
    vocabulary = model.vocabulary.words[1:]
    hypotheses = []
    for number, line in enumerate(text_lines(read_text(f"{corpus}/ptb.test.txt"))):
        words = split_tokens(line)
        hypotheses.append((str(number), words))
        for _ in range(9):
            copy = list(words)
            if copy:
                copy[rng.integers(len(copy))] = vocabulary[rng.integers(len(vocabulary))]
            hypotheses.append((str(number), copy))
    tokens = read_corpus(f"{corpus}/ptb.test.txt") * 5
    jobs = {"nbest": (lambda n: score_nbest(model, hypotheses, threads=n), sum(len(w) + 1 for _, w in hypotheses)),
            "independent_ppl": (lambda n: score_tokens(independent, tokens, n).probabilities, len(tokens))}
    results = {}
    for name, (job, words) in jobs.items():
        best = {1: float("inf"), threads: float("inf")}
        outputs = {}
        job(1)  # compile
        for _ in range(3):
            for n in (1, threads):
                started = time.perf_counter()
                outputs[n] = job(n)
                best[n] = min(best[n], time.perf_counter() - started)
        if not np.array_equal(outputs[1], outputs[threads]):
            raise common.BenchmarkError(f"{name}: the scores differ between 1 and {threads} threads")
        results[name] = {"words": words, "seconds_1": best[1], f"seconds_{threads}": best[threads],
                         "words_per_second_1": words / best[1],
                         f"words_per_second_{threads}": words / best[threads], "speedup": best[1] / best[threads]}
    return results


def main() -> int:
    def extra(parser):
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--seeds", default="1,2,3")
        parser.add_argument("--layers", default="class,hs")
        parser.add_argument("--max-iter", type=int, default=None, help="epochs per run (default: the full schedule)")
        parser.add_argument("--speed-rounds", type=int, default=5, help="paired one-epoch rounds per layer (0: none)")
        parser.add_argument("--skip-training", action="store_true", help="only the scoring part")

    args, corpus = common.arguments(__doc__, extra, fetch=True)
    if args.quick:
        args.seeds, args.max_iter, args.speed_rounds = args.seeds.split(",")[0], 1, min(args.speed_rounds, 1)
    seeds = [int(s) for s in args.seeds.split(",")]
    report = {"threads": args.threads, "training": {}, "paired_speed": {}}
    with tempfile.TemporaryDirectory() as workdir:
        if not args.skip_training:
            for layer in args.layers.split(","):
                for seed in seeds:
                    for threads in (1, args.threads):
                        run = train_run(corpus, f"{workdir}/{layer}-{seed}-{threads}.model", layer, seed, threads,
                                        args.max_iter)
                        report["training"].setdefault(layer, {}).setdefault(str(threads), []).append(run)
                        print(f"{layer} seed {seed} threads {threads}: {run['words_per_second']:,.0f} words/s, "
                              f"{run['epochs']} epochs, test PPL {run['test_ppl']:.2f}", flush=True)
                if args.speed_rounds > 0:
                    report["paired_speed"][layer] = paired_speed(corpus, workdir, layer, args.threads,
                                                                 args.speed_rounds)
        scoring_model = f"{workdir}/scoring.model"
        independent_model = f"{workdir}/independent.model"
        for path, extra in ((scoring_model, []), (independent_model, ["-independent"])):
            common.rnnlmpy(["train", "-train", f"{corpus}/ptb.train.txt", "-valid", f"{corpus}/ptb.valid.txt", "-rnnlm",
                            path, "-hidden", str(common.HIDDEN), *common.OUTPUT_LAYERS["class"], "-max-iter", "1",
                            "-threads", str(args.threads), "-debug", "0", *extra])
        report["scoring"] = scoring(corpus, scoring_model, independent_model, args.threads)
    common.write_results(args, "threads", TOOL, report)
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    """Training on 1 and N threads (mean words/s and test PPL over seeds), the paired speed-up, threaded scoring."""
    threads = report["threads"]
    rows = []
    for layer, by_threads in report["training"].items():
        base_speed = sum(r["words_per_second"] for r in by_threads["1"]) / len(by_threads["1"])
        base_ppl = sum(r["test_ppl"] for r in by_threads["1"]) / len(by_threads["1"])
        for count, runs in by_threads.items():
            speed = sum(r["words_per_second"] for r in runs) / len(runs)
            ppl = sum(r["test_ppl"] for r in runs) / len(runs)
            rows.append((layer, count, f"{speed:,.0f}", f"{ppl:.2f}", f"{speed / base_speed:.2f}x",
                         f"{100 * (ppl / base_ppl - 1):+.2f}%"))
    for layer, result in report["paired_speed"].items():
        rows.append((f"{layer}, one epoch in pairs (median of {len(result['pairs'])})", f"1 vs {threads}", "", "",
                     f"{result['median_speedup']:.2f}x", ""))
    for name, result in report.get("scoring", {}).items():
        rows.append((name, f"1 vs {threads}", f"{result['words_per_second_1']:,.0f} vs "
                     f"{result[f'words_per_second_{threads}']:,.0f}", "", f"{result['speedup']:.2f}x", "identical"))
    return common.table(["PTB, hidden 100", "threads", "words/s (mean)", "test PPL (mean)", "speed-up", "PPL change"],
                        rows)


if __name__ == "__main__":
    common.run(main)

"""Benchmark the POS taggers on wiki-en: accuracy (gradepos.pl semantics), training time, tagging speed.

    python -m tools.bench.tagger [--corpus DIR] [--seeds 1,2,3] [--ablations] [--hmm-only] [--bptt 1,2,4,0]
                                 [--no-gated] [--quick] [--out bench-results]

Reports the tutorial's HMM (accuracy, and its tagging speed in-process on the test text repeated
10 times, kernel compiled), the tutorial-faithful RNN and the default tagger (mean and spread
over seeds, known vs unseen words), the gated taggers (``-hidden-type lstm`` and ``gru`` with their
defaults, over the same seeds; not with --no-gated), the default tagger's training seconds and its tagging speed
(in-process, kernels compiled, on the test text repeated 10 times; and for `rnnlmpy tag` as a
whole process). With --ablations, also the default with each improvement switched off; with
--hmm-only, only the HMM; with --bptt, only the HMM and the truncated-BPTT table: the tutorial's
network and the default tagger trained with each `-bptt` value (0: the full sentence).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from rnnlmpy.tagger import GATED_CELLS, TaggerConfig, read_tagged, read_words, save_tagger, train_hmm, train_tagger
from tools.bench import common

TOOL = "tools.bench.tagger"

ABLATIONS = {
    "one direction": dict(bidirectional=False),
    "word features only": dict(rich_features=False),
    "no unknown-word classes": dict(unknown_classes=False),
    "single network": dict(ensemble=1),
    "with Viterbi transitions": dict(viterbi=True),
}


def accuracy(predicted, gold, seen_mask):
    """Accuracy of ``predicted`` tags against ``gold`` (lists of sentences), overall and on known / unseen words."""
    flat_predicted = np.array([t for s in predicted for t in s])
    flat_gold = np.array([t for s in gold for t in s])
    right = flat_predicted == flat_gold
    return {"accuracy": float(right.mean()), "correct": int(right.sum()), "total": len(right),
            "known": float(right[seen_mask].mean()), "unseen": float(right[~seen_mask].mean())}


def main() -> int:
    def extra(parser):
        parser.add_argument("--seeds", default="1,2,3")
        parser.add_argument("--ablations", action="store_true")
        parser.add_argument("--hmm-only", action="store_true")
        parser.add_argument("--bptt", default=None, help="comma-separated -bptt values (0: full): only the BPTT table")
        parser.add_argument("--no-gated", action="store_true", help="leave out the lstm and gru taggers")

    args, corpus = common.arguments(__doc__, extra, corpus="wiki-en-pos")
    train = read_tagged(os.path.join(corpus, "wiki-en-train.norm_pos"))
    test = read_words(os.path.join(corpus, "wiki-en-test.norm"))
    with open(os.path.join(corpus, "wiki-en-test.pos"), encoding="utf-8") as handle:
        gold = [line.split(" ") for line in handle.read().splitlines()]
    seen = {w for words, _ in train for w in words}
    seen_mask = np.array([w in seen for s in test for w in s])
    seeds = [int(s) for s in args.seeds.split(",")][:1 if args.quick else None]
    results = {"test_tokens": int(seen_mask.size), "unseen_share": float(1 - seen_mask.mean())}

    hmm = train_hmm(train)
    results["hmm"] = accuracy(hmm.tag(test), gold, seen_mask)
    print(f"HMM (tutorial): {100 * results['hmm']['accuracy']:.2f}% "
          f"({results['hmm']['correct']}/{results['hmm']['total']})")
    repeated = test * 10
    hmm.tag(test[:10])  # model arrays built, Viterbi kernel loaded
    started = time.perf_counter()
    hmm.tag(repeated)
    seconds = time.perf_counter() - started
    tokens = sum(len(s) for s in repeated)
    results["hmm_tokens_per_second"] = round(tokens / seconds)
    print(f"HMM tagging: {results['hmm_tokens_per_second']:,} tokens/s in-process ({tokens:,} tokens)")
    if args.hmm_only:
        common.write_results(args, "tagger", TOOL, results)
        return 0

    def run(config_for_seed, label):
        runs = []
        for seed in seeds:
            started = time.perf_counter()
            tagger = train_tagger(train, config_for_seed(seed), debug=0)
            seconds = time.perf_counter() - started
            runs.append(dict(accuracy(tagger.tag(test), gold, seen_mask), train_seconds=round(seconds, 2)))
        values = [100 * r["accuracy"] for r in runs]
        summary = {"runs": runs, "mean": float(np.mean(values)), "min": min(values), "max": max(values),
                   "known_mean": float(np.mean([100 * r["known"] for r in runs])),
                   "unseen_mean": float(np.mean([100 * r["unseen"] for r in runs]))}
        print(f"{label}: mean {summary['mean']:.2f}% over seeds {seeds} (min {summary['min']:.2f}, max "
              f"{summary['max']:.2f}); known words {summary['known_mean']:.2f}%, unseen {summary['unseen_mean']:.2f}%; "
              f"training {np.mean([r['train_seconds'] for r in runs]):.1f} s")
        return summary, tagger

    if args.bptt is not None:
        values = [int(n) for n in args.bptt.split(",")]
        train_tagger(train[:50], TaggerConfig(epochs=1, ensemble=1, bptt=2), debug=0)  # kernels compiled
        train_tagger(train[:50], TaggerConfig.tutorial(epochs=1, bptt=2), debug=0)
        results["bptt"] = {}
        for label, make in (("tutorial's network (-tutorial)", lambda seed, n: TaggerConfig.tutorial(rand_seed=seed,
                                                                                                      bptt=n)),
                            ("default tagger", lambda seed, n: TaggerConfig(rand_seed=seed, bptt=n))):
            for n in values:
                summary, _ = run(lambda seed: make(seed, n), f"RNN, {label}, -bptt {n}")
                results["bptt"][f"{label}, -bptt {n if n else 'full (0)'}"] = summary
        print(markdown(results))
        common.write_results(args, "tagger", TOOL, results)
        return 0

    results["tutorial_rnn"], _ = run(lambda seed: TaggerConfig.tutorial(rand_seed=seed), "RNN, tutorial-faithful")
    results["default"], tagger = run(lambda seed: TaggerConfig(rand_seed=seed), "RNN, default")
    if not args.no_gated:
        results["gated"] = {}
        for cell in GATED_CELLS:
            results["gated"][cell], _ = run(lambda seed, cell=cell: TaggerConfig.for_cell(cell, rand_seed=seed),
                                            f"RNN, -hidden-type {cell}")
    if args.ablations:
        results["ablations"] = {}
        for label, change in ABLATIONS.items():
            results["ablations"][label], _ = run(lambda seed: TaggerConfig(rand_seed=seed, **change),
                                                 f"RNN, default but {label}")

    repeated = test * 10
    tagger.tag(repeated[:10])  # kernels loaded
    started = time.perf_counter()
    tagger.tag(repeated)
    seconds = time.perf_counter() - started
    tokens = sum(len(s) for s in repeated)
    results["tagging_tokens_per_second"] = round(tokens / seconds)
    with tempfile.TemporaryDirectory() as workdir:
        model = os.path.join(workdir, "tagger")
        save_tagger(tagger, model)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rnnlmpy", "tag", "-model", model, "-test",
                        os.path.join(corpus, "wiki-en-test.norm"), "-debug", "0"], check=True, capture_output=True)
        results["tag_command_seconds"] = round(time.perf_counter() - started, 2)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"tagging: {results['tagging_tokens_per_second']:,} tokens/s in-process ({tokens:,} tokens); "
          f"`rnnlmpy tag` on the test set as a whole process: {results['tag_command_seconds']} s; "
          f"peak RSS {results['peak_rss_mb']} MB")
    common.write_results(args, "tagger", TOOL, results)
    print(markdown(results))
    return 0


def summary_row(label: str, summary: dict) -> tuple:
    """One table row of a tagger trained over seeds: accuracy mean (per seed), known and unseen words, seconds."""
    runs = summary["runs"]
    per_seed = ", ".join(f"{100 * r['accuracy']:.2f}" for r in runs)
    return (label, f"{summary['mean']:.2f} ({per_seed})",
            f"{summary['known_mean']:.2f}", f"{summary['unseen_mean']:.2f}",
            f"{np.mean([r['train_seconds'] for r in runs]):.1f}")


def markdown(results: dict) -> str:
    """The HMM, each RNN tagger trained (over seeds), the BPTT table and the tagging speeds as Markdown."""
    hmm = results["hmm"]
    rows = [("HMM (tutorial)", f"{100 * hmm['accuracy']:.2f}", f"{100 * hmm['known']:.2f}", f"{100 * hmm['unseen']:.2f}",
             "")]
    for key, label in (("tutorial_rnn", "RNN, tutorial-faithful"), ("default", "RNN, default")):
        if key in results:
            rows.append(summary_row(label, results[key]))
    for cell, summary in results.get("gated", {}).items():
        rows.append(summary_row(f"RNN, -hidden-type {cell} (its defaults)", summary))
    for label, summary in results.get("ablations", {}).items():
        rows.append(summary_row(f"RNN, default but {label}", summary))
    for label, summary in results.get("bptt", {}).items():
        rows.append(summary_row(f"RNN, {label}", summary))
    lines = [f"wiki-en test: {results['test_tokens']:,} tokens, {100 * results['unseen_share']:.1f}% unseen in "
             "training.", "",
             common.table(["tagger", "accuracy % (per seed)", "known %", "unseen %", "training s"], rows), "",
             f"HMM tagging: {results['hmm_tokens_per_second']:,} tokens/s in-process."]
    if "tagging_tokens_per_second" in results:
        lines.append(f"Default RNN tagging: {results['tagging_tokens_per_second']:,} tokens/s in-process; "
                     f"`rnnlmpy tag` on the test set as a whole process: {results['tag_command_seconds']} s; "
                     f"peak RSS {results['peak_rss_mb']} MB.")
    return "\n".join(lines)


if __name__ == "__main__":
    common.run(main)

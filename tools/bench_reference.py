#!/usr/bin/env python3
"""rnnlmpy side by side with the C++ tools it is measured against, in one run: PTB training words/s, one core.

    RNNLM_BIN=/path/to/rnnlm FASTER_RNNLM_BIN=/path/to/faster-rnnlm \\
    python tools/bench_reference.py [--corpus DIR] [--rounds 3] [--runs class,hs,nce20,gru-hs] [--out bench-results]

Each run trains one epoch of PTB (hidden 100, bptt 4, one thread, seed 1) with
rnnlmpy and with the reference tool, the two alternating ``--rounds`` times, so
that both see the same machine (these machines are noisy: a speed measured on
another day says little). Reference tools are found through ``RNNLM_BIN`` (the
C++ rnnlm, for the class-factored softmax) and ``FASTER_RNNLM_BIN``
(faster-rnnlm, for hierarchical softmax, NCE and GRU); a run whose tool is not
set is skipped with a line saying so. Build them outside the project (see
README, "Benchmarks"); nothing of theirs is part of rnnlmpy.

- rnnlmpy: ``rnnlmpy train ... -one-iter -threads 1``, its own ``Words/sec``.
- C++ rnnlm: ``-max-iter 1``, its ``Words/sec`` (timed with clock(): CPU time,
  the same as wall time on one thread).
- faster-rnnlm: ``--bptt 4 --bptt-skip 10`` (its spelling of the block; note that it
  propagates errors back only 4 of every 14 steps, where rnnlm's block BPTT takes
  every error at least 4 steps back), one epoch (``-retry 0 -stop 100``); words/s =
  training words (with one ``</s>`` per line) / the epoch's training seconds.

Reports, per run: words/s of each side in each round, the median of each, the
median of the per-round ratios, and each side's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_rnnlm import RNNLMPY, parse_arguments, run_measured  # noqa: E402

# run name -> (rnnlmpy options, reference tool's environment variable, its options)
RUNS = {
    "class": (["-class", "100", "-bptt-block", "10"], "RNNLM_BIN", ["-class", "100", "-bptt-block", "10"]),
    "hs": (["-hs", "-bptt-block", "10"], "FASTER_RNNLM_BIN", ["-hidden-type", "sigmoid"]),
    "nce20": (["-nce", "20", "-bptt-block", "10"], "FASTER_RNNLM_BIN", ["-hidden-type", "sigmoid", "-nce", "20"]),
    "gru-hs": (["-hidden-type", "gru", "-hs", "-bptt-block", "10"], "FASTER_RNNLM_BIN", ["-hidden-type", "gru"]),
}
HIDDEN, BPTT = "100", "4"


def training_words(path: str) -> int:
    """Tokens of a text file as both tools count them: its words plus one ``</s>`` per line."""
    with open(path, encoding="utf-8") as handle:
        return sum(len(line.split()) + 1 for line in handle)


def remove_files(*paths: str) -> None:
    """Delete the files that exist of ``paths`` (a reference tool resumes a model it finds)."""
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


def rnnlmpy_speed(corpus: str, workdir: str, options: list[str]) -> tuple[float, float]:
    """(words/s, peak RSS MB) of one rnnlmpy epoch."""
    command = RNNLMPY + ["train", "-train", f"{corpus}/ptb.train.txt", "-rnnlm", f"{workdir}/ours.model", "-force",
                         "-hidden", HIDDEN, "-bptt", BPTT, *options, "-one-iter", "-threads", "1", "-rand-seed", "1"]
    _, peak, log = run_measured(command)
    return float(re.findall(r"Words/sec: ([\d,]+)", log)[-1].replace(",", "")), peak


def rnnlm_speed(binary: str, corpus: str, workdir: str, options: list[str], words: int) -> tuple[float, float]:
    """(words/s, peak RSS MB) of one C++ rnnlm epoch (a fresh model: rnnlm resumes an existing one)."""
    model = f"{workdir}/rnnlm.model"
    remove_files(model, model + ".output.txt")
    command = [binary, "-train", f"{corpus}/ptb.train.txt", "-valid", f"{corpus}/ptb.valid.txt", "-rnnlm", model,
               "-hidden", HIDDEN, "-bptt", BPTT, *options, "-rand-seed", "1", "-max-iter", "1"]
    _, peak, log = run_measured(command)
    return float(re.findall(r"Words/sec: ([\d.]+)", log)[-1]), peak


def faster_rnnlm_speed(binary: str, corpus: str, workdir: str, options: list[str], words: int) -> tuple[float, float]:
    """(words/s, peak RSS MB) of one faster-rnnlm epoch (a fresh model: it resumes an existing one)."""
    model = f"{workdir}/faster.model"
    remove_files(model, model + ".nnet")
    command = [binary, "-rnnlm", model, "-train", f"{corpus}/ptb.train.txt", "-valid", f"{corpus}/ptb.valid.txt",
               "-hidden", HIDDEN, "-threads", "1", "-bptt", BPTT, "-bptt-skip", "10", "-seed", "1", "-retry", "0",
               "-stop", "100", *options]
    _, peak, log = run_measured(command)
    elapsed = re.findall(r"elapsed: ([\d.]+)([smh])\+", log)
    if not elapsed:
        sys.exit(f"no epoch time in faster-rnnlm's output:\n{log[-2000:]}")
    value, unit = elapsed[0]
    return words / (float(value) * {"s": 1, "m": 60, "h": 3600}[unit]), peak


def main() -> int:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides per run")
        parser.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")

    args, corpus = parse_arguments(__doc__, extra)
    words = training_words(f"{corpus}/ptb.train.txt")
    results = {"machine": os.uname().machine, "cpus": os.cpu_count(), "training_words": words, "runs": {}}
    measure_reference = {"RNNLM_BIN": rnnlm_speed, "FASTER_RNNLM_BIN": faster_rnnlm_speed}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.runs.split(","):
            if name not in RUNS:
                sys.exit(f"unknown run {name!r}; choose from {', '.join(RUNS)}")
            ours_options, variable, their_options = RUNS[name]
            binary = os.environ.get(variable)
            if not binary:
                print(f"{name}: skipped ({variable} is not set)")
                continue
            ours, theirs, peaks = [], [], [0.0, 0.0]
            for _ in range(args.rounds):
                speed, peak = rnnlmpy_speed(corpus, workdir, ours_options)
                ours.append(speed)
                peaks[0] = max(peaks[0], peak)
                speed, peak = measure_reference[variable](binary, corpus, workdir, their_options, words)
                theirs.append(speed)
                peaks[1] = max(peaks[1], peak)
            ratio = statistics.median(a / b for a, b in zip(ours, theirs))
            tool = os.path.basename(binary)
            results["runs"][name] = {"reference": tool, "rnnlmpy_words_per_second": [round(s) for s in ours],
                                     "reference_words_per_second": [round(s) for s in theirs],
                                     "ratio_median": round(ratio, 3), "rnnlmpy_peak_rss_mb": round(peaks[0], 1),
                                     "reference_peak_rss_mb": round(peaks[1], 1),
                                     "rnnlmpy_options": ours_options, "reference_options": their_options}
            print(f"{name}: rnnlmpy {statistics.median(ours):,.0f} words/s ({', '.join(f'{s:,.0f}' for s in ours)}; "
                  f"{peaks[0]:.0f} MB), {tool} {statistics.median(theirs):,.0f} words/s "
                  f"({', '.join(f'{s:,.0f}' for s in theirs)}; {peaks[1]:.0f} MB): ratio {ratio:.2f}", flush=True)
    with open(os.path.join(args.out, "bench_reference.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    print(f"written {os.path.join(args.out, 'bench_reference.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

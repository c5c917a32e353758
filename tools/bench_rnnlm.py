#!/usr/bin/env python3
"""Benchmark rnnlmpy on PTB: training words/s, ppl words/s, compile time, peak memory.

Each measurement runs the real ``rnnlmpy`` command in a fresh process, so peak
memory (max RSS) is that command's alone. Numba's first-call compile time is
measured separately with an empty cache folder, then with the cache warm.

    python tools/bench_rnnlm.py [--corpus DIR] [--hidden 100] [--class 100] [--out bench-results]

The C++ rnnlm 0.4a reference on this machine type: ~35,000 training words/s
(one core) and ~64,000 words/s for -test including model load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "corpora"))

import locate  # noqa: E402  (corpora/locate.py)

RNNLMPY = [sys.executable, "-m", "rnnlmpy"]
OUTPUT_LAYER_RUNS = [("hs", ["-hs"]), ("nce20", ["-nce", "20"]), ("gru-class", ["-hidden-type", "gru", "-class", "100"]),
                     ("gru-hs", ["-hidden-type", "gru", "-hs"])]  # faster-rnnlm here: HS ~440k, NCE 20 ~280k, GRU ~85k


def run_measured(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, that process's peak RSS in MB, its stdout+stderr)."""
    with tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        sys.exit(f"benchmark command failed ({' '.join(command)}):\n{text}")
    return seconds, usage.ru_maxrss / 1024.0, text


def compile_times(corpus: str, workdir: str) -> dict:
    """Seconds for a tiny train+ppl with an empty Numba cache, then with the cache filled."""
    tiny = os.path.join(workdir, "tiny.txt")
    with open(os.path.join(corpus, "ptb.valid.txt"), encoding="utf-8") as handle:
        lines = handle.readlines()[:200]
    with open(tiny, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(workdir, "numba-cache"))
    times = {}
    for label in ("cold_cache_seconds", "warm_cache_seconds"):
        model = os.path.join(workdir, f"tiny-{label}.model")
        seconds, _, _ = run_measured(RNNLMPY + ["train", "-train", tiny, "-valid", tiny, "-rnnlm", model,
                                                "-hidden", "10", "-class", "10", "-bptt", "2", "-max-iter", "1",
                                                "-debug", "0", "-test", tiny], env)
        times[label] = round(seconds, 2)
    return times


def parse_arguments(description: str, extra) -> tuple[argparse.Namespace, str]:
    """Common benchmark arguments (--corpus, --out, plus ``extra(parser)``); returns (args, PTB folder)."""
    parser = argparse.ArgumentParser(description=description.split("\n")[0])
    parser.add_argument("--corpus", default=None, help="folder with ptb.{train,valid,test}.txt")
    parser.add_argument("--out", default="bench-results", help="folder for the JSON results")
    extra(parser)
    args = parser.parse_args()
    try:
        corpus = args.corpus or locate.find_corpus("ptb")
    except locate.CorporaError as error:
        sys.exit(str(error))
    if corpus is None:
        sys.exit("PTB not found: run `make corpora` or pass --corpus")
    os.makedirs(args.out, exist_ok=True)
    return args, corpus


def main() -> int:
    def extra(parser):
        parser.add_argument("--hidden", type=int, default=100)
        parser.add_argument("--classes", type=int, default=100)

    args, corpus = parse_arguments(__doc__, extra)
    results = {"machine": os.uname().machine, "cpus": os.cpu_count(), "hidden": args.hidden,
               "classes": args.classes}
    with tempfile.TemporaryDirectory() as workdir:
        results["compile"] = compile_times(corpus, workdir)
        model = os.path.join(workdir, "ptb.model")
        train_command = RNNLMPY + ["train", "-train", os.path.join(corpus, "ptb.train.txt"), "-rnnlm", model,
                                   "-hidden", str(args.hidden), "-class", str(args.classes), "-bptt", "4",
                                   "-bptt-block", "10", "-one-iter", "-rand-seed", "1"]
        seconds, peak, log = run_measured(train_command)
        speed = float(re.search(r"Words/sec: ([\d,]+)", log).group(1).replace(",", ""))
        results["train_one_epoch"] = {"command": " ".join(train_command[2:]), "words_per_second": speed,
                                      "process_seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}
        ppl_command = RNNLMPY + ["ppl", "-rnnlm", model, "-test", os.path.join(corpus, "ptb.test.txt")]
        seconds, peak2, log = run_measured(ppl_command)
        scored = re.search(r"scored ([\d,]+) tokens in ([\d.]+) s \(([\d,]+) words/s\)", log)
        tokens = int(scored.group(1).replace(",", ""))
        results["output_layers"] = {}
        for label, options in OUTPUT_LAYER_RUNS:  # the same epoch with the other output layers and hidden types
            other = os.path.join(workdir, f"ptb-{label}.model")
            command = RNNLMPY + ["train", "-train", os.path.join(corpus, "ptb.train.txt"), "-rnnlm", other, "-hidden",
                                 str(args.hidden), *options, "-bptt", "4", "-bptt-block", "10", "-one-iter",
                                 "-rand-seed", "1"]
            _, other_peak, other_log = run_measured(command)
            results["output_layers"][label] = {
                "command": " ".join(command[2:]), "peak_rss_mb": round(other_peak, 1),
                "words_per_second": float(re.search(r"Words/sec: ([\d,]+)", other_log).group(1).replace(",", ""))}
        results["ppl"] = {"command": " ".join(ppl_command[2:]),
                          "words_per_second_scoring": float(scored.group(3).replace(",", "")),
                          "words_per_second_whole_process": round(tokens / seconds),
                          "process_seconds": round(seconds, 2), "peak_rss_mb": round(peak2, 1)}
    with open(os.path.join(args.out, "bench_rnnlm.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    train_result, ppl_result = results["train_one_epoch"], results["ppl"]
    print(f"numba compile (tiny train+ppl, new process): cold cache {results['compile']['cold_cache_seconds']} s, "
          f"warm cache {results['compile']['warm_cache_seconds']} s")
    print(f"train PTB one epoch (hidden {args.hidden}, class {args.classes}, bptt 4, block 10): "
          f"{train_result['words_per_second']:,.0f} words/s (C++ rnnlm: ~35,000), "
          f"peak RSS {train_result['peak_rss_mb']} MB (C++ rnnlm: 415 MB)")
    for label, run in results["output_layers"].items():
        print(f"train PTB one epoch, {label}: {run['words_per_second']:,.0f} words/s, peak RSS {run['peak_rss_mb']} MB "
              f"({run['command']})")
    print(f"ppl PTB test: {ppl_result['words_per_second_scoring']:,.0f} words/s scoring, "
          f"{ppl_result['words_per_second_whole_process']:,.0f} words/s for the whole process incl. start-up "
          f"and model load ({ppl_result['process_seconds']} s, peak RSS {ppl_result['peak_rss_mb']} MB; "
          f"C++ rnnlm: ~64,000 words/s, 1.3 s)")
    print(f"written {os.path.join(args.out, 'bench_rnnlm.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

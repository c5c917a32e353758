"""Benchmark ``rnnlmpy.corpus.encode_file``: tokens/s and peak memory, cold, writing the cache, and from the cache.

    python -m tools.bench.corpus [--corpus /tmp/rnnlmpy-zipf-20000000w-200000v.txt] [--words 20000000]
                                 [--vocabulary 200000] [--repeat 3] [--quick] [--out bench-results]

The corpus is written by ``tools.bench.zipf`` when it does not exist
(then kept for the next run). Each measurement runs in a fresh process that
imports rnnlmpy, loads the kernels on a small file, reads its peak RSS
(``ru_maxrss``) as the baseline, then encodes the corpus once and reads its peak
RSS again, so the growth per token is the encoder's own. Modes: ``cold``
(``cache=False``, all in memory), ``first`` (an empty cache folder: the run
that writes the entry) and ``warm`` (the entry memory-mapped). ``type_counts``
is then timed on the result (for ``warm`` that includes paging the ids in from
the page cache). The best of ``--repeat`` runs is shown. ``--quick``: a million words (just above the size
the corpus cache starts at), one run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

from tools.bench import common
from tools.bench.zipf import default_path, ensure_corpus

TOOL = "tools.bench.corpus"
MODES = ("cold", "first", "warm")
QUICK_WORDS = 1_000_000  # about 6 MB of text: above rnnlmpy.corpus.encoding.CACHE_MIN_BYTES, so it is cached

CHILD = r"""
import json, os, resource, sys, tempfile, time
import numpy as np
from rnnlmpy.corpus import encode_file, type_counts
mode, corpus = sys.argv[1], sys.argv[2]
after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.NamedTemporaryFile("w", suffix=".txt") as small_file:
    small_file.write(" ".join(f"w{i}" for i in range(10000)) + "\n")  # enough types to load the growth kernel too
    small_file.flush()
    small = encode_file(small_file.name, cache=False)
    type_counts(small.type_ids, len(small.types))
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
encoded = encode_file(corpus, cache=(mode != "cold"))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
type_counts(encoded.type_ids, len(encoded.types))
count_seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "count_seconds": count_seconds, "tokens": len(encoded),
                  "types": len(encoded.types), "lines": encoded.line_count,
                  "mapped": isinstance(encoded.type_ids, np.memmap),
                  "after_import_kib": after_import, "baseline_kib": baseline, "peak_kib": peak}))
"""


def measure(mode: str, corpus: str, cache_dir: str) -> dict:
    """One fresh process encoding ``corpus`` in ``mode`` with RNNLMPY_CACHE_DIR=cache_dir; its JSON report."""
    env = dict(os.environ, RNNLMPY_CACHE_DIR=cache_dir)
    done = subprocess.run([sys.executable, "-c", CHILD, mode, corpus], env=env, cwd=common.CHECKOUT, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise common.BenchmarkError(f"{mode} run failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_runs(corpus: str, repeat: int, workdir: str) -> dict:
    """Mode -> the fastest of ``repeat`` runs (each ``first`` run gets an empty cache folder)."""
    results = {mode: [] for mode in MODES}
    shared = os.path.join(workdir, "cache")
    for attempt in range(repeat):
        results["cold"].append(measure("cold", corpus, os.path.join(workdir, "unused")))
        fresh = os.path.join(workdir, f"first-{attempt}")
        results["first"].append(measure("first", corpus, fresh))
        if attempt == 0:
            if not os.path.isdir(fresh):
                raise common.BenchmarkError(f"{corpus} was not cached: is it smaller than the corpus cache's minimum?")
            shutil.copytree(fresh, shared)
        shutil.rmtree(fresh)
        results["warm"].append(measure("warm", corpus, shared))
    for run in results["warm"]:
        if not run["mapped"]:
            raise common.BenchmarkError("the warm runs did not come from the cache")
    return {mode: min(runs, key=lambda run: run["seconds"]) for mode, runs in results.items()}


def table(best: dict) -> str:
    """The results as a fixed-width table."""
    lines = [f"{'mode':<6} {'seconds':>8} {'tokens/s':>14} {'type_counts s':>13} {'peak RSS MB':>11} "
             f"{'after import MB':>15} {'after kernels MB':>16} {'growth B/token':>14}"]
    for mode, run in best.items():
        growth = (run["peak_kib"] - run["baseline_kib"]) * 1024 / run["tokens"]
        lines.append(f"{mode:<6} {run['seconds']:>8.3f} {run['tokens'] / run['seconds']:>14,.0f} "
                     f"{run['count_seconds']:>13.3f} {run['peak_kib'] / 1024:>11.1f} "
                     f"{run['after_import_kib'] / 1024:>15.1f} {run['baseline_kib'] / 1024:>16.1f} {growth:>14.2f}")
    return "\n".join(lines)


def main() -> int:
    def extra(parser):
        parser.add_argument("--words", type=int, default=20_000_000)
        parser.add_argument("--vocabulary", type=int, default=200_000)
        parser.add_argument("--corpus", help="corpus file (written by tools.bench.zipf when missing); default: "
                                             "/tmp/rnnlmpy-zipf-<words>w-<vocabulary>v.txt")
        parser.add_argument("--repeat", type=int, default=3)

    args, _ = common.arguments(__doc__, extra, corpus=None)
    if args.quick:
        args.words, args.vocabulary, args.repeat = min(args.words, QUICK_WORDS), min(args.vocabulary, 20_000), 1
    corpus = args.corpus or default_path(args.words, args.vocabulary)
    ensure_corpus(corpus, args.words, args.vocabulary)
    with tempfile.TemporaryDirectory(prefix="rnnlmpy-bench-corpus-") as workdir:
        best = best_runs(corpus, max(1, args.repeat), workdir)
    run = best["cold"]
    results = {"corpus": os.path.basename(corpus), "corpus_mib": round(os.path.getsize(corpus) / 2**20, 1),
               "tokens": run["tokens"], "lines": run["lines"], "types": run["types"], "repeat": max(1, args.repeat),
               "best": best}
    common.write_results(args, "corpus", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """The corpus and the fixed-width table of the best run of each mode."""
    return (f"Corpus {results['corpus']}: {results['corpus_mib']:,.1f} MiB, {results['tokens']:,} tokens "
            f"({results['lines']:,} lines), {results['types']:,} types; best of {results['repeat']}, one process "
            f"each.\n\n```\n{table(results['best'])}\n```")


if __name__ == "__main__":
    common.run(main)

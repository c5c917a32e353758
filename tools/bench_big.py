#!/usr/bin/env python3
"""Big corpora: training memory and speed on synthetic Zipf corpora of 1M, 20M and 100M words.

    python tools/bench_big.py [--sizes 1000000,20000000,100000000] [--vocabulary 200000] [--threads 2]
                              [--layer hs|nce|class] [--out bench-results]

For each size the corpus is written once by ``tools/make_zipf_corpus.py`` (kept in
the temporary folder), then ``rnnlmpy train -one-iter`` (hidden 100, bptt 4,
block 10) runs in a fresh process with an empty corpus cache: it reads, counts
and encodes the text (writing the cache), builds the model and trains one
epoch. Reported: seconds to the first trained word (reading + encoding +
vocabulary), training words/s, peak RSS of the process, the size of the
model's weights, and what the corpus costs beyond the model, per training
token: the peak minus the peak of the same command on a corpus that holds
each word of the vocabulary once (the same model, almost no text), divided by
the difference in tokens. The last line extrapolates one epoch of a
1-billion-word corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_corpus import ensure_corpus  # noqa: E402

LAYERS = {"hs": ["-hs"], "nce": ["-nce", "20"], "class": []}


def train_measured(corpus: str, model: str, layer: str, threads: int, cache_dir: str) -> dict:
    """Train one epoch in a fresh process; return seconds, peak RSS (MB) and the model's figures."""
    command = [sys.executable, "-m", "rnnlmpy", "train", "-train", corpus, "-rnnlm", model, "-hidden", "100",
               "-bptt", "4", "-bptt-block", "10", "-one-iter", "-threads", str(threads), "-debug", "0", "-force",
               *LAYERS[layer]]
    env = dict(os.environ, RNNLMPY_CACHE_DIR=cache_dir)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"training failed: {' '.join(command)}")
    with open(model + ".history.jsonl", encoding="utf-8") as handle:
        record = json.loads(handle.readline())
    from rnnlmpy.rnnlm.model_file import load_model
    trained = load_model(model)
    weights = sum(array.nbytes for array in trained.weights().values())
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "train_seconds": record["seconds"],
            "words_per_second": record["words_per_second"], "tokens": trained.training.train_words,
            "vocabulary": trained.vocabulary.size, "weights_mb": weights / 2**20}


def vocabulary_corpus(model_file: str, path: str) -> None:
    """Write every word of the model's vocabulary once (ten to a line): the same model, almost no text."""
    from rnnlmpy.rnnlm.model_file import load_model
    words = load_model(model_file).vocabulary.words[1:]
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(" ".join(words[i:i + 10]) + "\n" for i in range(0, len(words), 10))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,20000000,100000000")
    parser.add_argument("--vocabulary", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layer", choices=sorted(LAYERS), default="hs")
    parser.add_argument("--out", default="bench-results")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rnnlmpy-bench-big-") as workdir:
        for words in (int(size) for size in args.sizes.split(",")):
            corpus = os.path.join(tempfile.gettempdir(), f"rnnlmpy-zipf-{words}w-{args.vocabulary}v.txt")
            ensure_corpus(corpus, words, args.vocabulary)
            model = os.path.join(workdir, f"{words}.model")
            run = train_measured(corpus, model, args.layer, args.threads, os.path.join(workdir, f"cache-{words}"))
            small = os.path.join(workdir, f"{words}-vocabulary.txt")
            vocabulary_corpus(model, small)
            base = train_measured(small, os.path.join(workdir, f"{words}-vocabulary.model"), args.layer,
                                  args.threads, os.path.join(workdir, f"cache-{words}-vocabulary"))
            run.update(words=words, setup_seconds=run["seconds"] - run["train_seconds"], base_peak_mb=base["peak_mb"],
                       bytes_per_token=(run["peak_mb"] - base["peak_mb"]) * 2**20 / (run["tokens"] - base["tokens"]))
            rows.append(run)
            print(f"{words:,} words: {run}", flush=True)
    print(f"\nrnnlmpy train -{args.layer} -hidden 100 -bptt 4 -bptt-block 10 -one-iter -threads {args.threads} on "
          f"Zipf corpora ({args.vocabulary:,}-word vocabulary)\n")
    print("| words | vocabulary | read+encode+setup s | training words/s | peak RSS | same model, no text | "
          "weights | text per token |")
    print("|---|---|---|---|---|---|---|---|")
    for run in rows:
        print(f"| {run['words'] / 1e6:g}M | {run['vocabulary']:,} | {run['setup_seconds']:.1f} | "
              f"{run['words_per_second']:,.0f} | {run['peak_mb']:,.0f} MB | {run['base_peak_mb']:,.0f} MB | "
              f"{run['weights_mb']:,.0f} MB | {run['bytes_per_token']:.1f} B |")
    speed = rows[-1]["words_per_second"]
    print(f"\nOne epoch of 1 billion words at {speed:,.0f} words/s ({args.threads} threads): "
          f"{1e9 / speed / 3600:.1f} h; with N cores at the same per-core speed: "
          f"{1e9 / (speed / args.threads) / 3600:.1f} h / N")
    with open(os.path.join(args.out, "big.json"), "w", encoding="utf-8") as handle:
        json.dump({"runs": rows, "command": " ".join(sys.argv)}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

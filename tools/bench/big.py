"""Big corpora: training memory and speed on synthetic Zipf corpora of 1M, 20M and 100M words.

    python -m tools.bench.big [--sizes 1000000,20000000,100000000] [--vocabulary 200000] [--threads 2]
                              [--layer hs|nce20|class|class-sqrt] [--quick] [--out bench-results]

For each size the corpus is written once by ``tools.bench.zipf`` (kept in
the temporary folder), then ``rnnlmpy train -one-iter`` (hidden 100, bptt 4,
block 10) runs in a fresh process with an empty corpus cache: it reads, counts
and encodes the text (writing the cache), builds the model and trains one
epoch. Reported: seconds to the first trained word (reading + encoding +
vocabulary), training words/s, peak RSS of the process, the size of the
model's weights, and what the corpus costs beyond the model, per training
token: the peak minus the peak of the same command on a corpus that holds
each word of the vocabulary once (the same model, almost no text), divided by
the difference in tokens. The last line extrapolates one epoch of a
1-billion-word corpus. ``--quick``: one corpus of 20,000 words over 2,000 word types.
"""

from __future__ import annotations

import os
import tempfile

from rnnlmpy.rnnlm.model_file import load_model
from tools.bench import common
from tools.bench.zipf import default_path, ensure_corpus

TOOL = "tools.bench.big"


def train_measured(corpus: str, model: str, layer: str, threads: int, cache_dir: str) -> dict:
    """Train one epoch in a fresh process with an empty corpus cache; return seconds, peak RSS (MB) and the
    model's figures."""
    run = common.train_text(corpus, model, layer, threads, options=["-one-iter"],
                            env=dict(os.environ, RNNLMPY_CACHE_DIR=cache_dir))
    record = run.records[0]
    trained = load_model(model)
    weights = sum(array.nbytes for array in trained.weights().values())
    return {"seconds": run.measured.seconds, "peak_mb": run.measured.peak_rss_mb, "train_seconds": record["seconds"],
            "words_per_second": record["words_per_second"], "tokens": trained.training.train_words,
            "vocabulary": trained.vocabulary.size, "weights_mb": weights / 2**20}


def vocabulary_corpus(model_file: str, path: str) -> None:
    """Write every word of the model's vocabulary once (ten to a line): the same model, almost no text."""
    words = load_model(model_file).vocabulary.words[1:]
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(" ".join(words[i:i + 10]) + "\n" for i in range(0, len(words), 10))


def main() -> int:
    def extra(parser):
        parser.add_argument("--sizes", default="1000000,20000000,100000000")
        parser.add_argument("--vocabulary", type=int, default=200_000)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--layer", choices=sorted(common.OUTPUT_LAYERS), default="hs")

    args, _ = common.arguments(__doc__, extra, corpus=None)
    if args.quick:
        args.sizes, args.vocabulary = "20000", min(args.vocabulary, 2_000)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rnnlmpy-bench-big-") as workdir:
        for words in (int(size) for size in args.sizes.split(",")):
            corpus = default_path(words, args.vocabulary)
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
    results = {"layer": args.layer, "threads": args.threads, "vocabulary": args.vocabulary, "runs": rows,
               "train_command": common.shown(common.train_command("CORPUS", "MODEL", args.layer, args.threads,
                                                                  options=["-one-iter"]))}
    common.write_results(args, "big", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """One row per corpus size, and the extrapolation to one epoch of a billion words."""
    rows = [(f"{run['words'] / 1e6:g}M", f"{run['vocabulary']:,}", f"{run['setup_seconds']:.1f}",
             f"{run['words_per_second']:,.0f}", f"{run['peak_mb']:,.0f} MB", f"{run['base_peak_mb']:,.0f} MB",
             f"{run['weights_mb']:,.0f} MB", f"{run['bytes_per_token']:.1f} B") for run in results["runs"]]
    speed, threads = results["runs"][-1]["words_per_second"], results["threads"]
    return (f"`{results['train_command']}` on Zipf corpora ({results['vocabulary']:,}-word vocabulary)\n\n"
            + common.table(["words", "vocabulary", "read+encode+setup s", "training words/s", "peak RSS",
                            "same model, no text", "weights", "text per token"], rows)
            + f"\n\nOne epoch of 1 billion words at {speed:,.0f} words/s ({threads} threads): "
              f"{1e9 / speed / 3600:.1f} h; with N cores at the same per-core speed: "
              f"{1e9 / (speed / threads) / 3600:.1f} h / N")


if __name__ == "__main__":
    common.run(main)

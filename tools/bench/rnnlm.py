"""rnnlmpy on PTB: training words/s per output layer and cell, ppl words/s, compile time, peak memory.

    python -m tools.bench.rnnlm [--corpus DIR] [--hidden 100] [--layers class,hs,nce20,gru-class,gru-hs]
                                [--quick] [--out bench-results]

Each measurement runs the real ``rnnlmpy`` command in a fresh process, so peak memory (max RSS) is that
command's alone. Numba's first-call compile time is measured separately (a tiny train+ppl with an empty
cache folder, then with the cache warm), so the training and scoring figures exclude it. Training is one
epoch of PTB (bptt 4, block 10, one thread, seed 1); ppl scores PTB test with rnnlmpy's default threads.

The C++ rnnlm 0.4a reference on this machine type: ~35,000 training words/s (one core, 415 MB) and
~64,000 words/s (1.3 s) for -test including model load; faster-rnnlm: HS ~440k, NCE 20 ~280k, GRU ~85k.
For the C++ tools measured in the same run, see ``python -m tools.bench.reference``.
"""

from __future__ import annotations

import os
import tempfile

from tools.bench import common

TOOL = "tools.bench.rnnlm"
LAYERS = ["class", "hs", "nce20", "gru-class", "gru-hs"]


def compile_times(corpus: str, workdir: str) -> dict:
    """Seconds of a tiny train+ppl (200 lines of PTB valid) in a new process with an empty Numba cache, then with
    the cache filled."""
    tiny = common.slice_corpus(corpus, ["ptb.valid.txt"], os.path.join(workdir, "tiny"), lines=200)
    text = os.path.join(tiny, "ptb.valid.txt")
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(workdir, "numba-cache"))
    times = {}
    for label in ("cold_cache_seconds", "warm_cache_seconds"):
        measured = common.rnnlmpy(["train", "-train", text, "-valid", text, "-rnnlm",
                                   os.path.join(workdir, f"tiny-{label}.model"), "-hidden", "10", "-class", "10",
                                   "-bptt", "2", "-max-iter", "1", "-debug", "0", "-test", text], env)
        times[label] = round(measured.seconds, 2)
    return times


def training_run(corpus: str, workdir: str, layer: str, hidden: int) -> dict:
    """One epoch of PTB with ``layer``: words/s, process seconds, peak RSS."""
    run = common.train_ptb(corpus, os.path.join(workdir, f"ptb-{layer}.model"), layer, hidden=hidden,
                           options=["-one-iter"])
    return {"command": common.shown(run.command), "words_per_second": round(run.words_per_second),
            "process_seconds": round(run.measured.seconds, 2), "peak_rss_mb": round(run.measured.peak_rss_mb, 1)}


def main() -> int:
    def extra(parser):
        parser.add_argument("--hidden", type=int, default=common.HIDDEN)
        parser.add_argument("--layers", default=",".join(LAYERS), help="output layers and cells to train "
                                                                        f"({', '.join(common.OUTPUT_LAYERS)})")

    args, corpus = common.arguments(__doc__, extra)
    layers = args.layers.split(",")
    for layer in layers:
        common.layer_options(layer)
    results = {"hidden": args.hidden, "layers": {}}
    with tempfile.TemporaryDirectory() as workdir:
        results["compile"] = compile_times(corpus, workdir)
        for layer in layers:
            results["layers"][layer] = training_run(corpus, workdir, layer, args.hidden)
            print(f"train PTB one epoch, {layer}: {results['layers'][layer]['words_per_second']:,} words/s", flush=True)
        scored_layer = "class" if "class" in layers else layers[0]
        command = common.ppl_command(corpus, os.path.join(workdir, f"ptb-{scored_layer}.model"), threads=None)
        measured = common.measure(command)
        tokens = common.number(r"scored ([\d,]+) tokens", measured.output)
        results["ppl"] = {"command": common.shown(command), "layer": scored_layer,
                          "test_ppl": common.perplexity(measured.output),
                          "words_per_second_scoring": common.number(r"tokens in [\d.]+ s \(([\d,]+) words/s\)",
                                                                    measured.output),
                          "words_per_second_whole_process": round(tokens / measured.seconds),
                          "process_seconds": round(measured.seconds, 2), "peak_rss_mb": round(measured.peak_rss_mb, 1)}
    common.write_results(args, "rnnlm", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """The results as Markdown: compile time, a table of training runs, the ppl run."""
    compiled = results["compile"]
    lines = [f"Numba compile (tiny train+ppl, new process): {compiled['cold_cache_seconds']} s with an empty cache, "
             f"{compiled['warm_cache_seconds']} s with the cache filled.", ""]
    rows = [(layer, f"{run['words_per_second']:,}", run["process_seconds"], run["peak_rss_mb"], f"`{run['command']}`")
            for layer, run in results["layers"].items()]
    lines.append(common.table(["PTB, one epoch, hidden " + str(results["hidden"]), "training words/s",
                               "process s", "peak RSS MB", "command"], rows))
    ppl = results["ppl"]
    lines += ["", f"ppl of PTB test ({ppl['layer']} model, PPL {ppl['test_ppl']}): "
                  f"{ppl['words_per_second_scoring']:,.0f} words/s scoring, {ppl['words_per_second_whole_process']:,} "
                  f"words/s for the whole process incl. start-up and model load ({ppl['process_seconds']} s, peak RSS "
                  f"{ppl['peak_rss_mb']} MB): `{ppl['command']}`"]
    return "\n".join(lines)


if __name__ == "__main__":
    common.run(main)

"""rnnlmpy side by side with the C++ tools it is measured against, in one run: PTB training words/s, one core.

    RNNLM_BIN=/path/to/rnnlm FASTER_RNNLM_BIN=/path/to/faster-rnnlm \\
    python -m tools.bench.reference [--corpus DIR] [--rounds 3] [--runs class,hs,nce20,gru-hs] [--quick]
                                    [--out bench-results]

Each run trains one epoch of PTB (hidden 100, bptt 4, block 10, one thread, seed 1) with rnnlmpy and with the
reference tool, the two alternating ``--rounds`` times, so that both see the same machine (these machines are
noisy: a speed measured on another day says little). Reference tools are found through ``RNNLM_BIN`` (the C++
rnnlm, for the class-factored softmax) and ``FASTER_RNNLM_BIN`` (faster-rnnlm, for hierarchical softmax, NCE
and GRU); a run whose tool is not set is skipped with a line saying so. Build them outside the project (see
README, "Benchmarks"); nothing of theirs is part of rnnlmpy.

- rnnlmpy: ``rnnlmpy train ... -one-iter -threads 1``, its epoch's words/s.
- C++ rnnlm: ``-max-iter 1``, its ``Words/sec`` (timed with clock(): CPU time, the same as wall time on one
  thread).
- faster-rnnlm: ``--bptt 4 --bptt-skip 10`` (its spelling of the block; note that it propagates errors back
  only 4 of every 14 steps, where rnnlm's block BPTT takes every error at least 4 steps back), one epoch
  (``-retry 0 -stop 100``); words/s = training words (with one ``</s>`` per line) / the epoch's training
  seconds.

Reports, per run: words/s of each side in each round, the median of each, the median of the per-round ratios,
and each side's peak RSS; for the C++ rnnlm's run, also both sides' PTB test perplexity after that one epoch
(the last round's models: ``rnnlmpy ppl`` and ``rnnlm -rnnlm MODEL -test``).
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile

from tools.bench import common

TOOL = "tools.bench.reference"
# run name (an OUTPUT_LAYERS name) -> (the reference tool's environment variable, its options)
RUNS = {
    "class": ("RNNLM_BIN", ["-class", "100", "-bptt-block", str(common.BPTT_BLOCK)]),
    "hs": ("FASTER_RNNLM_BIN", ["-hidden-type", "sigmoid"]),
    "nce20": ("FASTER_RNNLM_BIN", ["-hidden-type", "sigmoid", "-nce", "20"]),
    "gru-hs": ("FASTER_RNNLM_BIN", ["-hidden-type", "gru"]),
}


def training_words(path: str) -> int:
    """Tokens of a text file as both tools count them: its words plus one ``</s>`` per line."""
    with open(path, encoding="utf-8") as handle:
        return sum(len(line.split()) + 1 for line in handle)


def remove_files(*paths: str) -> None:
    """Delete the files that exist of ``paths`` (a reference tool resumes a model it finds)."""
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


def rnnlmpy_speed(corpus: str, workdir: str, layer: str) -> tuple[float, float]:
    """(words/s, peak RSS MB) of one rnnlmpy epoch on one thread."""
    run = common.train_ptb(corpus, f"{workdir}/ours.model", layer, threads=1, options=["-one-iter"])
    return run.words_per_second, run.measured.peak_rss_mb


def rnnlm_speed(binary: str, corpus: str, workdir: str, options: list[str], words: int) -> tuple[float, float]:
    """(words/s, peak RSS MB) of one C++ rnnlm epoch (a fresh model: rnnlm resumes an existing one)."""
    model = f"{workdir}/rnnlm.model"
    remove_files(model, model + ".output.txt")
    measured = common.measure([binary, "-train", f"{corpus}/ptb.train.txt", "-valid", f"{corpus}/ptb.valid.txt",
                               "-rnnlm", model, "-hidden", str(common.HIDDEN), "-bptt", str(common.BPTT), *options,
                               "-rand-seed", "1", "-max-iter", "1"])
    speeds = re.findall(r"Words/sec: ([\d.]+)", measured.output)
    if not speeds:
        raise common.BenchmarkError(f"no Words/sec in rnnlm's output:\n{measured.output[-2000:]}")
    return float(speeds[-1]), measured.peak_rss_mb


def faster_rnnlm_speed(binary: str, corpus: str, workdir: str, options: list[str], words: int) -> tuple[float, float]:
    """(words/s, peak RSS MB) of one faster-rnnlm epoch (a fresh model: it resumes an existing one)."""
    model = f"{workdir}/faster.model"
    remove_files(model, model + ".nnet")
    measured = common.measure([binary, "-rnnlm", model, "-train", f"{corpus}/ptb.train.txt", "-valid",
                               f"{corpus}/ptb.valid.txt", "-hidden", str(common.HIDDEN), "-threads", "1", "-bptt",
                               str(common.BPTT), "-bptt-skip", str(common.BPTT_BLOCK), "-seed", "1", "-retry", "0",
                               "-stop", "100", *options])
    elapsed = re.findall(r"elapsed: ([\d.]+)([smh])\+", measured.output)
    if not elapsed:
        raise common.BenchmarkError(f"no epoch time in faster-rnnlm's output:\n{measured.output[-2000:]}")
    value, unit = elapsed[0]
    return words / (float(value) * {"s": 1, "m": 60, "h": 3600}[unit]), measured.peak_rss_mb


MEASURE_REFERENCE = {"RNNLM_BIN": rnnlm_speed, "FASTER_RNNLM_BIN": faster_rnnlm_speed}
REFERENCE_NAMES = {"RNNLM_BIN": "C++ rnnlm", "FASTER_RNNLM_BIN": "faster-rnnlm"}  # both binaries are called rnnlm


def test_perplexities(binary: str, corpus: str, workdir: str) -> dict:
    """PTB test perplexity of the last epoch's models: rnnlmpy's (``rnnlmpy ppl``) and the C++ rnnlm's (its
    ``-test``)."""
    ours, _ = common.score_ptb(corpus, f"{workdir}/ours.model")
    theirs = common.measure([binary, "-rnnlm", f"{workdir}/rnnlm.model", "-test", f"{corpus}/ptb.test.txt"])
    return {"rnnlmpy_test_ppl": ours, "reference_test_ppl": common.perplexity(theirs.output)}


def main() -> int:
    def extra(parser):
        parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides per run")
        parser.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")

    args, corpus = common.arguments(__doc__, extra)
    rounds = 1 if args.quick else args.rounds
    words = training_words(f"{corpus}/ptb.train.txt")
    results = {"training_words": words, "rounds": rounds, "runs": {},
               "load_average_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.runs.split(","):
            if name not in RUNS:
                raise common.BenchmarkError(f"unknown run {name!r}; choose from {', '.join(RUNS)}")
            variable, their_options = RUNS[name]
            binary = os.environ.get(variable)
            if not binary:
                print(f"{name}: skipped ({variable} is not set)")
                continue
            ours, theirs, peaks = [], [], [0.0, 0.0]
            for _ in range(rounds):
                speed, peak = rnnlmpy_speed(corpus, workdir, name)
                ours.append(speed)
                peaks[0] = max(peaks[0], peak)
                speed, peak = MEASURE_REFERENCE[variable](binary, corpus, workdir, their_options, words)
                theirs.append(speed)
                peaks[1] = max(peaks[1], peak)
            ratio = statistics.median(a / b for a, b in zip(ours, theirs))
            results["runs"][name] = {"reference": REFERENCE_NAMES[variable], "binary": binary,
                                     "rnnlmpy_words_per_second": [round(s) for s in ours],
                                     "reference_words_per_second": [round(s) for s in theirs],
                                     "ratio_median": round(ratio, 3), "rnnlmpy_peak_rss_mb": round(peaks[0], 1),
                                     "reference_peak_rss_mb": round(peaks[1], 1),
                                     "rnnlmpy_options": common.layer_options(name), "reference_options": their_options}
            if variable == "RNNLM_BIN":
                results["runs"][name].update(test_perplexities(binary, corpus, workdir))
            print(f"{name}: ratio {ratio:.2f}", flush=True)
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    common.write_results(args, "reference", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """One table row per run: both tools' words/s (median and each round), the median ratio, peak RSS."""
    if not results["runs"]:
        return "No reference tool was set (RNNLM_BIN, FASTER_RNNLM_BIN): nothing measured side by side."
    rows = []
    for name, run in results["runs"].items():
        ours, theirs = run["rnnlmpy_words_per_second"], run["reference_words_per_second"]
        rows.append((name, REFERENCE_NAMES[RUNS[name][0]] if name in RUNS else run["reference"], f"{statistics.median(ours):,.0f} ({', '.join(f'{s:,}' for s in ours)})",
                     f"{statistics.median(theirs):,.0f} ({', '.join(f'{s:,}' for s in theirs)})",
                     f"{run['ratio_median']:.2f}", f"{run['rnnlmpy_peak_rss_mb']:.0f} / {run['reference_peak_rss_mb']:.0f}",
                     f"{run['rnnlmpy_test_ppl']:.2f} / {run['reference_test_ppl']:.2f}" if "rnnlmpy_test_ppl" in run
                     else ""))
    load = (f"\n\nLoad average (1 min) before {results['load_average_before']}, after "
            f"{results['load_average_after']}: the machine's other work slows both sides, not always alike."
            if "load_average_before" in results else "")
    return common.table([f"PTB one epoch, one thread ({results['rounds']} alternating rounds)", "reference",
                         "rnnlmpy words/s", "reference words/s", "ratio (median)", "peak RSS MB (ours / theirs)",
                         "test PPL after the epoch (ours / theirs)"], rows) + load


if __name__ == "__main__":
    common.run(main)

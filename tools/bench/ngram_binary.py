"""The binary n-gram format on PTB: file size, load time, query speed beside the kenlm module, whole-process cost.

    python -m tools.bench.ngram_binary [--corpus DIR] [--order 5] [--rounds 7] [--quick] [--out bench-results]

Builds KN5 on PTB train (ARPA), converts it (``ngram -lm kn5.arpa -binary kn5.bin``), then measures:
the two files' sizes; loading the binary model in a process (``read_ngram``, median of repeated loads);
scoring PTB test in that process with ``score_sentences`` and with the ``kenlm`` module's ``full_scores``
(on the ARPA file; skipped when kenlm is not installed), in alternating rounds, as words/s of wall and of
CPU time (the CPU figure is the steadier one on a busy machine); and whole ``rnnlmpy ngram -lm MODEL -test``
processes for the binary and the ARPA file (wall time, peak RSS).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from tools.bench import common

TOOL = "tools.bench.ngram_binary"

# Run in a fresh interpreter (its own memory and Numba state): loads, then alternating scoring rounds.
IN_PROCESS = r"""
import json, sys, time
from rnnlmpy.ngram import read_ngram, read_sentences, score_sentences
binary, arpa, test, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
loads = []
for _ in range(max(rounds, 5)):
    started = time.perf_counter()
    model = read_ngram(binary)
    loads.append(time.perf_counter() - started)
sentences = read_sentences(test)
lines = [" ".join(sentence) for sentence in sentences]
tokens = len(score_sentences(model, sentences).tokens)  # the kernel is loaded (or compiled) here, not timed
try:
    import kenlm
    reference = kenlm.Model(arpa)
except ImportError:
    reference = None
timings = {"rnnlmpy": [], "kenlm": []}
for _ in range(rounds):
    for name in ("rnnlmpy", "kenlm"):
        if name == "kenlm" and reference is None:
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        if name == "rnnlmpy":
            score_sentences(model, sentences)
        else:
            for line in lines:
                for _ in reference.full_scores(line):
                    pass
        timings[name].append((time.perf_counter() - wall, time.process_time() - cpu))
print(json.dumps({"loads": loads, "tokens": tokens, "timings": timings, "kenlm": reference is not None}))
"""


def words_per_second(tokens: int, seconds: list[float]) -> float:
    """Tokens per second at the median of ``seconds``."""
    return round(tokens / statistics.median(seconds))


def main() -> int:
    args, corpus = common.arguments(__doc__, lambda parser: (parser.add_argument("--order", type=int, default=5),
                                                             parser.add_argument("--rounds", type=int, default=7)))
    train, test = os.path.join(corpus, "ptb.train.txt"), os.path.join(corpus, "ptb.test.txt")
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as workdir:
        arpa, binary = os.path.join(workdir, f"kn{args.order}.arpa"), os.path.join(workdir, f"kn{args.order}.bin")
        common.measure([*common.RNNLMPY, "ngram", "-train", train, "-order", str(args.order), "-arpa", arpa])
        convert = [*common.RNNLMPY, "ngram", "-lm", arpa, "-binary", binary]
        converted = common.measure(convert)
        sizes = {"arpa_mb": os.path.getsize(arpa) / 2 ** 20, "binary_mb": os.path.getsize(binary) / 2 ** 20}
        done = subprocess.run([sys.executable, "-c", IN_PROCESS, binary, arpa, test, str(rounds)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise common.BenchmarkError(f"the in-process measurement failed:\n{done.stderr[-3000:]}")
        inside = json.loads(done.stdout.strip().splitlines()[-1])
        processes = {}
        for name, model in (("binary", binary), ("arpa", arpa)):
            command = [*common.RNNLMPY, "ngram", "-lm", model, "-test", test, "-debug", "1"]
            runs = [common.measure(command) for _ in range(rounds if name == "binary" else 1)]
            processes[name] = {"command": common.shown(command),
                               "process_seconds": round(statistics.median(r.seconds for r in runs), 2),
                               "peak_rss_mb": round(max(r.peak_rss_mb for r in runs), 1),
                               "load_seconds": common.number(r"loaded .* in ([\d.]+) s", runs[-1].output),
                               "test_ppl": common.ngram_perplexity(runs[-1].output)}
    tokens, timings = inside["tokens"], inside["timings"]
    speed = {name: {"wall_words_per_second": words_per_second(tokens, [wall for wall, _ in values]),
                    "cpu_words_per_second": words_per_second(tokens, [cpu for _, cpu in values])}
             for name, values in timings.items() if values}
    results = {
        "order": args.order, "tokens": tokens, "rounds": rounds,
        "sizes": {key: round(value, 1) for key, value in sizes.items()} | {
            "binary_over_arpa": round(sizes["binary_mb"] / sizes["arpa_mb"], 3)},
        "convert": {"command": common.shown(convert), "process_seconds": round(converted.seconds, 2),
                    "peak_rss_mb": round(converted.peak_rss_mb, 1)},
        "load_ms": {"median": round(1000 * statistics.median(inside["loads"]), 1),
                    "min": round(1000 * min(inside["loads"]), 1)},
        "query": speed,
        "processes": processes,
    }
    common.write_results(args, "ngram_binary", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """Sizes, load time, query speed beside kenlm, whole processes."""
    sizes, query, processes = results["sizes"], results["query"], results["processes"]
    lines = [f"KN{results['order']} on PTB: binary file {sizes['binary_mb']:.1f} MB, "
             f"{100 * sizes['binary_over_arpa']:.1f}% of the {sizes['arpa_mb']:.1f} MB ARPA file; converted in "
             f"{results['convert']['process_seconds']:.2f} s (`{results['convert']['command']}`).",
             "",
             f"Loading the binary model in a process: {results['load_ms']['median']:.1f} ms (median; "
             f"min {results['load_ms']['min']:.1f} ms).",
             "",
             common.table(["scoring PTB test (" + f"{results['tokens']:,} tokens, {results['rounds']} alternating "
                           "rounds)", "words/s (wall)", "words/s (CPU)"],
                          [[{"rnnlmpy": "rnnlmpy `score_sentences`, binary model",
                             "kenlm": "kenlm module `full_scores`, ARPA file"}[name],
                            f"{figures['wall_words_per_second']:,}", f"{figures['cpu_words_per_second']:,}"]
                           for name, figures in query.items()]),
             "",
             common.table(["whole process", "seconds", "peak RSS (MB)", "load (s)", "test ppl"],
                          [[f"`{figures['command']}`", f"{figures['process_seconds']:.2f}",
                            f"{figures['peak_rss_mb']:.0f}", f"{figures['load_seconds']:.3f}", figures["test_ppl"]]
                           for figures in processes.values()])]
    return "\n".join(lines)


if __name__ == "__main__":
    common.run(main)

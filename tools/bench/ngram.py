"""The Kneser-Ney n-gram tools on PTB: build time and peak memory, load time, scoring speed.

    python -m tools.bench.ngram [--corpus DIR] [--order 5] [--quick] [--out bench-results]

Reference point on this machine type: IRSTLM builds its (weaker) PTB 5-gram in ~17-20 s.
"""

from __future__ import annotations

import os
import tempfile

from tools.bench import common

TOOL = "tools.bench.ngram"


def main() -> int:
    args, corpus = common.arguments(__doc__, lambda parser: parser.add_argument("--order", type=int, default=5))
    with tempfile.TemporaryDirectory() as workdir:
        arpa = os.path.join(workdir, f"kn{args.order}.arpa")
        build = [*common.RNNLMPY, "ngram", "-train", os.path.join(corpus, "ptb.train.txt"), "-order", str(args.order),
                 "-arpa", arpa, "-debug", "1"]
        built = common.measure(build)
        arpa_mb = os.path.getsize(arpa) / 2**20
        score = [*common.RNNLMPY, "ngram", "-lm", arpa, "-test", os.path.join(corpus, "ptb.test.txt"), "-debug", "1"]
        scored = common.measure(score)
    results = {
        "order": args.order,
        "build": {"command": common.shown(build), "process_seconds": round(built.seconds, 2),
                  "count_estimate_write_seconds": common.number(r"built in ([\d.]+) s", built.output),
                  "peak_rss_mb": round(built.peak_rss_mb, 1), "arpa_mb": round(arpa_mb, 1)},
        "score": {"command": common.shown(score), "load_seconds": common.number(r"loaded .* in ([\d.]+) s", scored.output),
                  "words_per_second": common.number(r"\(([\d,]+) words/s\)", scored.output),
                  "process_seconds": round(scored.seconds, 2), "peak_rss_mb": round(scored.peak_rss_mb, 1),
                  "test_ppl": common.number(r"ppl= ([\d.]+)", scored.output)},
    }
    common.write_results(args, "ngram", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """Build and scoring, one line each."""
    order, build, score = results["order"], results["build"], results["score"]
    return (f"KN{order} build on PTB: {build['process_seconds']:.2f} s for the whole process "
            f"({build['count_estimate_write_seconds']:.2f} s counting, estimating and writing {build['arpa_mb']:.0f} MB "
            f"of ARPA), peak RSS {build['peak_rss_mb']:.0f} MB: `{build['command']}`\n\n"
            f"KN{order} scoring PTB test: {score['words_per_second']:,.0f} words/s once loaded (ARPA load "
            f"{score['load_seconds']:.2f} s, whole process {score['process_seconds']:.2f} s), peak RSS "
            f"{score['peak_rss_mb']:.0f} MB, test ppl {score['test_ppl']}: `{score['command']}`")


if __name__ == "__main__":
    common.run(main)

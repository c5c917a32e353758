#!/usr/bin/env python3
"""Benchmark the Kneser-Ney n-gram tools on PTB: build time and peak memory, load time, scoring speed.

    python tools/bench_ngram.py [--corpus DIR] [--order 5] [--out bench-results]

Reference points on this machine type: IRSTLM builds its (weaker) PTB 5-gram in ~17-20 s.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_rnnlm import RNNLMPY, parse_arguments, run_measured  # noqa: E402


def main() -> int:
    args, corpus = parse_arguments(__doc__, lambda parser: parser.add_argument("--order", type=int, default=5))
    with tempfile.TemporaryDirectory() as workdir:
        arpa = os.path.join(workdir, f"kn{args.order}.arpa")
        build = RNNLMPY + ["ngram", "-train", os.path.join(corpus, "ptb.train.txt"), "-order", str(args.order),
                           "-arpa", arpa, "-debug", "1"]
        build_seconds, build_peak, log = run_measured(build)
        inner = float(re.search(r"built in ([\d.]+) s", log).group(1))
        arpa_mb = os.path.getsize(arpa) / 2**20
        score = RNNLMPY + ["ngram", "-lm", arpa, "-test", os.path.join(corpus, "ptb.test.txt"), "-debug", "1"]
        score_seconds, score_peak, log = run_measured(score)
        load = float(re.search(r"loaded .* in ([\d.]+) s", log).group(1))
        speed = float(re.search(r"\(([\d,]+) words/s\)", log).group(1).replace(",", ""))
        ppl = float(re.search(r"ppl= ([\d.]+)", log).group(1))
    results = {
        "order": args.order,
        "build": {"command": " ".join(build[2:]), "process_seconds": round(build_seconds, 2),
                  "count_estimate_write_seconds": inner, "peak_rss_mb": round(build_peak, 1),
                  "arpa_mb": round(arpa_mb, 1)},
        "score": {"command": " ".join(score[2:]), "load_seconds": load, "words_per_second": speed,
                  "process_seconds": round(score_seconds, 2), "peak_rss_mb": round(score_peak, 1),
                  "test_ppl": ppl},
    }
    with open(os.path.join(args.out, "bench_ngram.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    print(f"KN{args.order} build on PTB: {build_seconds:.2f} s for the whole process ({inner:.2f} s counting, "
          f"estimating and writing {arpa_mb:.0f} MB of ARPA), peak RSS {build_peak:.0f} MB")
    print(f"KN{args.order} scoring PTB test: {speed:,.0f} words/s once loaded (ARPA load {load:.2f} s), "
          f"peak RSS {score_peak:.0f} MB, test ppl {ppl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

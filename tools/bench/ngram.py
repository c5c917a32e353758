"""The Kneser-Ney n-gram tools on PTB: build time and peak memory, load time, scoring speed.

    python -m tools.bench.ngram [--corpus DIR] [--order 5] [--quick] [--out bench-results]

Reference point on this machine type: IRSTLM builds its (weaker) PTB 5-gram in ~17-20 s. When KenLM's Python
module is installed (the test extra), the same ARPA file is also scored by KenLM: a second implementation's
perplexity of our model.
"""

from __future__ import annotations

import math
import os
import tempfile

from tools.bench import common

TOOL = "tools.bench.ngram"


def kenlm_perplexity(arpa: str, test: str) -> float | None:
    """Perplexity of ``test`` under ``arpa`` as KenLM's Python module computes it (every line with ``<s>`` and
    ``</s>``; tokens = words + one ``</s>`` per line); None when kenlm is not installed."""
    try:
        import kenlm
    except ImportError:
        print("KenLM: skipped (its Python module is not installed)")
        return None
    model = kenlm.Model(arpa)
    log10_total, tokens = 0.0, 0
    with open(test, encoding="utf-8") as handle:
        for line in handle:
            sentence = " ".join(line.split())
            log10_total += model.score(sentence, bos=True, eos=True)
            tokens += len(sentence.split()) + 1
    return round(math.pow(10.0, -log10_total / tokens), 6)


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
        kenlm_ppl = kenlm_perplexity(arpa, os.path.join(corpus, "ptb.test.txt"))
    results = {
        "order": args.order,
        "build": {"command": common.shown(build), "process_seconds": round(built.seconds, 2),
                  "count_estimate_write_seconds": common.number(r"built in ([\d.]+) s", built.output),
                  "peak_rss_mb": round(built.peak_rss_mb, 1), "arpa_mb": round(arpa_mb, 1)},
        "score": {"command": common.shown(score), "load_seconds": common.number(r"loaded .* in ([\d.]+) s", scored.output),
                  "words_per_second": common.number(r"\(([\d,]+) words/s\)", scored.output),
                  "process_seconds": round(scored.seconds, 2), "peak_rss_mb": round(scored.peak_rss_mb, 1),
                  "test_ppl": common.ngram_perplexity(scored.output), "kenlm_test_ppl": kenlm_ppl},
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
            f"{score['peak_rss_mb']:.0f} MB, test ppl {score['test_ppl']}: `{score['command']}`"
            + (f"\n\nThe same ARPA file scored by KenLM's Python module: test ppl {score['kenlm_test_ppl']}."
               if score.get("kenlm_test_ppl") is not None else ""))


if __name__ == "__main__":
    common.run(main)

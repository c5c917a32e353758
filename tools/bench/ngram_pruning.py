"""Pruning a Kneser-Ney 5-gram on PTB: n-grams kept and test perplexity, by threshold and by count cutoffs.

    python -m tools.bench.ngram_pruning [--corpus DIR] [--order 5] [--quick] [--out bench-results]

Relative-entropy pruning (``-prune``, Stolcke's, histories weighed by their training counts) from 1e-9 to
1e-6, the same weighing histories by the model as SRILM does (``-prune-history model``), then KenLM-style
count cutoffs (``-cutoffs``), each a fresh ``rnnlmpy ngram -train ... -test ptb.test.txt`` run. The goal it
checks: ``-prune 1e-7`` keeps test perplexity within 5% of the unpruned model's with at most half the n-grams.
"""

from __future__ import annotations

import os
import re

from tools.bench import common

TOOL = "tools.bench.ngram_pruning"
THRESHOLDS = ("1e-9", "3e-9", "1e-8", "3e-8", "1e-7", "3e-7", "1e-6")
MODEL_HISTORY_THRESHOLDS = ("1e-8", "3e-8", "1e-7")
CUTOFFS = ("0,0,1", "0,1,1", "0,1,2")
GOAL_THRESHOLD, GOAL_PPL_INCREASE, GOAL_KEPT = "1e-7", 0.05, 0.5


def main() -> int:
    args, corpus = common.arguments(__doc__, lambda parser: parser.add_argument("--order", type=int, default=5))
    train, test = (os.path.join(corpus, name) for name in ("ptb.train.txt", "ptb.test.txt"))
    base = [*common.RNNLMPY, "ngram", "-train", train, "-order", str(args.order), "-test", test, "-debug", "1"]
    rows = [run_one(base, [], "none", "")]
    rows += [run_one(base, ["-prune", threshold], "prune", threshold) for threshold in THRESHOLDS]
    rows += [run_one(base, ["-prune", threshold, "-prune-history", "model"], "prune",
                     f"{threshold} -prune-history model") for threshold in MODEL_HISTORY_THRESHOLDS]
    rows += [run_one(base, ["-cutoffs", cutoffs], "cutoffs", cutoffs) for cutoffs in CUTOFFS]
    unpruned = rows[0]
    for row in rows:
        row["kept_fraction"] = round(row["ngrams"] / unpruned["ngrams"], 4)
        row["ppl_increase"] = round(row["test_ppl"] / unpruned["test_ppl"] - 1, 4)
    results = {"order": args.order, "rows": rows}
    common.write_results(args, "ngram_pruning", TOOL, results)
    print(markdown(results))
    return 0


def run_one(base: list[str], options: list[str], method: str, setting: str) -> dict:
    """One build-prune-score run: its n-grams per order (the debug lines), test ppl and times."""
    command = [*base, *options]
    measured = common.measure(command)
    per_order = [int(n.replace(",", "")) for n in re.findall(r"order \d+: ([\d,]+) n-grams", measured.output)]
    return {"method": method, "setting": setting, "command": common.shown(command), "ngrams": sum(per_order),
            "per_order": per_order, "test_ppl": common.ngram_perplexity(measured.output),
            "process_seconds": round(measured.seconds, 2), "peak_rss_mb": round(measured.peak_rss_mb, 1)}


def markdown(results: dict) -> str:
    """The curve as a table, and whether the goal holds."""
    rows = results["rows"]
    table = common.table(
        ["pruning", "n-grams", "kept", "per order", "PTB test ppl", "ppl change", "whole process"],
        [[f"`-{row['method']} {row['setting']}`" if row["method"] != "none" else "none",
          f"{row['ngrams']:,}", f"{100 * row['kept_fraction']:.1f}%", " / ".join(f"{n:,}" for n in row["per_order"]),
          f"{row['test_ppl']:.2f}", f"{100 * row['ppl_increase']:+.2f}%", f"{row['process_seconds']:.1f} s"]
         for row in rows])
    goal = next((row for row in rows if row["method"] == "prune" and row["setting"] == GOAL_THRESHOLD), None)
    lines = [f"KN{results['order']} on PTB, pruned: n-grams kept and PTB test perplexity (each row one "
             f"`{rows[0]['command']}` run with the option shown).", "", table]
    if goal is not None:
        met = goal["ppl_increase"] <= GOAL_PPL_INCREASE and goal["kept_fraction"] <= GOAL_KEPT
        lines += ["", f"Goal (`-prune {GOAL_THRESHOLD}`: ppl within {100 * GOAL_PPL_INCREASE:.0f}% with at most "
                      f"{100 * GOAL_KEPT:.0f}% of the n-grams): {'met' if met else 'not met'} "
                      f"({100 * goal['ppl_increase']:+.2f}% ppl, {100 * goal['kept_fraction']:.1f}% kept)."]
    return "\n".join(lines)


if __name__ == "__main__":
    common.run(main)

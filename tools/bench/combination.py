"""The best combination on PTB test that ``rnnlmpy compare`` finds: RNN models trained to convergence, KN n-grams,
and their interpolation tuned on valid.

    python -m tools.bench.combination [--corpus DIR] [--seeds 1] [--layer class] [--orders 3,5] [--quick]
                                      [--out bench-results]

Each seed trains one RNN with the PTB recipe (hidden 100, bptt 4, block 10, one thread) and rnnlm's
learning-rate schedule on ``ptb.valid.txt`` (``rnnlmpy train ... -valid ptb.valid.txt``); ``compare`` then
builds the KN models and interpolates each RNN with the best of them (weights by EM on valid). Reports every
row of the comparison and the one with the lowest test perplexity. The published combinations of this
model family on PTB reach about 100-105 with many more and larger models (README); this is what one
``make bench``-sized run reaches.
"""

from __future__ import annotations

import os
import tempfile
import time

from rnnlmpy.mixing import compare_models
from tools.bench import common

TOOL = "tools.bench.combination"


def main() -> int:
    def extra(parser):
        parser.add_argument("--seeds", default="1", help="comma list: one RNN trained per seed")
        parser.add_argument("--layer", default="class", help=f"output layer ({', '.join(common.OUTPUT_LAYERS)})")
        parser.add_argument("--orders", default="3,5", help="KN orders that compare builds")

    args, corpus = common.arguments(__doc__, extra)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    orders = [int(order) for order in args.orders.split(",")]
    valid, test = (os.path.join(corpus, name) for name in ("ptb.valid.txt", "ptb.test.txt"))
    results = {"layer": args.layer, "members": [], "rows": []}
    with tempfile.TemporaryDirectory() as workdir:
        models = []
        for seed in seeds:
            model = os.path.join(workdir, f"rnn.seed{seed}")
            run = common.train_ptb(corpus, model, args.layer, seed=seed,
                                   options=["-valid", valid, *(["-max-iter", "2"] if args.quick else [])])
            models.append(model)
            results["members"].append({"command": common.shown(run.command), "epochs": len(run.records),
                                       "seconds": round(run.measured.seconds, 1)})
            print(f"seed {seed}: {len(run.records)} epochs, {run.measured.seconds:.0f} s", flush=True)
        started = time.perf_counter()
        rows = compare_models(os.path.join(corpus, "ptb.train.txt"), valid, test, models, orders)
        results["compare_seconds"] = round(time.perf_counter() - started, 1)
    results["rows"] = [{"name": row.name, "valid_ppl": round(row.valid_ppl, 2), "test_ppl": round(row.test_ppl, 2),
                        "note": row.note} for row in rows]
    best = min(results["rows"], key=lambda row: row["test_ppl"])
    results["test_ppl"], results["what"] = best["test_ppl"], best["name"]
    common.write_results(args, "combination", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """Every row of the comparison, the best one in bold, and how the RNNs were trained."""
    rows = [(f"**{row['name']}**" if row["name"] == results["what"] else row["name"], f"{row['valid_ppl']:.2f}",
             f"{row['test_ppl']:.2f}", row["note"]) for row in results["rows"]]
    members = "; ".join(f"`{member['command']}` ({member['epochs']} epochs, {member['seconds']:.0f} s)"
                        for member in results["members"])
    return "\n".join([common.table(["model", "valid PPL", "test PPL", ""], rows), "",
                      f"The RNNs: {members}. `rnnlmpy compare` (KN models, interpolation by EM on valid): "
                      f"{results['compare_seconds']:.0f} s."])


if __name__ == "__main__":
    common.run(main)

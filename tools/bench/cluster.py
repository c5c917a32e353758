"""A 4-member grid (seeds 1-4) on PTB: one local worker, two local workers, and two Dask workers.

    python -m tools.bench.cluster [--corpus DIR] [--max-iter 1] [--quick] [--out bench-results]

Each run is ``rnnlmpy train -rand-seed 1,2,3,4 -hidden 100 -class 100 -max-iter N
-threads 1`` (each member on one thread), timed from start to exit: with ``-jobs 1``,
``-jobs 2``, and ``-scheduler`` pointing at a Dask scheduler with two single-threaded
workers that this script starts on 127.0.0.1 (and stops). The models of the three
runs must be identical (one thread per member is reproducible).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from tools.bench import common

TOOL = "tools.bench.cluster"


def start_cluster(folder: str) -> tuple[str, list[subprocess.Popen]]:
    """A Dask scheduler and two single-threaded workers on 127.0.0.1: (address, processes)."""
    scheduler_file = os.path.join(folder, "scheduler.json")
    log = open(os.path.join(folder, "cluster.log"), "w")
    env = {**os.environ, "RNNLMPY_THREADS": "1"}
    processes = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                   "--port", "0", "--no-dashboard", "--scheduler-file", scheduler_file],
                                  stdout=log, stderr=subprocess.STDOUT, env=env)]
    while not os.path.exists(scheduler_file):
        time.sleep(0.2)
    for _ in range(2):
        processes.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                           scheduler_file, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
                                          stdout=log, stderr=subprocess.STDOUT, env=env))
    address = json.load(open(scheduler_file))["address"]
    import distributed
    with distributed.Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
    return address, processes


def main() -> int:
    args, corpus = common.arguments(__doc__, lambda parser: parser.add_argument("--max-iter", type=int, default=1),
                                    fetch=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="rnnlmpy-bench-cluster-") as workdir:
        address, processes = start_cluster(workdir)
        try:
            for label, extra in (("1 local worker (-jobs 1)", ["-jobs", "1"]),
                                 ("2 local workers (-jobs 2)", ["-jobs", "2"]),
                                 ("2 Dask workers (-scheduler)", ["-scheduler", address])):
                prefix = os.path.join(workdir, label.split()[0] + extra[0])
                command = [*common.RNNLMPY, "train", "-train", f"{corpus}/ptb.train.txt", "-valid",
                           f"{corpus}/ptb.valid.txt", "-rnnlm", prefix, "-rand-seed", "1,2,3,4", "-hidden",
                           str(common.HIDDEN), *common.OUTPUT_LAYERS["class"], "-max-iter", str(args.max_iter),
                           "-threads", "1", *extra]
                results[label] = {"seconds": common.measure(command).seconds, "prefix": prefix,
                                  "command": common.shown(command)}
                print(f"{label}: {results[label]['seconds']:.1f} s", flush=True)
            from rnnlmpy.rnnlm.model_file import load_model
            import numpy as np
            first = next(iter(results.values()))["prefix"]
            for result in results.values():
                for seed in (1, 2, 3, 4):
                    if not np.array_equal(load_model(f"{result['prefix']}.seed{seed}").recurrent,
                                          load_model(f"{first}.seed{seed}").recurrent):
                        raise common.BenchmarkError(f"seed {seed}: the models of the runs differ")
        finally:
            for process in reversed(processes):  # the workers first: they would wait for a lost scheduler
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    report = {"max_iter": args.max_iter, "runs": {label: {"seconds": round(r["seconds"], 1), "command": r["command"]}
                                                  for label, r in results.items()}}
    common.write_results(args, "cluster", TOOL, report)
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    """Seconds and speed-up of each way of running the 4-member grid."""
    runs = report["runs"]
    base = next(iter(runs.values()))["seconds"]
    rows = [(label, f"{run['seconds']:.1f}", f"{base / run['seconds']:.2f}x") for label, run in runs.items()]
    return (common.table([f"4 members, PTB, hidden 100, class 100, -max-iter {report['max_iter']}, 1 thread each",
                          "seconds", "speed-up"], rows)
            + "\n\n(the models of all three runs are identical; the first run's command: "
              f"`{next(iter(runs.values()))['command']}`)")


if __name__ == "__main__":
    common.run(main)

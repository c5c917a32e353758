"""The "minibatches for the old cells too" goal: PTB, hidden 100, sigmoid, hierarchical softmax, one core, the
batched engine's time to test PPL <= 175.0 against faster-rnnlm's own time to its 175.0, side by side.

    python -m tools.bench.batched_hs [--corpus PTB] [--runs 20x20@0.1:adagrad,20x20@1:sgd] [--max-epochs 12]
                                     [--options "-beta 0 -clip-norm 0"] [--quick] [--out bench-results]

faster-rnnlm (``FASTER_RNNLM_BIN``; built outside the project, see README "Benchmarks") trains with its own
schedule to its end: ``-hidden 100 -hidden-type sigmoid -threads 1 -bptt 4 -bptt-skip 10 -seed 1`` (the reference
benchmark's recipe; hierarchical softmax is its default output layer), then ``-test ptb.test.txt``; its time is the
whole training process. Each rnnlmpy run ``BxT@ALPHA:OPTIMIZER`` trains ``-hs -hidden 100 -hidden-type sigmoid
-threads 1 -batch B -bptt T -alpha ALPHA -optimizer OPTIMIZER -dropout 0`` and the ``--options`` (the batched
engine; ``-beta 0`` lets SGD and Adagrad update only the rows a window used) in a worker process (``--worker``)
that scores PTB's test text after every epoch (the scoring's time not counted) and stops at the first epoch at or
below the target, or when the schedule stops, or after ``--max-epochs``; its time is from the worker's start
(imports, corpus, kernels from Numba's cache, validation included) to that epoch's end (to the first progress call
after it: at most ~20,000 words later), after a warm-up that has the kernels compiled into Numba's cache (a user's
second run). Both sides: wall seconds and CPU seconds (user + system), one BLAS thread. The machine is shared: the
load average is recorded before and after; CPU seconds are the steadier figure under load. Goal (issue 25):
rnnlmpy's time <= half of faster-rnnlm's.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

START = time.perf_counter()  # a worker's clock starts before it imports rnnlmpy (tools.bench.common does)
START_CPU = time.process_time()

from tools.bench import common  # noqa: E402 (after the clock's start: its imports count in a worker's time)

TOOL = "tools.bench.batched_hs"
TARGET_PPL = 175.0  # faster-rnnlm's PTB test PPL with this recipe (issue 25: 37.8 s for its 12 epochs)
GOAL_SHARE = 0.5  # rnnlmpy's time to the target at most this share of faster-rnnlm's
HIDDEN = 100
DEFAULT_RUNS = "20x20@0.1:adagrad"  # BATCHxWINDOW@ALPHA:OPTIMIZER, comma-separated
DEFAULT_OPTIONS = "-beta 0 -clip-norm 0"  # every run's: no weight decay (row-sparse steps), no clipping
FASTER_OPTIONS = ["-hidden", str(HIDDEN), "-hidden-type", "sigmoid", "-threads", "1", "-bptt", "4", "-bptt-skip",
                  "10", "-seed", "1"]
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def parse_run(spec: str) -> dict:
    """``BxT@ALPHA[:OPTIMIZER]`` -> {"batch": B, "bptt": T, "alpha": ALPHA, "optimizer": OPTIMIZER (sgd)}."""
    from rnnlmpy.kernels.optimizers import OPTIMIZERS  # (here: a worker's clock starts before rnnlmpy's import)

    found = re.fullmatch(r"(\d+)x(\d+)@([0-9.]+)(?::([a-z]+))?", spec.strip())
    if not found:
        raise common.BenchmarkError(f"a run is BATCHxWINDOW@ALPHA[:OPTIMIZER], e.g. 20x20@0.1:adagrad (got {spec!r})")
    if found.group(4) and found.group(4) not in OPTIMIZERS:
        raise common.BenchmarkError(f"{found.group(4)!r} is not an optimiser ({', '.join(OPTIMIZERS)})")
    return {"batch": int(found.group(1)), "bptt": int(found.group(2)), "alpha": float(found.group(3)),
            "optimizer": found.group(4) or "sgd"}


def run_options(run: dict, extra: list[str]) -> list[str]:
    """The rnnlmpy train options of a run."""
    return ["-hs", "-hidden", str(HIDDEN), "-hidden-type", "sigmoid", "-threads", "1", "-batch", str(run["batch"]),
            "-bptt", str(run["bptt"]), "-alpha", f"{run['alpha']:g}", "-optimizer", run["optimizer"],
            *(["-dropout", "0"] if "-dropout" not in extra else []), *extra]


def worker(job: dict) -> int:
    """Train one run in this process, printing one JSON line per epoch (seconds from the process start, CPU
    seconds, validation and test PPL); stop at the target test PPL, the schedule's end or ``max_epochs``."""
    from rnnlmpy import train
    from rnnlmpy.rnnlm import RnnlmConfig
    from rnnlmpy.rnnlm.evaluation import evaluate_file

    corpus, target = job["corpus"], job["target"]
    config = RnnlmConfig(hidden_size=HIDDEN, activation="sigmoid", output_layer="hs", batch=job["batch"],
                         bptt=job["bptt"], alpha=job["alpha"], optimizer=job.get("optimizer", "sgd"),
                         **{"dropout": 0.0, **job.get("settings", {})})
    excluded = {"wall": 0.0, "cpu": 0.0, "epochs": 0}

    class Reached(Exception):
        """The target is reached: stop training."""

    def epoch_done(model) -> None:
        wall, cpu = time.perf_counter() - START, time.process_time() - START_CPU
        history = model.training.history
        if len(history) <= excluded["epochs"]:
            return
        excluded["epochs"] = len(history)
        began = time.perf_counter(), time.process_time()
        test_ppl = evaluate_file(model, os.path.join(corpus, "ptb.test.txt")).perplexity
        record = {"epoch": len(history), "seconds": round(wall - excluded["wall"], 2),
                  "cpu_seconds": round(cpu - excluded["cpu"], 2), "alpha": history[-1]["alpha"],
                  "valid_ppl": history[-1].get("valid_ppl"), "test_ppl": round(test_ppl, 2)}
        print(json.dumps(record), flush=True)
        excluded["wall"] += time.perf_counter() - began[0]
        excluded["cpu"] += time.process_time() - began[1]
        if test_ppl <= target or len(history) >= job["max_epochs"]:
            raise Reached

    try:
        model = train(os.path.join(corpus, "ptb.train.txt"), job["model"], os.path.join(corpus, "ptb.valid.txt"),
                      config, threads=1, debug=0, force=True, on_progress=epoch_done)
        epoch_done(model)  # the schedule stopped: the last epoch (no progress call after it)
    except Reached:
        pass
    return 0


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, output) of ``command`` run to its end, one BLAS thread."""
    before_cpu, began = children_cpu(), time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, **ONE_BLAS_THREAD})
    wall, cpu = time.perf_counter() - began, children_cpu() - before_cpu
    if done.returncode != 0:
        raise common.BenchmarkError(f"failed with status {done.returncode}: {' '.join(command)}\n"
                                    f"{done.stdout[-3000:]}")
    return wall, cpu, done.stdout


def faster_rnnlm(binary: str, corpus: str, workdir: str) -> dict:
    """faster-rnnlm trained to the end of its schedule, then its test PPL."""
    model = os.path.join(workdir, "faster.model")
    for path in (model, model + ".nnet"):
        if os.path.exists(path):
            os.remove(path)
    command = [binary, "-rnnlm", model, "-train", os.path.join(corpus, "ptb.train.txt"), "-valid",
               os.path.join(corpus, "ptb.valid.txt"), *FASTER_OPTIONS]
    wall, cpu, output = timed(command)
    # its progress lines name the epochs; a short text has none, but one validation line per epoch and one first
    epochs = max(len(set(re.findall(r"Epoch +(\d+) ", output))),
                 len(re.findall(r"entropy \(bits\) valid", output)) - 1)
    _, _, tested = timed([binary, "-rnnlm", model, "-test", os.path.join(corpus, "ptb.test.txt")])
    entropy = common.number(r"Test entropy ([0-9.]+)", tested)
    return {"command": common.shown(command), "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "epochs": epochs, "test_ppl": round(2.0 ** entropy, 2)}


def rnnlmpy_run(run: dict, corpus: str, workdir: str, max_epochs: int, settings: dict, extra: list[str]) -> dict:
    """One batched run in a worker process: its epochs and its time to the target (None: not reached)."""
    job = {**run, "corpus": corpus, "target": TARGET_PPL, "max_epochs": max_epochs, "settings": settings,
           "model": os.path.join(workdir, f"b{run['batch']}t{run['bptt']}{run['optimizer']}.model")}
    wall, cpu, output = timed([sys.executable, "-m", TOOL, "--worker", json.dumps(job)])
    epochs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    reached = next((epoch for epoch in epochs if epoch["test_ppl"] <= TARGET_PPL), None)
    best = min(epochs, key=lambda epoch: epoch["test_ppl"]) if epochs else None
    return {**run, "command": "rnnlmpy train -train ptb.train.txt -valid ptb.valid.txt -rnnlm m "
                              + " ".join(run_options(run, extra)),
            "epochs": epochs, "process_seconds": round(wall, 1), "process_cpu_seconds": round(cpu, 1),
            "best_test_ppl": best["test_ppl"] if best else None,
            "reached": None if reached is None else {"epoch": reached["epoch"], "seconds": reached["seconds"],
                                                     "cpu_seconds": reached["cpu_seconds"]}}


def warm_up(runs: list[dict], corpus: str, workdir: str, settings: dict, extra: list[str]) -> None:
    """One epoch of each run on a slice of the corpus, not timed: the kernels are compiled into Numba's cache
    (or found there) before any timing, as for a user's second run."""
    print("warming up: the kernels compiled or loaded once, not timed", flush=True)
    sliced = common.slice_corpus(corpus, common.PTB_FILES, os.path.join(workdir, "warm-up"))
    for run in runs:
        rnnlmpy_run(run, sliced, workdir, 1, settings, extra)


SETTING_OPTIONS = {"-beta": ("beta", float), "-clip-norm": ("clip_norm", float),
                   "-min-improvement": ("min_improvement", float), "-dropout": ("dropout", float)}


def settings_of(extra: list[str]) -> dict:
    """RnnlmConfig fields of the ``--options`` given to every rnnlmpy run (the few a run may change)."""
    if len(extra) % 2:
        raise common.BenchmarkError(f"--options takes option-value pairs ({', '.join(SETTING_OPTIONS)})")
    settings = {}
    for option, value in zip(extra[::2], extra[1::2]):
        if option not in SETTING_OPTIONS:
            raise common.BenchmarkError(f"--options: {option} is not one of {', '.join(SETTING_OPTIONS)}")
        name, kind = SETTING_OPTIONS[option]
        settings[name] = kind(value)
    return settings


def main() -> int:
    def extra(parser):
        parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma list of BATCHxWINDOW@ALPHA[:OPTIMIZER]")
        parser.add_argument("--max-epochs", type=int, default=12, help="stop a run after this many epochs")
        parser.add_argument("--options", default=DEFAULT_OPTIONS, help="more rnnlmpy options for every run")

    args, corpus = common.arguments(__doc__, extra)
    runs = [parse_run(spec) for spec in args.runs.split(",")]
    options = args.options.split()
    settings = settings_of(options)
    binary = os.environ.get("FASTER_RNNLM_BIN")
    if not binary:
        raise common.BenchmarkError("set FASTER_RNNLM_BIN to faster-rnnlm's rnnlm binary (see README, Benchmarks)")
    max_epochs = 1 if args.quick else args.max_epochs
    load_before = common.load_average()
    with tempfile.TemporaryDirectory() as workdir:
        warm_up(runs, corpus, workdir, settings, options)
        print("faster-rnnlm to the end of its schedule (~40 s on a quiet core)", flush=True)
        reference = faster_rnnlm(binary, corpus, workdir)
        print(json.dumps(reference), flush=True)
        measured = []
        for run in runs:
            print(f"rnnlmpy {run}", flush=True)
            measured.append(rnnlmpy_run(run, corpus, workdir, max_epochs, settings, options))
            print(json.dumps(measured[-1]["epochs"]), flush=True)
    for run in measured:
        reached = run["reached"]
        run["share_of_faster_rnnlm"] = None if reached is None else {
            "wall": round(reached["seconds"] / reference["seconds"], 3),
            "cpu": round(reached["cpu_seconds"] / reference["cpu_seconds"], 3)}
    met = any(run["share_of_faster_rnnlm"] and run["share_of_faster_rnnlm"]["cpu"] <= GOAL_SHARE
              and run["share_of_faster_rnnlm"]["wall"] <= GOAL_SHARE for run in measured)
    results = {"target_test_ppl": TARGET_PPL, "goal_share": GOAL_SHARE, "faster_rnnlm": reference,
               "rnnlmpy": measured, "options": options, "goal_met": met, "load_average_before": load_before,
               "load_average_after": common.load_average()}
    common.write_results(args, "batched_hs", TOOL, results)
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """Each run's time to the target against faster-rnnlm's, its test PPL by epoch, and the load."""
    reference = results["faster_rnnlm"]
    rows = [("faster-rnnlm (per-word SGD, its schedule)", f"{reference['epochs']} epochs",
             f"{reference['test_ppl']:.2f}", f"{reference['seconds']:.1f} s / {reference['cpu_seconds']:.1f} s", "1")]
    for run in results["rnnlmpy"]:
        reached, share = run["reached"], run["share_of_faster_rnnlm"]
        curve = ", ".join(f"{epoch['test_ppl']:.1f}" for epoch in run["epochs"])
        rows.append((f"rnnlmpy -batch {run['batch']} -bptt {run['bptt']} -alpha {run['alpha']:g} "
                     f"-optimizer {run.get('optimizer', 'sgd')}",
                     f"epoch {reached['epoch']}" if reached else f"not in {len(run['epochs'])} epochs",
                     curve or "-",
                     f"{reached['seconds']:.1f} s / {reached['cpu_seconds']:.1f} s" if reached else "-",
                     f"{share['wall']:.2f} / {share['cpu']:.2f}" if share else "-"))
    met = "met" if results["goal_met"] else "not met"
    return "\n\n".join([
        common.table(["PTB, hidden 100 sigmoid, -hs, one core", "to test PPL <= 175", "test PPL by epoch",
                      "time (wall / CPU)", "share of faster-rnnlm's (wall / CPU)"], rows),
        f"Goal (<= {results['goal_share']} of faster-rnnlm's time) {met}. faster-rnnlm: `{reference['command']}`."
        + (f" Every rnnlmpy run also had `{' '.join(results['options'])}`." if results["options"] else ""),
        f"Load average (1, 5, 15 min) before {results['load_average_before']}, after "
        f"{results['load_average_after']}."])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(worker(json.loads(sys.argv[2])))
    common.run(main)

#!/usr/bin/env python3
"""Benchmark a new user's first commands and the cached start-up of ``rnnlmpy ppl``.

The checkout is installed (``pip install``, not editable) into a fresh virtual
environment in a temporary folder; every command then runs from another folder
of that temporary tree, as a new user would run it:

- first use, empty caches: ``train`` (small), ``ppl`` of that class model,
  ``ngram`` (build and score), ``tag-train`` and ``tag`` -- each with its own
  empty Numba cache, so each pays for exactly the kernels it compiles;
- the same small ``ppl`` again with its kernels cached (first - cached = the
  time spent compiling and writing the cache), and ``import rnnlmpy_cli.main``
  alone (the time spent importing);
- cached start-up: ``ppl`` of a hidden-100 class model on PTB test, whole
  process, with rnnlmpy's model and with the same model as a C++ rnnlm text
  file, and the C++ rnnlm's own ``-test`` on it when ``RNNLM_BIN`` is set.

Wall time and peak memory (max RSS) are those of each command's own process.
Results go to ``bench-results/first_use.json``.

    python tools/bench_first_use.py [--checkout DIR] [--corpora DIR] [--ptb-model FILE] [--repeat 3] [--out FILE]

``--ptb-model`` skips training the PTB model (hidden 100, 100 classes, one
epoch: a minute or two); ``--deps shared`` installs without dependencies and
borrows the running interpreter's (pip still builds the package with
setuptools>=77 from its cache or index).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import site
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOALS = {"first_ppl_s": 5.0, "first_train_s": 10.0, "first_other_s": 10.0, "cached_ppl_s": 0.5,
         "cached_ppl_mb": 120.0, "cpp_model_ppl_over_own": 1.2}
SMALL = ["-hidden", "15", "-class", "100", "-bptt", "4", "-bptt-block", "10", "-rand-seed", "1"]
PTB = ["-hidden", "100", "-class", "100", "-bptt", "4", "-bptt-block", "10", "-rand-seed", "1"]
# Runs one command and prints its wall seconds and peak RSS: this process waits for that child only, so
# RUSAGE_CHILDREN is the command's own.
MEASURE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"status": done.returncode, "wall_s": round(wall, 3), "peak_rss_mb": round(peak, 1),
                  "stderr": done.stderr.decode(errors="replace")[-2000:]}))
"""


def default_corpora() -> str:
    """$RNNLMPY_CORPORA, else ../shared/corpora beside the checkout, else corpora/data inside it."""
    for folder in (os.environ.get("RNNLMPY_CORPORA"), os.path.join(os.path.dirname(CHECKOUT), "shared", "corpora"),
                   os.path.join(CHECKOUT, "corpora", "data")):
        if folder and os.path.isdir(folder):
            return folder
    sys.exit("bench_first_use: no corpora folder (set RNNLMPY_CORPORA or run `make corpora`)")


def measure(command: list[str], env: dict, cwd: str) -> dict:
    """Wall seconds and peak RSS (MB) of ``command`` run in its own process; exits when the command fails."""
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], env=env, cwd=cwd, capture_output=True,
                            text=True, check=True)
    row = json.loads(result.stdout)
    if row["status"] != 0:
        sys.exit(f"bench_first_use: {' '.join(command)} failed ({row['status']}):\n{row['stderr']}")
    row["compiled"] = "compiling kernels" in row.pop("stderr")
    return row


def repeated(command: list[str], env: dict, cwd: str, repeat: int) -> dict:
    """``command`` once to warm the caches, then ``repeat`` times: the median and range of wall time and RSS."""
    measure(command, env, cwd)
    rows = [measure(command, env, cwd) for _ in range(repeat)]
    walls, peaks = [row["wall_s"] for row in rows], [row["peak_rss_mb"] for row in rows]
    return {"wall_s": statistics.median(walls), "wall_s_range": [min(walls), max(walls)],
            "peak_rss_mb": statistics.median(peaks), "runs": repeat}


def install(root: str, deps: str, checkout: str) -> tuple[str, float]:
    """A fresh venv under ``root`` with the checkout installed; its bin folder and the seconds it took."""
    start = time.perf_counter()
    venv = os.path.join(root, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    quiet = ["--quiet", "--disable-pip-version-check"]
    if deps == "shared":  # dependencies from the running interpreter's environment, no index needed
        target = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                check=True, capture_output=True, text=True).stdout.strip()
        borrowed = [path for path in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                                      *site.getsitepackages()} if os.path.isdir(path)]
        with open(os.path.join(target, "borrowed_dependencies.pth"), "w") as handle:
            handle.write("\n".join(borrowed) + "\n")
        subprocess.run([python, "-m", "pip", "install", *quiet, "--no-deps", checkout],
                       check=True)
    else:
        subprocess.run([python, "-m", "pip", "install", *quiet, checkout], check=True)
    return os.path.join(venv, "bin"), time.perf_counter() - start


def environment(bin_folder: str, root: str, numba_cache: str) -> dict:
    """A new user's environment: the venv first on PATH, empty caches of their own, no rnnlmpy settings."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("RNNLMPY_", "NUMBA_", "PYTHON")) and key != "VIRTUAL_ENV"}
    env.update(PATH=bin_folder + os.pathsep + env.get("PATH", ""), NUMBA_CACHE_DIR=numba_cache,
               RNNLMPY_CACHE_DIR=os.path.join(root, "corpus-cache"), VIRTUAL_ENV=os.path.dirname(bin_folder))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", default=CHECKOUT, help="the source tree to install (default: this one)")
    parser.add_argument("--corpora", default=None, help="folder with ptb/, rnnlm-example/, wiki-en-pos/")
    parser.add_argument("--ptb-model", default=None, help="an rnnlmpy PTB model (hidden 100, class 100) to reuse")
    parser.add_argument("--repeat", type=int, default=3, help="cached runs per start-up figure")
    parser.add_argument("--deps", choices=["index", "shared"], default="index",
                        help="index: pip installs the dependencies; shared: borrow this interpreter's")
    parser.add_argument("--out", default=os.path.join(CHECKOUT, "bench-results", "first_use.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = parser.parse_args()
    corpora = os.path.abspath(args.corpora or default_corpora())
    example, ptb, pos = (os.path.join(corpora, name) for name in ("rnnlm-example", "ptb", "wiki-en-pos"))
    root = tempfile.mkdtemp(prefix="rnnlmpy-first-use-")
    work = os.path.join(root, "work")  # another folder than the checkout: nothing imports from it
    os.makedirs(work)
    load_before = os.getloadavg()
    try:
        bin_folder, install_seconds = install(root, args.deps, os.path.abspath(args.checkout))
        rnnlmpy, python = os.path.join(bin_folder, "rnnlmpy"), os.path.join(bin_folder, "python")

        def fresh(name: str) -> dict:
            return environment(bin_folder, root, os.path.join(root, f"numba-{name}"))

        first = {}
        first["import"] = measure([python, "-c", "import rnnlmpy_cli.main"], fresh("import"), work)
        first["train"] = measure([rnnlmpy, "train", "-train", f"{example}/train.txt", "-valid",
                                  f"{example}/valid.txt", "-rnnlm", "small.rnnlm", "-max-iter", "2", *SMALL],
                                 fresh("train"), work)
        ppl_small = [rnnlmpy, "ppl", "-rnnlm", "small.rnnlm", "-test", f"{example}/test.txt"]
        first["ppl"] = measure(ppl_small, fresh("ppl"), work)
        first["ngram"] = measure([rnnlmpy, "ngram", "-train", f"{example}/train.txt", "-order", "3", "-test",
                                  f"{example}/test.txt"], fresh("ngram"), work)
        first["tag-train"] = measure([rnnlmpy, "tag-train", "-train", f"{pos}/wiki-en-train.norm_pos", "-model",
                                      "pos.tagger", "-iter", "1", "-ensemble", "1"], fresh("tag-train"), work)
        first["tag"] = measure([rnnlmpy, "tag", "-model", "pos.tagger", "-test", f"{pos}/wiki-en-test.norm"],
                               fresh("tag"), work)
        cached_small = repeated(ppl_small, fresh("ppl"), work, args.repeat)
        first["ppl"]["compiling_s"] = round(first["ppl"]["wall_s"] - cached_small["wall_s"], 3)

        warm = fresh("ptb")
        model = os.path.abspath(args.ptb_model) if args.ptb_model else os.path.join(work, "ptb.rnnlm")
        if not args.ptb_model:
            measure([rnnlmpy, "train", "-train", f"{ptb}/ptb.train.txt", "-rnnlm", model, "-one-iter", *PTB], warm,
                    work)
        measure([rnnlmpy, "convert", "-rnnlm", model, "-to", "rnnlm-text", "-o", "ptb.rnnlm.txt"], warm, work)
        test = f"{ptb}/ptb.test.txt"
        cached = {"ppl": repeated([rnnlmpy, "ppl", "-rnnlm", model, "-test", test], warm, work, args.repeat),
                  "ppl_cpp_text_model": repeated([rnnlmpy, "ppl", "-rnnlm", "ptb.rnnlm.txt", "-test", test], warm,
                                                 work, args.repeat),
                  "ppl_small": cached_small}
        if os.environ.get("RNNLM_BIN"):
            cached["cpp_rnnlm_test"] = repeated([os.environ["RNNLM_BIN"], "-rnnlm", "ptb.rnnlm.txt", "-test", test],
                                                warm, work, args.repeat)
        versions = subprocess.run([python, "-c", "import numba, numpy; print(numba.__version__, numpy.__version__)"],
                                  capture_output=True, text=True, check=True).stdout.split()
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numba": versions[0],
                        "numpy": versions[1], "load_average_before": [round(x, 2) for x in load_before],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()]},
            "install": {"checkout": os.path.abspath(args.checkout), "deps": args.deps, "seconds": round(install_seconds, 1)},
            "first_use": first, "cached": cached, "goals": GOALS,
            "ratio_cpp_text_model_over_own": round(cached["ppl_cpp_text_model"]["wall_s"] / cached["ppl"]["wall_s"],
                                                   3),
        }
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    temporary = f"{args.out}.tmp"
    with open(temporary, "w") as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, args.out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

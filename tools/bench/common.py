"""What every benchmark shares: the PTB recipe and output-layer table, measuring a command, the corpora, results.

Run the benchmarks from the checkout root as modules (``python -m tools.bench.rnnlm``; ``make bench`` runs
them all). Each writes ``bench-results/<name>.json`` holding its figures, the command that made them and the
machine; ``python -m tools.bench.report`` turns those files into docs/benchmarks.md. ``--quick`` runs any of
them on a small slice of its corpus, once, into ``bench-results/quick/`` (the report ignores that folder):
a check that the benchmark runs, not a measurement.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, NamedTuple, Sequence

from corpora import locate
from rnnlmpy.base.files import write_atomically
from rnnlmpy.rnnlm.model_file import HISTORY_SUFFIX

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RNNLMPY = [sys.executable, "-m", "rnnlmpy"]
RESULTS = "bench-results"
QUICK_RESULTS = os.path.join(RESULTS, "quick")

# The PTB recipe of every RNNLM benchmark (and of the C++ rnnlm runs beside it): hidden 100, BPTT 4 steps
# back in blocks of 10.
HIDDEN, BPTT, BPTT_BLOCK = 100, 4, 10
# Output layer (and cell) -> rnnlmpy train options. "class-sqrt" is rnnlm's default: sqrt(vocabulary) classes.
OUTPUT_LAYERS = {
    "class": ["-class", "100"],
    "class-sqrt": [],
    "hs": ["-hs"],
    "nce20": ["-nce", "20"],
    "gru-class": ["-hidden-type", "gru", "-class", "100"],
    "gru-hs": ["-hidden-type", "gru", "-hs"],
}
PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
QUICK_LINES = 300  # lines of each corpus file a --quick run keeps


class Measured(NamedTuple):
    """One finished command: wall seconds, the peak RSS of its process in MB, its stdout and stderr together."""

    seconds: float
    peak_rss_mb: float
    output: str


class BenchmarkError(Exception):
    """A benchmark cannot go on (a command failed, a corpus is missing): its message is for the user."""


def run(main: Callable[[], int | None]) -> None:
    """Run a benchmark's ``main`` and exit with its status; a BenchmarkError is its message and status 2."""
    try:
        status = main()
    except BenchmarkError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        status = 2
    sys.exit(status or 0)


# Runs the command given after its first argument, then writes "<wall seconds> <peak RSS KB>" of that command to
# the file named by its first argument and exits with the command's status. A small process in between, because
# Linux carries a process's peak RSS across exec: a command started straight from a benchmark (a large Python
# process) would report at least the benchmark's own size.
LAUNCHER = ("import resource, subprocess, sys, time\n"
            "started = time.perf_counter()\n"
            "status = subprocess.call(sys.argv[2:])\n"
            "seconds = time.perf_counter() - started\n"
            "with open(sys.argv[1], 'w') as out:\n"
            "    out.write(f'{seconds} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')\n"
            "sys.exit(status if status >= 0 else 128 - status)\n")


def measure(command: Sequence[str], env: dict | None = None, cwd: str | None = None) -> Measured:
    """Run ``command`` to its end; its wall time and peak RSS (that process alone: started from a small launcher
    process, see LAUNCHER, and not counting its siblings).

    A command that fails raises BenchmarkError with its last output lines.
    """
    with tempfile.TemporaryFile("w+") as output, tempfile.TemporaryDirectory() as folder:
        usage = os.path.join(folder, "usage")
        returncode = subprocess.call([sys.executable, "-I", "-S", "-c", LAUNCHER, usage, *command], stdout=output,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd)
        output.seek(0)
        text = output.read()
        try:
            with open(usage, encoding="ascii") as handle:
                seconds, peak_kb = handle.read().split()
        except (OSError, ValueError):
            seconds, peak_kb = "nan", "nan"
            returncode = returncode or 1
    if returncode != 0:
        raise BenchmarkError(f"benchmark command failed with status {returncode}: {' '.join(command)}\n"
                             f"{text[-3000:]}")
    return Measured(float(seconds), float(peak_kb) / 1024.0, text)


def rnnlmpy(arguments: Sequence[str], env: dict | None = None) -> Measured:
    """Run ``python -m rnnlmpy ARGUMENTS`` in a fresh process, measured."""
    return measure([*RNNLMPY, *arguments], env)


def shown(command: Sequence[str]) -> str:
    """A command as it is reported: ``rnnlmpy ...`` for this interpreter's rnnlmpy, and each absolute path by its
    file name (``ptb.train.txt``, not the temporary folder of this run)."""
    command = list(command)
    if command[:len(RNNLMPY)] == RNNLMPY:
        command = ["rnnlmpy", *command[len(RNNLMPY):]]
    return " ".join(os.path.basename(word) if os.path.isabs(word) else word for word in command)


def layer_options(layer: str | Sequence[str]) -> list[str]:
    """rnnlmpy train options of an OUTPUT_LAYERS name, or the options themselves when given a list."""
    if isinstance(layer, str):
        if layer not in OUTPUT_LAYERS:
            raise BenchmarkError(f"unknown output layer {layer!r}; choose from {', '.join(OUTPUT_LAYERS)}")
        return list(OUTPUT_LAYERS[layer])
    return list(layer)


class Training(NamedTuple):
    """One ``rnnlmpy train`` run: its command, the measured process and the history records (one per epoch)."""

    command: list[str]
    measured: Measured
    records: list[dict]

    @property
    def words_per_second(self) -> float:
        """Training words/s of the last (kept) epoch, as the history records it."""
        return self.records[-1]["words_per_second"]


def train_command(train: str, model: str, layer: str | Sequence[str] = "class", threads: int = 1, seed: int = 1,
                  options: Sequence[str] = (), hidden: int = HIDDEN) -> list[str]:
    """The ``rnnlmpy train`` command of the PTB recipe on ``train`` (a text file) with ``layer``."""
    return [*RNNLMPY, "train", "-train", train, "-rnnlm", model, "-hidden", str(hidden), "-bptt", str(BPTT),
            "-bptt-block", str(BPTT_BLOCK), "-rand-seed", str(seed), "-threads", str(threads), "-debug", "0",
            "-force", *layer_options(layer), *options]


def train_text(train: str, model: str, layer: str | Sequence[str] = "class", threads: int = 1, seed: int = 1,
               options: Sequence[str] = (), hidden: int = HIDDEN, env: dict | None = None) -> Training:
    """Train on ``train`` with the PTB recipe in a fresh process; the run, its history read and then removed."""
    command = train_command(train, model, layer, threads, seed, options, hidden)
    measured = measure(command, env)
    records = read_history(model)
    return Training(command, measured, records)


def train_ptb(corpus: str, model: str, layer: str | Sequence[str] = "class", threads: int = 1, seed: int = 1,
              options: Sequence[str] = (), hidden: int = HIDDEN, env: dict | None = None) -> Training:
    """Train on PTB's training text (``corpus``: the folder of ptb.*.txt) with the PTB recipe and ``layer``;
    ``options`` go last (``-one-iter``, ``-valid ...``, ``-max-iter N``)."""
    return train_text(os.path.join(corpus, "ptb.train.txt"), model, layer, threads, seed, options, hidden, env)


def read_history(model: str) -> list[dict]:
    """The epoch records of ``model``'s history file, which is then removed (a next run starts a new one)."""
    path = model + HISTORY_SUFFIX
    try:
        with open(path, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    except OSError as error:
        raise BenchmarkError(f"no training history beside {model}: {error}") from None
    os.remove(path)
    if not records:
        raise BenchmarkError(f"{path} holds no epoch")
    return records


def epoch_figures(records: list[dict]) -> list[dict]:
    """The per-epoch figures a training benchmark reports, from ``read_history``'s records: epoch, alpha,
    validation PPL, accepted, words/s (rounded)."""
    return [{"epoch": r["epoch"], "alpha": r["alpha"], "valid_ppl": r.get("valid_ppl"),
             "accepted": r.get("accepted", True), "words_per_second": round(r.get("words_per_second", 0.0))}
            for r in records]


def validation_line(epochs: list[dict]) -> str:
    """The validation PPL after each of ``epochs`` (``epoch_figures``), rejected epochs marked; "-" for none."""
    line = ", ".join(f"{e['valid_ppl']:.2f}" + ("" if e["accepted"] else " (rejected)")
                     for e in epochs if e["valid_ppl"] is not None)
    return line or "-"


def max_iter_note(max_iter: int | None) -> list[str]:
    """The paragraph a check run stopped by ``-max-iter`` adds to its report (none for a full run)."""
    if max_iter is None:
        return []
    return [f"Stopped by `-max-iter {max_iter}`: a check of the benchmark, not the goal's figure."]


def perplexity(output: str) -> float:
    """The ``PPL net:`` figure of an ``rnnlmpy ppl`` output."""
    found = re.search(r"PPL net:\s*([0-9.]+)", output)
    if found is None:
        raise BenchmarkError(f"no 'PPL net:' in the ppl output:\n{output[-2000:]}")
    return float(found.group(1))


def ngram_perplexity(output: str) -> float:
    """The ``ppl=`` figure of an ``rnnlmpy ngram -test`` output (SRILM's line; not ``ppl1=``)."""
    return number(r"\bppl= ([\d.]+)", output)


def load_average() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes, rounded to 0.01, as results files give it."""
    return [round(x, 2) for x in os.getloadavg()]


def ppl_command(corpus: str, model: str, threads: int | None = 1) -> list[str]:
    """The ``rnnlmpy ppl`` command scoring PTB's test text with ``model`` (``threads`` None: rnnlmpy's default)."""
    return [*RNNLMPY, "ppl", "-rnnlm", model, "-test", os.path.join(corpus, "ptb.test.txt"),
            *([] if threads is None else ["-threads", str(threads)])]


def score_ptb(corpus: str, model: str, threads: int | None = 1) -> tuple[float, Measured]:
    """(test perplexity, the measured ``rnnlmpy ppl`` process) of ``model`` on PTB's test text."""
    measured = measure(ppl_command(corpus, model, threads))
    return perplexity(measured.output), measured


def number(pattern: str, text: str) -> float:
    """The first group of ``pattern`` in ``text`` as a number (thousands commas dropped)."""
    found = re.search(pattern, text)
    if found is None:
        raise BenchmarkError(f"no match for {pattern!r} in:\n{text[-2000:]}")
    return float(found.group(1).replace(",", ""))


def machine() -> dict:
    """What the figures were measured on: CPU model, cores, OS, Python and Numba versions."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    try:
        import numba
        numba_version = numba.__version__
    except ImportError:
        numba_version = None
    return {"cpu": model, "cores": os.cpu_count(), "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "numba": numba_version}


def slice_corpus(folder: str, files: Sequence[str], target: str, lines: int = QUICK_LINES) -> str:
    """Copy the first ``lines`` lines of each of ``files`` in ``folder`` into ``target`` (made); return it."""
    os.makedirs(target, exist_ok=True)
    for name in files:
        with open(os.path.join(folder, name), encoding="utf-8") as source, \
                open(os.path.join(target, name), "w", encoding="utf-8") as copy:
            for number_, line in enumerate(source):
                if number_ >= lines:
                    break
                copy.write(line)
    return target


def scratch_folder(prefix: str) -> str:
    """A temporary folder removed when the process exits."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def find_corpus(name: str, given: str | None, fetch: bool = False) -> str:
    """The folder of corpus ``name`` (``given`` when set, else found by corpora/locate.py, downloaded when
    ``fetch``); BenchmarkError when there is none."""
    if given:
        if not os.path.isdir(given):
            raise BenchmarkError(f"--corpus {given}: no such folder")
        return os.path.abspath(given)  # commands may run from another folder; shown() names absolute paths short
    if fetch:
        return locate.find_or_fetch(name)
    try:
        folder = locate.find_corpus(name)
    except locate.CorporaError as error:
        raise BenchmarkError(str(error)) from None
    if folder is None:
        raise BenchmarkError(f"corpus {name!r} not found in {locate.searched()}: run `make corpora` or pass --corpus")
    return folder


def arguments(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None,
              corpus: str | None = "ptb", fetch: bool = False) -> tuple[argparse.Namespace, str | None]:
    """Parse the common options (--corpus, --out, --quick, plus ``extra(parser)``); return (args, corpus folder).

    With --quick the corpus folder is a slice of it (QUICK_LINES lines per file) in a temporary folder, and the
    results go to bench-results/quick unless --out says otherwise.
    """
    parser = argparse.ArgumentParser(description=description.strip().split("\n")[0])
    if corpus:
        parser.add_argument("--corpus", default=None, help=f"the {corpus} folder (default: found by corpora/locate.py)")
    parser.add_argument("--out", default=None, help=f"folder for the JSON results (default: {RESULTS}, "
                                                    f"{QUICK_RESULTS} with --quick)")
    parser.add_argument("--quick", action="store_true", help="a small slice of the corpus, one round: does it run?")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    args.out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    folder = None
    if corpus:
        folder = find_corpus(corpus, args.corpus, fetch)
        if args.quick:
            folder = slice_corpus(folder, locate.CORPORA[corpus], os.path.join(scratch_folder("rnnlmpy-bench-"),
                                                                               corpus))
    return args, folder


def now() -> str:
    """The current UTC time as results files give it ("2026-12-06 17:00 UTC")."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_results(args: argparse.Namespace, name: str, tool: str, results: dict) -> str:
    """Write ``results`` with the command that made them, the machine and the date to ``<args.out>/<name>.json``
    (through a temporary file); return the path. ``tool`` is the module (``tools.bench.rnnlm``), whose
    ``markdown(results)`` the report calls."""
    record = {"tool": tool, "command": " ".join(["python -m", tool, *sys.argv[1:]]), "quick": bool(args.quick),
              "date": now(),
              "machine": machine(), "results": results}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, name + ".json")
    text = json.dumps(record, indent=1) + "\n"
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
    print(f"written {path}")
    return path


def best_seconds(function: Callable[[], object], repeats: int = 3, warm_up: bool = False) -> float:
    """The shortest wall time (seconds) of ``repeats`` calls of ``function``; with ``warm_up``, one untimed call
    first (a kernel compiles or loads there)."""
    if warm_up:
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)

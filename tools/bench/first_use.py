"""A new user's first commands after ``pip install``, and the cached start-up of ``rnnlmpy ppl`` beside the C++ rnnlm.

    [RNNLM_BIN=/path/to/rnnlm] python -m tools.bench.first_use [--corpus PTB] [--rounds 3] [--deps index|shared]
                                                                [--ptb-model FILE] [--quick] [--out bench-results]

The checkout (its tracked and unignored files, copied) is installed with ``pip install`` (not editable) into
two fresh virtual environments: as pip installs it by default (the package's build step may compile the
common kernels into the package's own kernel cache) and with ``RNNLMPY_PRECOMPILE=0`` (nothing compiled at
install time). Each install's seconds are recorded, and the installed package folders are copied as they
are. Then, from another folder, as a new user runs them:

- first use: ``import rnnlmpy_cli.main``, a small ``train``, ``ppl`` of that class model, ``ngram`` (build and
  score), ``tag-train`` and ``tag``. Before each command the installed package folders are restored from
  the copy and the user's cache folder (``XDG_CACHE_HOME``) is emptied, so each command finds the kernel
  cache exactly as pip left it and pays for what it compiles itself on top of that. ``NUMBA_CACHE_DIR`` is
  not set: the kernels go where an installed rnnlmpy puts them. The two installs alternate command by
  command. The small ``ppl`` is run again at once with the cache its first run left (first - again = the
  time it spent compiling).
- cached start-up (default install, kernels cached): ``ppl`` of PTB test with a hidden-100 class-100 model
  (one epoch of PTB, or ``--ptb-model``), whole process, with rnnlmpy's model file, with the same model as
  a C++ rnnlm text file, and the C++ rnnlm's own ``-test`` on that file when ``RNNLM_BIN`` is set; each
  once to warm up, then ``--rounds`` rounds, the three alternating within a round.

Wall time and peak memory (max RSS) are those of each command's own process. The load average before
and after is recorded: on a shared machine the figures move with it. 3-7 minutes on two cores at a load of
1-5 (25 at 8), and pip needs its package index (or ``--deps shared``), so it is ``make bench-first-use``, not
part of ``make bench``.
"""

from __future__ import annotations

import glob
import os
import shutil
import site
import statistics
import subprocess
import sys
import sysconfig
import time

from corpora import locate
from tools.bench import common

TOOL = "tools.bench.first_use"
# The goals, shown beside the figures.
GOALS = {"first_ppl_s": 5.0, "first_train_s": 10.0, "first_other_s": 10.0, "cached_ppl_s": 0.5,
         "cached_ppl_mb": 120.0, "cpp_model_ppl_over_own": 1.2}
# install name -> the environment variables of its pip install
INSTALLS = {"default": {}, "no-precompile": {"RNNLMPY_PRECOMPILE": "0"}}
SMALL = ["-hidden", "15", "-class", "100", "-bptt", "4", "-bptt-block", "10", "-rand-seed", "1"]
COMPILING = "compiling kernels"  # rnnlmpy's notice (base/compiling.py) when a command compiles a kernel
KERNEL_CACHE_FILES = ("*.nbi", "*.nbc")


def source_copy(checkout: str, target: str) -> str:
    """The checkout's tracked and unignored files copied to ``target`` (what a clone would hold, with the edits
    not yet committed): pip then builds from a clean tree, never writing into the checkout."""
    listed = subprocess.run(["git", "-C", checkout, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=False)
    if listed.returncode != 0:
        raise common.BenchmarkError(f"{checkout} is not a git checkout: {listed.stderr.decode(errors='replace')}")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = os.path.join(checkout, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy2(source, os.path.join(target, name))
    return target


def clean_environment(extra: dict | None = None) -> dict:
    """This process's environment without rnnlmpy's, Numba's and Python's settings, plus ``extra``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("RNNLMPY_", "NUMBA_", "PYTHON")) and key != "VIRTUAL_ENV"}
    env.update(extra or {})
    return env


class Install:
    """One fresh virtual environment with the package installed; its installed folders kept as a copy."""

    def __init__(self, root: str, name: str, source: str, deps: str):
        self.name, self.root = name, os.path.join(root, name)
        self.venv, self.snapshot = os.path.join(self.root, "venv"), os.path.join(self.root, "as-installed")
        self.work, self.cache_home = os.path.join(self.root, "work"), os.path.join(self.root, "cache-home")
        os.makedirs(self.work)
        started = time.perf_counter()
        common.measure([sys.executable, "-m", "venv", self.venv])
        quiet = ["--quiet", "--disable-pip-version-check"]
        env = clean_environment(INSTALLS[name])
        if deps == "shared":  # the dependencies of the running interpreter, seen through a .pth file
            with open(os.path.join(self.site_packages(), "borrowed_dependencies.pth"), "w", encoding="utf-8") as pth:
                pth.write("\n".join(sorted({*site.getsitepackages(), sysconfig.get_paths()["purelib"],
                                              sysconfig.get_paths()["platlib"]})) + "\n")
            common.measure([self.python, "-m", "pip", "install", *quiet, "--no-deps", source], env)
        else:
            common.measure([self.python, "-m", "pip", "install", *quiet, source], env)
        self.seconds = time.perf_counter() - started
        self.packages = self.installed_packages()
        for package in self.packages:
            shutil.copytree(os.path.join(self.site_packages(), package), os.path.join(self.snapshot, package),
                            symlinks=True)
        self.kernel_cache_files = sum(len(glob.glob(os.path.join(self.snapshot, "**", pattern), recursive=True))
                                      for pattern in KERNEL_CACHE_FILES)

    @property
    def python(self) -> str:
        """The environment's interpreter."""
        return os.path.join(self.venv, "bin", "python")

    @property
    def rnnlmpy(self) -> str:
        """The environment's ``rnnlmpy`` script."""
        return os.path.join(self.venv, "bin", "rnnlmpy")

    def site_packages(self) -> str:
        """The environment's site-packages folder."""
        found = glob.glob(os.path.join(self.venv, "lib", "python*", "site-packages"))
        if len(found) != 1:
            raise common.BenchmarkError(f"no single site-packages folder in {self.venv}: {found}")
        return found[0]

    def installed_packages(self) -> list[str]:
        """The top-level folders pip installed for rnnlmpy (from its dist-info RECORD)."""
        records = glob.glob(os.path.join(self.site_packages(), "rnnlmpy-*.dist-info", "RECORD"))
        if len(records) != 1:
            raise common.BenchmarkError(f"rnnlmpy's install record not found in {self.site_packages()}")
        with open(records[0], encoding="utf-8") as handle:
            tops = {line.split(",", 1)[0].split("/", 1)[0] for line in handle if "/" in line.split(",", 1)[0]}
        return sorted(top for top in tops if not top.endswith(".dist-info") and top != ".."
                      and os.path.isdir(os.path.join(self.site_packages(), top)))

    def restore(self) -> None:
        """Put the installed package folders back as pip left them and empty the user's cache folder."""
        for package in self.packages:
            installed = os.path.join(self.site_packages(), package)
            shutil.rmtree(installed)
            shutil.copytree(os.path.join(self.snapshot, package), installed, symlinks=True)
        shutil.rmtree(self.cache_home, ignore_errors=True)
        os.makedirs(self.cache_home)

    def environment(self) -> dict:
        """A new user's environment: the venv first on PATH, their own (emptied) cache folder, no settings."""
        return clean_environment({"PATH": os.path.join(self.venv, "bin") + os.pathsep + os.environ.get("PATH", ""),
                                  "VIRTUAL_ENV": self.venv, "XDG_CACHE_HOME": self.cache_home})

    def run(self, command: list[str]) -> dict:
        """``command`` from the work folder: wall seconds, peak RSS MB, whether it compiled a kernel."""
        measured = common.measure(command, self.environment(), self.work)
        return {"seconds": round(measured.seconds, 3), "peak_rss_mb": round(measured.peak_rss_mb, 1),
                "compiled": COMPILING in measured.output}


def first_commands(install: Install, example: str, pos: str) -> dict[str, list[str]]:
    """Name -> the first-use command, in the order a new user runs them (``ppl`` reads what ``train`` wrote,
    ``tag`` what ``tag-train`` wrote)."""
    rnnlmpy = install.rnnlmpy
    return {
        "import": [install.python, "-c", "import rnnlmpy_cli.main"],
        "train": [rnnlmpy, "train", "-train", f"{example}/train.txt", "-valid", f"{example}/valid.txt", "-rnnlm",
                  "small.rnnlm", "-max-iter", "2", *SMALL],
        "ppl": [rnnlmpy, "ppl", "-rnnlm", "small.rnnlm", "-test", f"{example}/test.txt"],
        "ngram": [rnnlmpy, "ngram", "-train", f"{example}/train.txt", "-order", "3", "-test", f"{example}/test.txt"],
        "tag-train": [rnnlmpy, "tag-train", "-train", f"{pos}/wiki-en-train.norm_pos", "-model", "pos.tagger",
                      "-iter", "1", "-ensemble", "1"],
        "tag": [rnnlmpy, "tag", "-model", "pos.tagger", "-test", f"{pos}/wiki-en-test.norm"],
    }


def first_use(installs: list[Install], example: str, pos: str) -> dict:
    """Install name -> command name -> its first run on the package as installed (the installs alternating,
    in turns reversed command by command), plus ``ppl_again``: the small ppl run again at once, on the cache its
    first run left."""
    results = {install.name: {} for install in installs}
    names = list(first_commands(installs[0], example, pos))
    for turn, name in enumerate(names):
        for install in (installs if turn % 2 == 0 else installs[::-1]):
            install.restore()
            command = first_commands(install, example, pos)[name]
            row = install.run(command)
            row["command"] = common.shown(command)
            results[install.name][name] = row
            print(f"{install.name}: first {name}: {row['seconds']:.2f} s, {row['peak_rss_mb']:.0f} MB"
                  f"{', compiled' if row['compiled'] else ''}", flush=True)
            if name == "ppl":  # again at once, on the cache its first run left
                again = install.run(command)
                results[install.name]["ppl_again"] = again
                row["compiling_seconds"] = round(row["seconds"] - again["seconds"], 3)
    return results


def summary(rows: list[common.Measured]) -> dict:
    """Median and range of wall seconds and peak RSS of repeated runs."""
    seconds, peaks = [row.seconds for row in rows], [row.peak_rss_mb for row in rows]
    return {"seconds": round(statistics.median(seconds), 3), "seconds_range": [round(min(seconds), 3),
                                                                                round(max(seconds), 3)],
            "peak_rss_mb": round(statistics.median(peaks), 1), "runs": len(rows)}


def cached_start_up(install: Install, corpus: str, ptb_model: str | None, rounds: int, quick: bool) -> dict:
    """The cached ``ppl`` of PTB test, whole process: rnnlmpy's model, the same as a C++ text model, and the C++
    rnnlm's ``-test`` on it (RNNLM_BIN), alternating within each of ``rounds`` rounds after one warm-up each."""
    env, work = install.environment(), install.work
    model = os.path.abspath(ptb_model) if ptb_model else os.path.join(work, "ptb.rnnlm")
    trained = None
    if not ptb_model:
        command = [install.rnnlmpy, *common.train_command(os.path.join(corpus, "ptb.train.txt"), model, "class",
                                                          hidden=10 if quick else common.HIDDEN,
                                                          options=["-one-iter"])[len(common.RNNLMPY):]]
        trained = {"command": common.shown(command), "seconds": round(common.measure(command, env, work).seconds, 2)}
    text_model = os.path.join(work, "ptb.rnnlm.txt")
    common.measure([install.rnnlmpy, "convert", "-rnnlm", model, "-to", "rnnlm-text", "-o", text_model], env, work)
    test = os.path.join(corpus, "ptb.test.txt")
    commands = {"ppl": [install.rnnlmpy, "ppl", "-rnnlm", model, "-test", test],
                "ppl_cpp_text_model": [install.rnnlmpy, "ppl", "-rnnlm", text_model, "-test", test]}
    if os.environ.get("RNNLM_BIN"):
        commands["cpp_rnnlm_test"] = [os.environ["RNNLM_BIN"], "-rnnlm", text_model, "-test", test]
    else:
        print("cpp_rnnlm_test: skipped (RNNLM_BIN is not set)")
    runs = {name: [] for name in commands}
    for name, command in commands.items():  # warm-up: the kernels' cache, the page cache
        common.measure(command, env, work)
    for _ in range(rounds):
        for name, command in commands.items():
            runs[name].append(common.measure(command, env, work))
    results = {name: dict(summary(rows), command=common.shown(commands[name])) for name, rows in runs.items()}
    results["ppl"]["test_ppl"] = common.perplexity(runs["ppl"][0].output)
    results["ppl_cpp_text_model"]["test_ppl"] = common.perplexity(runs["ppl_cpp_text_model"][0].output)
    if "cpp_rnnlm_test" in runs:
        results["cpp_rnnlm_test"]["test_ppl"] = common.number(r"PPL net:\s*([0-9.]+)", runs["cpp_rnnlm_test"][0].output)
        results["cpp_rnnlm_test"]["reference"] = os.path.basename(os.environ["RNNLM_BIN"])
    results["cpp_text_model_over_own"] = round(results["ppl_cpp_text_model"]["seconds"] / results["ppl"]["seconds"], 3)
    if trained:
        results["model"] = trained
    return results


def main() -> int:
    def extra(parser):
        parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the cached start-up runs")
        parser.add_argument("--deps", choices=["index", "shared"], default="index",
                            help="index: pip installs the dependencies (from its cache when there); shared: "
                                 "borrow this interpreter's")
        parser.add_argument("--ptb-model", default=None, help="an rnnlmpy PTB model (hidden 100, class 100) to "
                                                              "reuse instead of training one epoch")
        parser.add_argument("--installs", default=",".join(INSTALLS), help=f"comma list of {', '.join(INSTALLS)}")

    args, ptb = common.arguments(__doc__, extra)
    names = args.installs.split(",")
    for name in names:
        if name not in INSTALLS:
            raise common.BenchmarkError(f"unknown install {name!r}; choose from {', '.join(INSTALLS)}")
    root = common.scratch_folder("rnnlmpy-first-use-")
    # absolute: the commands run from another folder
    ptb = os.path.abspath(ptb)
    example, pos = (os.path.abspath(common.find_corpus(name, None)) for name in ("rnnlm-example", "wiki-en-pos"))
    if args.quick:
        example, pos = (common.slice_corpus(folder, locate.CORPORA[name], os.path.join(root, name))
                        for folder, name in ((example, "rnnlm-example"), (pos, "wiki-en-pos")))
    load_before = common.load_average()
    source = source_copy(common.CHECKOUT, os.path.join(root, "source"))
    installs = []
    for name in names:
        installs.append(Install(root, name, source, args.deps))
        print(f"{name} install: {installs[-1].seconds:.1f} s, {installs[-1].kernel_cache_files} kernel cache files",
              flush=True)
    results = {"installs": {install.name: {"seconds": round(install.seconds, 1), "deps": args.deps,
                                           "environment": INSTALLS[install.name], "packages": install.packages,
                                           "kernel_cache_files": install.kernel_cache_files}
                            for install in installs},
               "first_use": first_use(installs, example, pos),
               "cached": cached_start_up(installs[0], ptb, args.ptb_model, 1 if args.quick else args.rounds,
                                         args.quick),
               "cached_install": installs[0].name, "goals": GOALS,
               "load_average": {"before": load_before,
                                "after": common.load_average()}}
    common.write_results(args, "first_use", TOOL, results)
    print(markdown(results))
    return 0


def goal_of(command: str) -> float:
    """The issue's goal (seconds) for a command's first run."""
    return {"ppl": GOALS["first_ppl_s"], "train": GOALS["first_train_s"]}.get(command, GOALS["first_other_s"])


def verdict(value: float, goal: float) -> str:
    """``value`` against an upper-bound ``goal``: a check mark or the factor it is over by."""
    return "met" if value <= goal else f"{value / goal:.1f}x over"


def markdown(results: dict) -> str:
    """The install times, a first-use table (one column per install, the goals beside), the cached start-up."""
    installs, first = results["installs"], results["first_use"]
    names = list(installs)
    cells = {name: f"{install['seconds']:.1f} s ({install['kernel_cache_files']} kernel cache files installed)"
             for name, install in installs.items()}
    rows = [("`pip install` into a fresh venv", "", *(cells[name] for name in names))]
    commands = [command for command in first[names[0]] if command != "ppl_again"]
    for command in commands:
        goal = None if command == "import" else goal_of(command)
        row = [f"first `{first[names[0]][command]['command']}`", f"<= {goal:g} s" if goal else ""]
        for name in names:
            run = first[name][command]
            row.append(f"{run['seconds']:.2f} s, {run['peak_rss_mb']:.0f} MB"
                       f"{', compiled' if run['compiled'] else ''}" + (f" ({verdict(run['seconds'], goal)})"
                                                                         if goal else ""))
        rows.append(row)
    rows.append(("the same `ppl` again (its kernels now cached)", "",
                 *(f"{first[name]['ppl_again']['seconds']:.2f} s"
                   f"{', compiled' if first[name]['ppl_again']['compiled'] else ''} (so "
                   f"{first[name]['ppl']['compiling_seconds']:.2f} s compiling)" for name in names)))
    header = ["first use, another folder, new user", "goal",
              *(f"`{name}` install" + (" (`RNNLMPY_PRECOMPILE=0`)" if name == "no-precompile" else "")
                for name in names)]
    load = results["load_average"]
    lines = [common.table(header, rows), "",
             "Each first command runs on the package folders exactly as pip installed them (restored before each "
             "command) with an empty user cache; `NUMBA_CACHE_DIR` is not set. \"compiled\": the command printed "
             f"rnnlmpy's compiling notice. Load average before {load['before'][0]}, after {load['after'][0]} "
             "(two cores shared with other work: the figures move with it).", ""]
    cached = results["cached"]
    ppl_goal = f"<= {GOALS['cached_ppl_s']:g} s, <= {GOALS['cached_ppl_mb']:g} MB"
    start_rows = []
    for name, goal in (("ppl", ppl_goal), ("ppl_cpp_text_model",
                                           f"<= {GOALS['cpp_model_ppl_over_own']:g}x our model's time"),
                       ("cpp_rnnlm_test", "(reference)")):
        if name not in cached:
            continue
        run = cached[name]
        low, high = run["seconds_range"]
        met = ""
        if name == "ppl":
            met = ("met" if run["seconds"] <= GOALS["cached_ppl_s"] and run["peak_rss_mb"] <= GOALS["cached_ppl_mb"]
                   else "not met")
        elif name == "ppl_cpp_text_model":
            met = (f"{cached['cpp_text_model_over_own']:.2f}x: "
                   f"{'met' if cached['cpp_text_model_over_own'] <= GOALS['cpp_model_ppl_over_own'] else 'not met'}")
        start_rows.append((f"`{run['command']}`", goal, f"{run['seconds']:.2f} s ({low:.2f}-{high:.2f})",
                           f"{run['peak_rss_mb']:.0f}", run["test_ppl"], met))
    lines.append(common.table([f"cached start-up, PTB test, whole process ({cached['ppl']['runs']} alternating "
                               "rounds, median (range))", "goal", "wall", "peak RSS MB", "PPL", "verdict"],
                              start_rows))
    if "cpp_rnnlm_test" not in cached:
        lines += ["", "The C++ rnnlm was not run (RNNLM_BIN not set)."]
    if "model" in cached:
        lines += ["", f"The model: `{cached['model']['command']}` ({cached['model']['seconds']} s)."]
    return "\n".join(lines)


if __name__ == "__main__":
    common.run(main)

"""rnnlmpy's batched LSTM side by side with PyTorch (CPU build) on PTB: Zaremba et al.'s "small" model, training
words/s and peak memory, alternating rounds in one run, then perplexity after the same epochs.

    python -m tools.bench.lstm_pytorch [--corpus PTB] [--rounds 3] [--max-words 100000] [--threads 2]
                                       [--epochs 1] [--sides rnnlmpy,rnnlmpy-bfloat16,pytorch,pytorch-bfloat16]
                                       [--dry-run] [--quick] [--out bench-results]

PyTorch is never a dependency of rnnlmpy: the benchmark installs ``torch==2.13.0+cpu`` (the CPU build; plain
``torch`` pulls 2.3 GB of CUDA packages) into its own virtual environment outside the checkout,
``$XDG_CACHE_HOME/rnnlmpy-bench/torch-venv`` (``--torch-venv``), and reuses it on later runs. pip looks in its
configured sources first (a local wheel or mirror), then in PyTorch's CPU index. The PyTorch side is
``tools/bench/torch_zaremba.py`` run by that environment's interpreter; its docstring gives the recipe.

The same model on both sides: 2 LSTM layers x 200, embedding 200, a full softmax over PTB's 10,000 words, no
dropout, batch 20, BPTT window 20, SGD at learning rate 1 on the loss summed over the window and divided by
the batch, gradient norm clipped at 5 (RNNLMPY_OPTIONS below). One known difference: Zaremba's code (and so
the PyTorch side) draws every parameter, biases included, uniform in [-0.1, 0.1]; rnnlmpy's LSTM starts its
biases at 0 and its forget-gate bias at 1.

- Speed: ``--rounds`` rounds, each running rnnlmpy then PyTorch, one epoch on the same text: the first
  ``--max-words`` tokens of ptb.train.txt plus one line holding every training word they lack (so the
  vocabulary, and the softmax, are PTB's 10,000 words on both sides). rnnlmpy compiles its kernels on first use:
  one untimed warm-up run on a small slice fills the kernel cache first. Training words/s of each side is its
  own measure of its training loop (rnnlmpy's history record, PyTorch's timed loop: no start-up, no
  evaluation); peak memory is each process's own max RSS.
- Perplexity (``--epochs N``, 0 = skip): each side trains N epochs of the whole ptb.train.txt, validating on
  ptb.valid.txt after each, then scores ptb.test.txt; both score the same tokens (each line's words and its
  end-of-sentence token). The learning-rate schedules agree for the first 4 epochs (rate 1; rnnlmpy halves
  when validation stops improving, Zaremba after epoch 4).

Four sides by default: each tool in float32 and in mixed precision with bfloat16 products (``rnnlmpy train
-product-precision bfloat16``: the full softmax's products; PyTorch's ``torch.autocast(cpu, bfloat16)``: every
product and the LSTM layers). Ratios are reported for every rnnlmpy side against every PyTorch side; like for
like is float32 against float32 and bfloat16 against bfloat16.

The load average before and after is recorded: on a shared machine both sides slow down, not always alike.
Part of ``make bench`` (~8 min; the one-time install ~30 s from a local wheel, minutes from the index).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile

from tools.bench import common

TOOL = "tools.bench.lstm_pytorch"
TORCH_REQUIREMENT = "torch==2.13.0+cpu"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_zaremba.py")
SIDES = ("rnnlmpy", "rnnlmpy-bfloat16", "pytorch", "pytorch-bfloat16")  # tool, and "-bfloat16": mixed precision
MIXED = "-bfloat16"
# The "small" recipe as rnnlmpy train options (besides -train/-valid/-rnnlm/-threads).
RNNLMPY_OPTIONS = ["-hidden-type", "lstm", "-layers", "2", "-hidden", "200", "-class", "1", "-batch", "20",
                   "-bptt", "20", "-optimizer", "sgd", "-alpha", "1", "-clip-norm", "5", "-dropout", "0",
                   "-no-tie-weights", "-rand-seed", "1"]
WARM_UP_LINES = 400  # lines of ptb.valid.txt in rnnlmpy's warm-up run (compiles the kernels, untimed)
QUICK_WORDS = 4000  # --max-words of a --quick run


def default_venv() -> str:
    """Where the PyTorch environment lives: ``$XDG_CACHE_HOME`` (else ~/.cache) /rnnlmpy-bench/torch-venv."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "rnnlmpy-bench", "torch-venv")


def venv_python(venv: str) -> str:
    """The interpreter of the virtual environment ``venv``."""
    return os.path.join(venv, "bin", "python")


def installed_torch(venv: str) -> str | None:
    """The torch version the environment ``venv`` imports, or None (no environment, no torch)."""
    if not os.path.isfile(venv_python(venv)):
        return None
    try:
        measured = common.measure([venv_python(venv), "-c", "import torch; print(torch.__version__)"])
    except common.BenchmarkError:
        return None
    lines = measured.output.strip().splitlines()
    return lines[-1].strip() if lines else None


def pip_install_commands(venv: str, requirement: str = TORCH_REQUIREMENT, index: str = TORCH_INDEX) -> list[list[str]]:
    """The pip commands tried in turn to install ``requirement``: pip's configured sources alone (a local wheel
    or mirror), then with PyTorch's CPU index added (where the ``+cpu`` builds are published)."""
    base = [venv_python(venv), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement]
    return [base, [*base, "--extra-index-url", index]]


def ensure_torch(venv: str) -> str:
    """Make ``venv`` a virtual environment holding TORCH_REQUIREMENT (reused when it already does); return its
    torch version. BenchmarkError when no install works."""
    wanted = TORCH_REQUIREMENT.split("==", 1)[1]
    version = installed_torch(venv)
    if version == wanted:
        return version
    if not os.path.isfile(venv_python(venv)):
        os.makedirs(os.path.dirname(venv), exist_ok=True)
        common.measure([sys.executable, "-m", "venv", venv])
    print(f"installing {TORCH_REQUIREMENT} into {venv} (once; ~200 MB)", flush=True)
    failures = []
    for command in pip_install_commands(venv):
        try:
            common.measure(command)
            break
        except common.BenchmarkError as error:
            failures.append(str(error).splitlines()[-1] if str(error) else "failed")
    version = installed_torch(venv)
    if version != wanted:
        raise common.BenchmarkError(f"could not install {TORCH_REQUIREMENT} into {venv} (torch there: {version}); "
                                    f"pip said: {' / '.join(failures)}")
    return version


def new_words(known: set, lines) -> list[str]:
    """The words of ``lines`` not in ``known``, in order of first appearance (``known`` gains them)."""
    found = []
    for line in lines:
        for word in line.split():
            if word not in known:
                known.add(word)
                found.append(word)
    return found


def sliced_training_text(train: str, words: int, target: str) -> int:
    """Write to ``target`` the lines of ``train`` that hold its first ``words`` tokens (a line's words and its
    end of sentence; whole lines), then one line of every word of ``train`` the slice lacks, in order of first
    appearance: the same vocabulary as ``train``. Returns the tokens written (that line's included)."""
    kept, count = [], 0
    with open(train, encoding="utf-8") as handle:
        lines = handle.readlines()
    for line in lines:
        if count >= words:
            break
        kept.append(line if line.endswith("\n") else line + "\n")
        count += len(line.split()) + 1
    missing = new_words(set(new_words(set(), kept)), lines[len(kept):])
    if missing:
        kept.append(" ".join(missing) + "\n")
        count += len(missing) + 1
    with open(target, "w", encoding="utf-8") as out:
        out.writelines(kept)
    return count


def cover_vocabulary(folder: str) -> None:
    """Append to ``folder``'s ptb.train.txt one line of the words of ptb.valid.txt and ptb.test.txt it lacks
    (a --quick slice of PTB): PyTorch's side scores only words of its training vocabulary."""
    train = os.path.join(folder, "ptb.train.txt")
    with open(train, encoding="utf-8") as handle:
        known = set(new_words(set(), handle))
    lines = []
    for name in ("ptb.valid.txt", "ptb.test.txt"):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            lines.extend(handle.readlines())
    missing = new_words(known, lines)
    if missing:
        with open(train, "a", encoding="utf-8") as handle:
            handle.write(" ".join(missing) + "\n")


def is_rnnlmpy(side: str) -> bool:
    """Whether ``side`` (of SIDES) is rnnlmpy's, else PyTorch's."""
    return side.startswith("rnnlmpy")


def is_mixed(side: str) -> bool:
    """Whether ``side`` (of SIDES) trains with bfloat16 products."""
    return side.endswith(MIXED)


def rnnlmpy_train_command(train: str, valid: str, model: str, threads: int, epochs: int | None,
                          mixed: bool = False) -> list[str]:
    """``rnnlmpy train`` with the small recipe (``mixed``: ``-product-precision bfloat16``): ``epochs`` None is one
    pass with no validation (``-one-iter``), else that many epochs validated on ``valid``."""
    stop = ["-one-iter"] if epochs is None else ["-max-iter", str(epochs)]
    precision = ["-product-precision", "bfloat16"] if mixed else []
    return [*common.RNNLMPY, "train", "-train", train, "-valid", valid, "-rnnlm", model, *RNNLMPY_OPTIONS,
            *precision, "-threads", str(threads), "-debug", "0", "-force", *stop]


def torch_command(python: str, corpus: str, threads: int, out: str, train: str | None = None,
                  epochs: int = 1, evaluate: bool = False, mixed: bool = False) -> list[str]:
    """The PyTorch side: torch_zaremba.py with ``python`` (its environment's), JSON to ``out`` (``mixed``: under
    bfloat16 autocast)."""
    return [python, SCRIPT, "--corpus", corpus, "--epochs", str(epochs), "--threads", str(threads), "--out", out,
            *(["--train", train] if train else []), *([] if evaluate else ["--no-eval"]),
            *(["--bfloat16"] if mixed else [])]


def torch_environment(threads: int) -> dict:
    """The PyTorch side's environment: its thread count for OpenMP and MKL too (torch.set_num_threads sets the
    same); rnnlmpy's and Python's own settings removed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def read_torch_result(path: str) -> dict:
    """The JSON torch_zaremba.py wrote; BenchmarkError when it is missing or not its output."""
    try:
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
    except (OSError, ValueError) as error:
        raise common.BenchmarkError(f"no PyTorch result in {path}: {error}") from None
    if not isinstance(result, dict) or "words_per_second" not in result or "epochs" not in result:
        raise common.BenchmarkError(f"{path} is not torch_zaremba.py's output")
    return result


def scored_tokens(output: str) -> int:
    """The tokens an ``rnnlmpy ppl`` output says it scored (its ``words:`` line; OOV tokens are not among them)."""
    return int(common.number(r"(?m)^words: (\d+)$", output))


def ratio_median(ours: list[float], theirs: list[float]) -> float | None:
    """The median over rounds of rnnlmpy / PyTorch words/s (None when either side has no round)."""
    pairs = [a / b for a, b in zip(ours, theirs) if b > 0]
    return round(statistics.median(pairs), 3) if pairs else None


def side_ratios(sides: dict) -> dict:
    """``"ours/theirs"`` -> the median ratio of words/s, for every rnnlmpy side against every PyTorch side."""
    ratios = {}
    for ours in (side for side in sides if is_rnnlmpy(side)):
        for theirs in (side for side in sides if not is_rnnlmpy(side)):
            ratio = ratio_median(sides[ours]["words_per_second"], sides[theirs]["words_per_second"])
            if ratio is not None:
                ratios[f"{ours}/{theirs}"] = ratio
    return ratios


def speed_rounds(args, corpus: str, workdir: str, python: str | None) -> dict:
    """The alternating rounds on the sliced training text: per side, words/s and peak RSS of each round."""
    train = os.path.join(workdir, "slice.train.txt")
    tokens = sliced_training_text(os.path.join(corpus, "ptb.train.txt"), args.max_words, train)
    valid = os.path.join(corpus, "ptb.valid.txt")
    sides = {side: {"words_per_second": [], "peak_rss_mb": []} for side in args.sides}
    commands = {}
    if any(is_rnnlmpy(side) for side in args.sides):
        warm = common.slice_corpus(corpus, ["ptb.valid.txt"], os.path.join(workdir, "warm"), lines=WARM_UP_LINES)
        warm_text = os.path.join(warm, "ptb.valid.txt")
        for mixed in sorted({is_mixed(side) for side in args.sides if is_rnnlmpy(side)}):
            common.measure(rnnlmpy_train_command(warm_text, warm_text, os.path.join(workdir, "warm.model"),
                                                 args.threads, None, mixed))
            common.read_history(os.path.join(workdir, "warm.model"))
    loads = []
    for _ in range(args.rounds):
        loads.append(round(os.getloadavg()[0], 2))
        for side in args.sides:
            if is_rnnlmpy(side):
                model = os.path.join(workdir, "speed.model")
                command = rnnlmpy_train_command(train, valid, model, args.threads, None, is_mixed(side))
                measured = common.measure(command)
                words_per_second = common.read_history(model)[-1]["words_per_second"]
                commands[side] = common.shown(command)
            else:
                out = os.path.join(workdir, "torch-speed.json")
                command = torch_command(python, corpus, args.threads, out, train=train, mixed=is_mixed(side))
                measured = common.measure(command, torch_environment(args.threads))
                words_per_second = read_torch_result(out)["words_per_second"]
                commands[side] = shown_torch(command)
            sides[side]["words_per_second"].append(round(words_per_second))
            sides[side]["peak_rss_mb"].append(round(measured.peak_rss_mb, 1))
    speed = {"training_tokens": tokens, "sides": sides, "commands": commands, "load_average_rounds": loads,
             "ratios": side_ratios(sides)}
    if "rnnlmpy/pytorch" in speed["ratios"]:  # like for like in float32, the measure
        speed["ratio_median"] = speed["ratios"]["rnnlmpy/pytorch"]
    return speed


def shown_torch(command: list[str]) -> str:
    """The PyTorch command as reported: ``python tools/bench/torch_zaremba.py ...`` with file names only."""
    rest = [os.path.basename(word) if os.path.isabs(word) else word for word in command[2:]]
    return " ".join(["python", os.path.relpath(SCRIPT, common.CHECKOUT), *rest])


def perplexity_runs(args, corpus: str, workdir: str, python: str | None) -> dict:
    """Each side trained ``args.epochs`` epochs of the whole training text: valid PPL per epoch, test PPL,
    training words/s, wall seconds and peak RSS of the training process."""
    runs = {}
    train, valid = os.path.join(corpus, "ptb.train.txt"), os.path.join(corpus, "ptb.valid.txt")
    for side in args.sides:
        if is_rnnlmpy(side):
            model = os.path.join(workdir, f"ppl.{side}.model")
            command = rnnlmpy_train_command(train, valid, model, args.threads, args.epochs, is_mixed(side))
            measured = common.measure(command)
            records = common.read_history(model)
            test_ppl, scored = common.score_ptb(corpus, model, threads=args.threads)
            runs[side] = {"command": common.shown(command), "valid_ppl": [r.get("valid_ppl") for r in records],
                          "accepted": [r.get("accepted", True) for r in records],
                          "words_per_second": round(statistics.mean(r["words_per_second"] for r in records)),
                          "test_ppl": test_ppl,
                          "test_tokens": scored_tokens(scored.output),
                          "seconds": round(measured.seconds, 1), "peak_rss_mb": round(measured.peak_rss_mb, 1)}
            continue
        out = os.path.join(workdir, "torch-ppl.json")
        command = torch_command(python, corpus, args.threads, out, epochs=args.epochs, evaluate=True,
                                mixed=is_mixed(side))
        measured = common.measure(command, torch_environment(args.threads))
        result = read_torch_result(out)
        runs[side] = {"command": shown_torch(command), "valid_ppl": [e["valid_ppl"] for e in result["epochs"]],
                      "test_ppl_per_epoch": [e["test_ppl"] for e in result["epochs"]],
                      "words_per_second": round(result["words_per_second"]), "test_ppl": result["test_ppl"],
                      "test_tokens": result["test_tokens"], "seconds": round(measured.seconds, 1),
                      "peak_rss_mb": round(measured.peak_rss_mb, 1)}
    tokens = {side: run["test_tokens"] for side, run in runs.items()}
    if len(set(tokens.values())) > 1:
        raise common.BenchmarkError("the sides scored different test tokens: "
                                    + ", ".join(f"{side} {count}" for side, count in tokens.items()))
    return runs


def main() -> int:
    def extra(parser):
        parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides (speed)")
        parser.add_argument("--max-words", type=int, default=100_000,
                            help="training tokens of each speed round (the first N of ptb.train.txt)")
        parser.add_argument("--threads", type=int, default=2, help="threads of each side")
        parser.add_argument("--epochs", type=int, default=1, help="epochs of the perplexity comparison (0: skip)")
        parser.add_argument("--sides", default=",".join(SIDES), help=f"comma list of {', '.join(SIDES)}")
        parser.add_argument("--torch-venv", default=default_venv(), help="PyTorch's own virtual environment")
        parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")

    args, corpus = common.arguments(__doc__, extra)
    args.sides = [side for side in args.sides.split(",") if side]
    unknown = [side for side in args.sides if side not in SIDES]
    if unknown or not args.sides:
        raise common.BenchmarkError(f"--sides: choose from {', '.join(SIDES)} (got {','.join(args.sides)})")
    if args.rounds < 1 or args.max_words < 1 or args.threads < 1 or args.epochs < 0:
        raise common.BenchmarkError("--rounds, --max-words and --threads must be at least 1, --epochs at least 0")
    if args.quick:
        args.rounds, args.max_words, args.epochs = 1, QUICK_WORDS, min(args.epochs, 1)
        cover_vocabulary(corpus)
    if args.dry_run:
        return dry_run(args, corpus)
    python = None
    results = {"threads": args.threads, "rounds": args.rounds, "max_words": args.max_words, "epochs": args.epochs,
               "sides": args.sides, "load_average_before": common.load_average()}
    if not all(is_rnnlmpy(side) for side in args.sides):
        results["torch_version"] = ensure_torch(args.torch_venv)
        python = venv_python(args.torch_venv)
    with tempfile.TemporaryDirectory() as workdir:
        results["speed"] = speed_rounds(args, corpus, workdir, python)
        print(f"speed: {json.dumps(results['speed']['sides'])}", flush=True)
        if args.epochs:
            results["perplexity"] = perplexity_runs(args, corpus, workdir, python)
    results["load_average_after"] = common.load_average()
    common.write_results(args, "lstm_pytorch", TOOL, results)
    print(markdown(results))
    return 0


def dry_run(args, corpus: str) -> int:
    """Print the commands a run would make (with placeholder paths for its temporary files)."""
    python = venv_python(args.torch_venv)
    train, valid = os.path.join(corpus, "ptb.train.txt"), os.path.join(corpus, "ptb.valid.txt")
    print(f"PyTorch environment: {args.torch_venv} ({TORCH_REQUIREMENT}; installed when missing)")
    for side in args.sides:
        mixed = is_mixed(side)
        if is_rnnlmpy(side):
            print("warm-up:", common.shown(rnnlmpy_train_command("WARM.txt", "WARM.txt", "warm.model", args.threads,
                                                                 None, mixed)))
            print(f"speed x{args.rounds}:", common.shown(rnnlmpy_train_command("SLICE.txt", valid, "speed.model",
                                                                                 args.threads, None, mixed)))
            if args.epochs:
                print("perplexity:", common.shown(rnnlmpy_train_command(train, valid, "ppl.model", args.threads,
                                                                        args.epochs, mixed)))
                print("perplexity:", common.shown(common.ppl_command(corpus, "ppl.model", args.threads)))
            continue
        print(f"speed x{args.rounds}:", shown_torch(torch_command(python, corpus, args.threads, "torch.json",
                                                                    train="SLICE.txt", mixed=mixed)))
        if args.epochs:
            print("perplexity:", shown_torch(torch_command(python, corpus, args.threads, "torch.json",
                                                             epochs=args.epochs, evaluate=True, mixed=mixed)))
    return 0


def _words(values: list) -> str:
    """Words/s of the rounds: ``median (a, b, c)``."""
    return f"{statistics.median(values):,.0f} ({', '.join(f'{v:,}' for v in values)})" if values else ""


def markdown(results: dict) -> str:
    """The speed table (words/s of each side per round, the median ratio, peak RSS) and the perplexity table
    (valid PPL per epoch, test PPL, words/s, wall time, peak RSS), with the commands and the load."""
    speed, parts = results["speed"], []
    sides = speed["sides"]
    rows = [(side, _words(sides[side]["words_per_second"]), f"{max(sides[side]['peak_rss_mb']):.0f}",
             f"`{speed['commands'].get(side, '')}`") for side in sides if sides[side]["words_per_second"]]
    threads = f"{results['threads']} thread" + ("s" if results["threads"] != 1 else "")
    parts.append(common.table([f"small LSTM, training words/s, {threads}, one epoch of the first "
                               f"{results['max_words']:,} tokens of PTB train ({results['rounds']} alternating "
                               "rounds)", "words/s median (rounds)", "peak RSS MB", "command"], rows))
    loads = speed.get("load_average_rounds")
    parts.append(f"{speed['training_tokens']:,} tokens with the line of the words they lack (the vocabulary stays "
                 "PTB's 10,000)" + (f"; load average (1 min) at the start of each round: "
                                    f"{', '.join(str(load) for load in loads)}." if loads else "."))
    ratios = speed.get("ratios") or ({"rnnlmpy/pytorch": speed["ratio_median"]}
                                     if speed.get("ratio_median") is not None else {})
    if ratios:
        parts.append("Words/s, median of the rounds' ratios (the issue's goal: >= 1.5x): " + "; ".join(
            f"{pair.replace('/', ' / ')} **{ratio:.2f}x**" + (" (like for like)" if is_mixed(pair.split("/")[0])
                                                              == is_mixed(pair.split("/")[1]) else "")
            for pair, ratio in ratios.items()) + ".")
    runs = results.get("perplexity") or {}
    if runs:
        rows = []
        for side, run in runs.items():
            valid = ", ".join("-" if v is None else f"{v:.2f}" for v in run["valid_ppl"])
            rows.append((side, valid, f"{run['test_ppl']:.2f}", f"{run['words_per_second']:,}",
                         f"{run['seconds']:.0f}", f"{run['peak_rss_mb']:.0f}", f"`{run['command']}`"))
        parts.append(common.table([f"{results['epochs']} epoch(s) of PTB train", "valid PPL per epoch",
                                   "test PPL", "words/s", "seconds (training process)", "peak RSS MB", "command"],
                                  rows))
        gaps = [f"{ours} against {theirs} {100 * (runs[ours]['test_ppl'] / runs[theirs]['test_ppl'] - 1):+.1f}%"
                for ours in runs if is_rnnlmpy(ours) for theirs in runs if not is_rnnlmpy(theirs)]
        if gaps:
            tokens = next(iter(runs.values()))["test_tokens"]
            parts.append(f"Test PPL over the same {tokens:,} tokens: {'; '.join(gaps)} (the issue's goal: within "
                         "2%).")
    if "torch_version" in results:
        parts.append(f"PyTorch {results['torch_version']}, its own environment (tools/bench/torch_zaremba.py).")
    before, after = results.get("load_average_before"), results.get("load_average_after")
    if before and after:
        parts.append(f"Load average (1, 5, 15 min) before {before}, after {after}: the machine's other work slows "
                     "both sides, not always alike.")
    return "\n\n".join(parts)


if __name__ == "__main__":
    common.run(main)

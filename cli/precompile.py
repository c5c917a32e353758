"""Compiling the kernels ahead of their first use: when the package is built, or on request.

Numba compiles a kernel the first time a process needs it (seconds to a minute
each) and keeps the machine code in its on-disk cache beside the kernels'
sources. ``rnnlmpy compile-kernels`` runs small real commands on a tiny made-up
corpus, so that exactly the kernels (and the argument types) those commands
use are compiled and cached once, before the user's first real command.

The package build runs the same thing (``python -m rnnlmpy_cli.precompile``,
see setup.py) inside the wheel's files, so ``pip install`` ships a cache built
on the installing machine; ``RNNLMPY_PRECOMPILE`` chooses the set (``0`` for
none). Numba keys each cached kernel by its source's content hash, the CPU and
the Numba version, and compiles anew whenever one differs, so a cache that does
not fit is never used, only wasted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import sys
import tempfile
import time

import click

from rnnlmpy.base import RnnlmpyError, compiling, say_on_stderr

from .common import command, examples, option

BUILD_DEFAULT = "default"  # the set a package build compiles unless $RNNLMPY_PRECOMPILE names another

_TRAIN = ["-train", "train.txt", "-valid", "valid.txt", "-hidden", "8", "-max-iter", "1", "-debug", "0", "-force"]
_RNNLM = [  # rnnlm's defaults: a class-softmax Elman network trained, scored (text and n-best) and sampled
    ["train", *_TRAIN, "-rnnlm", "class.rnnlm", "-class", "4"],
    ["ppl", "-rnnlm", "class.rnnlm", "-test", "valid.txt", "-debug", "0"],
    ["ppl", "-rnnlm", "class.rnnlm", "-test", "nbest.txt", "-nbest", "-debug", "0"],
    ["gen", "-rnnlm", "class.rnnlm", "-gen", "20"],
]
_TAGGER = [
    ["tag-train", "-train", "tagged.txt", "-model", "pos.tagger", "-iter", "1", "-ensemble", "1", "-debug", "0"],
    ["tag", "-model", "pos.tagger", "-test", "valid.txt", "-debug", "0"],
]
_NGRAM = [  # the binary n-gram model's scorer (building and ARPA files need no kernel)
    ["ngram", "-train", "train.txt", "-order", "2", "-binary", "tiny.bin", "-force"],
    ["ngram", "-lm", "tiny.bin", "-test", "valid.txt"],
]
_MORE = [  # faster-rnnlm's output layers, the GRU, direct connections and hogwild threads
    ["train", *_TRAIN, "-rnnlm", "hs.rnnlm", "-hs"],
    ["ppl", "-rnnlm", "hs.rnnlm", "-test", "valid.txt", "-debug", "0"],
    ["train", *_TRAIN, "-rnnlm", "nce.rnnlm", "-nce", "3"],
    ["ppl", "-rnnlm", "nce.rnnlm", "-test", "valid.txt", "-debug", "0"],
    ["train", *_TRAIN, "-rnnlm", "gru.rnnlm", "-class", "4", "-hidden-type", "gru"],
    ["ppl", "-rnnlm", "gru.rnnlm", "-test", "valid.txt", "-debug", "0"],
    ["train", *_TRAIN, "-rnnlm", "gru-hs.rnnlm", "-hs", "-hidden-type", "gru"],
    ["ppl", "-rnnlm", "gru-hs.rnnlm", "-test", "valid.txt", "-debug", "0"],
    ["train", *_TRAIN, "-rnnlm", "direct.rnnlm", "-class", "4", "-direct", "1"],
    ["train", *_TRAIN, "-rnnlm", "threads.rnnlm", "-class", "4", "-threads", "2"],
]
_DEEP = [  # the batched engine: the small LSTM's full softmax, classes, an adaptive optimiser, dropout, the other cells
    ["train", *_TRAIN, "-rnnlm", "lstm.rnnlm", "-hidden-type", "lstm", "-layers", "2", "-class", "1", "-bptt", "3",
     "-batch", "2"],
    ["ppl", "-rnnlm", "lstm.rnnlm", "-test", "valid.txt", "-debug", "0"],
    ["gen", "-rnnlm", "lstm.rnnlm", "-gen", "20"],
    ["train", *_TRAIN, "-rnnlm", "lstm-class.rnnlm", "-hidden-type", "lstm", "-class", "4", "-optimizer", "adam",
     "-dropout", "0.1", "-bptt", "3", "-batch", "2"],
    ["train", *_TRAIN, "-rnnlm", "gru-batch.rnnlm", "-hidden-type", "gru", "-class", "1", "-bptt", "3", "-batch", "2"],
    ["train", *_TRAIN, "-rnnlm", "tanh-batch.rnnlm", "-hidden-type", "tanh", "-class", "1", "-bptt", "3", "-batch", "2"],
]
_GRADIENTS = [  # the gradients command on a class-softmax Elman model, a batched LSTM and the tanh and LSTM taggers
    ["train", *_TRAIN, "-rnnlm", "grad.rnnlm", "-class", "4"],
    ["gradients", "-rnnlm", "grad.rnnlm", "-test", "valid.txt", "-steps", "3"],
    ["train", *_TRAIN, "-rnnlm", "grad-lstm.rnnlm", "-hidden-type", "lstm", "-class", "4", "-bptt", "3",
     "-batch", "2"],
    ["gradients", "-rnnlm", "grad-lstm.rnnlm", "-test", "valid.txt", "-steps", "3"],
    ["tag-train", "-train", "tagged.txt", "-model", "grad.tagger", "-iter", "1", "-ensemble", "1", "-debug", "0"],
    ["gradients", "-model", "grad.tagger", "-test", "tagged.txt", "-steps", "3"],
    ["tag-train", "-train", "tagged.txt", "-model", "lstm.tagger", "-hidden-type", "lstm", "-iter", "1", "-ensemble",
     "1", "-debug", "0"],
    ["tag", "-model", "lstm.tagger", "-test", "valid.txt", "-debug", "0"],
    ["gradients", "-model", "lstm.tagger", "-test", "tagged.txt", "-steps", "3"],
]
SETS = {  # name -> the commands whose kernels it compiles; "default" is what a package build compiles
    "rnnlm": _RNNLM, "tagger": _TAGGER, "ngram": _NGRAM, "deep": _DEEP, "gradients": _GRADIENTS,
    "default": _RNNLM + _TAGGER + _NGRAM, "all": _RNNLM + _TAGGER + _NGRAM + _MORE + _DEEP + _GRADIENTS}


def write_tiny_corpus(folder: str) -> None:
    """Made-up sentences in ``folder``: train.txt (200), valid.txt (20), nbest.txt (valid's, three hypotheses an id)
    and tagged.txt (train's as word_TAG)."""
    chooser = random.Random(1)
    words = [f"w{i}" for i in range(300)]
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf's law: every count of counts occurs

    def sentences(count: int) -> list[list[str]]:
        return [chooser.choices(words, weights, k=chooser.randint(3, 10)) for _ in range(count)]

    texts = {"train.txt": sentences(200), "valid.txt": sentences(20)}
    for name, lines in texts.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
            handle.writelines(" ".join(line) + "\n" for line in lines)
    with open(os.path.join(folder, "nbest.txt"), "w", encoding="utf-8") as handle:
        handle.writelines(f"{i // 3} " + " ".join(line) + "\n" for i, line in enumerate(texts["valid.txt"]))
    with open(os.path.join(folder, "tagged.txt"), "w", encoding="utf-8") as handle:
        handle.writelines(" ".join(f"{word}_{'N' if int(word[1:]) % 2 else 'V'}" for word in line) + "\n"
                          for line in texts["train.txt"])


def precompile(name: str, say=None) -> int:
    """Run the commands of ``SETS[name]`` on a tiny corpus in a temporary folder, compiling and caching their
    kernels; returns the number of kernels (signatures) compiled. ``say`` gets one line per command."""
    if name not in SETS:
        raise RnnlmpyError(f"no kernel set {name!r}: choose one of {', '.join(SETS)}")
    from .main import cli  # the command group: the commands compile exactly what a user's run would

    compiled = 0
    with tempfile.TemporaryDirectory(prefix="rnnlmpy-precompile-") as folder, _inside(folder):
        write_tiny_corpus(folder)
        for arguments in SETS[name]:
            started = time.perf_counter()
            with compiling(None) as compilation, contextlib.redirect_stdout(io.StringIO()):
                cli.main(args=list(arguments), prog_name="rnnlmpy", standalone_mode=False)
            compiled += compilation.compiled
            if say is not None:
                say(f"{' '.join(arguments[:1] + _variant(arguments))}: {compilation.compiled} kernels in "
                    f"{time.perf_counter() - started:.1f} s")
    return compiled


def _variant(arguments: list[str]) -> list[str]:
    """The options that tell one precompiled command from another, for the progress lines."""
    shown = {"-hs", "-nce", "-hidden-type", "-direct", "-threads", "-nbest", "-class"}
    out = []
    for i, word in enumerate(arguments):
        if word in shown:
            out.append(word)
            if i + 1 < len(arguments) and not arguments[i + 1].startswith("-"):
                out.append(arguments[i + 1])
    return out


@contextlib.contextmanager
def _inside(folder: str):
    """Run the block with ``folder`` as the working directory (the commands use relative paths)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@command(name="compile-kernels", epilog=examples(
    "rnnlmpy compile-kernels            # what the first train, ppl, gen, tag-train, tag and ngram need",
    "rnnlmpy compile-kernels -set all   # also -hs, -nce, gru, -direct, -threads and the batched engine (-set deep)",
    "rnnlmpy compile-kernels -set gradients   # the gradients command, and the LSTM tagger"))
@option("set", "kernel_set", type=click.Choice(list(SETS)), default=BUILD_DEFAULT, show_default=True,
        help="rnnlm: train, ppl, gen with classes; tagger: tag-train, tag; ngram: binary n-gram models; default: "
             "the three; deep: the batched engine (lstm, -layers, -batch); gradients: the gradients command and the "
             "lstm tagger; all: every set, and -hs, -nce, gru, -direct and -threads.")
def compile_kernels(kernel_set):
    """Compile and cache kernels now, so that later commands start at once (a pip install from source already
    compiles the default set, unless RNNLMPY_PRECOMPILE=0)."""
    started = time.perf_counter()
    count = precompile(kernel_set, say_on_stderr)
    cached = " (the others were in the cache already)" if count else " (all were in the cache already)"
    click.echo(f"compiled {count} kernels in {time.perf_counter() - started:.1f} s{cached}", err=True)


COMMANDS = [compile_kernels]


def main(argv=None) -> None:
    """``python -m rnnlmpy_cli.precompile [--set NAME]``: what the package build runs; exit status 1 on failure
    (the build then goes on without a cache)."""
    parser = argparse.ArgumentParser(description="Compile and cache rnnlmpy's kernels.")
    parser.add_argument("--set", default=BUILD_DEFAULT, choices=sorted(SETS), help="which kernels")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    count = precompile(args.set, lambda line: print(f"rnnlmpy precompile: {line}", file=sys.stderr, flush=True))
    print(f"rnnlmpy precompile: {count} kernels compiled in {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

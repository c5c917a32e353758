"""The ``rnnlmpy`` command: a thin click layer over the library.

Options use rnnlm's single-dash spelling (``-train``, ``-bptt-block``); the
double-dash spelling works too. Every user error is one line on stderr and
exit status 2.
"""

from __future__ import annotations

import sys
import time

import click

import rnnlmpy
from rnnlmpy.errors import RnnlmpyError
from rnnlmpy.evaluation import PerplexityResult, evaluate_file
from rnnlmpy.model import RnnlmConfig, load_model
from rnnlmpy.training import train as train_model

CONTEXT = {"help_option_names": ["-h", "-help", "--help"], "max_content_width": 100}


def option(name: str, *args, **kwargs):
    """A click option spelled both ``-name`` (rnnlm style) and ``--name``."""
    return click.option(f"-{name}", f"--{name}", *args, **kwargs)


@click.group(context_settings=CONTEXT)
@click.version_option(rnnlmpy.__version__, "-version", "--version", prog_name="rnnlmpy")
def cli():
    """Recurrent neural network language models, compatible with Mikolov's rnnlm."""


def print_perplexity(result: PerplexityResult, debug: int, seconds: float) -> None:
    """The ``ppl`` report on stdout (rnnlm's lines, plus word and OOV counts)."""
    out = sys.stdout
    if debug >= 2:
        out.write("Index   P(NET)          Word\n" + "-" * 34 + "\n")
        lines = []
        for word_id, probability, token in zip(result.word_ids.tolist(), result.probabilities.tolist(),
                                                result.tokens):
            lines.append(f"{word_id}\t{probability:.10f}\t{token}\n" if word_id >= 0 else "-1\t0\t\tOOV\n")
        out.write("".join(lines))
    out.write(f"test log probability: {result.log10_probability:f}\n")
    out.write(f"PPL net: {result.perplexity:f}\n")
    out.write(f"words: {result.scored_count}\n")
    out.write(f"OOV: {result.oov_count}" + (" (not in the vocabulary, excluded from the perplexity)\n"
                                             if result.oov_count else "\n"))
    out.flush()
    if debug >= 1:
        speed = len(result.tokens) / max(seconds, 1e-9)
        click.echo(f"scored {len(result.tokens):,} tokens in {seconds:.2f} s ({speed:,.0f} words/s)", err=True)


def run_test(model, test_file: str, debug: int) -> None:
    started = time.perf_counter()
    result = evaluate_file(model, test_file)
    print_perplexity(result, debug, time.perf_counter() - started)


@cli.command(context_settings=CONTEXT)
@option("train", "train_file", metavar="FILE", required=True, help="Training text, one sentence per line.")
@option("valid", "valid_file", metavar="FILE", help="Validation text for the learning-rate schedule.")
@option("rnnlm", "model_file", metavar="FILE", required=True,
        help="Model path; if it holds an unfinished model, training resumes from it.")
@option("test", "test_file", metavar="FILE", help="Evaluate on this text after training.")
@option("hidden", "hidden_size", type=int, default=30, show_default=True, help="Hidden layer size.")
@option("class", "class_count", type=int, default=100, show_default=True,
        help="Output classes (1 = full softmax).")
@option("old-classes", is_flag=True, help="Classes by frequency instead of square-root frequency.")
@option("activation", type=click.Choice(["sigmoid", "tanh", "relu", "elu"]), default="sigmoid",
        show_default=True, help="Hidden-layer activation.")
@option("bptt", type=int, default=0, show_default=True,
        help="Steps each error is propagated back in time (0 = plain backprop).")
@option("bptt-block", "bptt_block", type=int, default=10, show_default=True,
        help="Words between updates of the recurrent weights.")
@option("alpha", type=float, default=None, help="Starting learning rate  [default: 0.1]")
@option("beta", type=float, default=1e-7, show_default=True, help="L2 regularisation.")
@option("gradient-cutoff", "gradient_cutoff", type=float, default=15.0, show_default=True,
        help="Clamp on back-propagated errors (0 = off).")
@option("min-improvement", "min_improvement", type=float, default=1.003, show_default=True,
        help="Start halving alpha (then stop) when validation improves by less than this factor.")
@option("one-iter", "one_iter", is_flag=True, help="One pass over the data, no validation.")
@option("max-iter", "max_iter", type=int, default=None, help="Stop after this many epochs.")
@option("anti-kasparek", "anti_kasparek", type=int, default=0, show_default=True,
        help="Checkpoint the model every N words (>= 10000); rerun to resume.")
@option("rand-seed", "rand_seed", type=int, default=1, show_default=True, help="Seed of every random choice.")
@option("independent", is_flag=True, help="Reset the hidden state at every sentence end.")
@option("precision", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
        help="Floating-point type of the weights.")
@option("debug", type=click.IntRange(0, 2), default=1, show_default=True,
        help="0: silent, 1: per-epoch lines, 2: also live progress.")
def train(train_file, valid_file, model_file, test_file, hidden_size, class_count, old_classes, activation, bptt,
          bptt_block, alpha, beta, gradient_cutoff, min_improvement, one_iter, max_iter, anti_kasparek, rand_seed,
          independent, precision, debug):
    """Train an RNNLM (and resume an interrupted run).

    \b
    Example:
      rnnlmpy train -train ptb.train.txt -valid ptb.valid.txt -rnnlm ptb.model \\
          -hidden 100 -class 100 -bptt 4 -bptt-block 10 -test ptb.test.txt
    """
    config = RnnlmConfig(hidden_size=hidden_size, class_count=class_count, activation=activation, bptt=bptt,
                         bptt_block=bptt_block, alpha=0.1 if alpha is None else alpha, beta=beta,
                         gradient_cutoff=gradient_cutoff, min_improvement=min_improvement, independent=independent,
                         old_classes=old_classes, dtype=precision, rand_seed=rand_seed)
    if test_file is not None:
        rnnlmpy.textio.read_file_bytes(test_file, "test file")  # fail before training, not after
    model = train_model(train_file, model_file, valid_file=valid_file, config=config, one_iter=one_iter,
                        max_iter=max_iter, anti_kasparek=anti_kasparek, alpha=alpha, debug=debug)
    if test_file is not None:
        run_test(load_model(model_file) if model is None else model, test_file, debug)


@cli.command(context_settings=CONTEXT)
@option("rnnlm", "model_file", metavar="FILE", required=True, help="Model file.")
@option("test", "test_file", metavar="FILE", required=True, help="Text to score.")
@option("debug", type=click.IntRange(0, 2), default=1, show_default=True,
        help="2: also one 'index<TAB>probability<TAB>word' line per token.")
def ppl(model_file, test_file, debug):
    """Perplexity of a model on a text.

    \b
    Example:
      rnnlmpy ppl -rnnlm ptb.model -test ptb.test.txt
    """
    run_test(load_model(model_file), test_file, debug)


def main(argv=None) -> None:
    """Entry point of the ``rnnlmpy`` console script: errors become one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="rnnlmpy", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        command = getattr(getattr(error, "ctx", None), "info_name", None)
        context = f"rnnlmpy {command}" if command and command != "rnnlmpy" else "rnnlmpy"
        message = " ".join(error.format_message().split())
        print(f"{context}: error: {message}", file=sys.stderr)
        sys.exit(2)
    except RnnlmpyError as error:
        print(f"rnnlmpy: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nrnnlmpy: interrupted (a checkpointed training run resumes when rerun)", file=sys.stderr)
        sys.exit(130)
    except click.exceptions.Abort:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)


if __name__ == "__main__":
    main()

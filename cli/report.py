"""Commands that describe models: info and plot."""

from __future__ import annotations

import click

from rnnlmpy.report import describe, plot_learning_curves

from .common import command, examples, option


@command(epilog=examples(
    "rnnlmpy info -rnnlm corpus.rnnlm",
    "rnnlmpy info -rnnlm tagger",
    "rnnlmpy info -rnnlm kn5.arpa"))
@option("rnnlm", "model_file", metavar="MODEL", required=True,
        help="Any model rnnlmpy reads: language model, tagger, HMM or ARPA file.")
def info(model_file):
    """Describe a model: kind, sizes, parameters, training data and per-epoch history."""
    click.echo(describe(model_file))


@command(epilog=examples(
    "rnnlmpy plot corpus.rnnlm -o curve.png",
    "rnnlmpy plot seed1.rnnlm seed2.rnnlm -o compare.png"))
@click.argument("model_files", metavar="MODEL...", nargs=-1, required=True)
@click.option("-o", "-output", "--output", "output", metavar="PNG", default="learning-curves.png", show_default=True,
              help="Image to write.")
@option("force", is_flag=True, help="Replace an existing file at -o even if it is not a PNG image.")
def plot(model_files, output, force):
    """Plot learning curves (validation perplexity and alpha per epoch); needs matplotlib."""
    plot_learning_curves(list(model_files), output, force)
    click.echo(f"wrote {output}", err=True)


COMMANDS = [info, plot]

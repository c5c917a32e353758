"""Commands that describe models: info and plot."""

from __future__ import annotations

import click

from rnnlmpy.base import RnnlmpyError
from rnnlmpy.report import describe, plot_learning_curves

from .common import command, examples, option


@command(epilog=examples(
    "rnnlmpy info -model corpus.rnnlm",
    "rnnlmpy info -model tagger",
    "rnnlmpy info -model kn5.arpa"))
@click.option("-model", "--model", "-rnnlm", "--rnnlm", "model_file", metavar="MODEL", required=True,
              help="Any model rnnlmpy reads: language model, tagger, HMM or ARPA file (-rnnlm is the same option).")
def info(model_file):
    """Describe a model: kind, sizes, parameters, training data and per-epoch history."""
    click.echo(describe(model_file))


@command(epilog=examples(
    "rnnlmpy plot -model corpus.rnnlm -o curve.png",
    "rnnlmpy plot -model seed1.rnnlm -model seed2.rnnlm -o compare.png"))
@option("model", "named_models", metavar="MODEL", multiple=True,
        help="A language model or tagger (repeatable; the models may also be given without -model).")
@click.argument("model_files", metavar="[MODEL...]", nargs=-1)
@click.option("-o", "-output", "--output", "output", metavar="PNG", default="learning-curves.png", show_default=True,
              help="Image to write.")
@option("force", is_flag=True, help="Replace an existing file at -o even if it is not a PNG image.")
def plot(named_models, model_files, output, force):
    """Plot learning curves (validation perplexity and alpha per epoch); needs matplotlib."""
    models = [*named_models, *model_files]
    if not models:
        raise RnnlmpyError("give the models to plot: -model MODEL (repeatable)")
    plot_learning_curves(models, output, force)
    click.echo(f"wrote {output}", err=True)


COMMANDS = [info, plot]

"""The gradients command: how far back in time a model's loss still feels its hidden state."""

from __future__ import annotations

import click

from rnnlmpy.base import RnnlmpyError
from rnnlmpy.report import format_gradient_curves, gradient_curves, plot_gradient_curves
from rnnlmpy.rnnlm import GRADIENT_STEPS, MAX_GRADIENT_STEPS

from .common import command, examples, option


@command(epilog=examples(
    "rnnlmpy gradients -rnnlm ptb.rnnlm -test ptb.test.txt",
    "rnnlmpy gradients -rnnlm sigmoid.rnnlm -rnnlm lstm.rnnlm -test ptb.valid.txt -steps 30 -o vanishing.png",
    "rnnlmpy gradients -model tagger -test wiki-en-test.norm_pos"))
@option("rnnlm", "language_models", metavar="MODEL", multiple=True,
        help="A language model (repeatable: several curves, one plot).")
@option("model", "taggers", metavar="TAGGER", multiple=True,
        help="An RNN tagger (repeatable); its -test is tagged text (word_TAG), one curve per reading direction.")
@option("test", "test_file", metavar="TEXT", required=True, help="The text the gradients are averaged over.")
@option("steps", type=int, default=GRADIENT_STEPS, show_default=True, metavar="K",
        help=f"Measure k = 0..K steps back (at most {MAX_GRADIENT_STEPS:,}).")
@click.option("-o", "-output", "--output", "output", metavar="PNG", default=None,
              help="Also plot the curves (log scale) into this image; needs matplotlib.")
@option("force", is_flag=True, help="Replace an existing file at -o even if it is not a PNG image.")
def gradients(language_models, taggers, test_file, steps, output, force):
    """Mean norm of d(loss at t)/d(h(t-k)) over a text, k = 0..K: vanishing (or exploding) gradients made visible.

    The loss is -ln P of the word at t under the model's own output layer; h is the hidden state the output
    layer reads (the top layer's, through c for an LSTM). Prints one "k norm" line per step.
    """
    if not language_models and not taggers:
        raise RnnlmpyError("give the models to measure: -rnnlm MODEL or -model TAGGER (repeatable)")
    models = [*language_models, *taggers]
    curves = gradient_curves(list(language_models), list(taggers), test_file, steps, output, force)
    click.echo(format_gradient_curves(curves), nl=False)
    if output is not None:
        plot_gradient_curves(curves, output, [*models, test_file], force)
        click.echo(f"wrote {output}", err=True)


COMMANDS = [gradients]

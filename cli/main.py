"""The ``rnnlmpy`` command: a thin click layer over the library, one module per model family.

Options use rnnlm's single-dash spelling (``-train``, ``-bptt-block``); the
double-dash spelling works too. Every user error is one line on stderr and
exit status 2.
"""

from __future__ import annotations

import sys

import click

import rnnlmpy
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm.training import TrainingInterrupted

from . import mixing, ngram, report, rnnlm, tagger
from .common import CONTEXT, Group, examples, silence_broken_pipe


@click.group(cls=Group, context_settings=CONTEXT, epilog=examples(
    "rnnlmpy train -train corpus.txt          # trains corpus.rnnlm",
    "rnnlmpy ppl -rnnlm corpus.rnnlm -test test.txt",
    "rnnlmpy info -rnnlm corpus.rnnlm",
    "rnnlmpy COMMAND --help                   # every option, its default and an example"))
@click.version_option(rnnlmpy.__version__, "-version", "--version", prog_name="rnnlmpy")
def cli():
    """Recurrent neural network language models and taggers, compatible with Mikolov's rnnlm.

    Options are spelled as in rnnlm (-train, -bptt-block); --train works too.
    """


for family in (rnnlm, ngram, mixing, tagger, report):
    for command in family.COMMANDS:
        cli.add_command(command)


def main(argv=None) -> None:
    """Entry point of the ``rnnlmpy`` console script: errors become one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="rnnlmpy", standalone_mode=False)
        sys.stdout.flush()  # a closed pipe shows here when everything fitted in the buffer
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        command = getattr(getattr(error, "ctx", None), "info_name", None)
        context = f"rnnlmpy {command}" if command and command != "rnnlmpy" else "rnnlmpy"
        message = " ".join(error.format_message().split())
        print(f"{context}: error: {message}", file=sys.stderr)
        sys.exit(2)
    except TrainingInterrupted as stopped:  # Ctrl-C in training: the state was saved first
        print(f"rnnlmpy: {stopped}", file=sys.stderr)
        sys.exit(130)
    except RnnlmpyError as error:
        print(f"rnnlmpy: error: {error}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Abort):  # click turns Ctrl-C into Abort
        print("rnnlmpy: interrupted; no output file was left half-written", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `rnnlmpy gen | head`: the reader has all it wanted
        silence_broken_pipe()
        sys.exit(0)
    sys.exit(0)


if __name__ == "__main__":
    main()

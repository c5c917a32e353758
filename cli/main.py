"""The ``rnnlmpy`` command: a thin click layer over the library, one module per model family.

Options use rnnlm's single-dash spelling (``-train``, ``-bptt-block``); the
double-dash spelling works too. Every user error is one line on stderr and
exit status 2.
"""

from __future__ import annotations

import errno
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping

import click

import rnnlmpy
from rnnlmpy.base import RnnlmpyError, StoppedBySignal, Terminated, compiling, say_on_stderr

from .common import CONTEXT, Group, discard, examples, silence_broken_pipe

# command -> the module of this package that defines it (in its COMMANDS): a command imports its own family only,
# so that `rnnlmpy ppl` does not pay for the tagger's modules and kernels
FAMILY_OF = {"train": "rnnlm", "ppl": "rnnlm", "gen": "rnnlm", "convert": "rnnlm", "export-embeddings": "embeddings",
             "ngram": "ngram", "ensemble": "mixing", "compare": "mixing", "tag-train": "tagger", "tag": "tagger",
             "grade": "tagger", "info": "report", "plot": "report", "compile-kernels": "precompile",
             "gradients": "gradients"}


class FamilyCommands(Mapping):
    """The group's commands by name, each family's module imported when one of its commands is first looked up
    (``rnnlmpy --help`` looks up all of them)."""

    def __getitem__(self, name: str) -> click.Command:
        family = importlib.import_module(f"{__package__}.{FAMILY_OF[name]}")
        return next(command for command in family.COMMANDS if command.name == name)

    def __iter__(self) -> Iterator[str]:
        return iter(FAMILY_OF)

    def __len__(self) -> int:
        return len(FAMILY_OF)


@click.group(cls=Group, commands=FamilyCommands(), context_settings=CONTEXT, epilog=examples(
    "rnnlmpy train -train corpus.txt          # trains corpus.rnnlm",
    "rnnlmpy ppl -rnnlm corpus.rnnlm -test test.txt",
    "rnnlmpy info -rnnlm corpus.rnnlm",
    "rnnlmpy COMMAND --help                   # every option, its default and an example"))
@click.version_option(rnnlmpy.__version__, "-version", "--version", prog_name="rnnlmpy")
def cli():
    """Recurrent neural network language models and taggers, compatible with Mikolov's rnnlm.

    Options are spelled as in rnnlm (-train, -bptt-block); --train works too.
    """



def _terminate(signum, frame):
    raise Terminated


def main(argv=None) -> None:
    """Entry point of the ``rnnlmpy`` console script: errors become one line and exit status 2; Ctrl-C and
    SIGTERM stop with 130 and 143 (training saves its state first).

    Any command that compiles kernels says so on stderr first (``base.compiling``; a command at ``-debug 0``
    silences it).
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        _run(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(argv) -> None:
    try:
        with compiling(say_on_stderr):
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
    except StoppedBySignal as stopped:  # Ctrl-C or SIGTERM in training: the state was saved first
        print(f"rnnlmpy: {stopped}", file=sys.stderr)
        sys.exit(stopped.exit_status)
    except RnnlmpyError as error:
        print(f"rnnlmpy: error: {error}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Abort) as stopped:  # click turns Ctrl-C into Abort
        terminated = isinstance(stopped, Terminated) or isinstance(stopped.__cause__, Terminated)
        print(f"rnnlmpy: {'terminated' if terminated else 'interrupted'}; no output file was left half-written",
              file=sys.stderr)
        sys.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))
    except BrokenPipeError:  # `rnnlmpy gen | head`: the reader has all it wanted
        silence_broken_pipe()
        sys.exit(0)
    except OSError as error:  # what the commands write to stdout: a full disk, an I/O error
        print(f"rnnlmpy: error: {describe_os_error(error)}", file=sys.stderr)
        discard(sys.stdout)  # its device failed: what is buffered would fail again at exit
        sys.exit(2)
    sys.exit(0)


def describe_os_error(error: OSError) -> str:
    """One line for an OSError that reached the top: the file it names, or else the output (stdout)."""
    reason = error.strerror or str(error) or type(error).__name__
    if error.filename is not None:
        return f"{error.filename}: {reason}"
    if error.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
        return f"cannot write the output: {reason}"
    return reason


if __name__ == "__main__":
    main()

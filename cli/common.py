"""What every command module shares: the option spelling, help layout and default output names."""

from __future__ import annotations

import os

import click

CONTEXT = {"help_option_names": ["-h", "-help", "--help"], "max_content_width": 100, "terminal_width": 100}


def option(name: str, *args, **kwargs):
    """A click option spelled both ``-name`` (rnnlm style) and ``--name``."""
    return click.option(f"-{name}", f"--{name}", *args, **kwargs)


def examples(*lines: str) -> str:
    """A command's help epilog: its worked examples, printed at the end of --help as written."""
    return "\b\nExamples:\n" + "\n".join("  " + line for line in lines)


def command(**settings):
    """``click.command`` with rnnlmpy's help layout; ``settings`` as for click (name, epilog, ...)."""
    return click.command(context_settings=CONTEXT, **settings)


def default_model_path(corpus_file: str, suffix: str) -> str:
    """The corpus file's name with ``suffix`` instead of its extension, in the current folder."""
    return os.path.splitext(os.path.basename(corpus_file.rstrip("/")))[0] + suffix


def debug_option(default: int = 1, help: str = "0: silent; 1: progress and timing on stderr."):
    """The ``-debug 0/1/2`` option."""
    return option("debug", type=click.IntRange(0, 2), default=default, show_default=True, help=help)

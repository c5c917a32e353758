"""What every command module shares: the option spelling, help layout, error handling and default output names."""

from __future__ import annotations

import difflib
import os
import sys

import click

from rnnlmpy.base import default_threads_text, mute_compile_notice


CONTEXT = {"help_option_names": ["-h", "-help", "--help"], "max_content_width": 100, "terminal_width": 100}


def option(name: str, *args, **kwargs):
    """A click option spelled both ``-name`` (rnnlm style) and ``--name``."""
    return click.option(f"-{name}", f"--{name}", *args, **kwargs)


def examples(*lines: str) -> str:
    """A command's help epilog: its worked examples, printed at the end of --help as written."""
    return "\b\nExamples:\n" + "\n".join("  " + line for line in lines)


def silence_broken_pipe() -> None:
    """Point stdout and stderr at os.devnull: the reader of a pipe has gone (``rnnlmpy gen | head``).

    What is still buffered then flushes into nothing at exit, instead of raising
    BrokenPipeError again and making Python print "Exception ignored" and exit 120.
    """
    discard(sys.stdout, sys.stderr)


def discard(*streams) -> None:
    """Point ``streams`` (sys.stdout, sys.stderr) at os.devnull once their file has failed (a closed pipe, a full
    device): what is still buffered is dropped at exit instead of failing again there."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in streams:
            try:
                os.dup2(devnull, stream.fileno())
            except (AttributeError, OSError, ValueError):  # no real file behind it (a test's capture)
                pass
    finally:
        os.close(devnull)


def _option_arity(params) -> dict[str, int]:
    """Every spelling of every option -> how many values follow it (0 for a flag)."""
    arity = {}
    for param in params:
        if isinstance(param, click.Option):
            count = 0 if param.is_flag or param.count else param.nargs
            for name in (*param.opts, *param.secondary_opts):
                arity[name] = count
    return arity


def _suggest(typed: str, spellings) -> list[str]:
    """The options closest to ``typed`` (difflib), spelled with the user's ``-`` or ``--`` where they can be."""
    prefix = "--" if typed.startswith("--") else "-"
    by_bare = {}
    for spelling in spellings:
        bare = spelling.lstrip("-")
        if len(bare) > 1:
            by_bare.setdefault(bare, []).append(spelling)
    close = difflib.get_close_matches(typed.lstrip("-"), list(by_bare), n=3, cutoff=0.6)
    return [prefix + bare if prefix + bare in by_bare[bare] else by_bare[bare][0] for bare in close]


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


class _ReadableErrors:
    """Option errors in rnnlm's single-dash spelling, and a quiet exit when stdout's reader has gone.

    click reads an unknown ``-hiden`` as the short options ``-h -i -d ...`` and
    reports "No such option '-i'"; here it is reported as typed, with the closest
    option names. An option followed by another option instead of its value says so.
    """

    def parse_args(self, ctx, args):
        arity = _option_arity(self.get_params(ctx))
        words = list(args)  # click's parser consumes ``args``
        if not ctx.resilient_parsing:  # (shell completion parses half-typed lines)
            self._check_values(ctx, words, arity)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as error:
            typed = self._unknown_token(words, arity, error.option_name)
            if typed is None:
                raise
            names = _suggest(typed, arity)
            hint = f"; did you mean {_either(names)}?" if names else f" (see {ctx.command_path} --help)"
            raise click.NoSuchOption(typed, message=f"No such option '{typed}'{hint}", ctx=ctx) from None
        except click.UsageError as error:
            if error.ctx is None:  # so that the message names the command
                error.ctx = ctx
            raise

    @staticmethod
    def _walk(args, arity):
        """(token, what it is) for the command line's words: "option", "value", "other"; stops at ``--``."""
        pending = 0
        for token in args:
            if pending:
                pending -= 1
                yield token, "value"
                continue
            if token == "--":
                return
            name = token.split("=", 1)[0]
            if name in arity:
                pending = 0 if "=" in token else arity[name]
                yield token, "option"
            elif not token.startswith("--") and arity.get(token[:2], 0) > 0:  # -ofile: a short option, its value
                yield token, "option"
            else:
                yield token, "other"

    def _check_values(self, ctx, args, arity):
        """An option whose value is missing because the next word is another option (``-rnnlm -test t``)."""
        previous = None
        for token, kind in self._walk(args, arity):
            if kind == "value" and token.split("=", 1)[0] in arity and previous is not None:
                message = f"Option '{previous}' requires an argument ('{token}' is an option)."
                raise click.BadOptionUsage(previous, message, ctx=ctx)
            previous = token if kind == "option" and arity.get(token) == 1 else None

    def _unknown_token(self, args, arity, reported):
        """The word of the command line that click's "No such option ``reported``" came from, or None."""
        for token, kind in self._walk(args, arity):
            if kind != "other" or not token.startswith("-") or token == "-":
                continue
            name = token.split("=", 1)[0]
            if name == reported or (not token.startswith("--") and len(reported) == 2 and reported[1] in token[1:]):
                return name
        return None

    def make_context(self, info_name, args, parent=None, **extra):
        try:  # --help and -version print while the context is made
            return super().make_context(info_name, args, parent=parent, **extra)
        except BrokenPipeError:
            silence_broken_pipe()
            raise click.exceptions.Exit(0) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            silence_broken_pipe()
            raise click.exceptions.Exit(0) from None


class Command(_ReadableErrors, click.Command):
    """Every rnnlmpy command: readable option errors, quiet on a closed pipe."""


class Group(_ReadableErrors, click.Group):
    """The ``rnnlmpy`` group, with its commands' error handling."""


def command(**settings):
    """``click.command`` with rnnlmpy's help layout and errors; ``settings`` as for click (name, epilog, ...)."""
    return click.command(cls=Command, context_settings=CONTEXT, **settings)


def default_model_path(corpus_file: str, suffix: str) -> str:
    """The corpus file's name with ``suffix`` instead of its extension, in the current folder."""
    return os.path.splitext(os.path.basename(corpus_file.rstrip("/")))[0] + suffix


def threads_option(help: str, every_core: bool):
    """The ``-threads N`` option; None: ``base.system.default_threads(every_core)`` (every core where the output
    does not depend on the thread count, else one)."""
    return option("threads", type=int, default=None,
                  help=f"{help}  [default: {default_threads_text(every_core)}]")


def debug_option(default: int = 1, help: str = "0: silent; 1: progress and timing on stderr."):
    """The ``-debug 0/1/2`` option; 0 also silences the notice that kernels are being compiled."""
    return option("debug", type=click.IntRange(0, 2), default=default, show_default=True, help=help,
                  callback=_silent_at_debug_0)


def _silent_at_debug_0(ctx, param, value):
    if value == 0:
        mute_compile_notice()
    return value

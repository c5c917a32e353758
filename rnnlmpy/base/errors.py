"""Errors that reach the user as one line on stderr and exit status 2."""


class RnnlmpyError(Exception):
    """A problem with the user's input (file, option or model), not a bug.

    The command-line layer prints ``str(error)`` on one line and exits with
    status 2; library callers can catch it like any other exception.
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a batch scheduler sends before killing a job), raised where Ctrl-C raises KeyboardInterrupt,
    so that a command stops the same way and the command line can still tell the two apart (exit 143, not 130)."""

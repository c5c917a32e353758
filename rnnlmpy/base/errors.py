"""Errors that reach the user as one line on stderr and exit status 2."""

import signal


class RnnlmpyError(Exception):
    """A problem with the user's input (file, option or model), not a bug.

    The command-line layer prints ``str(error)`` on one line and exits with
    status 2; library callers can catch it like any other exception.
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a batch scheduler sends before killing a job), raised where Ctrl-C raises KeyboardInterrupt,
    so that a command stops the same way and the command line can still tell the two apart (exit 143, not 130)."""


class StoppedBySignal(RnnlmpyError):
    """Ctrl-C or SIGTERM stopped the work after it saved what it had; the message says what and how to go on.

    ``exit_status`` is the shell's for that signal (128 + its number: 130 for Ctrl-C, 143 for SIGTERM), which
    the command line exits with instead of 2.
    """

    def __init__(self, message: str, signal_number: int = signal.SIGINT):
        super().__init__(message)
        self.signal_number = int(signal_number)
        self.exit_status = 128 + self.signal_number

    def __reduce__(self):  # from a worker process, with its signal
        return type(self), (str(self), self.signal_number)

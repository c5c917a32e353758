"""Progress on stderr: a live line redrawn in place on a terminal, whole lines in a log file or pipe."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from typing import Iterator, Optional, TextIO


REDRAW_SECONDS = 0.25  # a terminal's live progress line is redrawn at most this often
LOG_LINE_SECONDS = 10.0  # -debug 2 into a file or pipe: one whole progress line at most this often


class ProgressReporter:
    """Progress and epoch lines on stderr; ``debug`` 0 prints nothing.

    On a terminal (debug 1 or 2) the running line is redrawn in place; into a
    file or pipe, debug 2 writes it as a whole line every LOG_LINE_SECONDS
    (a log never holds carriage returns), debug 1 only the epoch lines.
    """

    def __init__(self, debug: int = 1, stream: Optional[TextIO] = None):
        self.debug = debug
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self.live = debug >= 2 or (debug >= 1 and self.terminal)
        self._last_draw = -math.inf
        self._line_open = False  # a live line is on screen and has no newline yet

    def message(self, text: str) -> None:
        """One line of information (debug >= 1)."""
        if self.debug >= 1:
            self._end_live_line()
            print(text, file=self.stream, flush=True)

    def warning(self, text: str) -> None:
        """One line that something was ignored, adjusted or went wrong; printed even at debug 0."""
        self._end_live_line()
        print(f"warning: {text}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def closing(self) -> Iterator["ProgressReporter"]:
        """Ends a live line however the block ends, so that an error message starts on a line of its own."""
        try:
            yield self
        finally:
            self._end_live_line()

    def _end_live_line(self) -> None:
        if self._line_open:
            self.stream.write("\r" + " " * 110 + "\r")
            self.stream.flush()
            self._line_open = False

    def running(self, epoch: int, alpha: float, entropy: float, fraction: float, words_per_second: float,
                eta_seconds: float) -> None:
        """The in-epoch progress line: redrawn on a terminal (at most every REDRAW_SECONDS), else written as a
        whole line (at most every LOG_LINE_SECONDS)."""
        now = time.monotonic()
        if not self.live or now - self._last_draw < (REDRAW_SECONDS if self.terminal else LOG_LINE_SECONDS):
            return
        self._last_draw = now
        line = (f"Iter: {epoch:3d}  Alpha: {alpha:.6f}  TRAIN entropy: {entropy:.4f}  "
                f"Progress: {100 * fraction:6.2f}%  Words/sec: {words_per_second:,.0f}  "
                f"ETA: {format_seconds(eta_seconds)}")
        if not self.terminal:
            print(line, file=self.stream, flush=True)
            return
        self.stream.write(f"\r{line}   ")
        self.stream.flush()
        self._line_open = True

    def epoch_done(self, record: dict) -> None:
        """The per-epoch line: train/valid entropy, speed and alpha."""
        if self.debug < 1:
            return
        self._end_live_line()
        valid = ""
        if record.get("valid_entropy") is not None:
            valid = (f"  VALID entropy: {record['valid_entropy']:.4f}  PPL: {record['valid_ppl']:.2f}"
                     + ("" if record["accepted"] else "  (worse: weights restored)"))
        print(f"Iter: {record['epoch']:3d}  Alpha: {record['alpha']:.6f}  TRAIN entropy: "
              f"{record['train_entropy']:.4f}  Words/sec: {record['words_per_second']:,.0f}{valid}  "
              f"time: {format_seconds(record['seconds'])}", file=self.stream, flush=True)


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss``) for a duration in seconds."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

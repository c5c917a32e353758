"""rnnlm's learning-rate schedule: accept or reject each epoch, halve the rate, stop; and divergence.

As in the C++ rnnlm: train an epoch at learning rate ``alpha``, score the
validation text; an epoch that made validation worse is rejected (the caller
restores the weights of the previous epoch). Once an epoch improves the
validation log-probability by less than the factor ``min_improvement``, alpha
is halved after every further epoch; the next time that happens, training
stops. An epoch whose entropy explodes (or is not a number) has diverged: it
is rejected and retried at half the rate, until the rate falls below
MIN_ALPHA_SHARE of the starting one.

The schedule's whole state lives in the model's ``TrainingProgress`` (epoch,
alpha, halving, last_valid_log10, finished), which every save writes, so that
a checkpoint resumes the schedule exactly where it was.
"""

from __future__ import annotations

import math
from typing import Optional

from ..base.errors import RnnlmpyError
from .model import TrainingProgress

DIVERGENCE_MARGIN_BITS = 2.0  # an entropy this far above a uniform guess's means training has diverged
MIN_ALPHA_SHARE = 1e-6  # divergence halves alpha; below this share of the starting alpha, give up


def divergence_limit(vocab_size: int) -> float:
    """Entropy (bits per word) above which training has diverged: a uniform guess's plus 2 bits."""
    return math.log2(max(vocab_size, 2)) + DIVERGENCE_MARGIN_BITS


class LearningRateSchedule:
    """rnnlm's accept/halve/stop schedule over ``progress`` (updated in place).

    ``min_improvement`` is the factor of -min-improvement; ``starting_alpha``
    the run's first learning rate (the floor for divergence retries is a share
    of it). ``stopped`` says why training stopped, once ``progress.finished``.
    """

    def __init__(self, progress: TrainingProgress, min_improvement: float, starting_alpha: float):
        self.progress = progress
        self.min_improvement = min_improvement
        self.starting_alpha = starting_alpha
        self.stopped = ""

    def reached_max_iter(self, max_iter: Optional[int]) -> bool:
        """True (and training finished) when ``max_iter`` epochs are done; None means no limit."""
        if max_iter is None or self.progress.epoch < max_iter:
            return False
        self._finish(f"-max-iter {max_iter} reached")
        return True

    def one_pass_done(self) -> None:
        """-one-iter: the one pass over the data is done (no validation); training is finished."""
        self._finish("-one-iter (one pass, no validation)")

    def validated(self, valid_log10: float) -> bool:
        """Judge an epoch by its validation log10-probability ``valid_log10`` (a sum, <= 0): return whether it
        is accepted (not worse than the last epoch; a rejected epoch's weights must be restored), halve alpha or
        stop as rnnlm does, and count the epoch unless training stopped."""
        progress = self.progress
        accepted = bool(valid_log10 >= progress.last_valid_log10)
        stop = False
        if valid_log10 * self.min_improvement < progress.last_valid_log10:
            if progress.halving:
                stop = True
            else:
                progress.halving = True
        if progress.halving and not stop:
            progress.alpha /= 2
        progress.last_valid_log10 = valid_log10
        if stop:
            self._finish(f"converged (validation improved by less than -min-improvement {self.min_improvement:g} "
                         "a second time)")
        else:
            progress.epoch += 1
        return accepted

    def diverged(self) -> None:
        """The epoch diverged (its weights are thrown away): halve alpha for its retry; RnnlmpyError once alpha
        is below MIN_ALPHA_SHARE of the starting alpha."""
        self.progress.alpha /= 2
        if self.progress.alpha < MIN_ALPHA_SHARE * self.starting_alpha:
            raise RnnlmpyError(f"training diverges even at alpha {self.progress.alpha:.3g}; the model file keeps the "
                               "last good weights; try a smaller -alpha or -gradient-cutoff")

    def _finish(self, reason: str) -> None:
        self.progress.finished = True
        self.stopped = reason

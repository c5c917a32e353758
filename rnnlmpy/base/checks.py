"""Checks of user settings shared by every model family: each bound is written once, here.

Every check raises RnnlmpyError naming the option as the command line spells
it (``-rand-seed``), so that a bad value is one line and exit status 2.
"""

from __future__ import annotations

import math
import numbers

from .errors import RnnlmpyError

MAX_RAND_SEED = 2**63 - 1  # seeds reach the kernels as int64


def check_rand_seed(seed: int, option: str = "-rand-seed") -> int:
    """``seed`` if it is a whole number from 0 to MAX_RAND_SEED, else RnnlmpyError naming ``option``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_RAND_SEED:
        raise RnnlmpyError(f"{option} must be between 0 and 2^63 - 1 (got {seed})")
    return seed


def check_finite(option: str, value: float) -> float:
    """``value`` if it is a finite number (not NaN, not ±inf), else RnnlmpyError naming ``option``."""
    if not math.isfinite(value):
        raise RnnlmpyError(f"{option} must be a finite number (got {value})")
    return value

"""How one training run goes (``RunOptions``), beside ``RnnlmConfig``, which says what model it trains.

``RnnlmConfig`` holds the model's settings (stored in the model file, and a
checkpoint resumes only with them unchanged); ``RunOptions`` holds the run's:
when to stop, how often to checkpoint, how many threads, what to report and
where. Every run default is written here once; ``RunOptions.validate`` holds
every check of them, so that a bad option fails before any text is read.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable, Optional, TextIO

from ..base.errors import RnnlmpyError
from ..base.system import check_threads, resolve_threads

MIN_CHECKPOINT_WORDS = 10_000  # as rnnlm: -anti-kasparek 1..9999 means 10000


@dataclass(frozen=True)
class RunOptions:
    """The settings of one training run (not stored with the model, except the threads it started on).

    ``one_iter``: one pass, no validation. ``max_iter``: stop after this many
    epochs (None: when the schedule stops). ``anti_kasparek``: also save a
    checkpoint every this many training words (0: only at epoch ends; 1-9999
    mean 10,000, as rnnlm). ``alpha``: replaces the learning rate (also of a
    resumed model; None: the config's, or the checkpoint's). ``threads``:
    hogwild threads (None: the default, or those an unfinished model was
    started with). ``debug``: 0 silent, 1 per-epoch lines, 2 live progress;
    ``log`` receives them (None: stderr). ``on_progress(model)`` is called after
    every kernel call (about every 20,000 words). ``force``: start anew even if
    the model path holds a model. ``other_inputs``: more files the model must
    never replace. ``model_note``: added to the line naming the model file.
    ``cross_validation`` = (fold, folds, seed): validate on that fold of the
    training lines instead of a validation file.
    """

    one_iter: bool = False
    max_iter: Optional[int] = None
    anti_kasparek: int = 0
    alpha: Optional[float] = None
    threads: Optional[int] = None
    debug: int = 1
    log: Optional[TextIO] = None
    on_progress: Optional[Callable] = None
    force: bool = False
    other_inputs: tuple = ()
    model_note: str = ""
    cross_validation: Optional[tuple[int, int, int]] = None

    @classmethod
    def of(cls, options: Optional["RunOptions"] = None, **settings) -> "RunOptions":
        """``options`` (default: the defaults) with ``settings`` (field name -> value) replaced; RnnlmpyError
        naming a setting that is not a run option."""
        unknown = sorted(set(settings) - {item.name for item in fields(cls)})
        if unknown:
            raise RnnlmpyError(f"not a training run option: {', '.join(unknown)}")
        return replace(options or cls(), **settings)

    @property
    def checkpoint_words(self) -> int:
        """Training words between checkpoints (0: none between epoch ends); at least MIN_CHECKPOINT_WORDS."""
        return max(self.anti_kasparek, MIN_CHECKPOINT_WORDS) if self.anti_kasparek > 0 else 0

    def validate(self, valid_file: Optional[str] = None) -> None:
        """RnnlmpyError (one line, naming the option) unless these options make a run, with ``valid_file`` as
        the validation file; a bad ``$RNNLMPY_THREADS`` fails here too, not after reading the corpus."""
        if self.cross_validation is not None and (valid_file is not None or self.one_iter):
            raise RnnlmpyError("cross-validation holds out its own lines: give no -valid and no -one-iter")
        if self.max_iter is not None and self.max_iter < 1:
            raise RnnlmpyError(f"-max-iter must be at least 1 (got {self.max_iter})")
        if self.one_iter and self.max_iter is not None:
            raise RnnlmpyError("-one-iter trains exactly one pass; give either -one-iter or -max-iter, not both")
        if self.anti_kasparek < 0:
            raise RnnlmpyError(f"-anti-kasparek must be 0 (off) or a number of words (got {self.anti_kasparek})")
        if self.threads is not None:
            check_threads(self.threads)
        else:
            resolve_threads(None, every_core=False)

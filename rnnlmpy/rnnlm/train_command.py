"""What ``rnnlmpy train`` does, as one library call: one model, or a grid of them (seeds, settings, folds).

The command line parses its options into an ``RnnlmConfig``, the run's
``RunOptions`` and a ``GridRequest`` and calls ``train_command``; this module
decides whether that is one training or a grid, trains, and says what became
of each member.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from ..base.errors import RnnlmpyError
from ..base.executor import scheduler_address
from ..base.files import read_file_bytes
from .evaluation import evaluate_file
from .grid import MANIFEST_SUFFIX, MemberResult, grid_members, train_grid
from .model import RnnlmConfig, RnnlmModel
from .model_file import load_model
from .options import RunOptions
from .training import train


@dataclass(frozen=True)
class GridRequest:
    """How many models one ``train`` command trains, and where.

    ``values``: config field -> the values to train (a comma list on the
    command line; a field with several values makes a grid, see
    ``grid.GRID_SETTINGS``; [None]: the default of each member's engine);
    ``cv_folds``: cross-validation members (0: none);
    ``jobs``: members trained at once in local worker processes;
    ``scheduler``: a Dask cluster's address (None: ``$RNNLMPY_SCHEDULER``, else
    local); ``ship_data``: send the files with each task instead of sharing
    storage.
    """

    values: dict = field(default_factory=dict)
    cv_folds: int = 0
    jobs: int = 1
    scheduler: Optional[str] = None
    ship_data: bool = False


def train_command(train_file: str, model_file: str, valid_file: Optional[str], config: RnnlmConfig,
                  options: RunOptions, grid: GridRequest = GridRequest(), test_file: Optional[str] = None,
                  say: Optional[Callable[[str], None]] = None,
                  show: Callable[[str], None] = print) -> Optional[RnnlmModel]:
    """Train what ``rnnlmpy train`` asks for; return the model when it is one (the caller scores
    ``test_file`` on it), None for a grid.

    ``config`` takes the first of each of ``grid.values``. With several values,
    ``cv_folds``, a scheduler or ``ship_data``, the members are trained as a
    grid (``grid.train_grid``, files ``model_file.<member>`` and a manifest):
    ``say`` gets a line per member and a closing line (default: stderr),
    ``show`` each member's test perplexity when ``test_file`` is given
    (default: stdout); RnnlmpyError after the others if a member failed.
    ``test_file`` is checked before any training starts.
    """
    say = say or (lambda line: print(line, file=sys.stderr))
    config = replace(config, **{name: values[0] for name, values in grid.values.items() if values})
    if test_file is not None:
        read_file_bytes(test_file, "test file", 0)  # fail before training, not after
    config.validate()
    options = replace(options, other_inputs=(*options.other_inputs, test_file))
    scheduler = scheduler_address(grid.scheduler)
    several = {name: values for name, values in grid.values.items() if len(values) > 1}
    if not (several or grid.cv_folds or scheduler is not None or grid.ship_data):
        return train(train_file, model_file, valid_file, config, options)
    defaulted = {name: None for name, values in grid.values.items() if list(values) == [None] and name not in several}
    members = grid_members(model_file, config, several, grid.cv_folds, defaulted)  # a setting left to its default
    # (None) takes the default of each member's own engine
    started = time.perf_counter()
    failed = []
    for result in train_grid(train_file, model_file, members, valid_file, grid.jobs, scheduler, grid.cv_folds,
                             config.rand_seed, grid.ship_data, replace(options, model_note="")):
        describe = member_description(result)
        if result.status == "failed":
            failed.append(describe)
            say(f"member {describe}: FAILED: {result.error}")
            continue
        where = f", {result.seconds:.0f} s on {result.worker}" if result.status == "trained" else " (already trained)"
        say(f"member {describe}: {result.path}, validation PPL {result.valid_ppl:.2f}{where}")
        if test_file is not None:
            show(f"{result.path}: test PPL {evaluate_file(load_model(result.path), test_file).perplexity:f}")
    where = f"on {scheduler}" if scheduler else f"with -jobs {grid.jobs}"
    say(f"{len(members)} models in {time.perf_counter() - started:.0f} s {where}; manifest: "
        f"{model_file}{MANIFEST_SUFFIX}")
    if failed:
        raise RnnlmpyError(f"{len(failed)} of {len(members)} members failed ({'; '.join(failed)}; the others are "
                           "kept): rerun the same command to train only the missing ones")
    return None


def member_description(result: MemberResult) -> str:
    """A member as its settings and fold say, e.g. ``hidden 200, seed 1, fold 2``."""
    describe = ", ".join(f"{label} {value}" for label, value in result.settings.items())
    return describe + (f"{', ' if describe else ''}fold {result.fold + 1}" if result.fold is not None else "")

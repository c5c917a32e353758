"""Saving during training: the model at every epoch end, checkpoints mid-epoch, the history file, weight backups.

The model file is written at every epoch end; a checkpoint also holds every
thread's kernel state and the last epoch's weights (``resume_state``), so that
training resumes where it stopped (exactly, for one thread). The model file
holds no clock (the timings are in the history file, ``MODEL.history.jsonl``):
the same command on one thread writes the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Callable, Optional

import numpy as np

from ..base.errors import RnnlmpyError
from ..base.files import append_bytes, check_writable
from .model import RnnlmModel
from .model_file import HISTORY_SUFFIX, TIMING_FIELDS, save_model
from .network import KernelState


def append_history(path: str, record: dict) -> None:
    """Append one epoch record as a JSON line (the model's ``.history.jsonl``)."""
    line = json.dumps({**record, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n"
    append_bytes(path, line.encode("utf-8"))


def state_prefix(thread: int) -> str:
    """Prefix of thread ``thread``'s kernel state in a checkpoint (thread 0's is that of one-thread checkpoints)."""
    return "kernel/" if thread == 0 else f"kernel{thread}/"


def snapshot(model: RnnlmModel) -> dict[str, np.ndarray]:
    """Copies of the model's weights and hidden state (name -> array), for ``restore``."""
    arrays = {name: value.copy() for name, value in model.weights().items()}
    arrays["hidden_state"] = model.hidden_state.copy()
    return arrays


def restore(model: RnnlmModel, backup: dict[str, np.ndarray]) -> None:
    """Write a ``snapshot``'s arrays back into the model, in place."""
    for name, value in backup.items():
        getattr(model, name)[...] = value


class ModelWriter:
    """Saves one training run's model to ``model_file`` and keeps its history file.

    A new model (not ``resuming``) replaces an earlier model's history file,
    but only once it is itself saved, so that an interrupted start leaves the
    earlier model's history in place.
    """

    def __init__(self, model: RnnlmModel, model_file: str, resuming: bool):
        self.model = model
        self.model_file = model_file
        self.history_file = model_file + HISTORY_SUFFIX
        check_writable(self.history_file)  # before any epoch: a FIFO or device there would fail the first append
        self._earlier_history = [] if resuming else [self.history_file]
        self.unfinished_arrays: Optional[Callable[[], dict[str, np.ndarray]]] = None  # ``resume/*`` arrays every
        # save of an unfinished model holds (the batched engine's optimiser state), so it resumes exactly

    def save(self) -> None:
        """Save the model (with ``unfinished_arrays()`` while training is unfinished); the first time a new model
        is saved, the history file of the one it replaced ends."""
        model = self.model
        if self.unfinished_arrays is not None and not model.training.finished:
            held = model.resume_state
            model.resume_state = {**self.unfinished_arrays(), **held}
            try:
                save_model(model, self.model_file)
            finally:
                model.resume_state = held
        else:
            save_model(model, self.model_file)
        while self._earlier_history:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._earlier_history.pop())

    def keep(self, record: dict) -> None:
        """An epoch ends: its record (less the timings) joins the model's history, the model is saved, then the
        whole record joins the history file."""
        self.model.training.history.append({name: value for name, value in record.items()
                                            if name not in TIMING_FIELDS})
        self.save()
        append_history(self.history_file, record)

    def checkpoint(self, states: list[KernelState], backup: dict[str, np.ndarray]) -> None:
        """Save the model with every thread's kernel state and the last epoch's weights (``backup``), so that
        training resumes where it stopped (exactly, for one thread)."""
        model = self.model
        model.resume_state = {**{f"{state_prefix(index)}{k}": v for index, state in enumerate(states)
                                 for k, v in state.arrays().items()},
                              **{f"backup/{k}": v for k, v in backup.items()}}
        try:
            self.save()
        finally:
            model.resume_state = {}


def resumed_states(model: RnnlmModel, total: int, model_file: str) -> tuple[list[KernelState], dict[str, np.ndarray]]:
    """The kernel states (one per thread slice) and weight backup to go on with: a checkpoint's, when the model
    holds one (mid-epoch), else a fresh state and a snapshot of the model. ``total`` is the training text's
    length in tokens. Empties ``model.resume_state``."""
    progress = model.training
    if model.resume_state and progress.position > 0:
        if not progress.slices:  # a checkpoint of one thread, written before slices were kept
            progress.slices = [[0, total, progress.position]]
        check_slices(progress.slices, total, model_file)
        states = [KernelState.from_arrays({k[len(state_prefix(index)):]: v for k, v in model.resume_state.items()
                                           if k.startswith(state_prefix(index))})
                  for index in range(len(progress.slices))]
        backup = {k[len("backup/"):]: v.copy() for k, v in model.resume_state.items() if k.startswith("backup/")}
    else:
        states = [KernelState.fresh(model.config)]
        backup = snapshot(model)
    model.resume_state = {}
    return states, backup


def check_slices(slices: list, total: int, model_file: str) -> None:
    """A checkpoint's thread slices must tile the training positions in order; RnnlmpyError if not."""
    expected_begin = 0
    for item in slices:
        if (not isinstance(item, list) or len(item) != 3 or not all(isinstance(x, int) for x in item)
                or item[0] != expected_begin or not item[0] <= item[2] <= item[1]):
            raise RnnlmpyError(f"model {model_file!r} is a damaged checkpoint (its thread slices do not cover the "
                               "training text); use -force to start anew")
        expected_begin = item[1]
    if expected_begin != total:
        raise RnnlmpyError(f"model {model_file!r} is a damaged checkpoint (its thread slices do not cover the "
                           "training text); use -force to start anew")

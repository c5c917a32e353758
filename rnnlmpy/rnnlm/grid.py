"""Many trainings at once: a grid of settings, seeds and cross-validation folds, on local processes or Dask.

Each member of the product of the comma lists (``-rand-seed 1,2 -hidden 100,200``)
and of the ``-cv-folds`` folds is an ordinary training run whose model file is
written atomically as ``PREFIX.<setting>`` (``PREFIX.seed1`` for a grid of seeds
alone, else e.g. ``PREFIX.hidden200-seed1``). The members run through
``rnnlmpy.base.executor`` (local worker processes, or a Dask cluster, which runs a
member again elsewhere when its worker dies). A manifest, ``PREFIX.manifest.json``,
lists every member with its settings, validation perplexity, time and worker;
it is rewritten (atomically) as members finish. Rerunning the same command
trains only what is missing: finished members are kept, unfinished ones resume.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator, Optional, Union

from ..base.errors import RnnlmpyError
from ..base.executor import open_executor, worker_name
from ..base.files import CONTAINER, append_bytes, check_output, read_file_bytes, write_atomically
from .model import RnnlmConfig
from .model_file import HISTORY_SUFFIX
from .options import RunOptions

# settings a grid may vary: config field -> its label in member names and the manifest
GRID_SETTINGS = {"hidden_size": "hidden", "class_count": "class", "activation": "type", "direct_size": "direct",
                 "bptt": "bptt", "rand_seed": "seed"}
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = "rnnlmpy-grid-manifest"


@dataclass
class GridMember:
    """One training of the grid: its model path, its config, the settings that name it and its fold."""

    path: str
    config: RnnlmConfig
    settings: dict = field(default_factory=dict)  # label -> value of every setting the grid varies
    fold: Optional[int] = None  # 0-based cross-validation fold, or None

    @property
    def name(self) -> str:
        """The member's part of the file name, e.g. ``hidden200-seed1`` or ``seed2-fold3``."""
        parts = [f"{label}{value}" for label, value in self.settings.items()]
        if self.fold is not None:
            parts.append(f"fold{self.fold + 1}")
        return "-".join(parts)


def grid_members(prefix: str, config: RnnlmConfig, grid: dict[str, list], cv_folds: int = 0,
                 defaulted: Optional[dict] = None) -> list[GridMember]:
    """The members of the grid: the product of ``grid``'s value lists (config field -> values) and of the
    folds, in a fixed order. A member's name shows every setting that has more than one value (the seed
    whenever there are several members, so a grid over seeds alone keeps the names ``PREFIX.seedN``).
    ``defaulted``: config fields set again in every member (None: the default of the member's engine)."""
    unknown = set(grid) - set(GRID_SETTINGS)
    if unknown:
        raise RnnlmpyError(f"a grid cannot vary {', '.join(sorted(unknown))}")
    if cv_folds == 1 or cv_folds < 0:
        raise RnnlmpyError(f"-cv-folds must be 0 (off) or at least 2 (got {cv_folds})")
    for name, values in grid.items():
        if not values:
            raise RnnlmpyError(f"no value given for -{GRID_SETTINGS[name]}")
        if len(set(map(str, values))) != len(values):
            raise RnnlmpyError(f"the values of -{GRID_SETTINGS[name]} repeat ({','.join(map(str, values))})")
    fields = [name for name in GRID_SETTINGS if name in grid]
    combinations = list(itertools.product(*(grid[name] for name in fields)))
    folds = list(range(cv_folds)) if cv_folds else [None]
    several = len(combinations) * len(folds) > 1
    members = []
    for values, fold in itertools.product(combinations, folds):
        chosen = dict(zip(fields, values))
        member_config = replace(config, **chosen, **(defaulted or {}))
        member_config.validate()
        named = {GRID_SETTINGS[name]: value for name, value in chosen.items()
                 if len(grid[name]) > 1 or (name == "rand_seed" and several and fold is None)}
        members.append(GridMember("", member_config, named, fold))
    for member in members:
        member.path = f"{prefix}.{member.name}" if member.name else prefix
    if len({member.path for member in members}) != len(members):
        raise RnnlmpyError("two members of the grid would have the same file name")
    return members


@dataclass
class MemberResult:
    """What a finished member reports (the manifest's record)."""

    path: str
    settings: dict
    fold: Optional[int]
    valid_ppl: float
    seconds: float
    worker: str
    epochs: int
    status: str  # "trained" (this run), "kept" (finished before), "failed"
    error: str = ""


def train_member(train_file: str, member: GridMember, valid_file: Optional[str], cv_folds: int, fold_seed: int,
                 options: Union[RunOptions, dict]) -> MemberResult:
    """Train one member (in a worker process or on a Dask worker) with the run ``options`` (RunOptions, or a
    dict of its fields); return its result.

    A member whose model is already finished (without ``force``) is not trained
    again: Dask runs a task again when the worker holding its result dies, after
    the model was written; that run only reports it.
    """
    from .training import train  # here, so that a worker imports training only when it trains
    options = options if isinstance(options, RunOptions) else RunOptions.of(**options)
    started = time.perf_counter()
    finished = None if options.force else finished_member(member)
    if finished is not None:
        return replace(finished, status="trained", worker=worker_name())
    cross_validation = (member.fold, cv_folds, fold_seed) if member.fold is not None else None
    model = train(train_file, member.path, valid_file, member.config,
                  replace(options, debug=0, cross_validation=cross_validation))
    return MemberResult(member.path, member.settings, member.fold, final_valid_ppl(model.training.history),
                        time.perf_counter() - started, worker_name(), len(model.training.history), "trained")


def final_valid_ppl(history: list) -> float:
    """The validation perplexity of the last accepted epoch (NaN if none)."""
    kept = [r["valid_ppl"] for r in history if r.get("valid_ppl") is not None and r.get("accepted")]
    return kept[-1] if kept else math.nan


SHIPPED_FOLDER = "rnnlmpy-shipped"  # in a worker's temporary folder: shipped files, one folder per SHA-256


@dataclass(repr=False)
class ShippedFile:
    """A file sent to the workers with the task (``-ship-data``) instead of being read from shared storage."""

    name: str  # the file's base name
    data: bytes
    sha256: str

    def __repr__(self) -> str:
        return f"ShippedFile({self.name!r}, {len(self.data):,} bytes)"

    @classmethod
    def read(cls, path: str, what: str) -> "ShippedFile":
        """The file at ``path`` (``what`` names it in errors)."""
        data = read_file_bytes(path, what)
        return cls(os.path.basename(path), data, hashlib.sha256(data).hexdigest())

    def materialise(self) -> str:
        """Write the file into this machine's temporary folder (once per content) and return its path."""
        folder = os.path.join(tempfile.gettempdir(), SHIPPED_FOLDER, self.sha256)
        path = os.path.join(folder, self.name)
        if not os.path.exists(path):
            os.makedirs(folder, exist_ok=True)
            write_atomically(path, lambda handle: handle.write(self.data))
        return path


def train_member_shipped(train_text: ShippedFile, member: GridMember, valid_text: Optional[ShippedFile],
                         cv_folds: int, fold_seed: int, options: RunOptions,
                         checkpoint: Optional[bytes]) -> tuple[MemberResult, bytes, bytes]:
    """On a worker, with the data shipped: train the member into a temporary model file (resuming
    ``checkpoint``, an unfinished model's bytes, if given); return its result, the model's bytes and its
    history file's bytes, for the submitting machine to write."""
    with tempfile.TemporaryDirectory(prefix="rnnlmpy-member-") as folder:
        model_path = os.path.join(folder, os.path.basename(member.path))
        if checkpoint is not None:
            with open(model_path, "wb") as handle:
                handle.write(checkpoint)
        local = replace(member, path=model_path)
        result = train_member(train_text.materialise(), local, valid_text.materialise() if valid_text else None,
                              cv_folds, fold_seed, replace(options, force=checkpoint is None))
        with open(model_path, "rb") as handle:
            model_data = handle.read()
        history_path = model_path + HISTORY_SUFFIX
        history = b""
        if os.path.exists(history_path):
            with open(history_path, "rb") as handle:
                history = handle.read()
    return replace(result, path=member.path), model_data, history


def finished_member(member: GridMember) -> Optional[MemberResult]:
    """The result of a member whose model file holds a finished training, else None."""
    from .model_file import load_model
    if not os.path.exists(member.path):
        return None
    try:
        model = load_model(member.path)
    except RnnlmpyError:
        return None  # not a model (train refuses to replace it, with the reason) or damaged
    if not model.training.finished:
        return None
    return MemberResult(member.path, member.settings, member.fold, final_valid_ppl(model.training.history), 0.0,
                        "", len(model.training.history), "kept")


def write_manifest(path: str, train_file: str, members: list[GridMember], results: dict[str, MemberResult]) -> None:
    """Write the grid's manifest atomically: every member, with its result when it has one."""
    records = []
    for member in members:
        result = results.get(member.path)
        record = {"path": os.path.abspath(member.path), "name": member.name, "settings": member.settings,
                  "fold": member.fold, "config": asdict(member.config)}
        if result is not None:
            record.update(valid_ppl=None if math.isnan(result.valid_ppl) else result.valid_ppl,
                          seconds=result.seconds, worker=result.worker, epochs=result.epochs, status=result.status,
                          error=result.error)
        else:
            record["status"] = "pending"
        records.append(record)
    text = json.dumps({"format": MANIFEST_FORMAT, "train_file": os.path.abspath(train_file), "members": records},
                      indent=1)
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8") + b"\n"))


def read_manifest(path: str) -> list[dict]:
    """The member records of a grid manifest (RnnlmpyError if it is not one)."""
    from ..base.files import read_file_bytes
    try:
        data = json.loads(read_file_bytes(path, "manifest").decode("utf-8"))
        if data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("members"), list):
            raise ValueError
        return data["members"]
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise RnnlmpyError(f"{path!r} is not an rnnlmpy grid manifest") from None


def manifest_models(path: str) -> list[str]:
    """The model paths of a manifest's trained members (RnnlmpyError if none is, or a member is missing)."""
    paths = [record["path"] for record in read_manifest(path) if record.get("status") in ("trained", "kept")]
    if not paths:
        raise RnnlmpyError(f"manifest {path!r} lists no trained member yet")
    return paths


def train_grid(train_file: str, prefix: str, members: list[GridMember], valid_file: Optional[str] = None,
               jobs: int = 1, scheduler: Optional[str] = None, cv_folds: int = 0, fold_seed: int = 1,
               ship_data: bool = False, options: Optional[RunOptions] = None, **settings) -> Iterator[MemberResult]:
    """Train every member that is not finished yet, ``jobs`` at a time (or on the Dask cluster at
    ``scheduler``); yield each member's result as it finishes (kept ones first) and keep the manifest.

    ``options`` (RunOptions; ``settings`` replaces its fields by name: max_iter, alpha, threads, force, ...)
    go to ``train``; a member trains on ``train``'s default number of threads unless ``threads`` is given,
    so that the same command gives the same members (-jobs runs members side by side instead); ``force``
    trains finished members again. A failed member is reported (status
    "failed") and the others go on; the manifest says which are missing, and rerunning trains them.
    By default the workers read ``train_file`` and ``valid_file`` and write the models at the paths
    given (shared storage); with ``ship_data`` the files' bytes travel with each task, the worker trains
    into a temporary file and the model comes back to be written here (atomically).
    """
    options = RunOptions.of(options, **settings)
    force = options.force
    if cv_folds and valid_file is not None:
        raise RnnlmpyError("-cv-folds holds out its own validation lines; give either -valid or -cv-folds")
    manifest = prefix + MANIFEST_SUFFIX
    results: dict[str, MemberResult] = {}
    todo = []
    for member in members:
        kept = None if force else finished_member(member)
        if kept is not None:
            results[member.path] = kept
            yield kept
        else:
            todo.append(member)
    write_manifest(manifest, train_file, members, results)
    if not todo:
        return
    if ship_data:
        arguments = _shipped_arguments(train_file, todo, valid_file, cv_folds, fold_seed, options)
        finished = _run_in(arguments, jobs, scheduler, train_member_shipped)
    elif jobs == 1 and scheduler is None:
        arguments = [(train_file, member, valid_file, cv_folds, fold_seed, options) for member in todo]
        finished = (_run_here(*item) for item in arguments)
    else:
        arguments = [(train_file, member, valid_file, cv_folds, fold_seed, options) for member in todo]
        finished = _run_in(arguments, jobs, scheduler, train_member)
    for result in finished:
        results[result.path] = result
        write_manifest(manifest, train_file, members, results)
        yield result


def _shipped_arguments(train_file, todo, valid_file, cv_folds, fold_seed, options: RunOptions) -> list[tuple]:
    """The tasks of ``-ship-data``: the files' bytes, and an unfinished model's bytes to resume from."""
    train_text = ShippedFile.read(train_file, "training file")
    valid_text = ShippedFile.read(valid_file, "validation file") if valid_file else None
    force = options.force
    options = replace(options, other_inputs=())
    arguments = []
    for member in todo:
        check_output(member.path, [CONTAINER], [train_file, valid_file], force, "an rnnlmpy model")
        checkpoint = None
        if os.path.exists(member.path) and not force:
            checkpoint = read_file_bytes(member.path, "model")
        arguments.append((train_text, member, valid_text, cv_folds, fold_seed, options, checkpoint))
    return arguments


def _write_shipped(outcome: tuple[MemberResult, bytes, bytes]) -> MemberResult:
    """Write a shipped member's model (atomically) where the member's path says, and append the epochs it
    trained to the model's history file (as training here would)."""
    result, model_data, history = outcome
    write_atomically(result.path, lambda handle: handle.write(model_data))
    append_bytes(result.path + HISTORY_SUFFIX, history)
    return result


def _run_here(train_file, member, valid_file, cv_folds, fold_seed, options) -> MemberResult:
    try:
        return train_member(train_file, member, valid_file, cv_folds, fold_seed, options)
    except RnnlmpyError as error:
        return _failed(member, str(error))


def _run_in(arguments: list, jobs: int, scheduler: Optional[str], task) -> Iterator[MemberResult]:
    with open_executor(jobs, scheduler) as executor:
        futures = {executor.submit(task, *item): item[1] for item in arguments}
        for future in concurrent.futures.as_completed(futures):
            member = futures[future]
            try:
                outcome = future.result()
                yield _write_shipped(outcome) if task is train_member_shipped else outcome
            except RnnlmpyError as error:
                yield _failed(member, str(error))
            except Exception as error:  # a crashed worker or pool: one line, not its traceback
                reason = str(error).splitlines()[0] if str(error) else ""
                yield _failed(member, f"{type(error).__name__}{': ' + reason if reason else ''}")


def _failed(member: GridMember, error: str) -> MemberResult:
    return MemberResult(member.path, member.settings, member.fold, math.nan, 0.0, "", 0, "failed", error)

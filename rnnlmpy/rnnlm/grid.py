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
import itertools
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator, Optional

from ..base.errors import RnnlmpyError
from ..base.executor import open_executor, worker_name
from ..base.files import write_atomically
from ..base.system import default_threads
from .model import RnnlmConfig

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


def grid_members(prefix: str, config: RnnlmConfig, grid: dict[str, list], cv_folds: int = 0) -> list[GridMember]:
    """The members of the grid: the product of ``grid``'s value lists (config field -> values) and of the
    folds, in a fixed order. A member's name shows every setting that has more than one value (the seed
    whenever there are several members, so a grid over seeds alone keeps the names ``PREFIX.seedN``)."""
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
        member_config = replace(config, **chosen)
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
                 options: dict) -> MemberResult:
    """Train one member (in a worker process or on a Dask worker); return its result."""
    from .training import train  # here, so that a worker imports training only when it trains
    started = time.perf_counter()
    cross_validation = (member.fold, cv_folds, fold_seed) if member.fold is not None else None
    model = train(train_file, member.path, valid_file, member.config, debug=0, cross_validation=cross_validation,
                  **options)
    return MemberResult(member.path, member.settings, member.fold, final_valid_ppl(model.training.history),
                        time.perf_counter() - started, worker_name(), len(model.training.history), "trained")


def final_valid_ppl(history: list) -> float:
    """The validation perplexity of the last accepted epoch (NaN if none)."""
    kept = [r["valid_ppl"] for r in history if r.get("valid_ppl") is not None and r.get("accepted")]
    return kept[-1] if kept else math.nan


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
               force: bool = False, **options) -> Iterator[MemberResult]:
    """Train every member that is not finished yet, ``jobs`` at a time (or on the Dask cluster at
    ``scheduler``); yield each member's result as it finishes (kept ones first) and keep the manifest.

    ``options`` go to ``train`` (max_iter, alpha, threads, ...). A failed member is reported (status
    "failed") and the others go on; the manifest says which are missing, and rerunning trains them.
    """
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
    if options.get("threads") is None and scheduler is None:  # the local cores shared among the members
        options = {**options, "threads": max(1, default_threads() // min(jobs, len(todo)))}
    arguments = [(train_file, member, valid_file, cv_folds, fold_seed, {**options, "force": force})
                 for member in todo]
    if jobs == 1 and scheduler is None:
        finished = (_run_here(*item) for item in arguments)
    else:
        finished = _run_in(arguments, jobs, scheduler)
    for result in finished:
        results[result.path] = result
        write_manifest(manifest, train_file, members, results)
        yield result


def _run_here(train_file, member, valid_file, cv_folds, fold_seed, options) -> MemberResult:
    try:
        return train_member(train_file, member, valid_file, cv_folds, fold_seed, options)
    except RnnlmpyError as error:
        return _failed(member, str(error))


def _run_in(arguments: list, jobs: int, scheduler: Optional[str]) -> Iterator[MemberResult]:
    with open_executor(jobs, scheduler) as executor:
        futures = {executor.submit(train_member, *item): item[1] for item in arguments}
        for future in concurrent.futures.as_completed(futures):
            member = futures[future]
            try:
                yield future.result()
            except RnnlmpyError as error:
                yield _failed(member, str(error))
            except Exception as error:  # a crashed worker or pool: one line, not its traceback
                reason = str(error).splitlines()[0] if str(error) else ""
                yield _failed(member, f"{type(error).__name__}{': ' + reason if reason else ''}")


def _failed(member: GridMember, error: str) -> MemberResult:
    return MemberResult(member.path, member.settings, member.fold, math.nan, 0.0, "", 0, "failed", error)

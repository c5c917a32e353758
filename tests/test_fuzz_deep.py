"""Fuzzing the batched engine's model files and checkpoints: every mutation is refused in one line or harmless.

Two real files of the batched engine (an LSTM of 2 layers, tied weights, over word classes): a model fresh
from training, scored by ``ppl``, and a mid-epoch checkpoint (Adam's moments and step, the streams' states, the
weight backup), resumed by ``train``. Each array is changed in shape, dtype and value, systematically (as
``test_fuzz_files`` does for per-word files) and at random (a seeded generator: random elements set to
hostile values, random shapes and dtypes), and the header's settings and training progress are changed too.
Every mutated file goes through the command in-process: it must end with exit status 0 (and, for ``ppl``, a
finite perplexity), or 2 with one line on stderr; never a traceback or a signal.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from rnnlmpy.rnnlm.model import RnnlmConfig

from helpers import pattern_corpus, run_cli, train_until_crash, write_text
from test_fuzz_files import load_arrays, mutations, write_arrays

SETTINGS = dict(activation="lstm", layers=2, hidden_size=5, class_count=3, tie_weights=True, batch=3, bptt=4,
                optimizer="adam")
TRAIN_OPTIONS = ["-hidden-type", "lstm", "-layers", "2", "-hidden", "5", "-class", "3", "-tie-weights", "-batch",
                 "3", "-bptt", "4", "-optimizer", "adam", "-max-iter", "1", "-anti-kasparek", "10000", "-threads",
                 "1"]
HOSTILE_FLOATS = (np.nan, np.inf, -np.inf, 1e30, -1e30, 3.4e38, 1e-45)
HOSTILE_INTEGERS = (-1, -2**31, 2**31 - 1, 2**62, 12, 13, 3)
HOSTILE_SETTINGS = {  # header part -> setting -> values to try
    "config": {"layers": (0, 1, 3, -1, 10**9, "2"), "hidden_size": (0, 4, 6, 10**9),
               "class_count": (0, 1, 2, 12, 13), "activation": ("gru", "tanh", "bogus"), "tie_weights": (False, 1),
               "optimizer": ("sgd", "momentum", "bogus"), "batch": (0, 1, 2, -3, 10**9), "bptt": (0, 1, -4, 10**9),
               "dropout": (1.0, -0.5, math.nan), "clip_norm": (-1.0, math.inf), "dtype": ("float64", "int32"),
               "direct_size": (10,), "output_layer": ("hs", "nce")},
    "training": {"position": (-1, 1, 10_007, 10_011, 10_221, 10_224, 10**12), "epoch": (-1, 10**9),
                 "threads": (0, 2, 10**6), "epoch_scored": (-1,), "train_words": (0, 1), "alpha": (math.nan, -1.0),
                 "finished": (True,)},
}


def random_mutations(array: np.ndarray, rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """``count`` changed copies of ``array`` drawn by ``rng``: a few random elements set to hostile values (in the
    array's dtype where they fit), or the array reshaped, cut, grown or cast at random."""
    changed = {}
    for index in range(count):
        kind = rng.integers(4) if array.size else 2
        if kind <= 1:  # values
            pool = HOSTILE_FLOATS if array.dtype.kind == "f" else HOSTILE_INTEGERS
            bad = array.astype(np.int64) if array.dtype.kind in "iub" else array.copy()
            for position in rng.integers(array.size, size=rng.integers(1, 4)):
                bad.reshape(-1)[position] = pool[rng.integers(len(pool))]
            if array.dtype.kind in "iu" and bad.min() >= np.iinfo(array.dtype).min \
                    and bad.max() <= np.iinfo(array.dtype).max:
                bad = bad.astype(array.dtype)
            changed[f"random values {index}"] = bad
        elif kind == 2:  # shape
            shape = list(array.shape) or [1]
            axis = rng.integers(len(shape))
            shape[axis] = max(0, shape[axis] + int(rng.choice([-2, -1, 1, 3])))
            if rng.integers(2):
                shape.insert(int(rng.integers(len(shape) + 1)), 1)
            changed[f"random shape {index}"] = rng.standard_normal(shape).astype(array.dtype)
        else:  # dtype
            dtype = rng.choice(["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool",
                                "complex64"])
            changed[f"random dtype {index}"] = array.astype(dtype)
    return changed


def header_mutations(header: dict) -> dict[str, dict]:
    """Changed copies of a model file's header: each setting of HOSTILE_SETTINGS in turn."""
    changed = {}
    for part, settings in HOSTILE_SETTINGS.items():
        for key, values in settings.items():
            for value in values:
                bad = json.loads(json.dumps(header))
                bad[part][key] = value
                changed[f"{part}.{key}={value!r}"] = bad
    return changed


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files to fuzz: kind -> (path, the command's arguments before the file); trained once per module."""
    folder = tmp_path_factory.mktemp("fuzz_deep")
    train_file = write_text(folder / "train.txt", pattern_corpus(2040, 1))  # 10,221 words
    valid_file = write_text(folder / "valid.txt", pattern_corpus(30, 2))
    test_file = write_text(folder / "test.txt", pattern_corpus(20, 3))
    checkpoint = str(folder / "checkpoint.model")
    train_until_crash(train_file, checkpoint, valid_file, RnnlmConfig(**SETTINGS), position=10_000, max_iter=1,
                      anti_kasparek=10_000, threads=1)
    model = str(folder / "trained.model")
    from rnnlmpy import train
    train(train_file, model, valid_file, RnnlmConfig(**SETTINGS), max_iter=1, debug=0)
    return {"model": (model, ["ppl", "-test", test_file, "-rnnlm"]),
            "checkpoint": (checkpoint, ["train", "-train", train_file, "-valid", valid_file, *TRAIN_OPTIONS,
                                        "-rnnlm"])}


def outcome(command: list[str], path: str, capsys) -> str:
    """Run the command on ``path`` in-process: "ran" (exit 0; ``ppl``'s perplexity finite), "refused" (exit 2, one
    line on stderr), or what went wrong otherwise."""
    try:
        code, out, err = run_cli([*command, path], capsys)
    except Exception as error:  # noqa: BLE001 (what a user would see as a traceback)
        return f"raised {type(error).__name__}: {error}"
    lines = err.strip().splitlines()
    if code == 2:
        return "refused" if len(lines) == 1 and lines[0].startswith("rnnlmpy: error:") else f"exit 2 with {err!r}"
    if code not in (0, None):
        return f"exit {code} with {err[-500:]!r}"
    if command[0] == "ppl":
        found = re.search(r"PPL net: (\S+)", out)
        if not (found and math.isfinite(float(found.group(1)))):
            return f"no finite perplexity: {out[-300:]!r}"
    return "ran"


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a crafted file gives one line, never NumPy warnings
@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_every_mutation_of_a_batched_file_is_refused_in_one_line_or_harmless(kind, files, tmp_path, capsys):
    path, command = files[kind]
    header, arrays = load_arrays(path)
    assert outcome(command, write_arrays(str(tmp_path / "untouched"), header, arrays), capsys) == "ran"
    rng = np.random.default_rng(25)
    cases = [(f"header {label}", bad, arrays) for label, bad in header_mutations(header).items()]
    for name, array in arrays.items():
        changes = {**mutations(array), **random_mutations(array, rng, 3)}
        cases += [(f"{name} {label}", header, {**arrays, name: changed}) for label, changed in changes.items()]
    results = {}
    for index, (label, bad_header, bad_arrays) in enumerate(cases):
        bad = write_arrays(str(tmp_path / f"{kind}.{index}"), bad_header, bad_arrays)
        results[label] = outcome(command, bad, capsys)
    failures = [f"{label}: {result}" for label, result in results.items() if result not in ("ran", "refused")]
    assert not failures, f"{len(failures)} of {len(results)} mutations:\n" + "\n".join(failures)
    assert len(results) > 150
    assert "refused" in results.values() and "ran" in results.values()


@pytest.mark.parametrize("part, name, value, expected", [
    ("training", "position", 10_007, "not a window boundary"),
    ("training", "position", 10_224, "past the end of the text"),
    ("arrays", "resume/optimizer/step", np.array([np.iinfo(np.int64).max]), "step count"),
    ("arrays", "resume/optimizer/step", np.array([3.0]), "optimiser state step is float64"),
    ("arrays", "resume/optimizer/step", np.array([3, 3]), "optimiser state step is int64 (2,)"),
], ids=["mid-window position", "position past the end", "step int64 max", "step float64", "step (2,)"])
def test_a_damaged_batched_checkpoint_is_refused_before_training_starts(part, name, value, expected, files, tmp_path,
                                                                          capsys):
    path, command = files["checkpoint"]
    header, arrays = load_arrays(path)
    if part == "training":
        header = json.loads(json.dumps(header))
        header["training"][name] = value
    else:
        arrays = {**arrays, name: value}
    bad = write_arrays(str(tmp_path / "bad.model"), header, arrays)
    code, _, err = run_cli([*command, bad], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], err
    assert "damaged checkpoint" in lines[0] or "inconsistent" in lines[0], err

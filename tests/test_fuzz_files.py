"""Fuzzing the arrays of real model files: every mutation is refused in one line or harmless, never a signal.

Each array of a mid-epoch checkpoint and of a model of each kind (class softmax, -hs,
-nce, GRU, -direct, RNN tagger) is changed in shape, dtype, value (NaN, infinity, huge,
negative and out-of-range indices). Every mutation goes through the loader in-process
(refused with a one-line RnnlmpyError, or loaded); the ones that load, and one of each
kind of mutation per file, are then run through the command (resumed ``train``, ``ppl``,
``tag``) in a subprocess, which must end with exit status 0, or 2 and one line on stderr.
The subprocesses use the Numba cache that the in-process fixtures filled.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm.model import RnnlmConfig, new_model
from rnnlmpy.rnnlm.model_file import load_model, save_model
from rnnlmpy.rnnlm.network import KernelState
from rnnlmpy.rnnlm.vocab import vocabulary_from_counts

from helpers import pattern_corpus, train_until_crash, write_text

TRAIN_SETTINGS = dict(hidden_size=6, class_count=3, bptt=2, bptt_block=3)


def mutations(array: np.ndarray) -> dict[str, np.ndarray]:
    """The changed copies of ``array`` to try, by name: shapes, dtypes and values."""
    changed = {"0-d": np.asarray(array.reshape(-1)[:1].reshape(()) if array.size else np.zeros((), array.dtype)),
               "one element": array.reshape(-1)[:1].copy(), "doubled rows": np.concatenate([array, array])}
    if array.ndim >= 1 and array.shape[0] > 1:
        changed["a row short"] = array[:-1].copy()
    if array.ndim == 2:
        changed["transposed"] = np.ascontiguousarray(array.T) if array.shape[0] != array.shape[1] else array[:, :-1]
        changed["flattened"] = array.reshape(-1).copy()
    if array.dtype.kind == "f":
        changed["as int32"] = array.astype(np.int32)
        changed["other precision"] = array.astype(np.float64 if array.dtype == np.float32 else np.float32)
        for label, value in (("NaN", np.nan), ("+inf", np.inf), ("-inf", -np.inf), ("1e30", 1e30)):
            if array.size:
                bad = array.copy()
                bad.reshape(-1)[array.size // 2] = value
                changed[label] = bad
    elif array.dtype.kind in "iu":
        changed["as float64"] = array.astype(np.float64)
        changed["as int16"] = array.astype(np.int16)
        for label, value in (("-1", -1), ("-7", -7), ("1e12", 10**12), ("int64 max", np.iinfo(np.int64).max),
                             ("2^31-1", 2**31 - 1)):
            if array.size:  # in the array's own dtype when the value fits, else as int64
                limits = np.iinfo(array.dtype)
                bad = array.astype(array.dtype if limits.min <= value <= limits.max else np.int64)
                bad.reshape(-1)[array.size // 2] = value
                changed[label] = bad
    return changed


def load_arrays(path: str) -> tuple[dict, dict]:
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(bytes(arrays.pop("header"))), arrays


def write_arrays(path: str, header: dict, arrays: dict) -> str:
    np.savez(open(path, "wb"), header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every file kind to fuzz: name -> (path, command to run on it); plus the texts."""
    folder = tmp_path_factory.mktemp("fuzz")
    train_file = write_text(folder / "train.txt", pattern_corpus(3000, 1))
    valid_file = write_text(folder / "valid.txt", pattern_corpus(40, 2))
    test_file = write_text(folder / "test.txt", pattern_corpus(20, 3))
    checkpoint = str(folder / "checkpoint.model")
    train_until_crash(train_file, checkpoint, valid_file, RnnlmConfig(**TRAIN_SETTINGS), position=10_000,
                      max_iter=1, anti_kasparek=10_000, threads=1)
    resume = ["train", "-train", train_file, "-valid", valid_file, "-hidden", "6", "-class", "3", "-bptt", "2",
              "-bptt-block", "3", "-max-iter", "1", "-anti-kasparek", "10000", "-threads", "1", "-rnnlm"]
    found = {"checkpoint": (checkpoint, resume)}
    words = sorted(set(" ".join(pattern_corpus(3000, 1)).split()))
    vocabulary_words = ["</s>", *words]
    counts = np.arange(len(vocabulary_words), 0, -1) * 10
    kinds = {"class": dict(class_count=3), "hs": dict(output_layer="hs"), "nce": dict(output_layer="nce"),
             "gru": dict(class_count=2, activation="gru"), "direct": dict(class_count=2, direct_size=1000)}
    for name, settings in kinds.items():
        config = RnnlmConfig(hidden_size=4, rand_seed=3, **settings)
        model = new_model(config, vocabulary_from_counts(vocabulary_words, counts, config.class_count or 1))
        path = str(folder / f"{name}.model")
        save_model(model, path)
        found[name] = (path, ["ppl", "-test", test_file, "-rnnlm"])
    from rnnlmpy.tagger import TaggerConfig, new_tagger, save_tagger
    tagged = [(["the", "dog", "runs"], ["DT", "NN", "VBZ"]), (["a", "cat", "sleeps"], ["DT", "NN", "VBZ"])]
    tagger = str(folder / "tagger.npz")
    save_tagger(new_tagger(TaggerConfig(hidden_size=4, ensemble=2, viterbi=True), tagged), tagger)
    found["tagger"] = (tagger, ["tag", "-test", write_text(folder / "words.txt", ["the cat runs", "a dog"]),
                                "-model"])
    return found, train_file, valid_file


def loads(kind: str, path: str, train_file: str, valid_file: str) -> bool:
    """Whether the file of ``kind`` at ``path`` loads (for a checkpoint: and its state fits the text); False when
    it is refused with a one-line RnnlmpyError, anything else fails the test."""
    try:
        if kind == "tagger":
            from rnnlmpy.tagger import load_tagger
            load_tagger(path)
        elif kind == "checkpoint":
            model = load_model(path)
            positions = model.training.train_words
            for index in range(max(len(model.training.slices), 1)):
                prefix = "kernel/" if index == 0 else f"kernel{index}/"
                KernelState.from_arrays({k[len(prefix):]: v for k, v in model.resume_state.items()
                                         if k.startswith(prefix)}, model.config, positions=positions)
        else:
            load_model(path)
    except RnnlmpyError as error:
        assert "\n" not in str(error), str(error)
        return False
    except ValueError as error:  # from_arrays above, called here as training calls it
        assert kind == "checkpoint", error
        return False
    return True


def run_command(argv: list[str], folder) -> None:
    """Run ``python -m rnnlmpy argv`` in a subprocess: exit 0, or 2 with one line on stderr; never a signal."""
    result = subprocess.run([sys.executable, "-m", "rnnlmpy", *argv], capture_output=True, text=True, timeout=300,
                            cwd=str(folder))
    assert result.returncode in (0, 2), (argv, result.returncode, result.stderr[-2000:])
    if result.returncode == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rnnlmpy: error:"), (argv, result.stderr[-2000:])


def test_every_array_mutation_is_refused_or_harmless(files, tmp_path):
    found, train_file, valid_file = files
    accepted, representatives, tried = [], {}, 0
    for kind, (path, command) in found.items():
        header, arrays = load_arrays(path)
        assert loads(kind, path, train_file, valid_file), kind  # the untouched file loads
        for name, array in arrays.items():
            for label, changed in mutations(array).items():
                bad = write_arrays(str(tmp_path / f"{kind}.{tried}.npz"), header, {**arrays, name: changed})
                tried += 1
                if loads(kind, bad, train_file, valid_file):
                    accepted.append((kind, name, label, bad, command))
                else:
                    representatives.setdefault((kind, label), (kind, name, label, bad, command))
                    if not (name.startswith("resume/") or kind in ("checkpoint",)):
                        os.remove(bad)
    assert tried > 500
    # one file per kind and mutation that loads must run, and of those refused, one per kind and a few mutations
    chosen = list({(kind, label): (kind, name, label, bad, command)
                   for kind, name, label, bad, command in accepted}.values())
    chosen += [item for key, item in sorted(representatives.items()) if key[1] in ("0-d", "NaN", "-7", "1e12")]
    for kind, name, label, bad, command in chosen:
        if not os.path.exists(bad):
            continue
        run_command([*command, bad], tmp_path)
    assert len(chosen) >= 20


@pytest.mark.parametrize("name, change", [
    ("resume/kernel/ring_position", lambda a: np.full_like(a, 10**12)),
    ("resume/kernel/hidden_prev", lambda a: a[:1].copy()),
    ("resume/kernel/ring_error", lambda a: np.zeros((1, 30), dtype=a.dtype)),
    ("resume/kernel/counters", lambda a: np.array([a[0], a[1], -5], dtype=a.dtype)),
], ids=["ring position 1e12", "hidden_prev (1,)", "ring_error (1, 30)", "negative words done"])
def test_the_reported_checkpoint_crashes_are_one_line(name, change, files, tmp_path):
    found, _, _ = files
    path, command = found["checkpoint"]
    header, arrays = load_arrays(path)
    arrays[name] = change(arrays[name])
    bad = write_arrays(str(tmp_path / "bad.model"), header, arrays)
    result = subprocess.run([sys.executable, "-m", "rnnlmpy", *command, bad], capture_output=True, text=True,
                            timeout=300, cwd=str(tmp_path))
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnlmpy: error:"), result.stderr[-2000:]
    assert "damaged checkpoint" in lines[0] or "inconsistent" in lines[0]

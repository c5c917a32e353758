"""Shared test helpers: tiny random models, text files, a learnable corpus, the corpora locator."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from rnnlmpy.rnnlm.model import RnnlmConfig, new_model
from rnnlmpy.rnnlm.vocab import vocabulary_from_classes

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_locator():
    """The corpora/locate.py module (find_corpus, candidates), loaded from the checkout."""
    spec = importlib.util.spec_from_file_location("corpora_locate", os.path.join(CHECKOUT, "corpora", "locate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_model(vocab_size=7, hidden_size=5, class_sizes=(1, 2, 4), dtype="float64", seed=0, activation="sigmoid"):
    """A random model over words w0..w{V-1} with the given class sizes (contiguous)."""
    assert sum(class_sizes) == vocab_size
    word_class = np.repeat(np.arange(len(class_sizes)), class_sizes)
    words = ["</s>"] + [f"w{i}" for i in range(1, vocab_size)]
    vocabulary = vocabulary_from_classes(words, np.arange(vocab_size, 0, -1), word_class)
    config = RnnlmConfig(hidden_size=hidden_size, class_count=len(class_sizes), dtype=dtype, rand_seed=seed,
                         activation=activation)
    model = new_model(config, vocabulary)
    rng = np.random.default_rng(seed + 100)
    for name, array in model.weights().items():  # larger weights than rnnlm's init: a harder test
        array[...] = rng.normal(0, 0.5, array.shape)
    model.hidden_state[...] = rng.random(hidden_size)
    return model


def write_text(path, lines):
    """Write lines (a list of str) to a UTF-8 file, each closed by a newline; return the path as str."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
    return str(path)


def pattern_corpus(sentences: int, seed: int) -> list[str]:
    """Sentences with a learnable long-range pattern: the first word decides the last."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(sentences):
        opener = rng.choice(["alpha", "beta", "gamma"])
        middle = rng.choice(["x", "y", "z", "u", "v"], size=rng.integers(1, 4))
        closer = {"alpha": "one", "beta": "two", "gamma": "three"}[opener]
        lines.append(" ".join([opener, *middle, closer]))
    return lines


# The training variants tested end to end (test_training_variants.py and one file each): the output layers
# beside the class-factored softmax, and the GRU cell. Each trains in a second or two on pattern_corpus.
TRAINING_VARIANTS = {
    "hs": dict(hidden_size=12, bptt=4, bptt_block=5, rand_seed=3, output_layer="hs"),
    "nce": dict(hidden_size=12, bptt=4, bptt_block=5, rand_seed=3, output_layer="nce", nce_samples=5),
    "gru": dict(hidden_size=12, class_count=4, bptt=4, bptt_block=5, rand_seed=3, activation="gru"),
}


def successor_corpus(folder) -> tuple[str, str]:
    """(train, valid) files of 6-word lines, each word followed by the next of 30: only the first word is uncertain
    (ideal PPL 1.63), so a bigram model (direct connections) says it all."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    lines = [" ".join(words[(start + k) % 30] for k in range(6)) for start in rng.integers(0, 30, size=1500)]
    return write_text(folder / "successors.txt", lines), write_text(folder / "successors.valid.txt", lines[:100])


def run_cli(argv, capsys):
    """Run the ``rnnlmpy`` command in-process; return (exit status, stdout, stderr).

    The notice that kernels are being compiled is off: whether a command compiles them depends on what ran
    before it (and on the Numba cache), not on the command; tests/test_compile_notice.py tests the notice.
    """
    import pytest
    from rnnlmpy.base.compiling import compiling, mute
    from rnnlmpy_cli.main import main

    with pytest.raises(SystemExit) as exit_info, compiling():
        mute()
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def assert_interrupted_training_resumes_exactly(train_file, valid_file, config, folder):
    """Train 2 epochs whole; train again, crash after the first checkpoint of epoch 1, rerun: identical weights."""
    import numpy as np
    import pytest
    from rnnlmpy import train

    whole = train(train_file, str(folder / "whole"), valid_file, config, max_iter=2, debug=0)
    path = str(folder / "resumed")
    train_until_crash(train_file, path, valid_file, config, position=10_000, epoch=1, max_iter=2,
                      anti_kasparek=10_000)
    resumed = train(train_file, path, valid_file, config, max_iter=2, anti_kasparek=10_000, debug=0)
    for name, array in whole.weights().items():
        np.testing.assert_array_equal(getattr(resumed, name), array, err_msg=name)


def train_until_crash(train_file, path, valid_file, config, position: int, epoch: int = 0, **options) -> None:
    """Train as ``rnnlmpy.train`` would (``options`` its keywords), then stop as a crash would once epoch ``epoch``
    has reached word ``position`` (what the last checkpoint before it saved is what a rerun finds)."""
    import pytest
    from rnnlmpy import train

    class Crash(Exception):
        pass

    def crash(model):
        if model.training.epoch == epoch and model.training.position >= position:
            raise Crash()

    with pytest.raises(Crash):
        train(train_file, path, valid_file, config, debug=0, on_progress=crash, **options)


def assert_debug_2_lines_sum_to_the_total(out: str) -> None:
    """The ``ppl -debug 2`` output ``out``: its per-word lines' log10 probabilities (of the scored words) add up
    to its ``test log probability:`` line."""
    import math

    import pytest
    rows = [line.split("\t") for line in out.splitlines() if line[:1].isdigit() and "\t" in line]
    assert rows, out
    total = sum(math.log10(float(row[1])) for row in rows if int(row[0]) >= 0)
    stated = float(next(line for line in out.splitlines() if line.startswith("test log probability:")).split()[-1])
    assert total == pytest.approx(stated, abs=1e-3)


def random_window(vocab_size: int, steps: int, streams: int, seed: int):
    """A batched-engine window of random word ids in [0, vocab_size), every step scored, no resets."""
    import numpy as np
    from rnnlmpy.rnnlm.deep import Window
    rng = np.random.default_rng(seed)
    return Window(inputs=rng.integers(0, vocab_size, (steps, streams)).astype(np.int32),
                  targets=rng.integers(0, vocab_size, (steps, streams)).astype(np.int32),
                  resets=np.zeros((steps, streams), dtype=np.uint8), weights=np.ones((steps, streams)))


def random_output_rows(rows: int, hidden_size: int, words: int, seed: int = 1, dtype=None):
    """Random inputs of a window output layer: hidden (rows, hidden_size) normal, targets (rows,) int32 in
    [0, words), weights (rows,) from {0, 1, 0.5} (some rows not scored, some half weighted)."""
    import numpy as np
    dtype = np.float64 if dtype is None else dtype
    rng = np.random.default_rng(seed)
    hidden = rng.normal(0, 1, (rows, hidden_size)).astype(dtype)
    targets = rng.integers(0, words, rows).astype(np.int32)
    weights = rng.choice([0.0, 1.0, 1.0, 0.5], rows).astype(dtype)
    return hidden, targets, weights

"""The registry of the language model's cells and output layers (rnnlmpy/kernels/layers.py): every entry keeps
the contract, the name tables are the ones the model checks against, and a span kernel is compiled with the
code of its model's own cell and output layer only (chosen by bundle type, not tested per word)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import NamedTuple

import numba
import numpy as np
import pytest

from rnnlmpy.kernels import layers, lm
from rnnlmpy.kernels.direct import DirectConnections
from rnnlmpy.rnnlm import model as rnnlm_model
from rnnlmpy.rnnlm import network

CELL_CONTRACT = ("BUNDLES", "train_work", "score_work", "forward", "learn", "step")
OUTPUT_CONTRACT = ("BUNDLES", "train_work", "score_work", "backward", "score", "distribution")


@pytest.mark.parametrize("registry, contract", [(layers.CELLS, CELL_CONTRACT),
                                                (layers.OUTPUT_LAYERS, OUTPUT_CONTRACT)])
def test_every_registered_module_keeps_the_contract(registry, contract):
    bundles = set()
    for name, module in registry.items():
        missing = [attribute for attribute in contract if not hasattr(module, attribute)]
        assert missing == [], f"{name} lacks {missing}"
        assert module.BUNDLES and all(issubclass(bundle, tuple) and bundle._fields for bundle in module.BUNDLES)
        bundles.update(module.BUNDLES)
    assert len(bundles) == sum(len(module.BUNDLES) for module in registry.values())  # a bundle type names its module


def test_the_name_tables_live_in_the_registry_and_the_model_checks_against_them():
    assert layers.ACTIVATIONS == ("sigmoid", "tanh", "relu", "elu", "relu-trunc", "gru")
    assert set(layers.HIDDEN_TYPES.values()) == set(layers.CELLS)
    assert layers.HIDDEN_TYPES[layers.GATED] == "gru"
    assert tuple(layers.OUTPUT_LAYERS) == ("class", "hs", "nce")
    assert rnnlm_model.ACTIVATIONS == (*layers.ACTIVATIONS, *rnnlm_model.BATCHED_TYPES)  # lstm: batched engine only
    assert rnnlm_model.OUTPUT_LAYERS is layers.OUTPUT_LAYERS
    assert not set(rnnlm_model.BATCHED_TYPES) & set(layers.HIDDEN_TYPES)  # never sent to the per-word kernels
    assert network.ACTIVATIONS == layers.ACTIVATIONS and network.OUTPUT_LAYERS == tuple(layers.OUTPUT_LAYERS)
    assert set(network.OUTPUT_BUNDLES) == set(layers.OUTPUT_LAYERS)
    assert set(network.CELL_BUNDLES) == set(layers.CELLS)


def test_dispatch_is_by_the_bundle_type():
    class Stranger(NamedTuple):
        weights: np.ndarray

    for registry in (layers.CELLS, layers.OUTPUT_LAYERS):
        for module in registry.values():
            for bundle in module.BUNDLES:
                fields = {name: np.zeros(1) for name in bundle._fields}
                assert layers.implementation(registry, numba.typeof(bundle(**fields))) is module
        assert layers.implementation(registry, numba.typeof(Stranger(np.zeros(1)))) is None


def test_a_span_kernel_refuses_an_unregistered_output_layer():
    class Stranger(NamedTuple):
        weights: np.ndarray

    cell = network.Elman(input_weights=np.zeros((3, 2)), recurrent=np.zeros((2, 2)),
                         activation=network.ELMAN_ACTIVATIONS["sigmoid"])
    bundle = lm.Network(cell=cell, output=Stranger(np.zeros((3, 2))),
                        direct=DirectConnections(weights=np.zeros(0), order=0), independent=False, reset_value=1.0)
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(lm.score_span.py_func)(
            bundle, np.array([0, 1, 2], dtype=np.int32), 0, 2, 0, np.zeros(2), np.zeros(2), True)


COMPILED_VARIANTS = """
import numpy as np
from rnnlmpy.kernels import cell, gru, hogwild, hsoftmax, nce, output
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.streams import language_model_stream
from helpers import tiny_model
model = tiny_model(hidden_size=4, dtype="float32")
stream = language_model_stream(np.array([1, 2, 0, 3], dtype=np.int32))
network.score_stream(model, stream, np.full(4, 0.1, dtype=np.float32))
def compiled(*kernels):
    return [min(len(kernel.signatures), 1) for kernel in kernels]
print(compiled(output.target_probability, hsoftmax.hs_log10_probability, nce.unnormalised_log10_probability),
      compiled(cell.hidden_forward, gru.gru_forward))
network.train_span(model, stream, 0, len(stream), network.KernelState.fresh(model.config), 0.1)
print(compiled(output.output_backward, hsoftmax.hs_backward, nce.nce_backward_into),
      compiled(cell.backpropagate_through_time, gru.gru_backpropagate), compiled(hogwild.merge_changes))
"""


def test_a_class_model_compiles_only_the_elman_cell_and_the_class_softmax(tmp_path):
    """With an empty Numba cache, scoring and training an Elman class-softmax model on one thread compile those
    two layers' kernels and none of the other layers' nor the hogwild merge."""
    tests = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", COMPILED_VARIANTS], capture_output=True, text=True, cwd=tests,
                            env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": tests})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[1, 0, 0] [1, 0]", "[1, 0, 0] [1, 0] [0]"]

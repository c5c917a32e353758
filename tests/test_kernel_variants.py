"""Variants of the language-model kernels chosen when they are compiled, not tested per word
(rnnlmpy/kernels/layers.py): the Elman cell's activation is a marker type in its bundle, a hogwild thread's
hierarchical softmax a bundle of its own, no bundle carries an array for a layer or mode the model lacks, and
the per-position work every output layer shares (direct history, P(target), clipping) is done once, around
each layer's own ``backward`` and ``score``."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from rnnlmpy.kernels import cell, hsoftmax, layers
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.model import RnnlmConfig, new_model
from rnnlmpy.rnnlm.streams import language_model_stream
from rnnlmpy.rnnlm.vocab import vocabulary_from_counts

WORDS = ["</s>"] + [f"w{i}" for i in range(1, 12)]
MODEL_KINDS = {"class": dict(class_count=3), "hs": dict(output_layer="hs"), "nce": dict(output_layer="nce"),
               "gru": dict(class_count=3, activation="gru"), "tanh-direct": dict(class_count=2, activation="tanh",
                                                                                direct_size=500, direct_order=2)}


def small_model(**settings):
    """A random model over WORDS (hidden 5), the ``settings`` its RnnlmConfig's."""
    config = RnnlmConfig(hidden_size=5, rand_seed=3, **settings)
    counts = np.arange(len(WORDS), 0, -1) * 10
    return new_model(config, vocabulary_from_counts(WORDS, counts, config.class_count or 1))


def arrays_in(bundle) -> list[np.ndarray]:
    """Every array in a (nested) named tuple."""
    if isinstance(bundle, np.ndarray):
        return [bundle]
    if isinstance(bundle, tuple):
        return [array for value in bundle for array in arrays_in(value)]
    return []


@pytest.mark.parametrize("name", list(cell.ACTIVATION_MARKERS))
def test_an_activation_marker_computes_what_its_code_computes(name):
    """A marker (compiled for one activation) and the int code (chosen per call, as the tagger passes it) give
    bit-identical steps and derivatives."""
    rng = np.random.default_rng(1)
    input_weights, recurrent = rng.normal(0, 2, (4, 9)), rng.normal(0, 2, (9, 9))
    previous = rng.normal(0, 1, 9)
    features = np.array([0, 2], dtype=np.int32)
    by_marker, by_code = np.empty(9), np.empty(9)
    marker, code = cell.ACTIVATION_MARKERS[name], cell.ACTIVATIONS[name]
    assert marker.code == code
    cell.hidden_forward(input_weights, recurrent, features, 0, 2, previous, by_marker, marker)
    cell.hidden_forward(input_weights, recurrent, features, 0, 2, previous, by_code, code)
    np.testing.assert_array_equal(by_marker, by_code)
    in_place, derivative = cell.ACTIVATION_CODE[type(marker)]
    error_by_marker, error_by_code = np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)
    derivative(error_by_marker, by_marker)
    cell.multiply_by_derivative(error_by_code, by_code, code)
    np.testing.assert_array_equal(error_by_marker, error_by_code)


def test_each_activation_is_its_own_bundle_type():
    """The Elman bundle's type names its activation, so the span kernels are compiled once per activation."""
    types = {numba.typeof(network._network(small_model(class_count=2, activation=name)).cell)
             for name in cell.ACTIVATION_MARKERS}
    assert len(types) == len(cell.ACTIVATION_MARKERS)


COMPILED_ACTIVATIONS = """
import numpy as np
from rnnlmpy.kernels import cell
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.streams import language_model_stream
from test_kernel_variants import small_model
stream = language_model_stream(np.array([1, 2, 0, 3, 4, 0], dtype=np.int32))
for activation in ("tanh", "gru"):
    model = small_model(class_count=2, activation=activation)
    network.score_stream(model, stream, np.full(5, 0.1))
    network.train_span(model, stream, 0, len(stream), network.KernelState.fresh(model.config), 0.1)
    print(activation, [name for name in ("activate", "multiply_by_derivative", "sigmoid_in_place", "tanh_in_place",
                                         "relu_in_place", "elu_in_place", "truncated_relu_in_place",
                                         "sigmoid_derivative", "tanh_derivative", "relu_derivative")
                       if getattr(cell, name).signatures])
"""


def test_a_compiled_span_kernel_holds_its_own_activation_only(tmp_path):
    """With an empty Numba cache, scoring and training a tanh Elman model compiles tanh and its derivative and
    neither the per-call choice of activation nor another activation; a GRU compiles its two gate
    nonlinearities and nothing else of these."""
    tests = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", COMPILED_ACTIVATIONS], capture_output=True, text=True, cwd=tests,
                            env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": tests})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["tanh ['tanh_in_place', 'tanh_derivative']",  # (compiled so far)
                                             "gru ['sigmoid_in_place', 'tanh_in_place', 'tanh_derivative']"]


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_no_bundle_carries_an_empty_placeholder(kind):
    """Every array a span kernel receives for a model belongs to a layer the model has: none is empty, in the
    cell's and output layer's bundles, the training state or a hogwild thread's merging. (Direct connections
    stay a runtime choice, one test per word: an empty weights array means none.)"""
    model = small_model(**MODEL_KINDS[kind])
    bundle = network._network(model)
    assert (bundle.direct.weights.size > 0) == (model.config.direct_size > 0)
    state = network._training_state(network.KernelState.fresh(model.config), model)
    merging = network.Merging.for_thread(model, model, model.output_weights[:0].copy(), np.zeros(2, np.int64), 10)
    for where, value in (("layers", (bundle.cell, bundle.output)), ("state", state),
                         ("merge", (merging.shared, merging.local))):
        assert all(array.size > 0 for array in arrays_in(value)), (kind, where)
    if kind == "hs":
        assert hsoftmax.HierarchicalSoftmax._fields == ("node_weights", "path_ptr", "path_nodes", "path_codes")
        assert type(bundle.output) is hsoftmax.HierarchicalSoftmax


def test_a_hogwild_thread_gets_the_hierarchical_softmax_with_its_hot_rows():
    """Hot tree rows make the thread's own bundle type (whose kernel trains them instead of the shared rows);
    none or an empty copy leave the model's bundle."""
    model = small_model(output_layer="hs")
    hot = model.output_weights[:3].copy()
    thread = network._network(model, hot).output
    assert type(thread) is hsoftmax.ThreadHierarchicalSoftmax and thread.hot_rows is hot
    assert thread.tree.node_weights is model.output_weights
    assert type(network._network(model, hot[:0]).output) is hsoftmax.HierarchicalSoftmax
    assert layers.implementation(layers.OUTPUT_LAYERS, numba.typeof(thread)) is hsoftmax
    with pytest.raises(ValueError, match="hot tree rows"):
        network._network(small_model(class_count=2), hot)


def test_hot_rows_in_the_span_kernel_train_like_the_shared_rows():
    """Training a span with the thread bundle (hot rows a copy of the first 3 node rows) leaves the shared first
    rows alone and ends, hot rows and the rest, where training the model's own bundle ends."""
    stream = language_model_stream(np.array([1, 2, 0, 3, 4, 5, 0, 6, 1, 0], dtype=np.int32))
    plain, threaded = small_model(output_layer="hs"), small_model(output_layer="hs")
    rng = np.random.default_rng(2)
    for name, array in plain.weights().items():
        array[...] = rng.normal(0, 0.3, array.shape)
        getattr(threaded, name)[...] = array
    first_rows = threaded.output_weights[:3].copy()
    hot = first_rows.copy()
    expected = network.train_span(plain, stream, 0, len(stream), network.KernelState.fresh(plain.config), 0.1)
    result = network.train_span(threaded, stream, 0, len(stream), network.KernelState.fresh(threaded.config), 0.1,
                                hot_rows=hot)
    assert result == expected
    np.testing.assert_array_equal(threaded.output_weights[:3], first_rows)
    np.testing.assert_array_equal(hot, plain.output_weights[:3])
    np.testing.assert_array_equal(threaded.output_weights[3:], plain.output_weights[3:])
    np.testing.assert_array_equal(threaded.recurrent, plain.recurrent)


@pytest.mark.parametrize("kind", ["class", "hs", "nce"])
def test_the_shared_output_step_writes_the_probability_and_clips(kind):
    """Around every output layer's own step: P(target) of each scored position (the score before the step)
    goes to ``probabilities`` when asked for, unscored positions get 0, and the error reaching the hidden
    layer is clipped (a tiny cutoff: each BPTT step's error is at most twice the cutoff times sigmoid's
    derivative, at most 1/4, so training moves the input rows by at most alpha * cutoff / 2 per step; unclipped,
    they move about four times that bound here)."""
    model = small_model(**MODEL_KINDS[kind], gradient_cutoff=1e-3)
    stream = language_model_stream(np.array([1, 2, 0, 3, 4, 0], dtype=np.int32))
    before = model.input_weights.copy()
    scored, _ = network.score_stream(model, stream, network.start_state(model.config, flush=True),
                                     normalised=kind != "nce")
    probabilities = np.full(len(stream), -1.0)
    log10_sum, count, _ = network.train_span(model, stream, 0, len(stream), network.KernelState.fresh(model.config),
                                             0.1, bptt_block=1, probabilities=probabilities)
    assert count == int(np.sum(stream.targets >= 0))
    assert probabilities[0] == pytest.approx(scored[0], rel=1e-12)  # nothing trained before the first position
    assert np.all(probabilities[stream.targets >= 0] > 0) and np.all(probabilities[stream.targets < 0] == 0)
    assert log10_sum == pytest.approx(float(np.sum(np.log10(probabilities[stream.targets >= 0]))), rel=1e-9)
    steps = model.config.bptt + 1
    assert np.max(np.abs(model.input_weights - before)) <= 0.1 * 1e-3 / 2 * steps * len(stream)

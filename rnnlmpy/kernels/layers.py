"""The registry of the language model's cells and output layers, and the compile-time dispatch to them.

A cell or output layer is a module keeping one small contract (cells: see
``elman``; output layers: see ``class_softmax``) whose ``BUNDLE`` named tuple
carries its arrays into a kernel. The span loops of ``lm`` call the stubs
below (``cell_forward``, ``output_train``, ...); each stub is an ``overload``
that looks at the *type* of its bundle argument when the loop is compiled and
inlines the call to that module's function. So a kernel compiled for a model
holds the code of its own cell and output layer only, and nothing is tested per
word. Adding a cell or an output layer: its module, one line in ``CELLS`` or
``OUTPUT_LAYERS``, and its tests.

Name tables, in option order: ``HIDDEN_TYPES`` (-hidden-type name -> cell
name in ``CELLS``: the Elman cell's activations, then the GRU), ``ACTIVATIONS`` (their
names), ``GATED`` (the GRU's name), ``OUTPUT_LAYERS`` (output layer name ->
module), and ``MAX_DIRECT_ORDER``.
"""

from __future__ import annotations

from numba.extending import overload

from . import class_softmax, elman, gru, hsoftmax, nce
from .direct import MAX_DIRECT_ORDER

CELLS = {"elman": elman, "gru": gru}
OUTPUT_LAYERS = {"class": class_softmax, "hs": hsoftmax, "nce": nce}
GATED = "gru"  # the gated hidden type; the others are the Elman cell's activations
HIDDEN_TYPES = {**{name: "elman" for name in elman.ACTIVATIONS}, GATED: "gru"}  # -hidden-type -> cell
ACTIVATIONS = tuple(HIDDEN_TYPES)  # -hidden-type names
# MAX_DIRECT_ORDER (from direct): the most history words a model's direct connections may read

__all__ = ["ACTIVATIONS", "CELLS", "GATED", "HIDDEN_TYPES", "MAX_DIRECT_ORDER", "OUTPUT_LAYERS", "cell_forward",
           "cell_learn", "cell_score_work", "cell_train_work", "output_score", "output_score_work", "output_train",
           "output_train_work"]


def implementation(registry: dict, bundle_type):
    """The module of ``registry`` whose ``BUNDLE`` is the Numba type ``bundle_type``'s class (None: no match,
    and Numba reports the call as untyped)."""
    for module in registry.values():
        if getattr(bundle_type, "instance_class", None) is module.BUNDLE:
            return module
    return None


# The stubs: their Python bodies never run (a stub called from Python does nothing); inside a kernel each is
# replaced by the bundle's module's function of the same role.

def cell_train_work(cell, size, capacity, sample):
    """The cell's training work arrays (H = ``size``, ring of ``capacity``, dtype of the array ``sample``)."""


def cell_score_work(cell, size, sample):
    """The cell's scoring work arrays."""


def cell_forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, work):
    """One step of the cell: ``hidden`` from ``hidden_prev`` and the features ``words[feature_begin:feature_end]``."""


def cell_learn(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha,
               decay, cutoff, bptt, bptt_block, sentence_end):
    """Store position t's step and update the cell's weights from the output error ``hidden_error``."""


def output_train_work(layer):
    """The output layer's training work arrays."""


def output_score_work(layer, normalised):
    """The output layer's scoring work arrays."""


def output_train(layer, direct, direct_work, work, state, targets, t, independent, hidden, hidden_error, alpha, decay,
                 cutoff, direct_alpha, direct_decay, probabilities):
    """The output layer's SGD step on ``targets[t]``; returns its log10 score."""


def output_score(layer, direct, direct_work, work, targets, t, history_start, independent, hidden, normalised):
    """P(``targets[t]``) under the output layer."""


@overload(cell_train_work, inline="always")
def _cell_train_work(cell, size, capacity, sample):
    module = implementation(CELLS, cell)
    if module is not None:
        work = module.train_work
        return lambda cell, size, capacity, sample: work(cell, size, capacity, sample)


@overload(cell_score_work, inline="always")
def _cell_score_work(cell, size, sample):
    module = implementation(CELLS, cell)
    if module is not None:
        work = module.score_work
        return lambda cell, size, sample: work(cell, size, sample)


@overload(cell_forward, inline="always")
def _cell_forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, work):
    module = implementation(CELLS, cell)
    if module is not None:
        forward = module.forward

        def impl(cell, words, feature_begin, feature_end, hidden_prev, hidden, work):
            forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, work)
        return impl


@overload(cell_learn, inline="always")
def _cell_learn(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha,
                decay, cutoff, bptt, bptt_block, sentence_end):
    module = implementation(CELLS, cell)
    if module is not None:
        learn = module.learn

        def impl(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha,
                 decay, cutoff, bptt, bptt_block, sentence_end):
            learn(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha,
                  decay, cutoff, bptt, bptt_block, sentence_end)
        return impl


@overload(output_train_work, inline="always")
def _output_train_work(layer):
    module = implementation(OUTPUT_LAYERS, layer)
    if module is not None:
        work = module.train_work
        return lambda layer: work(layer)


@overload(output_score_work, inline="always")
def _output_score_work(layer, normalised):
    module = implementation(OUTPUT_LAYERS, layer)
    if module is not None:
        work = module.score_work
        return lambda layer, normalised: work(layer, normalised)


@overload(output_train, inline="always")
def _output_train(layer, direct, direct_work, work, state, targets, t, independent, hidden, hidden_error, alpha,
                  decay, cutoff, direct_alpha, direct_decay, probabilities):
    module = implementation(OUTPUT_LAYERS, layer)
    if module is not None:
        train = module.train_position

        def impl(layer, direct, direct_work, work, state, targets, t, independent, hidden, hidden_error, alpha, decay,
                 cutoff, direct_alpha, direct_decay, probabilities):
            return train(layer, direct, direct_work, work, state, targets, t, independent, hidden, hidden_error, alpha,
                         decay, cutoff, direct_alpha, direct_decay, probabilities)
        return impl


@overload(output_score, inline="always")
def _output_score(layer, direct, direct_work, work, targets, t, history_start, independent, hidden, normalised):
    module = implementation(OUTPUT_LAYERS, layer)
    if module is not None:
        score = module.score_position

        def impl(layer, direct, direct_work, work, targets, t, history_start, independent, hidden, normalised):
            return score(layer, direct, direct_work, work, targets, t, history_start, independent, hidden,
                         normalised)
        return impl

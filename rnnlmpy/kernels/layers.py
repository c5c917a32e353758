"""The registry of the language model's cells and output layers, their contract, and the compile-time dispatch.

A cell or an output layer is one module keeping the contract below; ``BUNDLES``
lists the named tuples that carry its arrays into a kernel. The span loops of
``lm`` call the stubs of this module (``cell_forward``, ``output_backprop``,
...); each stub is an ``overload`` that looks at the *type* of its bundle
argument when the loop is compiled and inlines that module's function. So a
kernel compiled for a model holds the code of its own cell and output layer
only, and nothing is tested per word. A variant that would otherwise be a flag
tested per word is a type too: the Elman cell's activation is a marker in its
bundle (``cell.Sigmoid``, ...), a hogwild thread's hierarchical softmax a bundle
of its own (``hsoftmax.ThreadHierarchicalSoftmax``).

Shapes: ``H`` hidden units, ``V`` words, ``R`` ring slots, floats of the model's
dtype unless said. Every per-position function below is ``@njit(cache=True,
inline="always", **options.WITHOUT_REFCOUNTS)``: inlined into the span loops and
compiled, like them, without reference counting, so it allocates nothing and
returns no array (the work functions allocate, once per span).

A cell module (``elman``, ``gru``) provides:

- ``BUNDLES``: its named tuple classes (the model's first);
- ``train_work(cell, size, capacity, sample)`` / ``score_work(cell, size, sample)``: its work arrays, a tuple
  (H = ``size``, R = ``capacity``, dtype of the array ``sample``);
- ``forward(cell, words, feature_begin, feature_end, hidden_prev, hidden, work)``: one step, ``hidden`` (H,)
  from ``hidden_prev`` (H,) and the input rows of ``words[feature_begin:feature_end]``;
- ``learn(cell, state, work, feature_ptr, words, t, feature_begin, feature_end, hidden, hidden_error, alpha,
  decay, cutoff, bptt, bptt_block, sentence_end)``: after the output layer has put its error (H,) into
  ``hidden_error``, store position t's step in the ring of ``state`` (``lm.TrainingState``: its input
  state and error in the common ring, what else the cell needs of it in ``state.step_ring``) and update the
  cell's weights (truncated BPTT with a block update, rate ``alpha``, L2 ``decay``, clip ``cutoff``);
- ``step(cell, features, hidden_prev, hidden)``: one step from Python (sampling, n-best).

An output layer module (``class_softmax``, ``hsoftmax``, ``nce``) provides:

- ``BUNDLES``, ``train_work(layer)``, ``score_work(layer, normalised)``: as a cell's;
- ``word_class(layer, target)``, only where the layer reads a class's run of direct weights: the class of
  ``target`` (without it, the first run only, as a layer of one row per word or node does);
- ``backward(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error, alpha,
  decay, cutoff, direct_alpha, direct_decay)``: the SGD step on ``target`` (>= 0) given ``hidden`` (H,), of the
  layer and of the direct weights ``direct`` (D,) (rate ``direct_alpha``, decay ``direct_decay``, hashed keys
  int64 and ``usable`` = [class orders, word orders] from ``direct.prepare_direct``); adds the error reaching
  the hidden layer to ``hidden_error`` (H,); returns (log10 P(target), P(target)) before the step (NCE: its
  unnormalised score);
- ``score(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised)``: P(``target``)
  (float64), normalised over the vocabulary when the layer can be either (``normalised``);
- ``distribution(layer, direct, hidden, history, temperature, out)``: from Python, ``out`` (V,) = P(every word).

What is the same for every output layer (hashing the direct history, writing
P(target) when asked, clipping the error reaching the hidden layer) is done
once, by ``lm.train_output`` and ``lm.score_output``.

An output layer's ``backward`` may keep training state between calls in
``state.output_state`` (NCE: its sampler's RNG).

Adding a cell or an output layer: its module, one line in ``CELLS`` or
``OUTPUT_LAYERS``, how ``rnnlmpy.rnnlm.network`` builds its bundle from a model
(``CELL_BUNDLES``/``OUTPUT_BUNDLES``; a cell's ring in ``CELL_STEP_RINGS``, an
output layer's state in ``OUTPUT_STATES``), and its tests.

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
           "cell_learn", "cell_score_work", "cell_train_work", "output_backprop", "output_score", "output_score_work",
           "output_train_work", "output_word_class"]


def implementation(registry: dict, bundle_type):
    """The module of ``registry`` whose ``BUNDLES`` hold the Numba type ``bundle_type``'s class (None: no match,
    and Numba reports the call as untyped)."""
    bundle_class = getattr(bundle_type, "instance_class", None)
    for module in registry.values():
        if bundle_class in module.BUNDLES:
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


def output_word_class(layer, target):
    """The class whose run of direct weights the layer reads for ``target`` (-1: the first run only)."""


def output_backprop(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error, alpha,
                    decay, cutoff, direct_alpha, direct_decay):
    """The output layer's SGD step on ``target``; returns (log10 P(target), P(target)) before it."""


def output_score(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised):
    """P(``target``) under the output layer."""


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


@overload(output_word_class, inline="always")
def _output_word_class(layer, target):
    module = implementation(OUTPUT_LAYERS, layer)
    if module is not None:
        if not hasattr(module, "word_class"):
            return lambda layer, target: -1
        word_class = module.word_class
        return lambda layer, target: word_class(layer, target)


@overload(output_backprop, inline="always")
def _output_backprop(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error, alpha,
                     decay, cutoff, direct_alpha, direct_decay):
    module = implementation(OUTPUT_LAYERS, layer)
    if module is not None:
        backward = module.backward

        def impl(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error, alpha,
                 decay, cutoff, direct_alpha, direct_decay):
            return backward(layer, direct, class_keys, word_keys, usable, work, state, target, hidden, hidden_error,
                            alpha, decay, cutoff, direct_alpha, direct_decay)
        return impl


@overload(output_score, inline="always")
def _output_score(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised):
    module = implementation(OUTPUT_LAYERS, layer)
    if module is not None:
        score = module.score

        def impl(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised):
            return score(layer, direct, class_keys, word_keys, usable, work, target, hidden, normalised)
        return impl

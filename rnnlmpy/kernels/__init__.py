"""Numba kernels: pure functions on arrays, no Python objects; this package imports only numpy, numba, math
and typing (for the named tuples that carry arrays into kernels), and ``rnnlmpy.base.errors`` where a Python
face checks what its kernels will read (``optimizers``, ``window_class``).

``cell`` (activations, hidden step, BPTT), ``output`` (softmax layers), ``direct``
(hashed n-gram features), ``lm`` (language-model spans; called only by
``rnnlmpy.rnnlm.network``), ``tagger`` (sequence labelling; called only by
``rnnlmpy.tagger.rnn``) and ``ngram`` (backoff n-gram scoring on a trie; called only by
``rnnlmpy.ngram.binary``). The language model's cells (``elman``, ``gru``) and
output layers (``class_softmax``, ``hsoftmax``, ``nce``) keep one contract each,
written in the registry ``layers`` (what a cell and an output layer provide,
shapes, and how to add one), which dispatches to them by bundle type when a span
kernel is compiled: a variant (cell, output layer, the Elman cell's activation,
a hogwild thread's hot rows) is a type, never a flag tested per word. Every
kernel is ``@njit(cache=True)``.
"""

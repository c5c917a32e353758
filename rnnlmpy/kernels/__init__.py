"""Numba kernels: pure functions on arrays, no Python objects; this package imports only numpy and numba.

``cell`` (activations, hidden step, BPTT), ``output`` (softmax layers), ``direct``
(hashed n-gram features), ``lm`` (language-model spans; called only by
``rnnlmpy.rnnlm.network``) and ``tagger`` (sequence labelling; called only by
``rnnlmpy.tagger.rnn``). Every kernel is ``@njit(cache=True)``.
"""

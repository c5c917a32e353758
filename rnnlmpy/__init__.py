"""rnnlmpy: Numba-accelerated recurrent neural network language models, compatible with Mikolov's rnnlm.

Layers, each importing only those before it: ``base`` (errors, text, files,
metrics) -> ``kernels`` (Numba) -> ``rnnlm`` and ``ngram`` (model families) ->
``mixing`` and ``tagger`` -> ``report``; the command line (``rnnlmpy_cli``)
sits on top.
"""

from .base.errors import RnnlmpyError
from .rnnlm import (PerplexityResult, RnnlmConfig, RnnlmModel, Vocabulary, build_vocabulary, evaluate_file,
                    load_model, new_model, save_model, score_tokens, train)

__version__ = "0.1.0"

__all__ = [
    "RnnlmConfig", "RnnlmModel", "RnnlmpyError", "PerplexityResult", "Vocabulary", "build_vocabulary",
    "evaluate_file", "load_model", "new_model", "save_model", "score_tokens", "train", "__version__",
]

"""rnnlmpy: Numba-accelerated recurrent neural network language models, compatible with Mikolov's rnnlm.

Layers, each importing only those before it: ``base`` (errors, text, files,
metrics) -> ``kernels`` (Numba) -> ``rnnlm`` and ``ngram`` (model families) ->
``mixing`` and ``tagger`` -> ``report``; the command line (``rnnlmpy_cli``)
sits on top.
"""

import os as _os

from .base.numba_cache import drop_stale_kernel_caches as _drop_stale_kernel_caches

_drop_stale_kernel_caches(_os.path.join(_os.path.dirname(__file__), "kernels"))  # before any kernel is loaded

from .base.errors import RnnlmpyError  # noqa: E402
from .rnnlm import (PerplexityResult, RnnlmConfig, RnnlmModel, Vocabulary, build_vocabulary, evaluate_file,
                    load_model, new_model, save_model, score_tokens, train)  # noqa: E402
from .api import FileScore, LanguageModel, Mixture, State, TokenScore  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "RnnlmConfig", "RnnlmModel", "RnnlmpyError", "PerplexityResult", "Vocabulary", "build_vocabulary",
    "evaluate_file", "load_model", "new_model", "save_model", "score_tokens", "train", "__version__",
    "FileScore", "LanguageModel", "Mixture", "State", "TokenScore",
]

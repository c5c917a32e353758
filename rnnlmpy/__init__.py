"""rnnlmpy: Numba-accelerated recurrent neural network language models, compatible with Mikolov's rnnlm.

Layers, each importing only those before it: ``base`` (errors, text, files,
metrics) -> ``kernels`` (Numba) -> ``rnnlm`` and ``ngram`` (model families) ->
``mixing`` and ``tagger`` -> ``report`` -> ``api`` (``LanguageModel``,
``Mixture``); the command line (``rnnlmpy_cli``) sits on top. The names below
are imported on first use, so ``import rnnlmpy`` loads no model family.
"""

import importlib as _importlib
import os as _os

from .base.numba_cache import drop_stale_kernel_caches as _drop_stale_kernel_caches

_drop_stale_kernel_caches(_os.path.join(_os.path.dirname(__file__), "kernels"))  # before any kernel is loaded

from .base.errors import RnnlmpyError  # noqa: E402

__version__ = "0.1.0"

# public name -> the package that defines it, imported at the first use of one of its names (PEP 562), so that
# `import rnnlmpy` (and every command) loads only what it uses: Numba and the kernels come with the first model
_LAZY = {**dict.fromkeys(["PerplexityResult", "RnnlmConfig", "RnnlmModel", "Vocabulary", "build_vocabulary",
                          "evaluate_file", "load_model", "new_model", "save_model", "score_tokens", "train"], ".rnnlm"),
         **dict.fromkeys(["FileScore", "LanguageModel", "Mixture", "State", "TokenScore"], ".api")}

__all__ = ["RnnlmpyError", "__version__", *_LAZY]


def __getattr__(name: str):
    """The public names of the families, imported on first use."""
    package = _LAZY.get(name)
    if package is None:
        raise AttributeError(f"module 'rnnlmpy' has no attribute {name!r}")
    value = getattr(_importlib.import_module(package, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

"""rnnlmpy: Numba-accelerated recurrent neural network language models, compatible with Mikolov's rnnlm."""

from .errors import RnnlmpyError
from .evaluation import PerplexityResult, evaluate_file, score_tokens
from .model import RnnlmConfig, RnnlmModel, load_model, new_model, save_model
from .training import train
from .vocab import Vocabulary, build_vocabulary

__version__ = "0.1.0"

__all__ = [
    "RnnlmConfig", "RnnlmModel", "RnnlmpyError", "PerplexityResult", "Vocabulary", "build_vocabulary",
    "evaluate_file", "load_model", "new_model", "save_model", "score_tokens", "train", "__version__",
]

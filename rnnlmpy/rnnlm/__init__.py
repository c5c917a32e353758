"""The Mikolov-style RNN language model: vocabulary, streams, parameters, the kernel door (network),
training, evaluation, generation, n-best rescoring and model files (rnnlmpy's and the C++ rnnlm's)."""

from .evaluation import PerplexityResult, evaluate_file, score_tokens
from .model import RnnlmConfig, RnnlmModel, new_model
from .model_file import load_model, save_model
from .training import train
from .vocab import Vocabulary, build_vocabulary

__all__ = ["PerplexityResult", "RnnlmConfig", "RnnlmModel", "Vocabulary", "build_vocabulary", "evaluate_file",
           "load_model", "new_model", "save_model", "score_tokens", "train"]

"""The Mikolov-style RNN language model: vocabulary, streams, parameters, the kernel door (network),
training, evaluation, generation, n-best rescoring and model files (rnnlmpy's and the C++ rnnlm's).

The names below are the family's face, all the command line and users need.
"""

from .cpp_format import read_rnnlm, write_rnnlm
from .decoding import RnnState, next_word_probabilities, score_next_word, score_sentence_batch, sentence_start_state
from .embeddings import looks_like_word2vec, word_vectors, write_word2vec
from .evaluation import PerplexityResult, check_dynamic_rate, evaluate_file, score_tokens
from .gradients import DEFAULT_STEPS as GRADIENT_STEPS, MAX_STEPS as MAX_GRADIENT_STEPS, gradient_norms, \
    gradient_norms_file
from .grid import MANIFEST_SUFFIX, grid_members, manifest_models, train_grid
from .model import (ACTIVATIONS, BATCHED_DEFAULTS, MAX_DIRECT_ORDER, OPTIMIZERS, PER_WORD_DEFAULTS,
                    PER_WORD_TYPE_DEFAULTS, PRODUCT_PRECISIONS, RnnlmConfig, RnnlmModel, new_model)
from .model_file import load_model, save_model
from .options import RunOptions
from .sampling import MAX_GENERATED_TOKENS, generate, generate_lines
from .train_command import GridRequest, train_command
from .training import TrainingInterrupted, train
from .vocab import Vocabulary, build_vocabulary

__all__ = ["ACTIVATIONS", "BATCHED_DEFAULTS", "OPTIMIZERS", "PER_WORD_DEFAULTS", "PER_WORD_TYPE_DEFAULTS",
           "PRODUCT_PRECISIONS", "GridRequest", "MANIFEST_SUFFIX",
           "MAX_DIRECT_ORDER", "MAX_GENERATED_TOKENS", "GRADIENT_STEPS", "MAX_GRADIENT_STEPS", "PerplexityResult", "RnnState", "RnnlmConfig", "RnnlmModel", "RunOptions", "TrainingInterrupted", "Vocabulary", "build_vocabulary",
           "check_dynamic_rate", "evaluate_file", "generate", "generate_lines", "gradient_norms", "gradient_norms_file", "grid_members", "load_model",
           "manifest_models", "new_model", "next_word_probabilities", "read_rnnlm", "save_model", "score_next_word",
           "score_sentence_batch", "score_tokens", "sentence_start_state", "train", "train_command", "train_grid",
           "word_vectors", "write_rnnlm", "write_word2vec", "looks_like_word2vec"]

"""The Python interface of every language model rnnlmpy reads, as KenLM's users know it.

``LanguageModel(path)`` opens an RNN model (rnnlmpy's or the C++ rnnlm's) or an ARPA n-gram file;
``Mixture([...], weights)`` interpolates several. Each scores sentences (``score``, ``full_scores``,
``perplexity``, ``score_batch``), text files as the command line does (``perplexity_of_file``) and word by word
from an explicit state (``begin_sentence``, ``score_word``, ``next_word_distribution``).
"""

from ..rnnlm import RnnState
from .language_model import FileScore, LanguageModel, NgramLanguageModel, NgramState, RnnLanguageModel, Sentence, \
    State, TokenScore
from .mixture import Mixture, MixtureState

__all__ = ["FileScore", "LanguageModel", "Mixture", "MixtureState", "NgramLanguageModel", "NgramState",
           "RnnLanguageModel", "RnnState", "Sentence", "State", "TokenScore"]

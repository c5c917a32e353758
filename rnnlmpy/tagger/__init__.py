"""Part-of-speech tagging: the tutorial's bigram HMM and a (bidirectional) RNN tagger.

Files follow the NLP programming tutorial (``files``): training lines are
``word_TAG`` tokens, test lines are words, answers are one line of tags per
input line, graded as gradepos.pl does (``grading``). Both taggers (``hmm``,
``rnn``) share ``tag(sentences) -> tags per sentence``; ``load_tagger`` reads
either from its file (``store``). The RNN tagger's input features are in
``features``, its training in ``training``; ``rnn`` is the only module that
calls the tagger kernels, ``gated`` the home of its LSTM and GRU networks (the
window cells of the batched language model).
"""

from .features import token_features, word_shape
from .files import format_tags, read_tagged, read_words
from .gradients import tagger_gradient_norms, tagger_gradient_norms_file
from .grading import Grade, grade_files, grade_lines, known_unseen_accuracy
from .hmm import HmmTagger, train_hmm
from .gated import GATED_CELLS, GatedWeights, TaggerDirection
from .rnn import CELL_DEFAULTS, HIDDEN_TYPES, OPTIMIZERS, RnnTagger, TaggerConfig, new_tagger, refuse_gated_settings
from .store import check_tagger_output, load_tagger, save_tagger
from .training import train_tagger

__all__ = [
    "CELL_DEFAULTS", "GATED_CELLS", "GatedWeights", "HIDDEN_TYPES", "OPTIMIZERS", "TaggerDirection", "Grade", "HmmTagger", "RnnTagger", "TaggerConfig", "check_tagger_output", "format_tags", "grade_files",
    "grade_lines", "known_unseen_accuracy", "load_tagger", "new_tagger", "read_tagged", "read_words", "refuse_gated_settings",
    "save_tagger", "tagger_gradient_norms", "tagger_gradient_norms_file", "token_features", "train_hmm", "train_tagger", "word_shape",
]

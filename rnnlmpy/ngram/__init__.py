"""Backoff n-gram models: modified Kneser-Ney estimation and scoring, ARPA files, SRILM's report;
``sharded`` counts on several workers.

The names below are the family's face, all the command line and users need.
"""

from .arpa import read_arpa, write_arpa
from .kneser_ney import MAX_ORDER, NgramModel, NgramScores, read_sentences, score_sentences, train_ngram
from .report import ppl_report
from .sharded import train_ngram_sharded

__all__ = ["MAX_ORDER", "NgramModel", "NgramScores", "ppl_report", "read_arpa", "read_sentences",
           "score_sentences", "train_ngram", "train_ngram_sharded", "write_arpa"]

"""Backoff n-gram models: modified Kneser-Ney estimation (count cutoffs), relative-entropy pruning and scoring,
ARPA files, SRILM's report;
``sharded`` counts on several workers.

The names below are the family's face, all the command line and users need.
"""

from .arpa import read_arpa, write_arpa
from .kneser_ney import (DISCOUNT_FALLBACK, MAX_ORDER, NgramModel, NgramScores, check_cutoffs,
                         check_discount_fallback, check_order, read_sentences, score_sentences, train_ngram)
from .pruning import PRUNE_HISTORIES, check_prune_threshold, prune_relative_entropy
from .report import ppl_report
from .sharded import train_ngram_sharded

__all__ = ["DISCOUNT_FALLBACK", "MAX_ORDER", "PRUNE_HISTORIES", "NgramModel", "NgramScores", "check_cutoffs",
           "check_discount_fallback", "check_order", "check_prune_threshold", "ppl_report", "prune_relative_entropy",
           "read_arpa", "read_sentences", "score_sentences", "train_ngram", "train_ngram_sharded", "write_arpa"]

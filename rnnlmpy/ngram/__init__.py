"""Backoff n-gram models: modified Kneser-Ney estimation (count cutoffs), relative-entropy pruning and scoring,
ARPA files, the memory-mapped binary format (``read_ngram`` reads either, told by the magic bytes), SRILM's
report; ``sharded`` counts on several workers.

The names below are the family's face, all the command line and users need.
"""

from .arpa import ARPA_DECIMALS, read_arpa, write_arpa
from .binary import NgramTrie, describe_binary, ngram_counts, read_binary, read_ngram, write_binary
from .kneser_ney import (DISCOUNT_FALLBACK, MAX_ORDER, NgramModel, NgramScores, check_cutoffs,
                         check_discount_fallback, check_order, read_sentences, score_sentences, train_ngram)
from .pruning import PRUNE_HISTORIES, check_prune_threshold, prune_relative_entropy
from .report import ppl_report
from .sharded import train_ngram_sharded

__all__ = ["ARPA_DECIMALS", "DISCOUNT_FALLBACK", "MAX_ORDER", "PRUNE_HISTORIES", "NgramModel", "NgramScores",
           "NgramTrie", "check_cutoffs", "check_discount_fallback", "check_order", "check_prune_threshold",
           "describe_binary", "ngram_counts", "ppl_report", "prune_relative_entropy", "read_arpa", "read_binary",
           "read_ngram", "read_sentences", "score_sentences", "train_ngram", "train_ngram_sharded", "write_arpa",
           "write_binary"]

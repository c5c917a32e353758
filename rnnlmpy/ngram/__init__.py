"""Backoff n-gram models: modified Kneser-Ney estimation and scoring, ARPA files, the memory-mapped binary
format (``read_ngram`` reads either, told by the magic bytes), SRILM's report; ``sharded`` counts on several
workers.

The names below are the family's face, all the command line and users need.
"""

from .arpa import ARPA_DECIMALS, read_arpa, write_arpa
from .binary import NgramTrie, describe_binary, ngram_counts, read_binary, read_ngram, write_binary
from .kneser_ney import MAX_ORDER, NgramModel, NgramScores, read_sentences, score_sentences, train_ngram
from .report import ppl_report
from .sharded import train_ngram_sharded

__all__ = ["ARPA_DECIMALS", "MAX_ORDER", "NgramModel", "NgramScores", "NgramTrie", "describe_binary", "ngram_counts",
           "ppl_report", "read_arpa", "read_binary", "read_ngram", "read_sentences", "score_sentences", "train_ngram",
           "train_ngram_sharded", "write_arpa", "write_binary"]

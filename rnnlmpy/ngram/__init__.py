"""Backoff n-gram models: modified Kneser-Ney estimation and scoring, ARPA files, SRILM's report."""

from .arpa import read_arpa, write_arpa
from .kneser_ney import MAX_ORDER, NgramModel, NgramScores, read_sentences, score_sentences, train_ngram
from .report import ppl_report

__all__ = ["MAX_ORDER", "NgramModel", "NgramScores", "ppl_report", "read_arpa", "read_sentences",
           "score_sentences", "train_ngram", "write_arpa"]

"""Corpus files as int32 token ids (``encoding``): read in chunks by a Numba tokeniser, cached on disk (``cache``)."""

from .encoding import (CACHE_MIN_BYTES, SENTENCE_END_TYPE, EncodedCorpus, TokenSequence, cache_folder, encode_file,
                       line_bounds, type_counts)

__all__ = ["CACHE_MIN_BYTES", "SENTENCE_END_TYPE", "EncodedCorpus", "TokenSequence", "cache_folder", "encode_file",
           "line_bounds", "type_counts"]

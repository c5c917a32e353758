"""Mixing models word by word: an RNN with another model (interpolate), any number of them (ensemble),
and the KN / RNN / interpolation comparison table (compare); ``sharded`` spreads scoring over workers.

The names below are the family's face, all the command line and users need.
"""

from .compare import compare_models, format_table
from .ensemble import check_plan, run_ensemble
from .interpolate import Interpolation, check_options, interpolate_file, rescore_nbest_file
from .sharded import evaluate_file_sharded

__all__ = ["Interpolation", "check_options", "check_plan", "compare_models", "evaluate_file_sharded",
           "format_table", "interpolate_file", "rescore_nbest_file", "run_ensemble"]

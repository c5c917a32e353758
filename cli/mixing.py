"""Commands that mix models: ensemble (any number, EM weights) and compare (KN / RNN / interpolation table)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from rnnlmpy.base import RnnlmpyError, open_executor, resolve_threads, scheduler_address
from rnnlmpy.mixing import check_plan, compare_models, format_table, run_ensemble
from rnnlmpy.ngram import MAX_ORDER
from rnnlmpy.rnnlm import manifest_models

from .common import command, examples, option, threads_option


@command(epilog=examples(
    "rnnlmpy ensemble -rnnlm ptb.seed1 -rnnlm ptb.seed2 -ngram kn5.arpa -valid ptb.valid.txt -test ptb.test.txt",
    "rnnlmpy ensemble -rnnlm a.model -rnnlm b.model -weights 0.6,0.4 -test test.txt",
    "rnnlmpy ensemble -manifest ptb.manifest.json -valid ptb.valid.txt -test ptb.test.txt"))
@option("rnnlm", "rnn_files", metavar="MODEL", multiple=True, help="An RNN language model (repeatable).")
@option("manifest", "manifests", metavar="FILE", multiple=True,
        help="A grid manifest of 'train' (PREFIX.manifest.json): its trained members join (repeatable).")
@option("ngram", "arpa_files", metavar="MODEL", multiple=True,
        help="An n-gram model: ARPA file or rnnlmpy binary n-gram model (repeatable).")
@option("valid", "valid_file", metavar="FILE", help="Text on which EM tunes the mixture weights.")
@option("test", "test_file", metavar="FILE", required=True, help="Text to score.")
@option("weights", metavar="W1,W2,...", help="Fixed mixture weights, in the order -rnnlm..., then -ngram...")
@option("dynamic", type=click.FloatRange(min=0), default=0.0, show_default=True,
        help="Score the RNN members by dynamic evaluation at this learning rate (0: off).")
@threads_option("Members loaded and scored at once (the report is the same).", every_core=True)
@option("scheduler", default=None, metavar="ADDRESS",
        help="Score each member on this Dask cluster (needs rnnlmpy[dask]; the files must be at the same paths on "
             "the workers)  [default: $RNNLMPY_SCHEDULER, else here]")
def ensemble(rnn_files, manifests, arpa_files, valid_file, test_file, weights, dynamic, threads, scheduler):
    """Interpolate several RNN and n-gram models word by word, weights tuned by EM."""
    fixed = None
    if weights:
        try:
            fixed = [float(w) for w in weights.split(",")]
        except ValueError:
            raise RnnlmpyError(f"-weights must be comma-separated numbers (got {weights!r})") from None
    members = list(rnn_files) + [path for manifest in manifests for path in manifest_models(manifest)]
    scheduler = scheduler_address(scheduler)
    if scheduler is None:
        report = run_ensemble(members, list(arpa_files), test_file, valid_file, fixed, dynamic,
                              resolve_threads(threads, every_core=True))
    else:
        check_plan(len(members) + len(arpa_files), fixed, valid_file is not None)  # before connecting
        with open_executor(1, scheduler) as executor:
            report = run_ensemble(members, list(arpa_files), test_file, valid_file, fixed, dynamic,
                                  executor=executor)
    click.echo(report.format())


@command(epilog=examples(
    'rnnlmpy compare -train ptb.train.txt -valid ptb.valid.txt -test ptb.test.txt -rnnlm ptb.model',
    'rnnlmpy compare -ngram kn5.bin -valid ptb.valid.txt -test ptb.test.txt -rnnlm ptb.model'))
@option("train", "train_file", metavar="FILE", help="Training text for the n-grams of -orders.")
@option("ngram", "ngram_files", metavar="MODEL", multiple=True,
        help="An n-gram model to include instead of building one: ARPA file or rnnlmpy binary n-gram model "
             "(repeatable).")
@option("valid", "valid_file", metavar="FILE", required=True, help="Validation text (tunes the interpolation).")
@option("test", "test_file", metavar="FILE", required=True, help="Test text.")
@option("rnnlm", "rnn_files", metavar="MODEL", multiple=True, help="An RNN model to include (repeatable).")
@option("orders", default="3,5", show_default=True, help="Comma-separated n-gram orders to build.")
def compare(train_file, ngram_files, valid_file, test_file, rnn_files, orders):
    """Compare KN n-grams, RNN models and their interpolation in one table."""
    if not (train_file or ngram_files):
        raise RnnlmpyError("give -train FILE (to build the n-grams of -orders) and/or -ngram MODEL")
    if not train_file and click.get_current_context().get_parameter_source("orders") != ParameterSource.DEFAULT:
        raise RnnlmpyError("-orders: only for the n-grams built from -train; a -ngram model is used as it is")
    try:
        order_list = tuple(sorted({int(value) for value in orders.split(",")}))
    except ValueError:
        raise RnnlmpyError(f"-orders must be comma-separated integers (got {orders!r})") from None
    for order in order_list:
        if not 1 <= order <= MAX_ORDER:
            raise RnnlmpyError(f"-orders: each order must be between 1 and {MAX_ORDER} (got {order})")
    click.echo(format_table(compare_models(train_file, valid_file, test_file, list(rnn_files), order_list,
                                           tuple(ngram_files))))


COMMANDS = [ensemble, compare]

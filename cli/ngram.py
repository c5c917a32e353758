"""The n-gram command: build, write (ARPA, binary) and score modified Kneser-Ney models (SRILM's report)."""

from __future__ import annotations

import contextlib
import os
import sys
import time

import click
from click.core import ParameterSource

from rnnlmpy.base import ARPA, NGRAM_BINARY, SHARDS_PER_WORKER, RnnlmpyError, claimed_output, open_executor, \
    scheduler_address, worker_slots
from rnnlmpy.ngram import ARPA_DECIMALS, MAX_ORDER, ppl_report, read_ngram, read_sentences, score_sentences, \
    train_ngram, train_ngram_sharded, write_arpa, write_binary

from .common import command, debug_option, examples, option


@command(epilog=examples(
    'rnnlmpy ngram -train ptb.train.txt -order 5 -arpa kn5.arpa -binary kn5.bin',
    'rnnlmpy ngram -lm kn5.arpa -binary kn5.bin',
    'rnnlmpy ngram -lm kn5.bin -test ptb.test.txt'))
@option("train", "train_file", metavar="FILE", help="Build a model from this text.")
@option("order", type=int, default=3, show_default=True, help=f"N-gram order (1-{MAX_ORDER}).")
@option("arpa", "arpa_out", metavar="FILE", help="Write the built model here (ARPA format).")
@option("binary", "binary_out", metavar="FILE",
        help="Write the model here in rnnlmpy's binary format (memory-mapped on load; the same scores as the ARPA "
             "file). With -lm: convert the model read.")
@option("lm", "arpa_in", metavar="FILE",
        help="Read this model: an ARPA file (SRILM, KenLM, IRSTLM or rnnlmpy) or an rnnlmpy binary n-gram model.")
@option("test", "test_file", metavar="FILE", help="Score this text, SRILM-style.")
@option("force", is_flag=True,
        help="Replace an existing file at -arpa or -binary even if it is not that kind of model.")
@option("scheduler", default=None, metavar="ADDRESS",
        help="Count the n-grams of -train on this Dask cluster, by line ranges (needs rnnlmpy[dask]; the file must "
             "be at the same path on the workers; the model is the same)  [default: $RNNLMPY_SCHEDULER, else here]")
@debug_option(default=0, help="1: discounts and timing on stderr; 2: also one line per word, per sentence.")
def ngram(train_file, order, arpa_out, binary_out, arpa_in, test_file, force, scheduler, debug):
    """Build, write (ARPA, binary) and score modified Kneser-Ney n-gram models."""
    if bool(train_file) == bool(arpa_in):
        raise RnnlmpyError("give either -train FILE (to build a model) or -lm MODEL (to read one)")
    if train_file and not (arpa_out or binary_out or test_file):
        raise RnnlmpyError("nothing to do: add -arpa FILE and/or -binary FILE to write the model and/or -test FILE "
                           "to score")
    if arpa_in and not (test_file or binary_out):
        raise RnnlmpyError("nothing to do with -lm: add -test FILE to score and/or -binary FILE to convert")
    source = click.get_current_context().get_parameter_source
    building_only = {"arpa_out": "-arpa", "order": "-order", "scheduler": "-scheduler"}
    if not binary_out:
        building_only["force"] = "-force"  # with -lm, -force concerns only a conversion's -binary file
    ignored = [spelled for name, spelled in building_only.items()
               if arpa_in and source(name) not in (None, ParameterSource.DEFAULT)]
    if ignored:
        raise RnnlmpyError(f"{', '.join(ignored)}: only for building a model with -train; with -lm the model "
                           "is read and scored as it is (to copy it, copy the file; -binary FILE converts it)")
    if force and not (arpa_out or binary_out):
        raise RnnlmpyError("-force only concerns the file at -arpa or -binary; give one or leave -force out")
    if arpa_out and binary_out and os.path.realpath(arpa_out) == os.path.realpath(binary_out):
        raise RnnlmpyError("-arpa and -binary name the same file; give each its own path")
    inputs = [train_file, arpa_in, test_file]
    with contextlib.ExitStack() as stack:
        for path, kind, what in ((arpa_out, ARPA, "an ARPA model"), (binary_out, NGRAM_BINARY,
                                                                      "a binary n-gram model")):
            if path:
                for stale in stack.enter_context(claimed_output(path, [kind], inputs, force, what)):
                    click.echo(f"removed {stale} (left by an interrupted write)", err=True)
        _run(train_file, order, arpa_out, binary_out, arpa_in, test_file, scheduler, debug)


def _run(train_file, order, arpa_out, binary_out, arpa_in, test_file, scheduler, debug):
    """Build or read the model, write it, score the test text (the options were checked by ``ngram``)."""
    if test_file:
        sentences = read_sentences(test_file, "test file")
    started = time.perf_counter()
    if train_file:
        scheduler = scheduler_address(scheduler)
        if scheduler is None:
            model, discounts = train_ngram(train_file, order)
        else:
            with open_executor(1, scheduler) as executor:
                model, discounts = train_ngram_sharded(train_file, order, executor,
                                                       SHARDS_PER_WORKER * worker_slots(executor))
        if debug >= 1:
            for n, values in enumerate(discounts, start=1):
                click.echo(f"order {n}: {len(model.orders[n - 1]):,} n-grams, discounts D1 {values[1]:.4f} "
                           f"D2 {values[2]:.4f} D3+ {values[3]:.4f}", err=True)
        if arpa_out:
            write_arpa(model, arpa_out)
        if binary_out:  # the values as the ARPA file holds them: the two files score the same
            write_binary(model, binary_out, decimals=ARPA_DECIMALS)
        if debug >= 1:
            click.echo(f"built in {time.perf_counter() - started:.2f} s", err=True)
    else:
        model = read_ngram(arpa_in)
        if debug >= 1:
            click.echo(f"loaded {arpa_in} in {time.perf_counter() - started:.3f} s", err=True)
        if binary_out:
            started = time.perf_counter()
            write_binary(model, binary_out)
            if debug >= 1:
                click.echo(f"wrote {binary_out} in {time.perf_counter() - started:.2f} s", err=True)
    if test_file:
        started = time.perf_counter()
        scores = score_sentences(model, sentences, source=test_file)
        seconds = time.perf_counter() - started
        sys.stdout.write(ppl_report(test_file, sentences, scores, debug))
        sys.stdout.flush()
        if debug >= 1:
            click.echo(f"scored {len(scores.tokens):,} tokens in {seconds:.3f} s "
                       f"({len(scores.tokens) / max(seconds, 1e-9):,.0f} words/s)", err=True)


COMMANDS = [ngram]

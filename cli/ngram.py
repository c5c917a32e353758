"""The n-gram command: build, prune, write (ARPA, binary) and score modified Kneser-Ney models (SRILM's report)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time

import click
from click.core import ParameterSource

from rnnlmpy.base import ARPA, NGRAM_BINARY, SHARDS_PER_WORKER, RnnlmpyError, claimed_output, open_executor, \
    scheduler_address, worker_slots
from rnnlmpy.ngram import ARPA_DECIMALS, DISCOUNT_FALLBACK, MAX_ORDER, PRUNE_HISTORIES, NgramModel, check_cutoffs, \
    check_discount_fallback, check_order, check_prune_threshold, ppl_report, prune_relative_entropy, read_ngram, \
    read_sentences, score_sentences, train_ngram, train_ngram_sharded, write_arpa, write_binary

from .common import command, debug_option, examples, option


@command(epilog=examples(
    'rnnlmpy ngram -train ptb.train.txt -order 5 -arpa kn5.arpa -binary kn5.bin',
    'rnnlmpy ngram -lm kn5.bin -test ptb.test.txt',
    'rnnlmpy ngram -lm kn5.arpa -binary kn5.bin',
    'rnnlmpy ngram -train ptb.train.txt -order 5 -cutoffs 0,0,1 -prune 1e-8 -arpa kn5-small.arpa',
    'rnnlmpy ngram -lm kn5.arpa -prune 1e-7 -arpa kn5-pruned.arpa'))
@option("train", "train_file", metavar="FILE", help="Build a model from this text.")
@option("order", type=int, default=3, show_default=True, help=f"N-gram order (1-{MAX_ORDER}).")
@option("arpa", "arpa_out", metavar="FILE", help="Write the built (or, with -lm, pruned) model here (ARPA format).")
@option("binary", "binary_out", metavar="FILE",
        help="Write the model here in rnnlmpy's binary format (memory-mapped on load; the same scores as the ARPA "
             "file). With -lm: convert the model read (pruned with -prune).")
@option("lm", "arpa_in", metavar="FILE",
        help="Read this model: an ARPA file (SRILM, KenLM, IRSTLM or rnnlmpy) or an rnnlmpy binary n-gram model.")
@option("test", "test_file", metavar="FILE", help="Score this text, SRILM-style.")
@option("cutoffs", default="0", show_default=True, metavar="C1,C2,...",
        help="Drop the n-grams of order k seen at most Ck times (KenLM's --prune; the last value goes on for the "
             "higher orders; C1 must be 0 and the values must not decrease).")
@option("prune", type=float, default=None, metavar="THRESHOLD",
        help="Relative-entropy pruning (SRILM's -prune): remove the n-grams whose removal changes perplexity by "
             "less than THRESHOLD (relative, e.g. 1e-7); also of a model read with -lm.")
@option("prune-history", "prune_history", type=click.Choice(PRUNE_HISTORIES), default=PRUNE_HISTORIES[0],
        show_default=True,
        help="How -prune weighs a history when building: by its frequency in the training text (counts), or by "
             "the model's own probability (model, SRILM's way; the only one with -lm).")
@option("discount-fallback", "discount_fallback", default=",".join(f"{d:g}" for d in DISCOUNT_FALLBACK),
        show_default=True, metavar="D1[,D2[,D3+]]",
        help="Discounts for the orders where modified Kneser-Ney cannot estimate them (small or artificial text; "
             "KenLM's --discount_fallback).")
@option("force", is_flag=True,
        help="Replace an existing file at -arpa or -binary even if it is not that kind of model.")
@option("scheduler", default=None, metavar="ADDRESS",
        help="Count the n-grams of -train on this Dask cluster, by line ranges (needs rnnlmpy[dask]; the file must "
             "be at the same path on the workers; the model is the same)  [default: $RNNLMPY_SCHEDULER, else here]")
@debug_option(default=0, help="1: discounts and timing on stderr; 2: also one line per word, per sentence.")
def ngram(train_file, order, arpa_out, binary_out, arpa_in, test_file, cutoffs, prune, prune_history,
          discount_fallback, force, scheduler, debug):
    """Build, prune, write (ARPA, binary) and score modified Kneser-Ney n-gram models."""
    if bool(train_file) == bool(arpa_in):
        raise RnnlmpyError("give either -train FILE (to build a model) or -lm MODEL (to read one)")
    if train_file and not (arpa_out or binary_out or test_file):
        raise RnnlmpyError("nothing to do: add -arpa FILE and/or -binary FILE to write the model and/or -test FILE "
                           "to score")
    if arpa_in and not (test_file or binary_out or (prune is not None and arpa_out)):
        raise RnnlmpyError("nothing to do with -lm: add -test FILE to score, -binary FILE to convert, or "
                           "-prune THRESHOLD -arpa FILE to prune")
    source = click.get_current_context().get_parameter_source
    building_only = {"order": "-order", "scheduler": "-scheduler", "cutoffs": "-cutoffs",
                     "discount_fallback": "-discount-fallback", "prune_history": "-prune-history"}
    if prune is None:
        building_only["arpa_out"] = "-arpa"
    if prune is None and not binary_out:
        building_only["force"] = "-force"  # with -lm, -force concerns only the files a conversion or pruning writes
    ignored = [spelled for name, spelled in building_only.items()
               if arpa_in and source(name) not in (None, ParameterSource.DEFAULT)]
    if ignored:
        raise RnnlmpyError(f"{', '.join(ignored)}: only for building a model with -train; with -lm the model is read "
                           "and scored as it is (-binary FILE converts it; -prune THRESHOLD -arpa FILE writes a "
                           "pruned copy; count cutoffs need the counts: build with -train)")
    if train_file:
        check_order(order)
        check_cutoffs(cutoffs, order)
        discount_fallback = check_discount_fallback(discount_fallback)
    if prune is not None:
        check_prune_threshold(prune)
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
        _run(train_file, order, arpa_out, binary_out, arpa_in, test_file, cutoffs, prune, prune_history,
             discount_fallback, scheduler, debug)


def _run(train_file, order, arpa_out, binary_out, arpa_in, test_file, cutoffs, prune, prune_history,
         discount_fallback, scheduler, debug):
    """Build or read the model, prune it, write it, score the test text (the options were checked by ``ngram``)."""
    if test_file:
        sentences = read_sentences(test_file, "test file")
    started = time.perf_counter()
    say = functools.partial(click.echo, err=True)
    if train_file:
        scheduler = scheduler_address(scheduler)
        if scheduler is None:
            model, discounts = train_ngram(train_file, order, cutoffs, discount_fallback, say)
        else:
            with open_executor(1, scheduler) as executor:
                model, discounts = train_ngram_sharded(train_file, order, executor,
                                                       SHARDS_PER_WORKER * worker_slots(executor), cutoffs,
                                                       discount_fallback, say)
        if prune is not None:
            model, _ = prune_relative_entropy(model, prune, prune_history)
        if debug >= 1:
            for n, values in enumerate(discounts, start=1):
                click.echo(f"order {n}: {len(model.orders[n - 1]):,} n-grams, discounts D1 {values[1]:.4f} "
                           f"D2 {values[2]:.4f} D3+ {values[3]:.4f}", err=True)
    else:
        model = read_ngram(arpa_in)
        if debug >= 1:
            click.echo(f"loaded {arpa_in} in {time.perf_counter() - started:.3f} s", err=True)
        if prune is not None:
            if not isinstance(model, NgramModel):  # a binary model: pruning needs the n-grams as tables
                model = model.to_model()
            pruning_started = time.perf_counter()
            model, removed = prune_relative_entropy(model, prune, "model")
            if debug >= 1:
                click.echo(f"pruned {sum(removed):,} n-grams (" + ", ".join(
                    f"order {n}: {len(table):,} left" for n, table in enumerate(model.orders, start=1))
                    + f") in {time.perf_counter() - pruning_started:.2f} s", err=True)
    if arpa_out:
        write_arpa(model, arpa_out)
    if binary_out:
        writing_started = time.perf_counter()
        computed_here = train_file or prune is not None  # then written as its ARPA file holds it: the same scores
        write_binary(model, binary_out, **({"decimals": ARPA_DECIMALS} if computed_here else {}))
        if debug >= 1:
            click.echo(f"wrote {binary_out} in {time.perf_counter() - writing_started:.2f} s", err=True)
    if train_file and debug >= 1:
        click.echo(f"built in {time.perf_counter() - started:.2f} s", err=True)
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

"""Commands of the RNN language model: train, ppl, gen, convert."""

from __future__ import annotations

import math
import os
import sys
import time

import click

from rnnlmpy.base import CONTAINER, RNNLM_CPP, SHARDS_PER_WORKER, SPACE_TOKEN, RnnlmpyError, claimed_output, \
    compiling, open_executor, resolve_threads, scheduler_address, worker_slots
from rnnlmpy.mixing import Interpolation, check_options, evaluate_file_sharded, interpolate_file, rescore_nbest_file
from rnnlmpy.rnnlm import ACTIVATIONS, BATCHED_DEFAULTS, MAX_DIRECT_ORDER, MAX_GENERATED_TOKENS, OPTIMIZERS, \
    PER_WORD_DEFAULTS, PER_WORD_TYPE_DEFAULTS, PRODUCT_PRECISIONS, GridRequest, PerplexityResult, RnnlmConfig, \
    RunOptions, check_dynamic_rate, evaluate_file, generate_lines, load_model, save_model, \
    train_command, write_rnnlm

from .common import command, debug_option, default_model_path, examples, option, threads_option

DEFAULTS = RnnlmConfig()  # every train default is RnnlmConfig's
RUN_DEFAULTS = RunOptions()  # and every run default RunOptions's
MAX_DIRECT_MILLIONS = 100_000  # -direct: more weights than this (400 GB) never fit


def type_defaults_text(setting: str) -> str:
    """The hidden types with their own per-word default of ``setting``, as help text: "tanh: 0.01"."""
    return ", ".join(f"{name}: {values[setting]:g}" for name, values in PER_WORD_TYPE_DEFAULTS.items()
                     if setting in values)


def optimizer_defaults_text() -> str:
    """The batched engine's default optimiser of each hidden type, as help text: "adagrad for sigmoid, tanh"."""
    by_optimizer: dict[str, list[str]] = {}
    for hidden_type, name in BATCHED_DEFAULTS["optimizer"].items():
        by_optimizer.setdefault(name, []).append(hidden_type)
    return "; ".join(f"{name} for {', '.join(types)}" for name, types in by_optimizer.items())


def parse_list(text, convert, option_name: str, what: str) -> list:
    """A comma-separated option value as a list (one value: a list of one); RnnlmpyError naming the option."""
    try:
        return [convert(part) for part in str(text).split(",")]
    except ValueError:
        raise RnnlmpyError(f"-{option_name} must be {what} or a comma-separated list of them (got {text!r})") \
            from None


def optional_int(text: str):
    """An integer, or None for the words "auto"/"none" (the -class default: the square root of the vocabulary)."""
    return None if text.strip().lower() in ("auto", "none") else int(text)


def activation_name(text: str) -> str:
    """A -hidden-type value, checked."""
    if text not in ACTIVATIONS:
        raise RnnlmpyError(f"-hidden-type must be one of {', '.join(ACTIVATIONS)} (got {text!r})")
    return text


def direct_size(text: str) -> int:
    """-direct N (millions of weights, a float) as the even number of weights."""
    millions = float(text)
    if not math.isfinite(millions) or not 0 <= millions <= MAX_DIRECT_MILLIONS:
        raise RnnlmpyError(f"-direct must be a number of millions between 0 and {MAX_DIRECT_MILLIONS:,} "
                           f"(got {text})")
    return 2 * int(round(millions * 1e6 / 2))


def print_perplexity(result: PerplexityResult, debug: int, seconds: float) -> None:
    """The ``ppl`` report on stdout (rnnlm's lines, plus word and OOV counts)."""
    out = sys.stdout
    if debug >= 2:
        out.write("Index   P(NET)          Word\n" + "-" * 34 + "\n")
        lines = []
        for word_id, probability, token in zip(result.word_ids.tolist(), result.probabilities.tolist(),
                                                result.tokens):
            lines.append(f"{word_id}\t{probability:.10f}\t{token}\n" if word_id >= 0 else "-1\t0\t\tOOV\n")
        out.write("".join(lines))
    out.write(f"test log probability: {result.log10_probability:f}\n")
    out.write(f"PPL net: {result.perplexity:f}\n")
    out.write(f"words: {result.scored_count}\n")
    out.write(f"OOV: {result.oov_count}" + (" (not in the vocabulary, excluded from the perplexity)\n"
                                             if result.oov_count else "\n"))
    out.flush()
    if debug >= 1:
        speed = len(result.tokens) / max(seconds, 1e-9)
        click.echo(f"scored {len(result.tokens):,} tokens in {seconds:.2f} s ({speed:,.0f} words/s)", err=True)


def run_test(model, test_file: str, debug: int, dynamic: float = 0.0, threads: int = 1) -> None:
    """Score ``test_file`` and print the ``ppl`` report (and bits per character for a character model); the time
    spent compiling kernels is not counted in the speed."""
    started = time.perf_counter()
    with compiling() as compiled:
        result = evaluate_file(model, test_file, dynamic, threads)
    report_test(model, result, debug, time.perf_counter() - started - compiled.seconds)


def report_test(model, result: PerplexityResult, debug: int, seconds: float) -> None:
    """Print the ``ppl`` report of ``result`` (and bits per character for a character model)."""
    print_perplexity(result, debug, seconds)
    if model.config.char_level:
        sys.stdout.write(f"bits per character: {result.entropy_bits:.4f}\n")
    if model.config.output_layer == "nce":
        sys.stdout.write(f"normalised over: all {model.vocabulary.size:,} words (an NCE model's own scores are not "
                         "probabilities)\n")


@command(epilog=examples(
    'rnnlmpy train -train corpus.txt                  # writes corpus.rnnlm, holds out 5% for validation',
    'rnnlmpy train -train ptb.train.txt -valid ptb.valid.txt -rnnlm ptb.model \\',
    '    -hidden 100 -class 100 -bptt 4 -bptt-block 10 -test ptb.test.txt'))
@option("train", "train_file", metavar="FILE", required=True, help="Training text, one sentence per line.")
@option("valid", "valid_file", metavar="FILE",
        help="Validation text for the learning-rate schedule  [default: 5% of the training lines, held out]")
@option("rnnlm", "model_file", metavar="FILE",
        help="Model path; if it holds an unfinished model, training resumes from it  "
             "[default: the corpus name with .rnnlm, in the current folder]")
@option("test", "test_file", metavar="FILE", help="Evaluate on this text after training.")
@option("hidden", "hidden_size", default=str(DEFAULTS.hidden_size), show_default=True, metavar="N[,N...]",
        help="Hidden layer size (a comma list trains a grid).")
@option("class", "class_count", default=None, metavar="N[,N...]",
        help="Output classes (1 = full softmax; a comma list trains a grid)  "
             "[default: the square root of the vocabulary size]")
@option("old-classes", is_flag=True, help="Classes by frequency instead of square-root frequency.")
@option("hs", "hierarchical_softmax", is_flag=True,
        help="Hierarchical softmax over a Huffman tree of the word counts instead of classes (cost ~ log2 V).")
@option("nce", "nce_samples", type=int, default=None,
        help=f"Noise-contrastive estimation with this many noise words per word instead of classes  "
             f"[typical: {DEFAULTS.nce_samples}]")
@option("nce-unigram-power", "nce_unigram_power", type=float, default=DEFAULTS.nce_unigram_power, show_default=True,
        help="NCE noise distribution: word counts raised to this power.")
@option("nce-lnz", "nce_lnz", type=float, default=DEFAULTS.nce_lnz, show_default=True,
        help="NCE: the fixed log normaliser of the scores.")
@click.option("-hidden-type", "--hidden-type", "-activation", "--activation", "activation",
              default=DEFAULTS.activation, show_default=True, metavar="TYPE[,TYPE...]",
              help=f"Hidden units: an Elman layer with this activation, gru (update and reset gates, "
                   f"Cho et al. 2014) or lstm (input, forget and output gates and a cell; batched engine): "
                   f"{', '.join(ACTIVATIONS)}. -activation is the same option; a comma list trains a grid.")
@option("layers", type=int, default=DEFAULTS.layers, show_default=True,
        help="Stacked recurrent layers (more than 1: batched engine).")
@option("dropout", type=float, default=None,
        help=f"Dropout on the non-recurrent connections while training, Zaremba et al. (more than 0: batched "
             f"engine)  [default: 0 per-word; {BATCHED_DEFAULTS['dropout']:g} batched]")
@option("optimizer", type=click.Choice(OPTIMIZERS), default=None,
        help=f"sgd: plain gradient steps; momentum (0.9), adagrad, rmsprop, adam: batched engine.  [default: sgd "
             f"per-word; batched: {optimizer_defaults_text()}]")
@option("batch", type=int, default=None,
        help=f"Streams trained at once, each on its own part of the text (more than 1: batched engine)  "
             f"[default: 1 per-word; {BATCHED_DEFAULTS['batch']} batched]")
@option("clip-norm", "clip_norm", type=float, default=None,
        help=f"Batched engine: clip the gradients' global norm to this (0 = off)  "
             f"[default: {BATCHED_DEFAULTS['clip_norm']:g}]")
@option("product-precision", "product_precision", type=click.Choice(PRODUCT_PRECISIONS),
        default=DEFAULTS.product_precision, show_default=True,
        help="Batched full softmax (-class 1): bfloat16 rounds the inputs of a training step's matrix products "
             "(layers and softmax) to bfloat16 and sums in float32: twice the multiply-adds a cycle on a CPU with "
             "AVX-512 BF16; weights and scoring stay float32.")
@click.option("-tie-weights/-no-tie-weights", "--tie-weights/--no-tie-weights", "tie_weights", default=None,
              help=f"The output layer's word vectors are the input embedding (-tie-weights: batched engine)  "
                   f"[default: off per-word; {'on' if BATCHED_DEFAULTS['tie_weights'] else 'off'} batched]")
@option("diagonal-initialization", "diagonal_initialization", type=float, default=DEFAULTS.diagonal_initialization,
        help="Start the recurrent matrix (each block, for gru) as this number times the identity.")
@option("bptt", default=None, metavar="N[,N...]",
        help=f"Steps each error is propagated back in time (0 = plain backprop); batched engine: the window "
             f"length (a comma list trains a grid)  [default: {PER_WORD_DEFAULTS['bptt']} per-word, "
             f"{BATCHED_DEFAULTS['bptt']} batched]")
@option("bptt-block", "bptt_block", type=int, default=DEFAULTS.bptt_block, show_default=True,
        help="Words between updates of the recurrent weights.")
@option("alpha", type=float, default=None,
        help=f"Starting learning rate  [default: {PER_WORD_DEFAULTS['alpha']} per-word "
             f"({type_defaults_text('alpha')}); batched: "
             f"{', '.join(f'{rate:g} {name}' for name, rate in BATCHED_DEFAULTS['alpha'].items())}; "
             f"with classes (the default, -class > 1): "
             f"{', '.join(f'{rate:g} {name}' for name, rate in BATCHED_DEFAULTS['class_alpha'].items())}; "
             f"tanh with sgd: {BATCHED_DEFAULTS['tanh_sgd_scale']:g} times these]")
@option("beta", type=float, default=DEFAULTS.beta, show_default=True, help="L2 regularisation.")
@option("gradient-cutoff", "gradient_cutoff", type=float, default=None,
        help=f"Clamp on back-propagated errors (0 = off)  [default: {PER_WORD_DEFAULTS['gradient_cutoff']:g} "
             f"({type_defaults_text('gradient_cutoff')})]")
@option("min-improvement", "min_improvement", type=float, default=DEFAULTS.min_improvement, show_default=True,
        help="Start halving alpha (then stop) when validation improves by less than this factor.")
@option("one-iter", "one_iter", is_flag=True, help="One pass over the data, no validation.")
@option("max-iter", "max_iter", type=int, default=None, help="Stop after this many epochs.")
@option("anti-kasparek", "anti_kasparek", type=int, default=RUN_DEFAULTS.anti_kasparek, show_default=True,
        help="Checkpoint the model every N words (>= 10000); rerun to resume.")
@option("rand-seed", "rand_seed", default=str(DEFAULTS.rand_seed), show_default=True, metavar="N[,N...]",
        help="Seed of every random choice; several (1,2,3,4) train one model per seed, MODEL.seedN.")
@option("cv-folds", "cv_folds", type=click.IntRange(min=0), default=0, show_default=True,
        help="Cross-validation: K members, each validating on a different 1/K of the training lines "
             "(MODEL.foldK; no -valid).")
@option("jobs", type=click.IntRange(min=1), default=1, show_default=True,
        help="With several members (seeds, grids, folds): members trained at once, in worker processes.")
@option("scheduler", default=None, metavar="ADDRESS",
        help="Train the members on this Dask cluster (needs rnnlmpy[dask])  [default: $RNNLMPY_SCHEDULER, "
             "else local processes]")
@option("ship-data", "ship_data", is_flag=True,
        help="With several members or -scheduler: send the training and validation files with each task and get "
             "the models back, instead of the workers reading and writing the paths given (shared storage).")
@threads_option("Threads training one model at once on slices of each epoch (hogwild, as faster-rnnlm: "
                "faster, but the model differs run to run); 1 trains the same model every time.", every_core=False)
@option("independent", is_flag=True, help="Reset the hidden state at every sentence end.")
@option("direct", "direct_millions", default=f"{DEFAULTS.direct_size / 1e6:g}", show_default=True,
        metavar="M[,M...]",
        help="Direct connections (hashed max-ent n-gram features to the outputs), in millions of weights "
             "(a comma list trains a grid).")
@option("direct-order", "direct_order", type=click.IntRange(0, MAX_DIRECT_ORDER), default=DEFAULTS.direct_order,
        show_default=True, help="Order of the direct connections' n-gram features.")
@option("char", "char_level", is_flag=True, help="Character model: every character is a token (spaces as <sp>).")
@option("precision", type=click.Choice(["float32", "float64"]), default=DEFAULTS.dtype, show_default=True,
        help="Floating-point type of the weights.")
@option("force", is_flag=True, help="Replace an existing file at the model path and train anew.")
@debug_option(help="0: silent; 1: per-epoch lines (a live progress line on a terminal); 2: live progress always.")
def train(train_file, valid_file, model_file, test_file, hidden_size, class_count, old_classes, hierarchical_softmax,
          nce_samples, nce_unigram_power, nce_lnz, activation, layers, dropout, optimizer, batch, clip_norm,
          product_precision, tie_weights, diagonal_initialization, bptt, bptt_block, alpha, beta,
          gradient_cutoff, min_improvement, one_iter, max_iter, anti_kasparek, rand_seed, cv_folds, jobs, scheduler,
          ship_data, threads, independent, direct_millions, direct_order, char_level, precision, force, debug):
    """Train an RNN language model (or resume an interrupted run); comma lists train a grid of them."""
    values = {"rand_seed": parse_list(rand_seed, int, "rand-seed", "an integer"),
              "hidden_size": parse_list(hidden_size, int, "hidden", "an integer"),
              "class_count": parse_list("auto" if class_count is None else class_count, optional_int, "class",
                                        "an integer"),
              "activation": parse_list(activation, activation_name, "hidden-type", "a hidden type"),
              "bptt": parse_list("auto" if bptt is None else bptt, optional_int, "bptt", "an integer"),
              "direct_size": parse_list(direct_millions, direct_size, "direct", "a number"),
              "alpha": [alpha], "gradient_cutoff": [gradient_cutoff], "batch": [batch], "clip_norm": [clip_norm],
              "dropout": [dropout], "tie_weights": [tie_weights],
              "optimizer": [optimizer]}  # None: each member's engine's (and type's) default
    model_note = ""
    if model_file is None:
        model_file = default_model_path(train_file, ".rnnlm")
        model_note = " (named after the corpus; -rnnlm FILE to choose)"
    if hierarchical_softmax and nce_samples is not None:
        raise RnnlmpyError("give either -hs or -nce K, not both")
    output_layer = "hs" if hierarchical_softmax else "nce" if nce_samples is not None else DEFAULTS.output_layer
    config = RnnlmConfig(activation=values["activation"][0], bptt=values["bptt"][0], layers=layers, dropout=dropout,
                         optimizer=optimizer, batch=batch, clip_norm=clip_norm, tie_weights=tie_weights,
                         product_precision=product_precision,
                         bptt_block=bptt_block, alpha=alpha, beta=beta,
                         gradient_cutoff=gradient_cutoff, min_improvement=min_improvement, independent=independent,
                         old_classes=old_classes, dtype=precision, direct_order=direct_order, char_level=char_level,
                         output_layer=output_layer,
                         nce_samples=DEFAULTS.nce_samples if nce_samples is None else nce_samples,
                         nce_unigram_power=nce_unigram_power, nce_lnz=nce_lnz,
                         diagonal_initialization=diagonal_initialization)
    options = RunOptions(one_iter=one_iter, max_iter=max_iter, anti_kasparek=anti_kasparek, alpha=alpha,
                         threads=threads, debug=debug, force=force, model_note=model_note)
    grid = GridRequest(values, cv_folds, jobs, scheduler, ship_data)
    model = train_command(train_file, model_file, valid_file, config, options, grid, test_file,
                          say=lambda line: click.echo(line, err=True), show=click.echo)
    if model is not None and test_file is not None:
        run_test(model, test_file, debug)


class LambdaType(click.ParamType):
    """A weight in [0, 1], or "auto" (tuned on the validation text)."""

    name = "LAMBDA|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, float) or value == "auto":
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)
        if not 0.0 <= number <= 1.0:
            self.fail(f"{number} is not between 0 and 1", param, ctx)
        return number


def print_interpolation(result: PerplexityResult, other, mixed: Interpolation, debug: int, seconds: float) -> None:
    """rnnlm's report for an interpolated test (its -lm-prob lines), plus counts."""
    out = sys.stdout
    if debug >= 2:
        out.write("Index   P(NET)          P(LM)           Word\n" + "-" * 50 + "\n")
        lines = []
        for word_id, probability, q, token in zip(result.word_ids.tolist(), result.probabilities.tolist(),
                                                   other.tolist(), result.tokens):
            lines.append(f"{word_id}\t{probability:.10f}\t{q:.10f}\t{token}\n" if word_id >= 0
                         else "-1\t0\t\t0\t\tOOV\n")
        out.write("".join(lines))
    out.write(f"test log probability: {mixed.rnn_log10:f}\n")
    out.write(f"test log probability given by other lm: {mixed.other_log10:f}\n")
    out.write(f"test log probability {mixed.lam:f}*rnn + {1 - mixed.lam:f}*other_lm: {mixed.combined_log10:f}\n")
    out.write(f"PPL net: {mixed.rnn_ppl:f}\n")
    out.write(f"PPL other: {mixed.other_ppl:f}\n")
    out.write(f"PPL combine: {mixed.combined_ppl:f}\n")
    out.write(f"words: {mixed.counted}\n")
    out.write(f"OOV: {mixed.rnn_oov} scored by the other model only (RNN counted as 10^-8), "
              f"{mixed.skipped} unknown to both (excluded)\n")
    out.flush()
    if debug >= 1:
        click.echo(f"scored {len(result.tokens):,} tokens with both models in {seconds:.2f} s", err=True)


@command(epilog=examples(
    'rnnlmpy ppl -rnnlm ptb.model -test ptb.test.txt',
    'rnnlmpy ppl -rnnlm ptb.model -test ptb.test.txt -ngram kn5.arpa -lambda auto -valid ptb.valid.txt'))
@option("rnnlm", "model_file", metavar="FILE", required=True, help="Model file.")
@option("test", "test_file", metavar="FILE", required=True, help="Text to score.")
@option("ngram", "arpa_file", metavar="MODEL",
        help="Interpolate with this n-gram model (ARPA file or rnnlmpy binary n-gram model).")
@option("lm-prob", "lm_prob_file", metavar="FILE",
        help="Interpolate with another model's per-token probabilities (rnnlm's format: one per line).")
@option("lambda", "lam", type=LambdaType(), default=None,
        help="Weight of the RNN in the interpolation, or 'auto' to tune it by EM on -valid  [default: 0.5]")
@option("valid", "valid_file", metavar="FILE", help="Text on which -lambda auto tunes the weight.")
@option("dynamic", type=click.FloatRange(min=0), default=0.0, show_default=True,
        help="Dynamic evaluation: keep learning on the test text at this learning rate (0: off).")
@option("nbest", is_flag=True, help="The test file is an n-best list ('ID w1 w2 ...'): print one log10 score a line.")
@threads_option("Threads scoring at once where the work is independent: n-best hypotheses, the sentences of an "
                "-independent model (the output is the same).", every_core=True)
@option("scheduler", default=None, metavar="ADDRESS",
        help="Score on this Dask cluster, the same independent work split into tasks (needs rnnlmpy[dask]; the "
             "files must be at the same paths on the workers)  [default: $RNNLMPY_SCHEDULER, else here]")
@debug_option(help="2: also one 'index<TAB>probability<TAB>word' line per token.")
def ppl(model_file, test_file, arpa_file, lm_prob_file, lam, valid_file, dynamic, nbest, threads, scheduler, debug):
    """Perplexity of a language model, alone or interpolated with an n-gram."""
    threads = resolve_threads(threads, every_core=True)
    check_options(arpa_file, lm_prob_file, lam, valid_file, nbest)
    scheduler = scheduler_address(scheduler)
    if scheduler is not None:
        if dynamic or ((arpa_file or lm_prob_file) and not nbest):
            raise RnnlmpyError("-scheduler scores plain perplexities and -nbest lists (with or without -ngram); "
                               "-dynamic and interpolated perplexities run here: drop -scheduler")
        model = load_model(model_file)
        with open_executor(1, scheduler) as executor:
            shards = SHARDS_PER_WORKER * worker_slots(executor)
            if nbest:
                scores = rescore_nbest_file(model, test_file, arpa_file, lm_prob_file, lam, executor=executor,
                                            model_file=model_file, shards=shards)
                sys.stdout.write("".join(f"{score:f}\n" for score in scores))
                return
            started = time.perf_counter()
            result = evaluate_file_sharded(model, model_file, test_file, executor, shards)
        report_test(model, result, debug, time.perf_counter() - started)
        return
    if nbest and dynamic:
        raise RnnlmpyError("-dynamic is not supported with -nbest (each hypothesis is scored from the same state)")
    check_dynamic_rate(dynamic)
    model = load_model(model_file)
    if nbest:
        scores = rescore_nbest_file(model, test_file, arpa_file, lm_prob_file, lam, threads)
        sys.stdout.write("".join(f"{score:f}\n" for score in scores))
        return
    if not (arpa_file or lm_prob_file):
        run_test(model, test_file, debug, dynamic, threads)
        return
    started = time.perf_counter()
    with compiling() as compiled:
        scored = interpolate_file(model, test_file, arpa_file, lm_prob_file, lam, valid_file, dynamic, threads)
    if scored.tuned and debug >= 1:
        click.echo(f"lambda tuned by EM on {valid_file}: {scored.mixed.lam:.4f}", err=True)
    print_interpolation(scored.rnn, scored.other, scored.mixed, debug, time.perf_counter() - started - compiled.seconds)


@command(epilog=examples(
    "rnnlmpy gen -rnnlm ptb.model -gen 200 -rand-seed 7",
    "rnnlmpy gen -rnnlm ptb.model -gen 200 -temperature 0.7"))
@option("rnnlm", "model_file", metavar="MODEL", required=True, help="Language model (rnnlmpy or C++ rnnlm).")
@option("gen", "count", type=click.IntRange(0, MAX_GENERATED_TOKENS), required=True,
        help="Number of tokens to sample (lines are printed as they are made).")
@option("temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
        help="Divide scores by this: below 1 more predictable text, above 1 more varied.")
@option("rand-seed", "rand_seed", type=int, default=1, show_default=True, help="Seed of the sampling.")
def gen(model_file, count, temperature, rand_seed):
    """Generate text by sampling from a language model, one sentence per line."""
    model = load_model(model_file)
    for line in generate_lines(model, count, rand_seed, temperature):
        if model.config.char_level:  # characters were joined by spaces; <sp> is a real space
            line = line.replace(" ", "").replace(SPACE_TOKEN, " ")
        click.echo(line)


@command(epilog=examples(
    "rnnlmpy convert -rnnlm ptb.model -to rnnlm-text -o ptb.rnnlm.txt",
    "rnnlmpy convert -rnnlm cpp-trained.model -to rnnlmpy -o model.rnnlmpy"))
@option("rnnlm", "model_file", metavar="MODEL", required=True, help="Language model (rnnlmpy or C++ rnnlm).")
@option("to", "target", type=click.Choice(["rnnlmpy", "rnnlm-text", "rnnlm-binary"]), required=True,
        help="Format to write.")
@click.option("-o", "-output", "--output", "output", metavar="FILE", required=True, help="File to write.")
@option("force", is_flag=True, help="Replace an existing file at -o even if it is not a language model.")
def convert(model_file, target, output, force):
    """Convert a language model between rnnlmpy's format and the C++ rnnlm's (text or binary)."""
    if os.path.exists(output) and os.path.exists(model_file) and os.path.samefile(output, model_file):
        raise RnnlmpyError("-o must differ from the input model")
    with claimed_output(output, [CONTAINER, RNNLM_CPP], [model_file], force, "a language model") as removed:
        for stale in removed:
            click.echo(f"removed {stale} (left by an interrupted write)", err=True)
        model = load_model(model_file)
        if target == "rnnlmpy":
            save_model(model, output)
        else:
            write_rnnlm(model, output, binary=target == "rnnlm-binary")
    click.echo(f"wrote {output} ({target})", err=True)


COMMANDS = [train, ppl, gen, convert]

"""The ``rnnlmpy`` command: a thin click layer over the library.

Options use rnnlm's single-dash spelling (``-train``, ``-bptt-block``); the
double-dash spelling works too. Every user error is one line on stderr and
exit status 2.
"""

from __future__ import annotations

import os
import sys
import time

import click

import rnnlmpy
from rnnlmpy.arpa import read_arpa, write_arpa
from rnnlmpy.compare import compare_models, format_table
from rnnlmpy.errors import RnnlmpyError
from rnnlmpy.evaluation import PerplexityResult, evaluate_file
from rnnlmpy.ensemble import combine, load_member
from rnnlmpy.info import describe
from rnnlmpy.interpolate import Interpolation, interpolate, ngram_token_probabilities, read_lm_prob, tune_lambda
from rnnlmpy.model import RnnlmConfig, load_model, save_model
from rnnlmpy.rnnlm_format import write_rnnlm
from rnnlmpy.sampling import generate, read_nbest, score_nbest
from rnnlmpy.textio import SPACE_TOKEN, read_corpus
from rnnlmpy.plotting import plot_learning_curves
from rnnlmpy.ngram import NgramScores, read_sentences, score_sentences, train_ngram
from rnnlmpy.tagger import HmmTagger, TaggerConfig, format_tags, grade_files, known_unseen_accuracy, load_tagger, \
    read_tagged, read_words, save_tagger, train_hmm, train_tagger
from rnnlmpy.training import train as train_model
from rnnlmpy.training import train_members

CONTEXT = {"help_option_names": ["-h", "-help", "--help"], "max_content_width": 100, "terminal_width": 100}


def option(name: str, *args, **kwargs):
    """A click option spelled both ``-name`` (rnnlm style) and ``--name``."""
    return click.option(f"-{name}", f"--{name}", *args, **kwargs)


def examples(*lines: str) -> str:
    """A command's help epilog: its worked examples, printed at the end of --help as written."""
    return "\b\nExamples:\n" + "\n".join("  " + line for line in lines)


@click.group(context_settings=CONTEXT, epilog=examples(
    "rnnlmpy train -train corpus.txt          # trains corpus.rnnlm",
    "rnnlmpy ppl -rnnlm corpus.rnnlm -test test.txt",
    "rnnlmpy info -rnnlm corpus.rnnlm",
    "rnnlmpy COMMAND --help                   # every option, its default and an example"))
@click.version_option(rnnlmpy.__version__, "-version", "--version", prog_name="rnnlmpy")
def cli():
    """Recurrent neural network language models and taggers, compatible with Mikolov's rnnlm.

    Options are spelled as in rnnlm (-train, -bptt-block); --train works too.
    """


def parse_seeds(text: str) -> list[int]:
    """``-rand-seed`` values: one integer, or a comma-separated list of them."""
    try:
        seeds = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise RnnlmpyError(f"-rand-seed must be an integer or a comma-separated list of them (got {text!r})") from None
    return seeds


def default_model_path(corpus_file: str, suffix: str) -> str:
    """The corpus file's name with ``suffix`` instead of its extension, in the current folder."""
    return os.path.splitext(os.path.basename(corpus_file.rstrip("/")))[0] + suffix


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


def run_test(model, test_file: str, debug: int, dynamic: float = 0.0) -> None:
    started = time.perf_counter()
    result = evaluate_file(model, test_file, dynamic)
    print_perplexity(result, debug, time.perf_counter() - started)
    if model.config.char_level:
        sys.stdout.write(f"bits per character: {result.entropy_bits:.4f}\n")


def run_nbest(model, nbest_file: str, arpa_file, lm_prob_file, lam) -> None:
    """Print one log10 score per n-best hypothesis (rnnlm's -nbest)."""
    if lam == "auto":
        raise RnnlmpyError("-lambda auto needs a validation text; give -lambda a number with -nbest")
    hypotheses = read_nbest(nbest_file)
    tokens = [token for _, words in hypotheses for token in (*words, "</s>")]
    other = None
    if arpa_file:
        other = ngram_token_probabilities(read_arpa(arpa_file), tokens)
    elif lm_prob_file:
        other = read_lm_prob(lm_prob_file, len(tokens))
    weight = 1.0 if other is None else (0.5 if lam is None else lam)
    scores = score_nbest(model, hypotheses, other, weight)
    sys.stdout.write("".join(f"{score:f}\n" for score in scores))


@cli.command(context_settings=CONTEXT, epilog=examples(
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
@option("hidden", "hidden_size", type=int, default=100, show_default=True, help="Hidden layer size.")
@option("class", "class_count", type=int, default=None,
        help="Output classes (1 = full softmax)  [default: the square root of the vocabulary size]")
@option("old-classes", is_flag=True, help="Classes by frequency instead of square-root frequency.")
@option("activation", type=click.Choice(["sigmoid", "tanh", "relu", "elu"]), default="sigmoid",
        show_default=True, help="Hidden-layer activation.")
@option("bptt", type=int, default=4, show_default=True,
        help="Steps each error is propagated back in time (0 = plain backprop).")
@option("bptt-block", "bptt_block", type=int, default=10, show_default=True,
        help="Words between updates of the recurrent weights.")
@option("alpha", type=float, default=None, help="Starting learning rate  [default: 0.1]")
@option("beta", type=float, default=1e-7, show_default=True, help="L2 regularisation.")
@option("gradient-cutoff", "gradient_cutoff", type=float, default=15.0, show_default=True,
        help="Clamp on back-propagated errors (0 = off).")
@option("min-improvement", "min_improvement", type=float, default=1.003, show_default=True,
        help="Start halving alpha (then stop) when validation improves by less than this factor.")
@option("one-iter", "one_iter", is_flag=True, help="One pass over the data, no validation.")
@option("max-iter", "max_iter", type=int, default=None, help="Stop after this many epochs.")
@option("anti-kasparek", "anti_kasparek", type=int, default=0, show_default=True,
        help="Checkpoint the model every N words (>= 10000); rerun to resume.")
@option("rand-seed", "rand_seed", default="1", show_default=True,
        help="Seed of every random choice; several (1,2,3,4) train one model per seed, MODEL.seedN.")
@option("jobs", type=click.IntRange(min=1), default=1, show_default=True,
        help="With several seeds: models trained at once, in worker processes.")
@option("independent", is_flag=True, help="Reset the hidden state at every sentence end.")
@option("direct", "direct_millions", type=click.FloatRange(min=0), default=0, show_default=True,
        help="Direct connections (hashed max-ent n-gram features to the outputs), in millions of weights.")
@option("direct-order", "direct_order", type=click.IntRange(0, 20), default=3, show_default=True,
        help="Order of the direct connections' n-gram features.")
@option("char", "char_level", is_flag=True, help="Character model: every character is a token (spaces as <sp>).")
@option("precision", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
        help="Floating-point type of the weights.")
@option("force", is_flag=True, help="Replace an existing file at the model path and train anew.")
@option("debug", type=click.IntRange(0, 2), default=1, show_default=True,
        help="0: silent; 1: per-epoch lines (a live progress line on a terminal); 2: live progress always.")
def train(train_file, valid_file, model_file, test_file, hidden_size, class_count, old_classes, activation, bptt,
          bptt_block, alpha, beta, gradient_cutoff, min_improvement, one_iter, max_iter, anti_kasparek, rand_seed,
          jobs, independent, direct_millions, direct_order, char_level, precision, force, debug):
    """Train an RNN language model (or resume an interrupted run)."""
    seeds = parse_seeds(rand_seed)
    if model_file is None:
        model_file = default_model_path(train_file, ".rnnlm")
        if debug >= 1:
            click.echo(f"model file: {model_file} (from the corpus name; -rnnlm FILE to choose)", err=True)
    config = RnnlmConfig(hidden_size=hidden_size, class_count=class_count, activation=activation, bptt=bptt,
                         bptt_block=bptt_block, alpha=0.1 if alpha is None else alpha, beta=beta,
                         gradient_cutoff=gradient_cutoff, min_improvement=min_improvement, independent=independent,
                         old_classes=old_classes, dtype=precision, rand_seed=seeds[0],
                         direct_size=2 * int(round(direct_millions * 1e6 / 2)), direct_order=direct_order,
                         char_level=char_level)
    if test_file is not None:
        rnnlmpy.textio.read_file_bytes(test_file, "test file")  # fail before training, not after
    if len(seeds) > 1:
        options = dict(one_iter=one_iter, max_iter=max_iter, anti_kasparek=anti_kasparek, alpha=alpha, force=force)
        started = time.perf_counter()
        for seed, path, valid_ppl, seconds in train_members(train_file, model_file, seeds, jobs, valid_file, config,
                                                            **options):
            click.echo(f"member seed {seed}: {path}, validation PPL {valid_ppl:.2f}, {seconds:.0f} s", err=True)
            if test_file is not None:
                click.echo(f"{path}: test PPL {evaluate_file(load_model(path), test_file).perplexity:f}")
        click.echo(f"{len(seeds)} models in {time.perf_counter() - started:.0f} s with -jobs {jobs}", err=True)
        return
    model = train_model(train_file, model_file, valid_file=valid_file, config=config, one_iter=one_iter,
                        max_iter=max_iter, anti_kasparek=anti_kasparek, alpha=alpha, debug=debug, force=force)
    if test_file is not None:
        run_test(load_model(model_file) if model is None else model, test_file, debug)


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


@cli.command(context_settings=CONTEXT, epilog=examples(
    'rnnlmpy ppl -rnnlm ptb.model -test ptb.test.txt',
    'rnnlmpy ppl -rnnlm ptb.model -test ptb.test.txt -ngram kn5.arpa -lambda auto -valid ptb.valid.txt'))
@option("rnnlm", "model_file", metavar="FILE", required=True, help="Model file.")
@option("test", "test_file", metavar="FILE", required=True, help="Text to score.")
@option("ngram", "arpa_file", metavar="ARPA", help="Interpolate with this n-gram model (ARPA file).")
@option("lm-prob", "lm_prob_file", metavar="FILE",
        help="Interpolate with another model's per-token probabilities (rnnlm's format: one per line).")
@option("lambda", "lam", type=LambdaType(), default=None,
        help="Weight of the RNN in the interpolation, or 'auto' to tune it by EM on -valid  [default: 0.5]")
@option("valid", "valid_file", metavar="FILE", help="Text on which -lambda auto tunes the weight.")
@option("dynamic", type=click.FloatRange(min=0), default=0.0, show_default=True,
        help="Dynamic evaluation: keep learning on the test text at this learning rate (0: off).")
@option("nbest", is_flag=True, help="The test file is an n-best list ('ID w1 w2 ...'): print one log10 score a line.")
@option("debug", type=click.IntRange(0, 2), default=1, show_default=True,
        help="2: also one 'index<TAB>probability<TAB>word' line per token.")
def ppl(model_file, test_file, arpa_file, lm_prob_file, lam, valid_file, dynamic, nbest, debug):
    """Perplexity of a language model, alone or interpolated with an n-gram."""
    if arpa_file and lm_prob_file:
        raise RnnlmpyError("give either -ngram or -lm-prob, not both")
    other_given = bool(arpa_file or lm_prob_file)
    if lam is not None and not other_given:
        raise RnnlmpyError("-lambda needs another model to interpolate with (-ngram ARPA or -lm-prob FILE)")
    if lam == "auto" and not (valid_file and arpa_file):
        raise RnnlmpyError("-lambda auto needs -ngram ARPA and -valid FILE to tune the weight on")
    model = load_model(model_file)
    if nbest:
        run_nbest(model, test_file, arpa_file, lm_prob_file, lam)
        return
    if not other_given:
        run_test(model, test_file, debug, dynamic)
        return
    started = time.perf_counter()
    ngram_model = read_arpa(arpa_file) if arpa_file else None
    result = evaluate_file(model, test_file, dynamic)
    if ngram_model is not None:
        other = ngram_token_probabilities(ngram_model, result.tokens)
    else:
        other = read_lm_prob(lm_prob_file, len(result.tokens))
    if lam == "auto":
        valid = evaluate_file(model, valid_file)
        lam = tune_lambda(valid.probabilities, valid.word_ids >= 0,
                          ngram_token_probabilities(ngram_model, valid.tokens))
        if debug >= 1:
            click.echo(f"lambda tuned by EM on {valid_file}: {lam:.4f}", err=True)
    elif lam is None:
        lam = 0.5
    mixed = interpolate(result.probabilities, result.word_ids >= 0, other, lam)
    print_interpolation(result, other, mixed, debug, time.perf_counter() - started)


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


@cli.command(context_settings=CONTEXT, epilog=examples(
    'rnnlmpy ngram -train ptb.train.txt -order 5 -arpa kn5.arpa',
    'rnnlmpy ngram -lm kn5.arpa -test ptb.test.txt'))
@option("train", "train_file", metavar="FILE", help="Build a model from this text.")
@option("order", type=int, default=3, show_default=True, help="N-gram order (1-7).")
@option("arpa", "arpa_out", metavar="FILE", help="Write the built model here (ARPA format).")
@option("lm", "arpa_in", metavar="FILE", help="Read this ARPA model (SRILM, KenLM, IRSTLM or rnnlmpy).")
@option("test", "test_file", metavar="FILE", help="Score this text, SRILM-style.")
@option("debug", type=click.IntRange(0, 2), default=0, show_default=True,
        help="1: discounts and timing on stderr; 2: also one line per word, per sentence.")
def ngram(train_file, order, arpa_out, arpa_in, test_file, debug):
    """Build, write (ARPA) and score modified Kneser-Ney n-gram models."""
    if bool(train_file) == bool(arpa_in):
        raise RnnlmpyError("give either -train FILE (to build a model) or -lm ARPA (to read one)")
    if train_file and not (arpa_out or test_file):
        raise RnnlmpyError("nothing to do: add -arpa FILE to write the model and/or -test FILE to score")
    if arpa_in and not test_file:
        raise RnnlmpyError("nothing to do with -lm: add -test FILE")
    if test_file:
        sentences = read_sentences(test_file, "test file")
    started = time.perf_counter()
    if train_file:
        model, discounts = train_ngram(train_file, order)
        if debug >= 1:
            for n, values in enumerate(discounts, start=1):
                click.echo(f"order {n}: {len(model.orders[n - 1]):,} n-grams, discounts D1 {values[1]:.4f} "
                           f"D2 {values[2]:.4f} D3+ {values[3]:.4f}", err=True)
        if arpa_out:
            write_arpa(model, arpa_out)
        if debug >= 1:
            click.echo(f"built in {time.perf_counter() - started:.2f} s", err=True)
    else:
        model = read_arpa(arpa_in)
        if debug >= 1:
            click.echo(f"loaded {arpa_in} in {time.perf_counter() - started:.2f} s", err=True)
    if test_file:
        started = time.perf_counter()
        scores = score_sentences(model, sentences)
        seconds = time.perf_counter() - started
        print_ngram_scores(test_file, sentences, scores, debug)
        if debug >= 1:
            click.echo(f"scored {len(scores.tokens):,} tokens in {seconds:.3f} s "
                       f"({len(scores.tokens) / max(seconds, 1e-9):,.0f} words/s)", err=True)


def print_ngram_scores(test_file: str, sentences, scores: NgramScores, debug: int) -> None:
    """SRILM's ``ngram -ppl`` report (per-word lines with -debug 2)."""
    out = []
    if debug >= 2:
        position = 0
        for sentence in sentences:
            out.append(" ".join(sentence) + "\n")
            previous = "<s>"
            start = position
            for token in (*sentence, "</s>"):
                log10_prob = scores.log10_prob[position]
                context = previous + (" ..." if position > start else " ")
                if scores.is_oov[position]:
                    out.append(f"\tp( {token} | {context}) \t= [OOV] 0 [ -inf ]\n")
                else:
                    order = scores.matched_order[position]
                    out.append(f"\tp( {token} | {context}) \t= [{order}gram] {10 ** log10_prob:.6g} "
                               f"[ {log10_prob:.6g} ]\n")
                previous = token
                position += 1
            part = scores.log10_prob[start:position]
            oov = scores.is_oov[start:position]
            logprob = float(part[~oov].sum())
            words = len(sentence) - int(oov.sum())
            out.append(f"1 sentences, {len(sentence)} words, {int(oov.sum())} OOVs\n")
            out.append(f"0 zeroprobs, logprob= {logprob:.6g} ppl= {10 ** (-logprob / max(words + 1, 1)):.6g} "
                       f"ppl1= {10 ** (-logprob / max(words, 1)):.6g}\n\n")
    out.append(f"file {test_file}: {scores.sentences} sentences, {scores.words} words, {scores.oovs} OOVs\n")
    out.append(f"0 zeroprobs, logprob= {scores.logprob:.6f} ppl= {scores.ppl:.6f} ppl1= {scores.ppl1:.6f}\n")
    sys.stdout.write("".join(out))
    sys.stdout.flush()


@cli.command(context_settings=CONTEXT, epilog=examples(
    'rnnlmpy compare -train ptb.train.txt -valid ptb.valid.txt -test ptb.test.txt -rnnlm ptb.model'))
@option("train", "train_file", metavar="FILE", required=True, help="Training text for the n-grams.")
@option("valid", "valid_file", metavar="FILE", required=True, help="Validation text (tunes the interpolation).")
@option("test", "test_file", metavar="FILE", required=True, help="Test text.")
@option("rnnlm", "rnn_files", metavar="MODEL", multiple=True, help="An RNN model to include (repeatable).")
@option("orders", default="3,5", show_default=True, help="Comma-separated n-gram orders to build.")
def compare(train_file, valid_file, test_file, rnn_files, orders):
    """Compare KN n-grams, RNN models and their interpolation in one table."""
    try:
        order_list = tuple(sorted({int(value) for value in orders.split(",")}))
    except ValueError:
        raise RnnlmpyError(f"-orders must be comma-separated integers (got {orders!r})") from None
    for order in order_list:
        if not 1 <= order <= 7:
            raise RnnlmpyError(f"-orders: each order must be between 1 and 7 (got {order})")
    click.echo(format_table(compare_models(train_file, valid_file, test_file, list(rnn_files), order_list)))


@cli.command("tag-train", context_settings=CONTEXT, epilog=examples(
    'rnnlmpy tag-train -train wiki-en-train.norm_pos -model tagger',
    'rnnlmpy tag-train -train wiki-en-train.norm_pos -model hmm.txt -model-type hmm'))
@option("train", "train_file", metavar="FILE", required=True, help="Training text of word_TAG tokens.")
@option("model", "model_file", metavar="FILE",
        help="Where to write the tagger  [default: the corpus name with .tagger, in the current folder]")
@option("model-type", "model_type", type=click.Choice(["rnn", "hmm"]), default="rnn", show_default=True,
        help="rnn: the RNN tagger; hmm: the tutorial's bigram HMM baseline (written in its text format).")
@option("valid", "valid_file", metavar="FILE", help="word_TAG text: keep each network's best epoch on it.")
@option("hidden", "hidden_size", type=click.IntRange(min=1), help="Hidden units  [default: 50]")
@option("iter", "epochs", type=click.IntRange(min=1), help="Training epochs  [default: 10; -tutorial: 20]")
@option("alpha", type=click.FloatRange(min=0, min_open=True),
        help="Learning rate, divided by 1 + 0.5 * epoch  [default: 0.02; -tutorial: 0.01, fixed]")
@option("ensemble", type=click.IntRange(min=1), default=5, show_default=True,
        help="Networks from different random starts, posteriors averaged.")
@click.option("-bidirectional/-unidirectional", "--bidirectional/--unidirectional", default=True,
              show_default=True, help="Read each sentence in both directions.")
@option("features", type=click.Choice(["rich", "word"]), default="rich", show_default=True,
        help="rich: word, suffixes, prefixes, shape, capitals, digits, hyphens; word: the one-hot word only.")
@option("unknown", type=click.Choice(["shape", "none"]), default="shape", show_default=True,
        help="shape: train words seen once as word-shape classes, so unseen words get an input.")
@click.option("-viterbi/-no-viterbi", "--viterbi/--no-viterbi", default=False, show_default=True,
              help="Decode with tag-transition probabilities (Viterbi) instead of per-token argmax.")
@option("tutorial", is_flag=True,
        help="The tutorial's network: one-hot words, one direction, no unknown-word handling, one network.")
@option("rand-seed", "rand_seed", type=int, default=1, show_default=True, help="Seed of every random choice.")
@option("debug", type=click.IntRange(0, 2), default=1, show_default=True, help="0: silent; 1: one line per epoch.")
def tag_train(train_file, model_file, model_type, valid_file, hidden_size, epochs, alpha, ensemble, bidirectional,
              features, unknown, viterbi, tutorial, rand_seed, debug):
    """Train a part-of-speech tagger (RNN, or the HMM baseline)."""
    if model_file is None:
        model_file = default_model_path(train_file, ".tagger")
        if debug >= 1:
            click.echo(f"model file: {model_file} (from the corpus name; -model FILE to choose)", err=True)
    check_tagger_output(model_file)
    sentences = read_tagged(train_file)
    started = time.perf_counter()
    if model_type == "hmm":
        train_hmm(sentences).write(model_file)
    else:
        given = dict(hidden_size=hidden_size, epochs=epochs, alpha=alpha)
        settings = dict({k: v for k, v in given.items() if v is not None}, rand_seed=rand_seed)
        if tutorial:
            config = TaggerConfig.tutorial(**settings)
        else:
            config = TaggerConfig(ensemble=ensemble, bidirectional=bidirectional, rich_features=features == "rich",
                                  unknown_classes=unknown == "shape", viterbi=viterbi, **settings)
        valid = read_tagged(valid_file, "validation file") if valid_file else None
        tagger = train_tagger(sentences, config, valid, log=sys.stderr, debug=debug)
        save_tagger(tagger, model_file)
    if debug >= 1:
        tokens = sum(len(words) for words, _ in sentences)
        click.echo(f"trained a {model_type} tagger on {len(sentences):,} sentences ({tokens:,} tokens) in "
                   f"{time.perf_counter() - started:.1f} s; wrote {model_file}", err=True)


def check_tagger_output(model_file: str) -> None:
    """Refuse to overwrite a file that is not a tagger model."""
    if os.path.isdir(model_file):
        raise RnnlmpyError(f"model path {model_file!r} is a directory")
    if os.path.exists(model_file):
        try:
            load_tagger(model_file)
        except RnnlmpyError:
            raise RnnlmpyError(f"{model_file!r} exists and is not a tagger model; refusing to overwrite it") from None


@cli.command(context_settings=CONTEXT, epilog=examples(
    'rnnlmpy tag -model tagger -test wiki-en-test.norm > my_answer.pos',
    'rnnlmpy grade wiki-en-test.pos my_answer.pos'))
@option("model", "model_file", metavar="FILE", required=True, help="A tagger from rnnlmpy tag-train.")
@option("test", "test_file", metavar="FILE", required=True, help="Words to tag, one sentence per line.")
@option("format", "output_format", type=click.Choice(["tags", "word_tag"]), default="tags", show_default=True,
        help="tags: one tag per word (gradepos.pl's input); word_tag: word_TAG tokens.")
@option("debug", type=click.IntRange(0, 2), default=1, show_default=True, help="1: speed on stderr.")
def tag(model_file, test_file, output_format, debug):
    """Tag a text: one line of tags per input line."""
    tagger = load_tagger(model_file)
    sentences = read_words(test_file)
    started = time.perf_counter()
    if isinstance(tagger, HmmTagger):
        tagged = [tagger.tag(words) for words in sentences]
    else:
        tagged = tagger.tag(sentences)
    seconds = time.perf_counter() - started
    sys.stdout.write("".join(format_tags(words, tags, output_format == "word_tag") + "\n"
                             for words, tags in zip(sentences, tagged)))
    sys.stdout.flush()
    if debug >= 1:
        tokens = sum(len(words) for words in sentences)
        click.echo(f"tagged {tokens:,} tokens in {seconds:.3f} s ({tokens / max(seconds, 1e-9):,.0f} tokens/s)",
                   err=True)


@cli.command(context_settings=CONTEXT, epilog=examples(
    'rnnlmpy grade wiki-en-test.pos my_answer.pos',
    'rnnlmpy grade wiki-en-test.pos my_answer.pos -words wiki-en-test.norm -train wiki-en-train.norm_pos'))
@click.argument("reference_file", metavar="REFERENCE")
@click.argument("test_file", metavar="TEST")
@option("words", "words_file", metavar="FILE", help="The tagged input text, to split known and unseen words.")
@option("train", "train_file", metavar="FILE", help="The word_TAG training text (defines the seen words).")
def grade(reference_file, test_file, words_file, train_file):
    """Grade tags against a reference: accuracy and top mistakes, as gradepos.pl."""
    result = grade_files(reference_file, test_file)
    click.echo(result.report())
    if bool(words_file) != bool(train_file):
        raise RnnlmpyError("give both -words and -train to split known and unseen words")
    if words_file:
        seen = {word for words, _ in read_tagged(train_file) for word in words}
        split = known_unseen_accuracy(reference_file, test_file, read_words(words_file, "words file"), seen)
        click.echo("\n" + split)


@cli.command(context_settings=CONTEXT, epilog=examples(
    "rnnlmpy info -rnnlm corpus.rnnlm",
    "rnnlmpy info -rnnlm tagger",
    "rnnlmpy info -rnnlm kn5.arpa"))
@option("rnnlm", "model_file", metavar="MODEL", required=True,
        help="Any model rnnlmpy reads: language model, tagger, HMM or ARPA file.")
def info(model_file):
    """Describe a model: kind, sizes, parameters, training data and per-epoch history."""
    click.echo(describe(model_file))


@cli.command(context_settings=CONTEXT, epilog=examples(
    "rnnlmpy plot corpus.rnnlm -o curve.png",
    "rnnlmpy plot seed1.rnnlm seed2.rnnlm -o compare.png"))
@click.argument("model_files", metavar="MODEL...", nargs=-1, required=True)
@click.option("-o", "-output", "--output", "output", metavar="PNG", default="learning-curves.png", show_default=True,
              help="Image to write.")
def plot(model_files, output):
    """Plot learning curves (validation perplexity and alpha per epoch); needs matplotlib."""
    plot_learning_curves(list(model_files), output)
    click.echo(f"wrote {output}", err=True)


@cli.command(context_settings=CONTEXT, epilog=examples(
    "rnnlmpy gen -rnnlm ptb.model -gen 200 -rand-seed 7",
    "rnnlmpy gen -rnnlm ptb.model -gen 200 -temperature 0.7"))
@option("rnnlm", "model_file", metavar="MODEL", required=True, help="Language model (rnnlmpy or C++ rnnlm).")
@option("gen", "count", type=click.IntRange(min=0), required=True, help="Number of tokens to sample.")
@option("temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
        help="Divide scores by this: below 1 more predictable text, above 1 more varied.")
@option("rand-seed", "rand_seed", type=int, default=1, show_default=True, help="Seed of the sampling.")
def gen(model_file, count, temperature, rand_seed):
    """Generate text by sampling from a language model, one sentence per line."""
    model = load_model(model_file)
    for line in generate(model, count, rand_seed, temperature):
        if model.config.char_level:  # characters were joined by spaces; <sp> is a real space
            line = line.replace(" ", "").replace(SPACE_TOKEN, " ")
        click.echo(line)


@cli.command(context_settings=CONTEXT, epilog=examples(
    "rnnlmpy convert -rnnlm ptb.model -to rnnlm-text -o ptb.rnnlm.txt",
    "rnnlmpy convert -rnnlm cpp-trained.model -to rnnlmpy -o model.rnnlmpy"))
@option("rnnlm", "model_file", metavar="MODEL", required=True, help="Language model (rnnlmpy or C++ rnnlm).")
@option("to", "target", type=click.Choice(["rnnlmpy", "rnnlm-text", "rnnlm-binary"]), required=True,
        help="Format to write.")
@click.option("-o", "-output", "--output", "output", metavar="FILE", required=True, help="File to write.")
def convert(model_file, target, output):
    """Convert a language model between rnnlmpy's format and the C++ rnnlm's (text or binary)."""
    if os.path.abspath(output) == os.path.abspath(model_file):
        raise RnnlmpyError("-o must differ from the input model")
    model = load_model(model_file)
    if target == "rnnlmpy":
        save_model(model, output)
    else:
        write_rnnlm(model, output, binary=target == "rnnlm-binary")
    click.echo(f"wrote {output} ({target})", err=True)


@cli.command(context_settings=CONTEXT, epilog=examples(
    "rnnlmpy ensemble -rnnlm ptb.seed1 -rnnlm ptb.seed2 -ngram kn5.arpa -valid ptb.valid.txt -test ptb.test.txt",
    "rnnlmpy ensemble -rnnlm a.model -rnnlm b.model -weights 0.6,0.4 -test test.txt"))
@option("rnnlm", "rnn_files", metavar="MODEL", multiple=True, help="An RNN language model (repeatable).")
@option("ngram", "arpa_files", metavar="ARPA", multiple=True, help="An n-gram model in ARPA format (repeatable).")
@option("valid", "valid_file", metavar="FILE", help="Text on which EM tunes the mixture weights.")
@option("test", "test_file", metavar="FILE", required=True, help="Text to score.")
@option("weights", metavar="W1,W2,...", help="Fixed mixture weights, in the order -rnnlm..., then -ngram...")
@option("dynamic", type=click.FloatRange(min=0), default=0.0, show_default=True,
        help="Score the RNN members by dynamic evaluation at this learning rate (0: off).")
def ensemble(rnn_files, arpa_files, valid_file, test_file, weights, dynamic):
    """Interpolate several RNN and n-gram models word by word, weights tuned by EM."""
    fixed = None
    if weights:
        try:
            fixed = [float(w) for w in weights.split(",")]
        except ValueError:
            raise RnnlmpyError(f"-weights must be comma-separated numbers (got {weights!r})") from None
    if len(rnn_files) + len(arpa_files) < 2:
        raise RnnlmpyError("an ensemble needs at least two members (-rnnlm and/or -ngram)")
    if fixed is not None and len(fixed) != len(rnn_files) + len(arpa_files):
        raise RnnlmpyError(f"-weights has {len(fixed)} values for {len(rnn_files) + len(arpa_files)} members")
    if fixed is None and not valid_file:
        raise RnnlmpyError("tuning the weights needs -valid FILE (or give -weights w1,w2,...)")
    valid_tokens = read_corpus(valid_file, "validation file") if valid_file else None
    test_tokens = read_corpus(test_file, "test file")
    members = [load_member(path, "rnn", valid_tokens, test_tokens, dynamic) for path in rnn_files]
    members += [load_member(path, "ngram", valid_tokens, test_tokens) for path in arpa_files]
    click.echo(combine(members, fixed).format())


def main(argv=None) -> None:
    """Entry point of the ``rnnlmpy`` console script: errors become one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="rnnlmpy", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        command = getattr(getattr(error, "ctx", None), "info_name", None)
        context = f"rnnlmpy {command}" if command and command != "rnnlmpy" else "rnnlmpy"
        message = " ".join(error.format_message().split())
        print(f"{context}: error: {message}", file=sys.stderr)
        sys.exit(2)
    except RnnlmpyError as error:
        print(f"rnnlmpy: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nrnnlmpy: interrupted (a checkpointed training run resumes when rerun)", file=sys.stderr)
        sys.exit(130)
    except click.exceptions.Abort:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)


if __name__ == "__main__":
    main()

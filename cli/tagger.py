"""The tagger commands: ``tag-train``, ``tag`` and ``grade``."""

from __future__ import annotations

import sys
import time

import click
from click.core import ParameterSource

from rnnlmpy.base import CONTAINER, HMM, RnnlmpyError, claimed_output, compiling
from rnnlmpy.tagger import CELL_DEFAULTS, HIDDEN_TYPES, OPTIMIZERS, TaggerConfig, check_tagger_output, format_tags, \
    grade_files, known_unseen_accuracy, load_tagger, read_tagged, read_words, refuse_gated_settings, save_tagger, \
    train_hmm, train_tagger

from .common import command, debug_option, default_model_path, examples, option

TUTORIAL = TaggerConfig.tutorial()  # for the help texts' -tutorial defaults


def cell_defaults(name: str, detail: str = "") -> str:
    """The gated cells' defaults of a setting, for a help text: "lstm: 50, gru: 50" (with ``detail``, another
    setting in brackets: "lstm: 0.01 (adam)")."""
    def default(cell):
        config = TaggerConfig.for_cell(cell)
        return f"{getattr(config, name)}" + (f" ({getattr(config, detail)})" if detail else "")
    return ", ".join(f"{cell}: {default(cell)}" for cell in HIDDEN_TYPES[1:])



@command(name="tag-train", epilog=examples(
    'rnnlmpy tag-train -train wiki-en-train.norm_pos -model tagger',
    'rnnlmpy tag-train -train wiki-en-train.norm_pos -model hmm.txt -model-type hmm'))
@option("train", "train_file", metavar="FILE", required=True, help="Training text of word_TAG tokens.")
@option("model", "model_file", metavar="FILE",
        help="Where to write the tagger  [default: the corpus name with .tagger, in the current folder]")
@option("model-type", "model_type", type=click.Choice(["rnn", "hmm"]), default="rnn", show_default=True,
        help="rnn: the RNN tagger; hmm: the tutorial's bigram HMM baseline (written in its text format).")
@option("valid", "valid_file", metavar="FILE", help="word_TAG text: keep each network's best epoch on it.")
@option("hidden-type", "hidden_type", type=click.Choice(HIDDEN_TYPES), default=HIDDEN_TYPES[0], show_default=True,
        help="The recurrent cell: tanh (per token, rnnlm's kernels), or a gated cell (the batched language "
             "model's LSTM or GRU, sentences read in batches), each with its own defaults of the settings below.")
@option("hidden", "hidden_size", type=click.IntRange(min=1),
        help=f"Hidden units  [default: {TaggerConfig.hidden_size}; {cell_defaults('hidden_size')}]")
@option("iter", "epochs", type=click.IntRange(min=1),
        help=f"Training epochs  [default: {TaggerConfig.epochs}; {cell_defaults('epochs')}; "
             f"-tutorial: {TUTORIAL.epochs}]")
@option("alpha", type=click.FloatRange(min=0, min_open=True),
        help=f"Learning rate, divided by 1 + {TaggerConfig.alpha_decay} * epoch  [default: {TaggerConfig.alpha}; "
             f"{cell_defaults('alpha', 'optimizer')}; -tutorial: {TUTORIAL.alpha}, fixed]")
@option("ensemble", type=click.IntRange(min=1),
        help=f"Networks from different random starts, posteriors averaged  [default: {TaggerConfig.ensemble}; "
             f"{cell_defaults('ensemble')}]")
@click.option("-bidirectional/-unidirectional", "--bidirectional/--unidirectional", default=TaggerConfig.bidirectional,
              show_default=True, help="Read each sentence in both directions.")
@option("features", type=click.Choice(["rich", "word"]), default="rich" if TaggerConfig.rich_features else "word",
        show_default=True,
        help="rich: word, suffixes, prefixes, shape, capitals, digits, hyphens; word: the one-hot word only.")
@option("unknown", type=click.Choice(["shape", "none"]), default="shape" if TaggerConfig.unknown_classes else "none",
        show_default=True, help="shape: train words seen once as word-shape classes, so unseen words get an input.")
@click.option("-viterbi/-no-viterbi", "--viterbi/--no-viterbi", default=TaggerConfig.viterbi, show_default=True,
              help="Decode with tag-transition probabilities (Viterbi) instead of per-token argmax.")
@option("bptt", type=click.IntRange(min=0), default=TaggerConfig.bptt, show_default=True,
        help="Truncated BPTT: each direction's reading of a sentence is cut into blocks of N tokens and BPTT runs "
             "within each block (states run on across blocks; an error travels back to its block's first token: "
             "1 to N steps, its own included); 1: no propagation through time. 0: the full sentence. Gated cells: "
             "windows of N steps, the state carried from one to the next, the gradient stopped at each.")
@option("batch", type=click.IntRange(min=1),
        help=f"Gated cells: sentences per update  [default: {cell_defaults('batch')}]")
@option("optimizer", type=click.Choice(OPTIMIZERS),
        help=f"Gated cells: the optimiser (-alpha is its rate)  [default: {cell_defaults('optimizer')}]")
@option("dropout", type=click.FloatRange(min=0, max=1, max_open=True),
        help="Gated cells: inverted dropout on the summed inputs and on the states the softmax reads, training "
             f"only  [default: {cell_defaults('dropout')}]")
@option("clip-norm", "clip_norm", type=click.FloatRange(min=0),
        help=f"Gated cells: the gradients' global norm is clipped to this (0: never)  "
             f"[default: {cell_defaults('clip_norm')}]")
@option("tutorial", is_flag=True,
        help="The tutorial's network: one-hot words, one direction, no unknown-word handling, one network "
             "(-features, -unknown, -bidirectional, -ensemble, -viterbi asking for anything else are refused).")
@option("rand-seed", "rand_seed", type=int, default=TaggerConfig.rand_seed, show_default=True,
        help="Seed of every random choice.")
@debug_option(1, "0: silent; 1: one line per epoch.")
def tag_train(train_file, model_file, model_type, valid_file, hidden_type, hidden_size, epochs, alpha, ensemble,
              bidirectional, features, unknown, viterbi, bptt, batch, optimizer, dropout, clip_norm, tutorial, rand_seed,
              debug):
    """Train a part-of-speech tagger (RNN, or the HMM baseline)."""
    source = click.get_current_context().get_parameter_source
    rnn_only = [name for name in ("valid_file", "hidden_type", "hidden_size", "epochs", "alpha", "ensemble",
                                  "bidirectional", "features", "unknown", "viterbi", "bptt", "batch", "optimizer",
                                  "dropout", "clip_norm", "tutorial", "rand_seed")
                if source(name) not in (None, ParameterSource.DEFAULT)]
    if model_type == "hmm" and rnn_only:
        spelled = {"valid_file": "valid", "hidden_type": "hidden-type", "hidden_size": "hidden", "epochs": "iter",
                   "rand_seed": "rand-seed", "clip_norm": "clip-norm"}
        raise RnnlmpyError(f"-model-type hmm takes no training settings; "
                           f"{', '.join('-' + spelled.get(name, name) for name in rnn_only)}: the RNN tagger's")
    if tutorial or hidden_type == HIDDEN_TYPES[0]:  # refused as typed, even at the gated cells' default value
        refuse_gated_settings([name for name in ("batch", "optimizer", "dropout", "clip_norm") if name in rnn_only])
    given = dict(hidden_size=hidden_size, epochs=epochs, alpha=alpha, ensemble=ensemble, batch=batch,
                 optimizer=optimizer, dropout=dropout, clip_norm=clip_norm)
    settings = dict({k: v for k, v in given.items() if v is not None}, rand_seed=rand_seed, bptt=bptt)
    network = dict(bidirectional=bidirectional, rich_features=features == "rich",
                   unknown_classes=unknown == "shape", viterbi=viterbi)
    if tutorial:  # only what was asked for: TaggerConfig.tutorial refuses what contradicts the tutorial
        options = dict(rich_features="features", unknown_classes="unknown")
        asked = {k: v for k, v in network.items() if source(options.get(k, k)) is not ParameterSource.DEFAULT}
        if hidden_type != HIDDEN_TYPES[0]:
            asked["cell"] = CELL_DEFAULTS[hidden_type]["cell"]
        config = TaggerConfig.tutorial(**settings, **asked)
    else:
        config = TaggerConfig.for_cell(hidden_type, **network, **settings)
    config.validate()
    if model_file is None:
        model_file = default_model_path(train_file, ".tagger")
        if debug >= 1:
            click.echo(f"model file: {model_file} (from the corpus name; -model FILE to choose)", err=True)
    # the kind is checked by check_tagger_output (tag-train has no -force); claimed_output refuses the rest
    with claimed_output(model_file, [CONTAINER, HMM], [train_file, valid_file], True, "a tagger model") as removed:
        check_tagger_output(model_file)
        for stale in removed:
            click.echo(f"removed {stale} (left by an interrupted write)", err=True)
        sentences = read_tagged(train_file)
        started = time.perf_counter()
        if model_type == "hmm":
            train_hmm(sentences).write(model_file)
        else:
            valid = read_tagged(valid_file, "validation file") if valid_file else None
            tagger = train_tagger(sentences, config, valid, log=sys.stderr, debug=debug)
            save_tagger(tagger, model_file)
    if debug >= 1:
        tokens = sum(len(words) for words, _ in sentences)
        click.echo(f"trained a {model_type} tagger on {len(sentences):,} sentences ({tokens:,} tokens) in "
                   f"{time.perf_counter() - started:.1f} s; wrote {model_file}", err=True)


@command(name="tag", epilog=examples(
    'rnnlmpy tag -model tagger -test wiki-en-test.norm > my_answer.pos',
    'rnnlmpy grade wiki-en-test.pos my_answer.pos'))
@option("model", "model_file", metavar="FILE", required=True, help="A tagger from rnnlmpy tag-train.")
@option("test", "test_file", metavar="FILE", required=True, help="Words to tag, one sentence per line.")
@option("format", "output_format", type=click.Choice(["tags", "word_tag"]), default="tags", show_default=True,
        help="tags: one tag per word (gradepos.pl's input); word_tag: word_TAG tokens.")
@debug_option(1, "1: speed on stderr.")
def tag(model_file, test_file, output_format, debug):
    """Tag a text: one line of tags per input line."""
    tagger = load_tagger(model_file)
    sentences = read_words(test_file)
    started = time.perf_counter()
    with compiling() as compiled:
        tagged = tagger.tag(sentences)
    seconds = time.perf_counter() - started - compiled.seconds  # the speed of tagging, not of the compiler
    sys.stdout.write("".join(format_tags(words, tags, output_format == "word_tag") + "\n"
                             for words, tags in zip(sentences, tagged)))
    sys.stdout.flush()
    if debug >= 1:
        tokens = sum(len(words) for words in sentences)
        click.echo(f"tagged {tokens:,} tokens in {seconds:.3f} s ({tokens / max(seconds, 1e-9):,.0f} tokens/s)",
                   err=True)


@command(name="grade", epilog=examples(
    'rnnlmpy grade -reference wiki-en-test.pos -test my_answer.pos',
    'rnnlmpy grade -reference wiki-en-test.pos -test my_answer.pos -words wiki-en-test.norm '
    '-train wiki-en-train.norm_pos'))
@option("reference", "named_reference", metavar="FILE", help="The reference tags (gradepos.pl's first file).")
@option("test", "named_test", metavar="FILE", help="The tags to grade (gradepos.pl's second file).")
@click.argument("positional", metavar="[REFERENCE TEST]", nargs=-1)
@option("words", "words_file", metavar="FILE", help="The tagged input text, to split known and unseen words.")
@option("train", "train_file", metavar="FILE", help="The word_TAG training text (defines the seen words).")
def grade(named_reference, named_test, positional, words_file, train_file):
    """Grade tags against a reference: accuracy and top mistakes, as gradepos.pl (the two files may also be
    given without -reference and -test, in that order)."""
    reference_file, test_file = grade_files_given(named_reference, named_test, list(positional))
    if bool(words_file) != bool(train_file):
        raise RnnlmpyError("give both -words and -train to split known and unseen words")
    result = grade_files(reference_file, test_file)
    click.echo(result.report())
    if words_file:
        seen = {word for words, _ in read_tagged(train_file) for word in words}
        split = known_unseen_accuracy(reference_file, test_file, read_words(words_file, "words file"), seen)
        click.echo("\n" + split)


def grade_files_given(reference, test, positional: list[str]) -> tuple[str, str]:
    """(reference, test) from -reference and -test, or from the words without an option (in that order)."""
    if len(positional) > 2:
        raise RnnlmpyError(f"grade takes two files, the reference and the tags to grade (got {len(positional)})")
    if reference is None and positional:
        reference = positional.pop(0)
    if test is None and positional:
        test = positional.pop(0)
    if positional:
        raise RnnlmpyError(f"{positional[0]!r}: the reference and the test file are already given")
    if reference is None or test is None:
        raise RnnlmpyError("give the reference tags and the tags to grade: -reference FILE -test FILE")
    return reference, test


COMMANDS = [tag_train, tag, grade]

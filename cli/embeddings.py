"""The ``export-embeddings`` command: an RNNLM's word vectors in word2vec's text format."""

from __future__ import annotations

import os

import click

from rnnlmpy.base import RnnlmpyError, claimed_output
from rnnlmpy.rnnlm import load_model, looks_like_word2vec, write_word2vec

from .common import command, examples, option


@command(name="export-embeddings", epilog=examples(
    "rnnlmpy export-embeddings -rnnlm ptb.model -o ptb.vectors.txt",
    "rnnlmpy export-embeddings -rnnlm cpp-trained.model -o vectors.txt -force"))
@option("rnnlm", "model_file", metavar="MODEL", required=True, help="Language model (rnnlmpy or C++ rnnlm).")
@click.option("-o", "-output", "--output", "output", metavar="FILE", required=True,
              help="Word-vector file to write (word2vec's text format).")
@option("force", is_flag=True, help="Replace an existing file at -o even if it is not a word-vector file.")
def export_embeddings(model_file, output, force):
    """Write the word vectors of a language model in word2vec's text format (gensim reads it).

    A word's vector is its row of the input weights (words x hidden units): what the hidden layer adds when it
    reads the word; for a GRU, its weights into the update gate, the reset gate and the candidate (3 x hidden).
    The first line is "WORDS DIMENSIONS", then "word v1 ... vD", in vocabulary order (</s> first); gensim reads
    it with KeyedVectors.load_word2vec_format(FILE).
    """
    if os.path.exists(output) and os.path.exists(model_file) and os.path.samefile(output, model_file):
        raise RnnlmpyError("-o must differ from the model")
    replaceable = force or (os.path.isfile(output) and looks_like_word2vec(output))
    with claimed_output(output, [], [model_file], replaceable, "a word-vector file") as removed:
        for stale in removed:
            click.echo(f"removed {stale} (left by an interrupted write)", err=True)
        model = load_model(model_file)
        write_word2vec(model, output)
    click.echo(f"wrote {output} ({model.vocabulary.size:,} words, {model.input_weights.shape[1]} dimensions)",
               err=True)


COMMANDS = [export_embeddings]

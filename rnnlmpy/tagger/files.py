"""Tagger text files, as the NLP programming tutorial writes them.

Training lines are ``word_TAG`` tokens separated by single spaces (split on the
LAST underscore, so ``and\\/or_CC`` is the word ``and\\/or`` with tag ``CC``);
test lines are words; answers are one line of space-separated tags per input line.
"""

from __future__ import annotations

from ..base.errors import RnnlmpyError
from ..base.text import read_text, text_lines


def read_tagged(path: str, what: str = "training file") -> list[tuple[list[str], list[str]]]:
    """``word_TAG`` lines as (words, tags) per sentence; raise RnnlmpyError naming the line of a bad token."""
    text = read_text(path, what)
    sentences = []
    for number, line in enumerate(text_lines(text), start=1):
        tokens = [t for t in line.replace("\t", " ").split(" ") if t]
        if not tokens:
            raise RnnlmpyError(f"{what} {path!r} line {number} is empty; every line must hold word_TAG tokens")
        words, tags = [], []
        for token in tokens:
            word, underscore, tag = token.rpartition("_")
            if not underscore or not word or not tag:
                raise RnnlmpyError(f"{what} {path!r} line {number}: token {token!r} is not word_TAG")
            words.append(word)
            tags.append(tag)
        sentences.append((words, tags))
    if not sentences:
        raise RnnlmpyError(f"{what} {path!r} is empty")
    return sentences


def read_words(path: str, what: str = "test file") -> list[list[str]]:
    """Test input as sentences (lists of words): one per line, words separated by spaces (tabs are an error)."""
    text = read_text(path, what)
    sentences = []
    for number, line in enumerate(text_lines(text), start=1):
        if "\t" in line:
            raise RnnlmpyError(f"{what} {path!r} line {number} contains a tab; words must be separated by spaces")
        words = [w for w in line.split(" ") if w]
        if not words:
            raise RnnlmpyError(f"{what} {path!r} line {number} is empty; there is nothing to tag")
        sentences.append(words)
    if not sentences:
        raise RnnlmpyError(f"{what} {path!r} is empty")
    return sentences


def format_tags(words: list[str], tags: list[str], word_tag: bool) -> str:
    """One output line (no newline): the tags, or ``word_TAG`` tokens, separated by single spaces."""
    return " ".join(f"{w}_{t}" for w, t in zip(words, tags)) if word_tag else " ".join(tags)

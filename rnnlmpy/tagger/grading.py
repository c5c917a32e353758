"""Grading tag files against a reference, with the semantics of the tutorial's gradepos.pl."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..base.errors import RnnlmpyError
from ..base.text import read_text, text_lines


@dataclass
class Grade:
    """Token accuracy and the confusions ("REF --> TEST": count)."""

    correct: int
    total: int
    confusions: Counter

    @property
    def accuracy(self) -> float:
        """Share of tokens tagged correctly, in [0, 1] (0 when there are none)."""
        return self.correct / self.total if self.total else 0.0

    def report(self, top: int = 10) -> str:
        """gradepos.pl's report: accuracy line, then the ``top`` most common mistakes."""
        lines = [f"Accuracy: {100 * self.accuracy:.2f}% ({self.correct}/{self.total})", "", "Most common mistakes:"]
        ranked = sorted(self.confusions.items(), key=lambda item: (-item[1], item[0]))
        lines += [f"{pair}\t{count}" for pair, count in ranked[:top]]
        return "\n".join(lines)


def strip_word(token: str) -> str:
    """gradepos.pl's ``s/\\S*_//``: drop everything up to the last underscore."""
    return token.rpartition("_")[2]


def grade_lines(reference: list[str], test: list[str], reference_name: str = "reference",
                test_name: str = "test") -> Grade:
    """Compare tag lines as gradepos.pl does (tokens split on single spaces, ``word_`` prefixes ignored)."""
    if len(reference) != len(test):
        raise RnnlmpyError(f"{reference_name} has {len(reference)} lines but {test_name} has {len(test)}")
    correct = total = 0
    confusions: Counter = Counter()
    for number, (ref_line, test_line) in enumerate(zip(reference, test), start=1):
        ref_tokens, test_tokens = ref_line.split(" "), test_line.split(" ")
        if len(ref_tokens) != len(test_tokens):
            raise RnnlmpyError(f"line {number}: lengths don't match ({len(ref_tokens)} tags in {reference_name}, "
                               f"{len(test_tokens)} in {test_name})")
        for ref_token, test_token in zip(ref_tokens, test_tokens):
            ref_tag, test_tag = strip_word(ref_token), strip_word(test_token)
            total += 1
            if ref_tag == test_tag:
                correct += 1
            else:
                confusions[f"{ref_tag} --> {test_tag}"] += 1
    return Grade(correct, total, confusions)


def grade_files(reference_path: str, test_path: str) -> Grade:
    """Grade a tag file against a reference file (see ``grade_lines``)."""
    return grade_lines(text_lines(read_text(reference_path, "reference file")),
                       text_lines(read_text(test_path, "test file")), reference_path, test_path)


def known_unseen_accuracy(reference_path: str, test_path: str, sentences: list[list[str]], seen: set) -> str:
    """Accuracy on tokens whose word was ``seen`` in training and on unseen ones, as two report lines.

    ``sentences`` are the tagged words, line by line as in the reference file.
    """
    reference, test = ([line.split(" ") for line in text_lines(read_text(path, what))]
                       for path, what in ((reference_path, "reference file"), (test_path, "test file")))
    if [len(s) for s in sentences] != [len(s) for s in reference]:
        raise RnnlmpyError("the words file does not line up with the reference (different line or word counts)")
    counts = {True: [0, 0], False: [0, 0]}
    for words, ref_line, test_line in zip(sentences, reference, test):
        for word, ref_tag, test_tag in zip(words, ref_line, test_line):
            bucket = counts[word in seen]
            bucket[0] += strip_word(ref_tag) == strip_word(test_tag)
            bucket[1] += 1
    total = sum(c[1] for c in counts.values())

    def line(name, correct, count):
        share = 100 * count / total if total else 0.0
        return f"{name}: {100 * correct / max(count, 1):.2f}% ({correct}/{count}, {share:.1f}% of tokens)"
    return "\n".join([line("Known words", *counts[True]), line("Unseen words", *counts[False])])

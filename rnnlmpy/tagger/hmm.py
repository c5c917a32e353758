"""The NLP programming tutorial's bigram HMM tagger (the baseline), in its text model format."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from ..base.errors import RnnlmpyError
from ..base.files import write_atomically
from ..base.text import read_text, text_lines

START, END = "<s>", "</s>"
HMM_LAMBDA, HMM_VOCABULARY = 0.95, 1_000_000  # the tutorial's emission smoothing


@dataclass
class HmmTagger:
    """Bigram HMM: P(tag | previous tag) and P(word | tag), maximum likelihood, as the tutorial."""

    transition: dict[tuple[str, str], float]  # (previous tag, tag) -> P(tag | previous); <s> and </s> included
    emission: dict[tuple[str, str], float]  # (tag, word) -> P(word | tag)

    def write(self, path: str) -> None:
        """Write the tutorial's model format (``T prev next p`` and ``E tag word p`` lines, sorted), atomically."""
        lines = [f"T {a} {b} {p:f}\n" for (a, b), p in sorted(self.transition.items())]
        lines += [f"E {a} {b} {p:f}\n" for (a, b), p in sorted(self.emission.items())]
        write_atomically(path, lambda handle: handle.write("".join(lines).encode("utf-8")))

    @classmethod
    def read(cls, path: str) -> "HmmTagger":
        """Read the tutorial's model format; RnnlmpyError names a bad line."""
        text = read_text(path, "model file")
        transition, emission = {}, {}
        for number, line in enumerate(text_lines(text), start=1):
            fields_ = line.split(" ")
            if len(fields_) != 4 or fields_[0] not in ("T", "E"):
                raise RnnlmpyError(f"{path}:{number}: not an HMM model line (expected 'T|E a b probability')")
            try:
                probability = float(fields_[3])
            except ValueError:
                raise RnnlmpyError(f"{path}:{number}: not a probability: {fields_[3]!r}") from None
            (transition if fields_[0] == "T" else emission)[(fields_[1], fields_[2])] = probability
        if not transition:
            raise RnnlmpyError(f"HMM model {path!r} has no transitions")
        return cls(transition, emission)

    def tag(self, sentences: list[list[str]]) -> list[list[str]]:
        """The best tag sequence of each sentence (see ``tag_sentence``); the same call as ``RnnTagger.tag``."""
        return [self.tag_sentence(words) for words in sentences]

    def tag_sentence(self, words: list[str]) -> list[str]:
        """Viterbi decoding of one sentence, emissions smoothed as 0.95 P_ML + 0.05 / 1,000,000."""
        tags = sorted({b for (_, b) in self.transition} - {END})
        best = {START: (0.0, None)}
        history = []
        for word in words:
            scores = {}
            for previous, (score, _) in best.items():
                for tag in tags:
                    p_transition = self.transition.get((previous, tag))
                    if p_transition is None:
                        continue
                    p_emission = HMM_LAMBDA * self.emission.get((tag, word), 0.0) + (1 - HMM_LAMBDA) / HMM_VOCABULARY
                    candidate = score - math.log(p_transition) - math.log(p_emission)
                    if tag not in scores or candidate < scores[tag][0]:
                        scores[tag] = (candidate, previous)
            if not scores:
                raise RnnlmpyError("the HMM has no path through this sentence")
            history.append(scores)
            best = scores
        final = None
        for previous, (score, _) in best.items():
            p_transition = self.transition.get((previous, END))
            if p_transition is not None:
                candidate = score - math.log(p_transition)
                if final is None or candidate < final[0]:
                    final = (candidate, previous)
        if final is None:
            raise RnnlmpyError("the HMM has no path to the sentence end")
        tag, result = final[1], []
        for scores in reversed(history):
            result.append(tag)
            tag = scores[tag][1]
        return result[::-1]


def train_hmm(sentences: list[tuple[list[str], list[str]]]) -> HmmTagger:
    """The HMM of (words, tags) sentences: transition (with ``<s>``/``</s>``) and emission counts.

    Each count is divided by the count of its first tag (maximum likelihood).
    """
    context, transitions, emissions = Counter(), Counter(), Counter()
    for words, tags in sentences:
        previous = START
        context[START] += 1
        for word, tag in zip(words, tags):
            transitions[(previous, tag)] += 1
            context[tag] += 1
            emissions[(tag, word)] += 1
            previous = tag
        transitions[(previous, END)] += 1
    return HmmTagger({k: v / context[k[0]] for k, v in transitions.items()},
                     {k: v / context[k[0]] for k, v in emissions.items()})

"""SRILM's ``ngram -ppl`` report of a scored text: per-sentence lines (debug 2) and the file totals."""

from __future__ import annotations

from ..base import metrics
from .kneser_ney import NgramScores


def ppl_report(test_file: str, sentences: list[list[str]], scores: NgramScores, debug: int = 0) -> str:
    """The report as SRILM prints it: with ``debug`` >= 2 every word's probability and each sentence's totals."""
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
            out.append(f"0 zeroprobs, logprob= {logprob:.6g} ppl= {metrics.perplexity(logprob, max(words + 1, 1)):.6g} "
                       f"ppl1= {metrics.perplexity(logprob, max(words, 1)):.6g}\n\n")
    out.append(f"file {test_file}: {scores.sentences} sentences, {scores.words} words, {scores.oovs} OOVs\n")
    out.append(f"0 zeroprobs, logprob= {scores.logprob:.6f} ppl= {scores.ppl:.6f} ppl1= {scores.ppl1:.6f}\n")
    return "".join(out)

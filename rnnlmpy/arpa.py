"""Reading and writing ARPA backoff language models (the format SRILM, KenLM and IRSTLM share).

Layout: a ``\\data\\`` section with one ``ngram N=COUNT`` line per order, then
for each order a ``\\N-grams:`` section of COUNT lines
``log10prob<TAB>w1 ... wN[<TAB>log10backoff]``, then ``\\end\\``. Words are
separated by spaces or tabs; probabilities and backoff weights are log10.
"""

from __future__ import annotations

import os
import re

import numpy as np

from .errors import RnnlmpyError
from .model import write_atomically
from .ngram import NgramModel, NgramOrder
from .textio import decode_utf8, read_file_bytes

NGRAM_COUNT = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
SECTION = re.compile(r"^\\(\d+)-grams:$")


def ngram_texts(model: NgramModel) -> list[list[str]]:
    """The words of every n-gram, joined by spaces, order by order, in table order."""
    texts = [list(model.words)]
    vocab_size = model.vocab_size
    for order in model.orders[1:]:
        below = texts[-1]
        contexts = (order.keys // vocab_size).tolist()
        words = (order.keys % vocab_size).tolist()
        vocabulary = model.words
        texts.append([below[c] + " " + vocabulary[w] for c, w in zip(contexts, words)])
    return texts


def write_arpa(model: NgramModel, path: str) -> None:
    """Write ``model`` as an ARPA file, atomically (temporary file, then rename)."""
    texts = ngram_texts(model)

    def write(handle) -> None:
        out = ["\\data\\\n"] + [f"ngram {n + 1}={len(order)}\n" for n, order in enumerate(model.orders)]
        handle.write("".join(out).encode("utf-8"))
        for n, order in enumerate(model.orders):
            handle.write(f"\n\\{n + 1}-grams:\n".encode("utf-8"))
            probs = np.char.mod("%.6f", np.round(order.log10_prob, 6)).tolist()
            if n + 1 < model.order:
                backoffs = np.char.mod("%.6f", np.round(order.log10_backoff, 6)).tolist()
                lines = [f"{p}\t{t}\t{b}\n" for p, t, b in zip(probs, texts[n], backoffs)]
            else:
                lines = [f"{p}\t{t}\n" for p, t in zip(probs, texts[n])]
            handle.write("".join(lines).encode("utf-8"))
        handle.write(b"\n\\end\\\n")

    write_atomically(path, write)


def read_arpa(path: str) -> NgramModel:
    """Read an ARPA file; raise RnnlmpyError naming the file and line for anything malformed."""
    text = decode_utf8(read_file_bytes(path, "ARPA file"), path, "ARPA file")
    lines = text.split("\n")
    name = os.path.basename(path)

    def fail(line_number: int, message: str) -> RnnlmpyError:
        return RnnlmpyError(f"{path}:{line_number}: {message}")

    number = 0
    while number < len(lines) and lines[number].strip() != "\\data\\":
        number += 1
    if number == len(lines):
        raise RnnlmpyError(f"{path}: not an ARPA file (no \\data\\ section)")
    number += 1
    declared: dict[int, int] = {}
    while number < len(lines) and not lines[number].strip().startswith("\\"):
        line = lines[number].strip()
        if line:
            match = NGRAM_COUNT.match(line)
            if not match:
                raise fail(number + 1, f"expected 'ngram N=COUNT', found {line[:60]!r}")
            declared[int(match.group(1))] = int(match.group(2))
        number += 1
    if not declared or sorted(declared) != list(range(1, len(declared) + 1)):
        raise fail(number + 1, f"the \\data\\ section must declare orders 1..N (found {sorted(declared)})")

    words: list[str] = []
    word_index: dict[str, int] = {}
    orders: list[NgramOrder] = []
    previous_index: dict[str, int] = {}
    for order in range(1, len(declared) + 1):
        while number < len(lines) and not lines[number].strip():
            number += 1
        if number >= len(lines) or not SECTION.match(lines[number].strip()) or \
                int(SECTION.match(lines[number].strip()).group(1)) != order:
            found = lines[number].strip()[:40] if number < len(lines) else "end of file"
            raise fail(number + 1, f"expected the \\{order}-grams: section, found {found!r}")
        number += 1
        first_line = number + 1
        entries = []
        while number < len(lines):
            line = lines[number]
            stripped = line.strip()
            if not stripped:
                number += 1
                continue
            if stripped.startswith("\\"):
                break
            entries.append((number + 1, line))
            number += 1
        if len(entries) != declared[order]:
            raise fail(first_line, f"\\data\\ declares {declared[order]} {order}-grams but the section has "
                                   f"{len(entries)}")
        probs = np.empty(len(entries))
        backoffs = np.zeros(len(entries))
        contexts = np.empty(len(entries), dtype=np.int64)
        targets = np.empty(len(entries), dtype=np.int64)
        texts = []
        for j, (line_number, line) in enumerate(entries):
            fields = [f for f in line.replace("\t", " ").split(" ") if f]
            if len(fields) not in (order + 1, order + 2):
                raise fail(line_number, f"a {order}-gram line needs a probability, {order} word(s) and an "
                                        f"optional backoff weight; found {len(fields)} fields")
            try:
                probs[j] = float(fields[0])
                if len(fields) == order + 2:
                    backoffs[j] = float(fields[-1])
            except ValueError:
                raise fail(line_number, f"not a number in {line.strip()[:60]!r}") from None
            gram = fields[1:order + 1]
            if order == 1:
                if gram[0] in word_index:
                    raise fail(line_number, f"duplicate unigram {gram[0]!r}")
                word_index[gram[0]] = len(words)
                words.append(gram[0])
                contexts[j], targets[j] = 0, word_index[gram[0]]
                texts.append(gram[0])
                continue
            context = " ".join(gram[:-1])
            if context not in previous_index:
                raise fail(line_number, f"the context {context!r} of this {order}-gram is not among the "
                                        f"{order - 1}-grams")
            if gram[-1] not in word_index:
                raise fail(line_number, f"the word {gram[-1]!r} is not among the unigrams")
            contexts[j], targets[j] = previous_index[context], word_index[gram[-1]]
            texts.append(context + " " + gram[-1])
        orders.append(_sorted_order(contexts, targets, probs, backoffs, len(words) if order > 1 else None))
        sort = np.argsort(contexts * max(len(words), 1) + targets, kind="stable")
        previous_index = {texts[j]: position for position, j in enumerate(sort.tolist())}
    while number < len(lines) and not lines[number].strip():
        number += 1
    if number >= len(lines) or lines[number].strip() != "\\end\\":
        raise fail(number + 1, f"expected \\end\\ after the {len(declared)}-grams ({name} may be truncated)")
    model = NgramModel(words=words, orders=orders)
    for order, table in enumerate(model.orders, start=1):
        if order > 1 and len(table.keys) > 1 and np.any(np.diff(table.keys) == 0):
            raise RnnlmpyError(f"{path}: duplicate {order}-grams")
    return model


def _sorted_order(contexts, targets, probs, backoffs, vocab_size) -> NgramOrder:
    if vocab_size is None:  # unigrams: keys are the word ids, already in order
        return NgramOrder(keys=targets.copy(), log10_prob=probs, log10_backoff=backoffs)
    keys = contexts * vocab_size + targets
    sort = np.argsort(keys, kind="stable")
    return NgramOrder(keys=keys[sort], log10_prob=probs[sort], log10_backoff=backoffs[sort])

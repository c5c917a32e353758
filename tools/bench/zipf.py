"""Write a synthetic corpus with a Zipf word distribution, for large-vocabulary benchmarks.

    python -m tools.bench.zipf OUT.txt [--words 20000000] [--vocabulary 200000] [--seed 1]

Word ranks follow P(rank r) ~ 1 / (r + 2.7) ** 1.07 (a Zipf-Mandelbrot law close to English
text), sentence lengths are 1 + Poisson(20), and each word is the next one's predictor
with probability 1/2 (the next word's rank is drawn near the previous one's), so that a
language model has something to learn beyond unigram counts. The same arguments always
write the same bytes. Words are ``w<rank>``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

CHUNK_WORDS = 1_000_000


def zipf_probabilities(vocabulary: int, exponent: float = 1.07, offset: float = 2.7) -> np.ndarray:
    """P(rank) for ranks 0..vocabulary-1 (float64, sums to 1)."""
    weights = 1.0 / (np.arange(vocabulary) + 1 + offset) ** exponent
    return weights / weights.sum()


def write_corpus(path: str, words: int, vocabulary: int, seed: int) -> None:
    """Write about ``words`` tokens (sentence ends not counted) in lines of 1 + Poisson(20) words."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(zipf_probabilities(vocabulary))
    names = np.array([f"w{r}" for r in range(vocabulary)], dtype=object)
    written = 0
    with open(path, "w", encoding="ascii") as handle:
        while written < words:
            count = min(CHUNK_WORDS, words - written)
            ranks = np.minimum(np.searchsorted(cumulative, rng.random(count)), vocabulary - 1)
            follow = rng.random(count) < 0.5  # half the words continue from the previous word's rank
            near = np.abs(np.roll(ranks, 1) + rng.integers(-3, 4, size=count)) % vocabulary
            ranks = np.where(follow, near, ranks)
            lengths = 1 + rng.poisson(20, size=count // 10 + 2)
            ends = np.cumsum(lengths)
            ends = ends[ends < count]
            tokens = names[ranks]
            lines = np.split(tokens, ends)
            handle.write("".join(" ".join(line) + "\n" for line in lines if len(line)))
            written += count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output")
    parser.add_argument("--words", type=int, default=20_000_000)
    parser.add_argument("--vocabulary", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.words < 1 or args.vocabulary < 2:
        sys.exit("--words must be at least 1 and --vocabulary at least 2")
    write_corpus(args.output, args.words, args.vocabulary, args.seed)
    return 0


def ensure_corpus(path: str, words: int, vocabulary: int) -> None:
    """Write the Zipf corpus (seed 1) at ``path`` unless it is already there (through a temporary file)."""
    if os.path.exists(path):
        return
    print(f"writing {path} ({words:,} words, {vocabulary:,}-word vocabulary) ...", file=sys.stderr)
    temporary = path + ".partial"
    write_corpus(temporary, words, vocabulary, seed=1)
    os.replace(temporary, path)


def default_path(words: int, vocabulary: int) -> str:
    """Where the benchmarks keep the Zipf corpus of that size between runs: the system's temporary folder."""
    return os.path.join(tempfile.gettempdir(), f"rnnlmpy-zipf-{words}w-{vocabulary}v.txt")


if __name__ == "__main__":
    sys.exit(main())

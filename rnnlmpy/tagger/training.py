"""Training the RNN tagger: SGD epochs per network, optional word dropout and best-epoch selection."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Optional, TextIO

import numpy as np

from ..base.compiling import compiling
from ..base.errors import RnnlmpyError
from ..base.metrics import entropy_bits
from .features import word_key
from .grading import grade_lines
from .gated import ELMAN, GatedTrainer
from .rnn import EpochBuffers, RnnTagger, TaggerConfig, new_tagger, train_epoch


def train_tagger(sentences: list[tuple[list[str], list[str]]], config: Optional[TaggerConfig] = None,
                 valid: Optional[list[tuple[list[str], list[str]]]] = None, log: Optional[TextIO] = None,
                 debug: int = 1) -> RnnTagger:
    """Train an RNN tagger on (words, tags) sentences by SGD, ``config.epochs`` epochs per network.

    With ``valid``, each network keeps its epoch with the best validation accuracy.
    Every epoch is recorded in ``tagger.history`` (train entropy in bits per token,
    seconds without the time spent compiling kernels) and, with ``debug`` >= 1, printed as one
    line on ``log``, as is the notice that kernels are being compiled (``base.compiling``).
    """
    say = (lambda text: print(text, file=log, flush=True)) if debug >= 1 and log is not None else None
    config = config or TaggerConfig()
    tagger = new_tagger(config, sentences)
    tag_index = {tag: i for i, tag in enumerate(tagger.tags)}
    train_words = [words for words, _ in sentences]
    sentence_start, feature_ptr, feature_ids = tagger.encode(train_words)
    if config.word_dropout > 0:
        counts = Counter(word_key(w, config.rich_features) for words in train_words for w in words)
        keep_probability = np.array([counts[word_key(w, config.rich_features)] for words in train_words for w in words],
                                    dtype=np.float64)
        keep_probability = keep_probability / (keep_probability + config.word_dropout)
    targets = np.array([tag_index[tag] for _, tags in sentences for tag in tags], dtype=np.int32)
    longest = max(len(words) for words, _ in sentences)
    buffers = EpochBuffers.new(config, longest) if config.cell == ELMAN else None
    valid_reference = [" ".join(tags) for _, tags in valid] if valid is not None else None
    best = None
    for member_number, member in enumerate(tagger.members):
        rng = np.random.default_rng(config.rand_seed + 1000 * member_number + 1)
        trainer = GatedTrainer(config, member) if config.cell != ELMAN else None
        for epoch in range(config.epochs):
            started = time.perf_counter()
            alpha = config.alpha / (1 + config.alpha_decay * epoch)
            order = rng.permutation(len(sentences)).astype(np.int64)
            if config.word_dropout > 0:
                hide = rng.random(len(keep_probability)) > keep_probability
                _, feature_ptr, feature_ids = tagger.encode(train_words, hide)
            with compiling(say) as compiled:
                if trainer is None:
                    log10_sum, tokens = train_epoch(config, member, feature_ptr, feature_ids, targets,
                                                    sentence_start, order, alpha, buffers)
                else:
                    log10_sum, tokens = trainer.epoch(feature_ptr, feature_ids, targets, sentence_start, order,
                                                      alpha, rng)
            check_converging(member, log10_sum, member_number, epoch, config)
            seconds = max(time.perf_counter() - started - compiled.seconds, 1e-9)
            record = {"network": member_number, "epoch": epoch, "alpha": alpha,
                      "train_entropy": entropy_bits(log10_sum, tokens), "seconds": seconds}
            if valid is not None:
                single = RnnTagger(config, tagger.features, tagger.tags, tagger.known_words, [member],
                                   tagger.transitions)
                with compiling(say):  # decoding kernels: compiled, not timed
                    predicted = single.tag([words for words, _ in valid])
                record["valid_accuracy"] = grade_lines(valid_reference, [" ".join(t) for t in predicted]).accuracy
                if best is None or record["valid_accuracy"] > best[0]:
                    best = (record["valid_accuracy"], {k: v.copy() for k, v in member.arrays().items()})
            tagger.history.append(record)
            if debug >= 1 and log is not None:
                valid_text = (f"  valid accuracy {100 * record['valid_accuracy']:.2f}%" if valid is not None else "")
                print(f"network {member_number}  epoch {epoch:2d}  alpha {alpha:.4f}  train entropy "
                      f"{record['train_entropy']:.4f} bits{valid_text}  {tokens / record['seconds']:,.0f} tokens/s",
                      file=log, flush=True)
        if best is not None:  # keep this network's best epoch on the validation text
            for name, array in best[1].items():
                getattr(member, name)[...] = array
            best = None
    return tagger


def check_converging(member, log10_sum: float, member_number: int, epoch: int,
                     config: TaggerConfig) -> None:
    """RnnlmpyError when an epoch left the network's log-probability or weights not finite: training has
    diverged, and a tagger saved now would be refused by ``tag``, so none is written."""
    if math.isfinite(log10_sum) and all(np.isfinite(array).all() for array in member.arrays().values()):
        return
    raise RnnlmpyError(f"training diverged in network {member_number}, epoch {epoch} (weights no longer finite); "
                       f"no tagger was written: try a smaller -alpha (was {config.alpha:g})")

"""What is in a model file: ``rnnlmpy info`` for every kind rnnlmpy reads."""

from __future__ import annotations

import math
import os

from ..base import files
from ..base.errors import RnnlmpyError
from ..base.progress import format_seconds
from ..base.store import container_kind
from ..ngram import describe_binary, read_binary
from ..ngram.arpa import NGRAM_COUNT
from ..rnnlm.model_file import history_with_timings, load_model
from ..tagger import HmmTagger, RnnTagger, load_tagger


def model_kind(path: str) -> str:
    """"rnnlm", "tagger", "hmm", "arpa", "ngram-binary" or "rnnlm-cpp" for a model file; RnnlmpyError otherwise."""
    found = files.sniff(path)
    if found == files.CONTAINER:
        return container_kind(path)
    if found == files.UNKNOWN:
        raise RnnlmpyError(f"{path!r} is not a model file rnnlmpy knows (rnnlmpy, ARPA, binary n-gram or the "
                           "tutorial's HMM)")
    return found


def output_layer_text(config, vocabulary) -> str:
    """What the output layer of an RNNLM is, in words."""
    if config.output_layer == "hs":
        return (f"hierarchical softmax over a Huffman tree ({vocabulary.size - 1:,} inner nodes, "
                f"{vocabulary.huffman_tree.average_path_length(vocabulary.counts):.1f} nodes per word on average)")
    if config.output_layer == "nce":
        return (f"{vocabulary.size:,} words trained by NCE ({config.nce_samples} noise words from counts^"
                f"{config.nce_unigram_power:g}, ln Z = {config.nce_lnz:g}); ppl normalises over all of them")
    if vocabulary.class_count == 1:
        return f"full softmax over {vocabulary.size:,} words"
    return f"{vocabulary.class_count} classes + {vocabulary.size:,} words"


def layers_text(config) -> str:
    """An RNNLM's recurrent layers in words: count, size, cell, and the engine training them."""
    if not config.batched:
        return f"{config.hidden_size} hidden ({config.activation}, recurrent)"
    return (f"{config.layers} x {config.hidden_size} hidden ({config.activation} cell, recurrent; batched engine"
            f"{', dropout %g' % config.dropout if config.dropout else ''}"
            f"{', output tied to the input embedding' if config.tie_weights else ''})")


def training_settings_text(config) -> str:
    """An RNNLM's training settings, as one line (the batched engine's optimiser, batch, window and clipping)."""
    common = (f"min-improvement {config.min_improvement}, independent {'yes' if config.independent else 'no'}, "
              f"rand-seed {config.rand_seed}")
    if config.batched:
        return (f"training settings: optimizer {config.optimizer}, alpha {config.alpha}, batch {config.batch}, "
                f"window (bptt) {config.bptt}, clip-norm {config.clip_norm}, beta {config.beta}, "
                f"product precision {config.product_precision}, {common}")
    return (f"training settings: bptt {config.bptt}, bptt-block {config.bptt_block}, alpha {config.alpha}, "
            f"beta {config.beta}, gradient-cutoff {config.gradient_cutoff}, {common}")


def history_table(history: list[dict]) -> list[str]:
    """An RNNLM's per-epoch history as aligned text lines (words/s and time blank where a record has none: the
    model file holds no timings, its history file does)."""
    lines = ["epoch  alpha     train entropy  valid entropy  valid PPL  words/s    time  kept"]
    for record in history:
        valid, speed = record.get("valid_entropy"), record.get("words_per_second")
        lines.append(f"{record['epoch']:5d}  {record['alpha']:.6f}  {record['train_entropy']:13.4f}  "
                     f"{valid if valid is None else format(valid, '13.4f'):>13}  "
                     f"{'' if record.get('valid_ppl') is None else format(record['valid_ppl'], '9.2f'):>9}  "
                     f"{'' if speed is None else format(speed, '9,.0f'):>9}  "
                     f"{'' if record.get('seconds') is None else format_seconds(record['seconds']):>6}  "
                     f"{'yes' if record.get('accepted', True) else 'no'}")
    return lines


def describe(path: str) -> str:
    """A human-readable description of the model at ``path``."""
    kind = model_kind(path)
    lines = [f"model: {path} ({os.path.getsize(path):,} bytes)"]
    if kind in ("rnnlm", "rnnlm-cpp"):
        model = load_model(path)
        config, vocabulary, training = model.config, model.vocabulary, model.training
        lines += [
            f"kind: RNN language model ({'rnnlmpy' if kind == 'rnnlm' else 'C++ rnnlm'} format)",
            f"vocabulary: {vocabulary.size:,} words (</s> included)" + ("" if config.output_layer != "class" else
                f", {vocabulary.class_count} output classes ({'frequency' if config.old_classes else 'square-root frequency'} bins)"),
            f"layers: {vocabulary.size:,} one-hot inputs -> {layers_text(config)} -> "
            + output_layer_text(config, vocabulary),
            f"parameters: {model.parameter_count:,} ({config.dtype}), of which {config.direct_size:,} direct "
            f"connections of order {config.direct_order}",
            f"tokens: {'characters (spaces as <sp>)' if config.char_level else 'words'}",
            training_settings_text(config),
            f"threads: {training.threads if training.threads else 'not recorded'}"
            + (" (hogwild: not reproducible run to run)" if training.threads > 1 else ""),
            f"training data: {training.train_file or '?'} ({training.train_words:,} tokens)",
            f"validation data: {training.valid_file or 'none'}",
            f"epochs: {max(len(training.history), training.epoch)} ({'finished' if training.finished else 'unfinished: rerun train to resume'}"
            f"{', checkpoint at word %d' % training.position if training.position else ''})",
        ]
        valid = [r for r in training.history if r.get("valid_ppl") is not None]
        if valid:
            kept = [r for r in valid if r.get("accepted", True)]
            lines.append(f"final validation perplexity: {(kept or valid)[-1]['valid_ppl']:.2f}")
        if training.history:
            history = history_with_timings(training.history, path)  # the timings are in the history file
            lines += ["history:"] + ["  " + line for line in history_table(history)]
    elif kind == "tagger" or kind == "hmm":
        tagger = load_tagger(path)
        if isinstance(tagger, HmmTagger):
            tags = sorted({b for (_, b) in tagger.transition} - {"</s>"})
            words = {w for (_, w) in tagger.emission}
            lines += ["kind: bigram HMM tagger (the tutorial's text format)",
                      f"tags: {len(tags)}; words: {len(words):,}; transitions: {len(tagger.transition):,}; "
                      f"emissions: {len(tagger.emission):,}"]
        else:
            lines += describe_rnn_tagger(tagger)
    elif kind == "arpa":
        counts = []
        for line in files.read_file_bytes(path, "ARPA file", 65536).decode("utf-8", "replace").splitlines():
            match = NGRAM_COUNT.match(line.strip())
            if match:
                counts.append((int(match.group(1)), int(match.group(2))))
        lines += ["kind: backoff n-gram model (ARPA)", f"order: {max(n for n, _ in counts) if counts else '?'}"]
        lines += [f"{n}-grams: {c:,}" for n, c in counts]
    elif kind == files.NGRAM_BINARY:
        lines += describe_binary(read_binary(path))
    return "\n".join(lines)


def describe_rnn_tagger(tagger: RnnTagger) -> list[str]:
    """Description lines of an RNN tagger."""
    config = tagger.config
    lines = [
        "kind: RNN part-of-speech tagger (rnnlmpy format)",
        f"tags: {len(tagger.tags)}; input features: {len(tagger.features):,} "
        f"({'rich' if config.rich_features else 'word identity only'}); known words: {len(tagger.known_words):,}",
        f"layers: sparse features -> {config.hidden_size} hidden ({tagger.hidden_type}) "
        f"{'in both directions' if config.bidirectional else 'left to right'} -> {len(tagger.tags)} tags; "
        f"{config.ensemble} network(s) averaged; decoding: {'Viterbi' if config.viterbi else 'per token'}",
        f"parameters: {tagger.parameter_count:,} ({config.dtype})",
        f"training settings: {config.epochs} epochs, alpha {config.alpha} (decay {config.alpha_decay}), "
        f"rand-seed {config.rand_seed}",
        "history:", "  network  epoch  alpha   train entropy  valid accuracy",
    ]
    for record in tagger.history:
        accuracy = record.get("valid_accuracy")
        lines.append(f"  {record.get('network', 0):7d}  {record['epoch']:5d}  {record['alpha']:.4f}  "
                     f"{record['train_entropy']:13.4f}  {'' if accuracy is None else f'{100 * accuracy:.2f}%':>14}")
    return lines


def histories(path: str) -> dict:
    """Per-epoch series of a model for plotting: {"epoch": [...], "valid_ppl": [...], "alpha": [...], ...}."""
    kind = model_kind(path)
    if kind in ("rnnlm", "rnnlm-cpp"):
        history = load_model(path).training.history
        return {"kind": kind, "epoch": [r["epoch"] for r in history],
                "valid_ppl": [r.get("valid_ppl") if r.get("valid_ppl") is not None else math.nan for r in history],
                "alpha": [r["alpha"] for r in history], "train_entropy": [r["train_entropy"] for r in history]}
    if kind == "tagger":
        history = [r for r in load_tagger(path).history if r.get("network", 0) == 0]
        return {"kind": kind, "epoch": [r["epoch"] for r in history], "alpha": [r["alpha"] for r in history],
                "train_entropy": [r["train_entropy"] for r in history],
                "valid_accuracy": [r.get("valid_accuracy", math.nan) for r in history]}
    raise RnnlmpyError(f"{path!r} ({kind}) has no training history to plot")


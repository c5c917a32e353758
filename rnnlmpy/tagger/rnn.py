"""The RNN tagger: settings, weights, decoding, and the only calls into the tagger kernels.

Every token is a set of sparse input features (the word and, by default, its
suffixes, prefixes and shape, summed as input rows; see ``features``), a
recurrent tanh layer read left to right and, by default, a second one right to
left, and a softmax over tags; training (``training``) is SGD with
full-sentence BPTT, or truncated BPTT (``TaggerConfig.bptt``).
``TaggerConfig.tutorial()`` gives the NLP programming tutorial's network
(one-hot word, one direction, no unknown-word handling).

This is the one module of the library that calls ``rnnlmpy.kernels.tagger``;
``train_epoch``, ``hidden_states`` and ``best_paths`` (Viterbi, for this tagger
and the HMM) wrap those kernels for the rest of the package. With
``TaggerConfig.cell`` "lstm" or "gru" the networks are ``gated`` ones instead
(the batched language model's window cells), each -hidden-type with its own
defaults (``CELL_DEFAULTS``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Optional

import numpy as np

from ..base.checks import check_finite, check_rand_seed
from ..base.compiling import watch_numba
from ..base.errors import RnnlmpyError
from ..base.initialisation import initial_weights
from ..base.store import DTYPES
from ..base.system import check_fits
from ..base.text import as_sentences
from ..kernels.cell import ACTIVATIONS
from ..kernels.optimizers import OPTIMIZERS
from ..kernels.tagger import (VITERBI_NO_END, VITERBI_NO_PATH, tagger_hidden_states, train_tagger_sentences,
                              viterbi_paths)
from .features import token_features, word_key
from .gated import ELMAN, GATED_CELLS, direction_cells, gated_bytes, gated_posteriors, new_gated_weights

watch_numba()  # this module's kernels say when they compile (base.compiling)


@dataclass
class TaggerConfig:
    """Settings of the RNN tagger; the defaults are the best model, chosen on a held-out tenth of the training
    text (docs/tagging.md)."""

    hidden_size: int = 50
    activation: str = "tanh"
    bidirectional: bool = True
    rich_features: bool = True  # suffixes, prefixes, shape, capitals, digits, hyphens; else the word alone
    unknown_classes: bool = True  # train rare words as shape classes, so unseen words have an input
    rare_count: int = 1  # words seen at most this often are "rare"
    word_dropout: float = 0.0  # in training, hide a word's identity with probability a / (a + its count)
    viterbi: bool = False  # decode with learned tag transitions
    epochs: int = 10
    alpha: float = 0.02
    alpha_decay: float = 0.5  # alpha / (1 + decay * epoch)
    ensemble: int = 5  # networks trained from different random starts; their tag posteriors are averaged
    gradient_cutoff: float = 15.0
    bptt: int = 0  # truncated BPTT: within blocks of N tokens (errors travel 1 to N steps); 0: the whole sentence
    init_scale: float = 0.1  # times rnnlm's initialisation (three uniform draws in [-0.1, 0.1])
    rand_seed: int = 1
    dtype: str = "float32"
    # the gated cells' settings (``gated``): none of them applies to the tanh tagger ("elman"), whose files omit them
    cell: str = ELMAN  # "elman" (the tanh tagger above), "lstm" or "gru"
    embedding_size: int = 0  # width of a token's summed input; 0: the hidden size
    batch: int = 1  # sentences per update
    optimizer: str = "sgd"  # one of kernels.optimizers.OPTIMIZERS
    clip_norm: float = 5.0  # the gradients' global norm is clipped to this (0: never)
    dropout: float = 0.0  # inverted dropout on the summed inputs and on the states the softmax reads

    @classmethod
    def for_cell(cls, cell: str, **settings) -> "TaggerConfig":
        """A config with ``cell``'s own defaults (``CELL_DEFAULTS``), then ``settings`` over them."""
        if cell not in CELL_DEFAULTS:
            raise RnnlmpyError(f"-hidden-type must be one of {', '.join(HIDDEN_TYPES)} (got {cell!r})")
        return cls(**{**CELL_DEFAULTS[cell], **settings})

    def header(self) -> dict:
        """The settings as a tagger file stores them: the tanh tagger's without the gated cells' settings."""
        values = asdict(self)
        if self.cell == ELMAN:
            for name in GATED_SETTINGS:
                del values[name]
        return values

    @classmethod
    def tutorial(cls, **overrides) -> "TaggerConfig":
        """The NLP programming tutorial's RNN: one-hot words, one direction, no unknown-word handling.

        Its learning settings (20 epochs at a fixed 0.01, errors clipped at 1,
        rnnlm's initialisation) were chosen on a held-out tenth of wiki-en's training
        text; with the defaults' settings this network does not converge. Learning
        settings may be overridden; the network's (``TUTORIAL_NETWORK``) only with
        the tutorial's own values: anything else raises RnnlmpyError, since the result
        would no longer be the tutorial's network.
        """
        conflicts = [spelled(overrides[name]) for name, (value, spelled) in TUTORIAL_NETWORK.items()
                     if name in overrides and overrides[name] != value]
        if conflicts:
            raise RnnlmpyError(f"-tutorial is the tutorial's network (-features word, -unknown none, "
                               f"-unidirectional, -ensemble 1, -no-viterbi) and cannot be combined with "
                               f"{', '.join(conflicts)}; drop -tutorial to set these one by one")
        settings = dict({name: value for name, (value, _) in TUTORIAL_NETWORK.items()},
                        alpha_decay=0.0, epochs=20, alpha=0.01, gradient_cutoff=1.0, init_scale=1.0)
        settings.update(overrides)
        return cls(**settings)

    def validate(self) -> None:
        """Raise RnnlmpyError for out-of-range settings, and for a network that cannot fit in memory (checked
        here for one feature and one tag, before any input is read; ``new_tagger`` checks the real sizes)."""
        for option, value in (("-alpha", self.alpha), ("alpha_decay", self.alpha_decay),
                              ("gradient_cutoff", self.gradient_cutoff), ("init_scale", self.init_scale),
                              ("word_dropout", self.word_dropout)):
            check_finite(option, value)
        for option, value in (("-hidden", self.hidden_size), ("-ensemble", self.ensemble), ("-iter", self.epochs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RnnlmpyError(f"{option} must be a whole number, at least 1 (got {value!r})")
        if not self.alpha > 0:
            raise RnnlmpyError(f"-alpha must be positive (got {self.alpha})")
        for option, value in (("alpha_decay", self.alpha_decay), ("gradient_cutoff", self.gradient_cutoff),
                              ("init_scale", self.init_scale), ("word_dropout", self.word_dropout),
                              ("rare_count", self.rare_count)):
            if not value >= 0:
                raise RnnlmpyError(f"{option} must be 0 or more (got {value})")
        check_rand_seed(self.rand_seed)
        if self.activation not in ACTIVATIONS:
            raise RnnlmpyError(f"-activation must be one of {', '.join(ACTIVATIONS)}")
        if self.dtype not in DTYPES:
            raise RnnlmpyError(f"-precision must be float32 or float64 (got {self.dtype!r})")
        if not isinstance(self.bptt, int) or isinstance(self.bptt, bool) or self.bptt < 0:
            raise RnnlmpyError(f"-bptt must be a whole number, at least 0 (got {self.bptt!r})")
        self.validate_cell()
        self.check_fits(1, 1, 1)

    def validate_cell(self) -> None:
        """RnnlmpyError for an unknown cell, gated settings out of range, or gated settings on the tanh tagger."""
        if self.cell not in (ELMAN, *GATED_CELLS):
            raise RnnlmpyError(f"cell must be one of {ELMAN}, {', '.join(GATED_CELLS)} (got {self.cell!r})")
        for option, value, least in (("-embedding-size", self.embedding_size, 0), ("-batch", self.batch, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise RnnlmpyError(f"{option} must be a whole number, at least {least} (got {value!r})")
        if self.optimizer not in OPTIMIZERS:
            raise RnnlmpyError(f"-optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})")
        for option, value in (("-clip-norm", self.clip_norm), ("-dropout", self.dropout)):
            check_finite(option, value)
        if not self.clip_norm >= 0:
            raise RnnlmpyError(f"-clip-norm must be 0 or more (got {self.clip_norm})")
        if not 0 <= self.dropout < 1:
            raise RnnlmpyError(f"-dropout must be at least 0 and below 1 (got {self.dropout})")
        if self.cell == ELMAN:
            changed = [name for name in GATED_SETTINGS if name != "cell"
                       and getattr(self, name) != TaggerConfig.__dataclass_fields__[name].default]
            refuse_gated_settings(changed)
        elif self.activation != TaggerConfig.activation:
            raise RnnlmpyError(f"the {self.cell} cell has its own activations; -activation is the tanh tagger's")

    def training_bytes(self, feature_count: int, tag_count: int, longest: int) -> float:
        """Memory training needs, in bytes: every network's weights, one more copy (the best epoch's), the
        float64 draws of the largest initial matrix, and each direction's ring of ``longest`` tokens (a gated
        tagger: ``gated.gated_bytes``)."""
        if self.cell != ELMAN:
            return gated_bytes(self, feature_count, tag_count, longest)
        size = self.hidden_size
        directions = 2 if self.bidirectional else 1
        network = (feature_count * size + size * size) * 2 + tag_count * (directions * size + 1)
        rings = 2 * longest * (3 * size + 1)
        itemsize = np.dtype(DTYPES[self.dtype]).itemsize
        return ((self.ensemble + 1) * network + rings) * itemsize + 8.0 * max(feature_count, size) * size

    def check_fits(self, feature_count: int, tag_count: int, longest: int) -> None:
        """RnnlmpyError when training this tagger would need more memory than is available now."""
        check_fits(self.training_bytes(feature_count, tag_count, longest),
                   f"a tagger of {self.ensemble:,} network{'s' if self.ensemble != 1 else ''} of "
                   f"{self.hidden_size:,} hidden units")


# The settings that make TaggerConfig.tutorial() the tutorial's network: name -> (its value, the option
# that would ask for another value, as the command line spells it).
TUTORIAL_NETWORK = {
    "bidirectional": (False, lambda value: "-bidirectional"),
    "rich_features": (False, lambda value: "-features rich"),
    "unknown_classes": (False, lambda value: "-unknown shape"),
    "viterbi": (False, lambda value: "-viterbi"),
    "ensemble": (1, lambda value: f"-ensemble {value}"),
    "cell": (ELMAN, lambda value: f"-hidden-type {value}"),
}
HIDDEN_TYPES = ("tanh", *GATED_CELLS)  # -hidden-type: the tanh tagger or a gated cell
GATED_SETTINGS = ("cell", "embedding_size", "batch", "optimizer", "clip_norm", "dropout")  # not in tanh files
# Each -hidden-type's defaults, chosen on a held-out tenth of wiki-en's training text (docs/tagging.md)
CELL_DEFAULTS = {
    "tanh": {},
    "lstm": dict(cell="lstm", hidden_size=100, batch=4, optimizer="adam", alpha=0.01, dropout=0.4),
    "gru": dict(cell="gru", hidden_size=100, batch=4, optimizer="adam", alpha=0.01, dropout=0.4),
}


def refuse_gated_settings(names: list[str]) -> None:
    """RnnlmpyError naming ``names`` (settings of GATED_SETTINGS, as command-line options) when there are any: the
    tanh tagger takes none of the gated cells' settings. Nothing when ``names`` is empty."""
    if names:
        raise RnnlmpyError(f"{', '.join('-' + name.replace('_', '-') for name in names)}: settings of the gated "
                           f"cells (-hidden-type {' or '.join(GATED_CELLS)}), not of the tanh tagger")


@dataclass
class TaggerWeights:
    """The weights of one network of the tagger, shapes as in ``rnnlmpy.kernels.tagger`` (H: hidden size)."""

    forward_input: np.ndarray  # (features, H)
    forward_recurrent: np.ndarray  # (H, H)
    backward_input: np.ndarray  # (features, H); a single unused row when one-directional
    backward_recurrent: np.ndarray  # (H, H)
    output_weights: np.ndarray  # (tags, H [+ H] + 1): the last column is the bias

    def arrays(self) -> dict[str, np.ndarray]:
        """The weight arrays by name (not copies)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class RnnTagger:
    """The RNN tagger: settings, feature and tag inventories, and the networks of the ensemble."""

    config: TaggerConfig
    features: list[str]  # input rows
    tags: list[str]  # output rows
    known_words: set  # word keys (see word_key) whose identity is a feature
    members: list  # one TaggerWeights (tanh) or GatedWeights (lstm, gru) per network of the ensemble
    transitions: np.ndarray  # (tags + 1, tags + 1) log P(tag | previous); row/column "tags" is <s>/</s>
    history: list = field(default_factory=list)
    feature_index: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.feature_index = {name: i for i, name in enumerate(self.features)}

    @property
    def hidden_type(self) -> str:
        """The recurrent cell as -hidden-type names it: the tanh tagger's activation, or "lstm" / "gru"."""
        return self.config.activation if self.config.cell == ELMAN else self.config.cell

    @property
    def parameter_count(self) -> int:
        """Number of trained weights, all networks together."""
        return int(sum(array.size for member in self.members for array in member.arrays().values()))

    def encode(self, sentences: list[list[str]], hide: Optional[np.ndarray] = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sentences as (sentence_start (S+1,), feature_ptr (N+1,), feature_ids) for the kernels.

        ``hide`` (bool per token) treats those tokens' words as unknown (word dropout).
        """
        sentence_start, token_type, type_ptr, type_ids = self.encode_types(sentences, hide)
        lengths = np.diff(type_ptr)[token_type]
        feature_ptr = np.zeros(len(token_type) + 1, dtype=np.int64)
        np.cumsum(lengths, out=feature_ptr[1:])
        starts = np.repeat(type_ptr[token_type], lengths)
        offsets = np.arange(int(feature_ptr[-1])) - np.repeat(feature_ptr[:-1], lengths)
        return sentence_start, feature_ptr, type_ids[starts + offsets]

    def encode_types(self, sentences: list[list[str]], hide: Optional[np.ndarray] = None):
        """Sentences by word type: (sentence_start (S+1,), token_type (N,), type_ptr (types+1,), type_ids).

        The features of type k are ``type_ids[type_ptr[k]:type_ptr[k+1]]``; every
        token of a type has the same features.
        """
        config = self.config
        sentence_start = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sentences], out=sentence_start[1:])
        get = self.feature_index.get
        types: dict[tuple[str, bool], int] = {}
        type_ptr, type_ids, token_type = [0], [], []
        token = -1
        for sentence in sentences:
            for word in sentence:
                token += 1
                key = (word, hide is not None and bool(hide[token]))
                found = types.get(key)
                if found is None:
                    known = word_key(word, config.rich_features) in self.known_words and not key[1]
                    names = token_features(word, known, config.rich_features, config.unknown_classes)
                    type_ids.extend(i for i in (get(name) for name in names) if i is not None)
                    type_ptr.append(len(type_ids))
                    found = types[key] = len(types)
                token_type.append(found)
        return (sentence_start, np.array(token_type, dtype=np.int32), np.array(type_ptr, dtype=np.int64),
                np.array(type_ids, dtype=np.int32))

    def posteriors(self, sentences: list[list[str]]) -> np.ndarray:
        """P(tag | sentence) of every token, averaged over the ensemble: shape (tokens, tags), float64.

        Each word type's input (the sum of its feature rows) is computed once, so
        the recurrence reads one small row per token instead of scattered feature rows. Sentences given as
        strings are split into words (``base.text.as_sentences``).
        """
        sentences = as_sentences(sentences)
        sentence_start, token_type, type_ptr, type_ids = self.encode_types(sentences)
        tokens = len(token_type)
        one_feature_each = np.arange(tokens + 1, dtype=np.int64)
        longest = max((len(s) for s in sentences), default=1)
        size = self.config.hidden_size
        total = np.zeros((tokens, len(self.tags)), dtype=np.float64)
        if self.config.cell != ELMAN:
            for member in self.members:
                total += gated_posteriors(self.config, member, sentence_start, token_type, type_ptr, type_ids)
            return total / len(self.members)
        for member in self.members:
            joined = np.ones((tokens, member.output_weights.shape[1]), dtype=member.output_weights.dtype)
            directions = [(member.forward_input, member.forward_recurrent, False, joined[:, :size])]
            if self.config.bidirectional:
                directions.append((member.backward_input, member.backward_recurrent, True, joined[:, size:2 * size]))
            for input_weights, recurrent, reverse, out in directions:
                type_inputs = np.add.reduceat(input_weights[type_ids], type_ptr[:-1], axis=0) if len(type_ids) \
                    else np.zeros((len(type_ptr) - 1, size), dtype=joined.dtype)
                type_inputs[np.diff(type_ptr) == 0] = 0  # reduceat copies a row for an empty range
                states = np.empty((tokens, size), dtype=joined.dtype)
                hidden_states(self.config, type_inputs, recurrent, one_feature_each, token_type, sentence_start,
                              reverse, max(longest, 1), states)
                out[...] = states
            total += softmax(joined @ member.output_weights.T)
        return total / len(self.members)

    def cells(self, sentences: list[list[str]], network: int = 0) -> list:
        """Network ``network``'s directions as window cells with the sentences' per-token inputs
        (``gated.TaggerDirection``: name, hidden type, weights bundle, inputs (tokens, In), sentence_start,
        reverse), for any cell, tanh included; sentences given as strings are split into words."""
        if not 0 <= network < len(self.members):
            raise RnnlmpyError(f"the tagger has {len(self.members)} network(s); there is no network {network}")
        sentence_start, feature_ptr, feature_ids = self.encode(as_sentences(sentences))
        return direction_cells(self.config, self.members[network], sentence_start, feature_ptr, feature_ids)

    def tag(self, sentences: list[list[str]]) -> list[list[str]]:
        """The best tag sequence of each sentence (argmax per token, or Viterbi with transitions); sentences given
        as strings are split into words (``base.text.as_sentences``), never into characters."""
        sentences = as_sentences(sentences)
        posteriors = self.posteriors(sentences)
        if self.config.viterbi:
            sentence_start = np.zeros(len(sentences) + 1, dtype=np.int64)
            np.cumsum([len(s) for s in sentences], out=sentence_start[1:])
            best = best_paths(np.log(np.maximum(posteriors, 1e-30)), sentence_start, self.transitions, "the tagger")
        else:
            best = np.argmax(posteriors, axis=1)
        tags = self.tags
        output, position = [], 0
        for sentence in sentences:
            output.append([tags[i] for i in best[position:position + len(sentence)].tolist()])
            position += len(sentence)
        return output


# ---------------------------------------------------------------- the kernels, called by keyword

def hidden_states(config: TaggerConfig, input_weights: np.ndarray, recurrent: np.ndarray, feature_ptr: np.ndarray,
                  feature_ids: np.ndarray, sentence_start: np.ndarray, reverse: bool, longest: int,
                  states: np.ndarray) -> None:
    """Fill ``states`` (tokens, H) with one direction's hidden state at every token (kernel tagger_hidden_states).

    Token t's input is the sum of ``input_weights`` rows ``feature_ids[feature_ptr[t]:feature_ptr[t+1]]``;
    every sentence (``sentence_start``, (S+1,)) starts from a zero state; ``longest`` bounds a sentence's length.
    """
    tagger_hidden_states(input_weights=input_weights, recurrent=recurrent, feature_ptr=feature_ptr,
                         feature_ids=feature_ids, sentence_start=sentence_start, reverse=reverse,
                         activation=ACTIVATIONS[config.activation], longest=longest, states=states)


@dataclass
class EpochBuffers:
    """Scratch arrays of ``train_epoch``: each direction's ring (a slot per token of the longest sentence)."""

    forward_position: np.ndarray  # (longest,) int64
    forward_input: np.ndarray  # (longest, H)
    forward_hidden: np.ndarray  # (longest, H)
    forward_error: np.ndarray  # (longest, H)
    backward_position: np.ndarray  # (longest,) int64
    backward_input: np.ndarray  # (longest, H)
    backward_hidden: np.ndarray  # (longest, H)
    backward_error: np.ndarray  # (longest, H)

    @classmethod
    def new(cls, config: TaggerConfig, longest: int) -> "EpochBuffers":
        """Zeroed buffers for sentences of up to ``longest`` tokens, in the config's precision."""
        dtype = DTYPES[config.dtype]
        size = config.hidden_size

        def ring():
            return np.zeros((longest, size), dtype=dtype)

        def positions():
            return np.zeros(longest, dtype=np.int64)

        return cls(forward_position=positions(), forward_input=ring(), forward_hidden=ring(), forward_error=ring(),
                   backward_position=positions(), backward_input=ring(), backward_hidden=ring(),
                   backward_error=ring())


def train_epoch(config: TaggerConfig, member: TaggerWeights, feature_ptr: np.ndarray, feature_ids: np.ndarray,
                targets: np.ndarray, sentence_start: np.ndarray, order: np.ndarray, alpha: float,
                buffers: EpochBuffers) -> tuple[float, int]:
    """One SGD pass of one network over the sentences in ``order`` (kernel train_tagger_sentences), in place.

    ``feature_ptr`` (N+1,) and ``feature_ids`` are the tokens' features (``RnnTagger.encode``),
    ``targets`` (N,) int32 their gold tag indices, ``sentence_start`` (S+1,) the sentences'
    first tokens and ``order`` (S,) int64 the sentences to train on, in turn.
    Returns (sum of log10 P(gold tag), tokens).
    """
    log10_sum, tokens = train_tagger_sentences(
        forward_input=member.forward_input, forward_recurrent=member.forward_recurrent,
        backward_input=member.backward_input, backward_recurrent=member.backward_recurrent,
        output_weights=member.output_weights, feature_ptr=feature_ptr, feature_ids=feature_ids, targets=targets,
        sentence_start=sentence_start, sentence_order=order, alpha=alpha, cutoff=config.gradient_cutoff,
        activation=ACTIVATIONS[config.activation], bidirectional=config.bidirectional,
        forward_ring_position=buffers.forward_position, forward_ring_input=buffers.forward_input,
        forward_ring_hidden=buffers.forward_hidden, forward_ring_error=buffers.forward_error,
        backward_ring_position=buffers.backward_position, backward_ring_input=buffers.backward_input,
        backward_ring_hidden=buffers.backward_hidden, backward_ring_error=buffers.backward_error,
        bptt=min(config.bptt, buffers.forward_hidden.shape[0]))  # blocks as long as any sentence: the full BPTT
    return float(log10_sum), int(tokens)


def best_paths(log_scores: np.ndarray, sentence_start: np.ndarray, transitions: np.ndarray,
               model: str = "the tagger", rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Viterbi (kernel viterbi_paths): the best tag index of every token, (N,) int64.

    ``log_scores`` (N, T) are each token's log scores per tag, or with ``rows`` (N,)
    token t's are ``log_scores[rows[t]]``; ``sentence_start`` (S+1,) the sentences'
    first tokens, ``transitions`` ((T+1, T+1)) log P(tag | previous) with index T the
    sentence boundary and -inf for impossible transitions. Ties go to the
    first-reached previous tag (see the kernel). A sentence without any path raises
    RnnlmpyError naming ``model`` and the sentence (1-based).
    """
    sentence_start = np.ascontiguousarray(sentence_start, dtype=np.int64)
    tokens = int(sentence_start[-1])
    rows = np.arange(tokens, dtype=np.int64) if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
    paths = np.zeros(tokens, dtype=np.int64)
    failure, sentence = viterbi_paths(scores=np.ascontiguousarray(log_scores, dtype=np.float64), rows=rows,
                                      sentence_start=sentence_start,
                                      transitions=np.ascontiguousarray(transitions, dtype=np.float64), paths=paths)
    if failure == VITERBI_NO_PATH:
        raise RnnlmpyError(f"{model} has no path through sentence {sentence + 1}: no tag can follow the tags "
                           f"possible before one of its words")
    if failure == VITERBI_NO_END:
        raise RnnlmpyError(f"{model} has no path to the end of sentence {sentence + 1}: none of the tags possible "
                           f"for its last word may end a sentence")
    return paths


# ---------------------------------------------------------------- decoding and initialisation

def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a (rows, classes) array, in place; returns it."""
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def viterbi(log_posteriors: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Best path (L,) through per-token log scores (L, T) plus log transitions ((T+1, T+1), index T = boundary).

    One sentence through ``best_paths``; tests/reference.py keeps the plain NumPy version.
    """
    return best_paths(log_posteriors, np.array([0, len(log_posteriors)]), transitions)


def tag_transitions(sentences: list[tuple[list[str], list[str]]], tags: list[str]) -> np.ndarray:
    """log P(tag | previous tag), (T+1, T+1), add-one smoothed; index T = len(tags) stands for <s> / </s>."""
    index = {tag: i for i, tag in enumerate(tags)}
    boundary = len(tags)
    counts = np.ones((boundary + 1, boundary + 1))
    for _, sentence_tags in sentences:
        previous = boundary
        for tag in sentence_tags:
            counts[previous, index[tag]] += 1
            previous = index[tag]
        counts[previous, boundary] += 1
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def new_tagger(config: TaggerConfig, sentences: list[tuple[list[str], list[str]]]) -> RnnTagger:
    """An initialised tagger whose features and tags come from the (words, tags) training sentences."""
    config.validate()
    counts = Counter(word_key(word, config.rich_features) for words, _ in sentences for word in words)
    threshold = config.rare_count if config.unknown_classes else 0
    known = {key for key, count in counts.items() if count > threshold}
    names: dict[str, None] = {}
    for words, _ in sentences:
        for word in words:
            in_vocabulary = word_key(word, config.rich_features) in known
            for name in token_features(word, in_vocabulary, config.rich_features, config.unknown_classes):
                names.setdefault(name, None)
    tags = sorted({tag for _, sentence_tags in sentences for tag in sentence_tags})
    config.check_fits(len(names), len(tags), max((len(words) for words, _ in sentences), default=1))
    return RnnTagger(config=config, features=list(names), tags=tags, known_words=known,
                     members=[(new_weights if config.cell == ELMAN else new_gated_weights)(
                                  config, len(names), len(tags), config.rand_seed + 1000 * k)
                              for k in range(config.ensemble)],
                     transitions=tag_transitions(sentences, tags))


def new_weights(config: TaggerConfig, feature_count: int, tag_count: int, seed: int) -> TaggerWeights:
    """Random initial weights of one network: rnnlm's initialisation times ``config.init_scale``."""
    rng = np.random.default_rng(seed)
    dtype = DTYPES[config.dtype]
    size = config.hidden_size
    directions = 2 if config.bidirectional else 1

    def draw(shape):
        return (initial_weights(shape, rng, dtype) * config.init_scale).astype(dtype)

    return TaggerWeights(forward_input=draw((feature_count, size)), forward_recurrent=draw((size, size)),
                         backward_input=draw((feature_count if directions == 2 else 1, size)),
                         backward_recurrent=draw((size, size)),
                         output_weights=draw((tag_count, directions * size + 1)))

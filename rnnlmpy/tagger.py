"""Part-of-speech tagging: the tutorial's bigram HMM and a (bidirectional) RNN tagger.

Files follow the NLP programming tutorial: training lines are ``word_TAG``
tokens separated by single spaces (split on the LAST underscore, so
``and\\/or_CC`` is the word ``and\\/or`` with tag ``CC``); test lines are words;
answers are one line of space-separated tags per input line.

The RNN tagger uses the LM's kernels: every token is a set of sparse input
features (the word and, by default, its suffixes, prefixes and shape, summed
as input rows), a recurrent tanh layer read left to right and, by default, a
second one right to left, and a softmax over tags; training is SGD with
full-sentence BPTT. ``TaggerConfig.tutorial()`` gives the tutorial's network
(one-hot word, one direction, no unknown-word handling).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Optional, TextIO

import numpy as np

from . import kernels
from .errors import RnnlmpyError
from .model import DTYPES, decode_words, detect_format, encode_words, initial_weights, read_model_file, \
    write_atomically, write_model_file
from .textio import read_text, text_lines

START, END = "<s>", "</s>"
HMM_LAMBDA, HMM_VOCABULARY = 0.95, 1_000_000  # the tutorial's emission smoothing


# ---------------------------------------------------------------- files

def read_tagged(path: str, what: str = "training file") -> list[tuple[list[str], list[str]]]:
    """``word_TAG`` lines as (words, tags); raise RnnlmpyError naming the line of a bad token."""
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
    """Test input: one sentence per line, words separated by single spaces (tabs are an error)."""
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
    """One output line: the tags, or ``word_TAG`` tokens, separated by single spaces."""
    return " ".join(f"{w}_{t}" for w, t in zip(words, tags)) if word_tag else " ".join(tags)


# ---------------------------------------------------------------- grading (gradepos.pl)

@dataclass
class Grade:
    """Token accuracy and the confusions ("REF --> TEST": count)."""

    correct: int
    total: int
    confusions: Counter

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def report(self, top: int = 10) -> str:
        """gradepos.pl's report: accuracy line, then the most common mistakes."""
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
    """Accuracy on tokens whose word was seen in training and on unseen ones, as two report lines."""
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


# ---------------------------------------------------------------- the tutorial's HMM

@dataclass
class HmmTagger:
    """Bigram HMM: P(tag | previous tag) and P(word | tag), maximum likelihood, as the tutorial."""

    transition: dict[tuple[str, str], float]
    emission: dict[tuple[str, str], float]

    def write(self, path: str) -> None:
        """The tutorial's model format: ``T prev next p`` and ``E tag word p`` lines, sorted."""
        lines = [f"T {a} {b} {p:f}\n" for (a, b), p in sorted(self.transition.items())]
        lines += [f"E {a} {b} {p:f}\n" for (a, b), p in sorted(self.emission.items())]
        write_atomically(path, lambda handle: handle.write("".join(lines).encode("utf-8")))

    @classmethod
    def read(cls, path: str) -> "HmmTagger":
        """Read the tutorial's model format."""
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

    def tag(self, words: list[str]) -> list[str]:
        """Viterbi decoding with emissions smoothed as 0.95 P_ML + 0.05 / 1,000,000."""
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
    """Count transitions (with ``<s>``/``</s>``) and emissions; normalise by the previous tag's count."""
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


# ---------------------------------------------------------------- features

def word_shape(word: str) -> str:
    """Character classes with repeats collapsed: ``Obama`` -> ``Xx``, ``1990s`` -> ``dx``, ``e-mail`` -> ``x-x``."""
    classes = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.islower() else "d" if char.isdigit() else char
        if not classes or classes[-1] != kind:
            classes.append(kind)
    return "".join(classes)[:8]


def word_key(word: str, rich: bool) -> str:
    """The form of a word whose identity is a feature: lower-cased with rich features (case is its own feature)."""
    return word.lower() if rich else word


def token_features(word: str, known: bool, rich: bool, unknown_classes: bool) -> list[str]:
    """Sparse input features of one token (strings; the model maps them to input rows)."""
    features = ["<bias>"]
    if not rich:
        if known:
            features.append("w=" + word)
        elif unknown_classes:
            features.append("unk=" + word_shape(word))
        return features
    lower = word.lower()
    if known:
        features.append("w=" + lower)
    elif unknown_classes:
        features.append("unk=" + word_shape(word))
    features.append("shape=" + word_shape(word))
    for k in range(1, 5):
        if len(lower) > k:
            features.append(f"suf{k}=" + lower[-k:])
    for k in range(1, 4):
        if len(lower) > k:
            features.append(f"pre{k}=" + lower[:k])
    if word[:1].isupper():
        features.append("cap")
    if any(char.isdigit() for char in word):
        features.append("digit")
    if "-" in word:
        features.append("hyphen")
    return features


# ---------------------------------------------------------------- the RNN tagger

@dataclass
class TaggerConfig:
    """Settings of the RNN tagger; the defaults are the best model (see README)."""

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
    init_scale: float = 0.1  # times rnnlm's initialisation (three uniform draws in [-0.1, 0.1])
    rand_seed: int = 1
    dtype: str = "float32"

    @classmethod
    def tutorial(cls, **overrides) -> "TaggerConfig":
        """The NLP programming tutorial's RNN: one-hot words, one direction, no unknown-word handling.

        Its learning settings (20 epochs at a fixed 0.01, errors clipped at 1,
        rnnlm's initialisation) were chosen on a held-out tenth of wiki-en's training
        text; with the defaults' settings this network does not converge.
        """
        settings = dict(bidirectional=False, rich_features=False, unknown_classes=False, viterbi=False,
                        alpha_decay=0.0, ensemble=1, epochs=20, alpha=0.01, gradient_cutoff=1.0, init_scale=1.0)
        settings.update(overrides)
        return cls(**settings)

    def validate(self) -> None:
        """Raise RnnlmpyError for out-of-range settings."""
        if self.hidden_size < 1:
            raise RnnlmpyError(f"-hidden must be at least 1 (got {self.hidden_size})")
        if self.ensemble < 1:
            raise RnnlmpyError(f"-ensemble must be at least 1 (got {self.ensemble})")
        if self.epochs < 1:
            raise RnnlmpyError(f"-iter must be at least 1 (got {self.epochs})")
        if not self.alpha > 0:
            raise RnnlmpyError(f"-alpha must be positive (got {self.alpha})")
        if self.activation not in kernels.ACTIVATIONS:
            raise RnnlmpyError(f"-activation must be one of {', '.join(kernels.ACTIVATIONS)}")
        if self.dtype not in DTYPES:
            raise RnnlmpyError(f"-precision must be float32 or float64 (got {self.dtype!r})")


@dataclass
class TaggerWeights:
    """The weights of one network of the tagger, shapes as in kernels.py."""

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
    members: list[TaggerWeights]  # one per network of the ensemble
    transitions: np.ndarray  # (tags + 1, tags + 1) log P(tag | previous); row/column "tags" is <s>/</s>
    history: list = field(default_factory=list)
    feature_index: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.feature_index = {name: i for i, name in enumerate(self.features)}

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
        """P(tag | sentence) of every token, averaged over the ensemble: shape (tokens, tags).

        Each word type's input (the sum of its feature rows) is computed once, so
        the recurrence reads one small row per token instead of scattered feature rows.
        """
        sentence_start, token_type, type_ptr, type_ids = self.encode_types(sentences)
        tokens = len(token_type)
        one_feature_each = np.arange(tokens + 1, dtype=np.int64)
        longest = max((len(s) for s in sentences), default=1)
        activation = kernels.ACTIVATIONS[self.config.activation]
        size = self.config.hidden_size
        total = np.zeros((tokens, len(self.tags)), dtype=np.float64)
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
                kernels.tagger_hidden_states(type_inputs, recurrent, one_feature_each, token_type, sentence_start,
                                             reverse, activation, max(longest, 1), states)
                out[...] = states
            total += softmax(joined @ member.output_weights.T)
        return total / len(self.members)

    def tag(self, sentences: list[list[str]]) -> list[list[str]]:
        """The best tag sequence of each sentence (argmax per token, or Viterbi with transitions)."""
        posteriors = self.posteriors(sentences)
        output, position = [], 0
        for sentence in sentences:
            scores = posteriors[position:position + len(sentence)]
            position += len(sentence)
            if self.config.viterbi:
                best = viterbi(np.log(np.maximum(scores.astype(np.float64), 1e-30)), self.transitions)
            else:
                best = np.argmax(scores, axis=1)
            output.append([self.tags[i] for i in best])
        return output


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a (rows, classes) array, in place."""
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def viterbi(log_posteriors: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Best path through per-token log scores (L, T) plus log transitions ((T+1, T+1), index T = boundary)."""
    boundary = transitions.shape[0] - 1
    score = log_posteriors[0] + transitions[boundary, :boundary]
    back = np.zeros(log_posteriors.shape, dtype=np.int64)
    for k in range(1, len(log_posteriors)):
        candidates = score[:, None] + transitions[:boundary, :boundary]
        back[k] = np.argmax(candidates, axis=0)
        score = candidates[back[k], np.arange(boundary)] + log_posteriors[k]
    path = [int(np.argmax(score + transitions[:boundary, boundary]))]
    for k in range(len(log_posteriors) - 1, 0, -1):
        path.append(int(back[k, path[-1]]))
    return np.array(path[::-1])


def tag_transitions(sentences: list[tuple[list[str], list[str]]], tags: list[str]) -> np.ndarray:
    """log P(tag | previous tag) with add-one smoothing; index len(tags) stands for <s> / </s>."""
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
    """An initialised tagger whose features and tags come from the training sentences."""
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
    return RnnTagger(config=config, features=list(names), tags=tags, known_words=known,
                     members=[new_weights(config, len(names), len(tags), config.rand_seed + 1000 * k)
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


def train_tagger(sentences: list[tuple[list[str], list[str]]], config: Optional[TaggerConfig] = None,
                 valid: Optional[list[tuple[list[str], list[str]]]] = None, log: Optional[TextIO] = None,
                 debug: int = 1) -> RnnTagger:
    """Train an RNN tagger by SGD; with ``valid``, keep the epoch with the best validation accuracy."""
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
    dtype = DTYPES[config.dtype]
    size = config.hidden_size
    ring = {name: np.zeros((longest, size), dtype=dtype) for name in
            ("fi", "fh", "fe", "bi", "bh", "be")}
    positions = {name: np.zeros(longest, dtype=np.int64) for name in ("f", "b")}
    updates = {name: np.zeros((size, size), dtype=dtype) for name in ("f", "b")}
    valid_reference = [" ".join(tags) for _, tags in valid] if valid is not None else None
    best = None
    for member_number, member in enumerate(tagger.members):
        rng = np.random.default_rng(config.rand_seed + 1000 * member_number + 1)
        for epoch in range(config.epochs):
            started = time.perf_counter()
            alpha = config.alpha / (1 + config.alpha_decay * epoch)
            order = rng.permutation(len(sentences)).astype(np.int64)
            if config.word_dropout > 0:
                hide = rng.random(len(keep_probability)) > keep_probability
                _, feature_ptr, feature_ids = tagger.encode(train_words, hide)
            log10_sum, tokens = kernels.train_tagger_sentences(
                member.forward_input, member.forward_recurrent, member.backward_input, member.backward_recurrent,
                member.output_weights, feature_ptr, feature_ids, targets, sentence_start, order, alpha,
                config.gradient_cutoff, kernels.ACTIVATIONS[config.activation], config.bidirectional,
                positions["f"], ring["fi"], ring["fh"], ring["fe"], positions["b"], ring["bi"], ring["bh"],
                ring["be"], updates["f"], updates["b"])
            record = {"network": member_number, "epoch": epoch, "alpha": alpha,
                      "train_entropy": -log10_sum / math.log10(2) / tokens, "seconds": time.perf_counter() - started}
            if valid is not None:
                single = RnnTagger(config, tagger.features, tagger.tags, tagger.known_words, [member],
                                   tagger.transitions)
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


def save_tagger(tagger: RnnTagger, path: str) -> None:
    """Write an RNN tagger as an rnnlmpy model file of kind "tagger" (atomically)."""
    arrays = {f"network{k}/{name}": array for k, member in enumerate(tagger.members)
              for name, array in member.arrays().items()}
    write_model_file(path, "tagger", {"model_type": "rnn", "config": asdict(tagger.config), "history": tagger.history},
                     {"features": encode_words(tagger.features), "tags": encode_words(tagger.tags),
                      "known_words": encode_words(sorted(tagger.known_words)), "transitions": tagger.transitions,
                      **arrays})


def load_tagger(path: str):
    """Read a tagger: an RNN tagger (rnnlmpy file) or an HMM (the tutorial's text format)."""
    if detect_format(path) == "unknown" and _looks_like_hmm(path):
        return HmmTagger.read(path)
    header, arrays = read_model_file(path, "tagger", "; a language model is used with rnnlmpy ppl")
    try:
        known = {f.name for f in fields(TaggerConfig)}
        config = TaggerConfig(**{k: v for k, v in header["config"].items() if k in known})
        members = [TaggerWeights(**{f.name: np.ascontiguousarray(arrays[f"network{k}/{f.name}"])
                                    for f in fields(TaggerWeights)}) for k in range(config.ensemble)]
        known_words = decode_words(arrays["known_words"])
        return RnnTagger(config=config, features=decode_words(arrays["features"]), tags=decode_words(arrays["tags"]),
                         known_words=set(known_words) if known_words != [""] else set(), members=members,
                         transitions=arrays["transitions"], history=header.get("history", []))
    except (KeyError, TypeError, ValueError) as error:
        raise RnnlmpyError(f"tagger model {path!r} is inconsistent: {error}") from None


def _looks_like_hmm(path: str) -> bool:
    with open(path, "rb") as handle:
        start = handle.read(2)
    return start in (b"T ", b"E ")


"""One Python interface for every language model rnnlmpy reads: ``LanguageModel(path)``.

A sentence is a ``str`` (split into words on spaces, tabs and line breaks; a character model takes its
characters, spaces as ``<sp>``) or a sequence of tokens taken as they are; a ``str`` is never read as a
sequence of one-character tokens. Scores are log10 probabilities, as in rnnlm, SRILM and KenLM.

A word outside the vocabulary is an OOV: the model scores it as ``<unk>`` when its vocabulary has one, else it
cannot score it (probability 0, log10 ``-inf``), and totals and perplexities leave it out, as ``ppl`` and SRILM
do. Sentence scores start at a sentence start (``bos``) and end with ``</s>`` (``eos``), as KenLM's; a file is
scored as the command line scores it, so ``perplexity_of_file`` equals the command's report.
"""

from __future__ import annotations

import abc
import functools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

import numpy as np

from ..base import metrics
from ..base.errors import RnnlmpyError
from ..base.files import CONTAINER, RNNLM_CPP, sniff
from ..base.store import container_kind
from ..base.system import resolve_threads
from ..base.text import SENTENCE_END, char_tokens, read_corpus, split_tokens
from ..mixing.interpolate import ngram_token_probabilities
from ..ngram import NgramModel, NgramTrie, read_ngram, read_sentences, score_sentences
from ..ngram.kneser_ney import SENTENCE_START, SentenceStream
from ..rnnlm import (RnnlmModel, RnnState, evaluate_file, load_model, next_word_probabilities, score_next_word,
                     score_sentence_batch, sentence_start_state)
from ..rnnlm.network import kernel_network

Sentence = Union[str, Sequence[str]]  # text (split into words) or tokens (taken as they are)
PathLike = Union[str, "os.PathLike[str]"]
UNKNOWN_WORD = "<unk>"


class TokenScore(NamedTuple):
    """One token's score: ``log10_prob`` (``-inf`` when the model cannot score it) and ``is_oov`` (the token is
    not in the vocabulary; it is scored as ``<unk>`` where the model has one)."""

    log10_prob: float
    is_oov: bool


@dataclass(frozen=True)
class FileScore:
    """A text file's score, as the command line reports it: the sum of log10 P over the ``scored`` tokens
    (``</s>`` included), the perplexity over them, and ``oov``: the tokens left out (no model could score them)."""

    log10_probability: float
    perplexity: float
    scored: int
    oov: int


class State(abc.ABC):
    """A point in a text for word-by-word scoring: from ``begin_sentence``, then ``score_word``. States are
    values (compare and hash them, copy them freely; nothing changes one in place). Each kind of model has
    its own (``RnnState``, ``NgramState``, ``MixtureState``), all of them ``State``s."""


State.register(RnnState)  # the RNN family's own state class, defined below this layer


def sentence_tokens(sentence: Sentence, char_level: bool = False) -> list[str]:
    """``sentence`` as a token list: a ``str`` split on spaces, tabs and line breaks (a character model's: its
    characters, spaces as ``<sp>``), any other sequence of ``str`` taken as it is; RnnlmpyError otherwise."""
    if isinstance(sentence, str):
        line = sentence.replace("\r", " ").replace("\n", " ")
        return char_tokens(line) if char_level else split_tokens(line)
    if isinstance(sentence, (bytes, bytearray, memoryview)):
        raise RnnlmpyError("a sentence must be text (a str) or a list of tokens, not bytes: decode it first")
    tokens = list(sentence)
    for token in tokens:
        if not isinstance(token, str):
            raise RnnlmpyError(f"a sentence's tokens must be str (got {type(token).__name__} {token!r})")
    return tokens


def read_ngram_model(path: str) -> Union[NgramModel, NgramTrie]:
    """The n-gram model at ``path`` (ARPA, or rnnlmpy's binary format, mapped as it is; told by the magic
    bytes): the one place the n-gram file reader is chosen."""
    return read_ngram(path)


class LanguageModel:
    """A language model of any kind rnnlmpy reads, with KenLM's interface (log10 scores).

    ``LanguageModel(path)`` opens an rnnlmpy model, a C++ rnnlm model (text or binary) or an ARPA n-gram file
    (plain or compressed) and returns the matching subclass; ``Mixture`` interpolates several models.
    """

    def __new__(cls, path: Optional[PathLike] = None, *args, **kwargs):
        if cls is LanguageModel:
            if path is None:
                raise RnnlmpyError("LanguageModel needs the path of a model file")
            path = os.fspath(path)
            kind = sniff(path, "model file")
            stored = container_kind(path) if kind == CONTAINER else None
            if kind == RNNLM_CPP or stored == "rnnlm":
                return RnnLanguageModel.__new__(RnnLanguageModel)
            if stored == "tagger":
                raise RnnlmpyError(f"{path!r} is a tagger, not a language model (use it with rnnlmpy tag)")
            return NgramLanguageModel.__new__(NgramLanguageModel)  # its reader names what else the file is
        return super().__new__(cls)

    # ---- what each kind provides

    @property
    def vocabulary(self) -> Sequence[str]:
        """The words the model knows, in its own order."""
        raise NotImplementedError

    def _contains(self, word: str) -> bool:
        raise NotImplementedError

    def _unknown_index(self) -> int:
        """The vocabulary index of ``<unk>``, or -1."""
        raise NotImplementedError

    def _sentence_probabilities(self, sentences: list[list[str]], bos: bool, eos: bool, threads: int) -> np.ndarray:
        """P of every token of each sentence (and ``</s>`` when ``eos``), sentence after sentence (float64; 0
        where it cannot score)."""
        raise NotImplementedError

    def _file_probabilities(self, path: str, threads: int) -> tuple[Sequence[str], np.ndarray]:
        """The tokens of a text file as ``ppl`` reads them (each line closed by ``</s>``) and P of each."""
        raise NotImplementedError

    def _distribution(self, state: State) -> np.ndarray:
        """P(every vocabulary word | ``state``), float64, in vocabulary order (0 for words never predicted)."""
        raise NotImplementedError

    def begin_sentence(self, bos: bool = True) -> State:
        """The state before a sentence's first word: after ``<s>`` (``bos``), or a null context (no history)."""
        raise NotImplementedError

    def score_word(self, state: State, word: str) -> tuple[float, State]:
        """(log10 P(``word`` | ``state``), the state after ``word``); ``-inf`` when the model cannot score it."""
        raise NotImplementedError

    def perplexity_of_file(self, path: str, threads: Optional[int] = None) -> FileScore:
        """Score a text file exactly as the command line does (the same numbers as its report)."""
        raise NotImplementedError

    def _char_level(self) -> bool:
        return False

    # ---- the shared interface

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._contains(word)

    def _tokens(self, sentence: Sentence) -> list[str]:
        return sentence_tokens(sentence, self._char_level())

    def _log10(self, probabilities: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.where(probabilities > 0, np.log10(np.maximum(probabilities, metrics.SMALLEST_PROBABILITY)),
                            -math.inf)

    def _sentence_log10(self, sentences: list[list[str]], bos: bool, eos: bool, threads: int) -> np.ndarray:
        """log10 P of every token of each sentence, sentence after sentence (``-inf`` where it cannot score)."""
        return self._log10(self._sentence_probabilities(sentences, bos, eos, threads))

    def full_scores(self, sentence: Sentence, bos: bool = True, eos: bool = True) -> list[TokenScore]:
        """One ``TokenScore`` (log10 P, is OOV) per token of ``sentence``, then one for ``</s>`` when ``eos``."""
        tokens = self._tokens(sentence)
        scores = self._sentence_log10([tokens], bos, eos, 1).tolist()
        oov = [token not in self for token in tokens] + ([False] if eos else [])
        return [TokenScore(score, flag) for score, flag in zip(scores, oov)]

    def score(self, sentence: Sentence, bos: bool = True, eos: bool = True) -> float:
        """Total log10 probability of ``sentence`` (``</s>`` included when ``eos``), tokens it cannot score left
        out."""
        scores = self._sentence_log10([self._tokens(sentence)], bos, eos, 1)
        return float(np.sum(scores[np.isfinite(scores)]))

    def perplexity(self, sentence: Sentence) -> float:
        """Perplexity of one sentence with ``<s>`` and ``</s>``: 10 ** (-score / tokens scored, ``</s>`` included)."""
        scores = self._sentence_log10([self._tokens(sentence)], True, True, 1)
        finite = np.isfinite(scores)
        return metrics.perplexity(float(np.sum(scores[finite])), int(np.count_nonzero(finite)))

    def score_batch(self, sentences: Iterable[Sentence], bos: bool = True, eos: bool = True,
                    threads: Optional[int] = None) -> np.ndarray:
        """``score`` of each sentence (float64, (S,)), all of them at once; ``threads`` (default: every core;
        the scores do not depend on it) share the sentences. An RNN scores each from the sentence start, with
        the kernel ``ppl`` uses for an independent model's sentences."""
        token_lists = [self._tokens(sentence) for sentence in sentences]
        scores = self._sentence_log10(token_lists, bos, eos, resolve_threads(threads, every_core=True))
        sentence = np.repeat(np.arange(len(token_lists)), [len(tokens) + eos for tokens in token_lists])
        finite = np.isfinite(scores)
        return np.bincount(sentence[finite], weights=scores[finite], minlength=len(token_lists))

    def next_word_distribution(self, state: State, top_k: Optional[int] = None) -> dict[str, float]:
        """log10 P(word | ``state``) of every word the model can predict (``top_k``: the ``top_k`` most likely),
        most likely first: the values ``score_word`` gives."""
        if top_k is not None and top_k < 0:
            raise RnnlmpyError(f"top_k must be 0 or more (got {top_k})")
        probabilities = self._distribution(state)
        candidates = np.flatnonzero(probabilities > 0)
        order = candidates[np.argsort(-probabilities[candidates], kind="stable")]
        if top_k is not None:
            order = order[:top_k]
        words = self.vocabulary
        logs = np.log10(probabilities[order]).tolist()
        return {words[index]: value for index, value in zip(order.tolist(), logs)}


# ---------------------------------------------------------------- the RNN language model

class RnnLanguageModel(LanguageModel):
    """An RNN language model (rnnlmpy's format or the C++ rnnlm's) behind ``LanguageModel``.

    Sentences start from the state ``ppl`` starts a text from; ``perplexity_of_file`` is ``rnnlmpy ppl``
    (a model that is not independent carries its state from line to line there, as it does in ``ppl``).
    """

    def __init__(self, path: Optional[PathLike] = None, model: Optional[RnnlmModel] = None) -> None:
        if (path is None) == (model is None):
            raise RnnlmpyError("give the path of an RNN model, or a loaded RnnlmModel")
        self.path = None if path is None else os.fspath(path)
        self.model = load_model(self.path) if model is None else model
        self._bundle = None  # the kernels' view of the model, made on the first word-by-word step
        self._words = tuple(self.model.vocabulary.words)

    def __repr__(self) -> str:
        return f"RnnLanguageModel({self.path or self.model!r})"

    @property
    def vocabulary(self) -> Sequence[str]:
        """The model's words, ``</s>`` first."""
        return self._words

    def _contains(self, word: str) -> bool:
        return word in self.model.vocabulary.index

    def _unknown_index(self) -> int:
        return self.model.vocabulary.unknown_index

    def _char_level(self) -> bool:
        return self.model.config.char_level

    def _sentence_probabilities(self, sentences, bos, eos, threads):
        word_ids = self.model.vocabulary.encode([token for tokens in sentences for token in tokens])
        lengths = np.array([len(tokens) for tokens in sentences], dtype=np.int64)
        return score_sentence_batch(self.model, word_ids, lengths, bos, eos, threads)

    def _file_probabilities(self, path, threads):
        result = evaluate_file(self.model, path, threads=threads)
        return result.tokens, result.probabilities

    def perplexity_of_file(self, path: str, threads: Optional[int] = None) -> FileScore:
        """``rnnlmpy ppl -rnnlm MODEL -test path``: its log probability, perplexity, words and OOVs."""
        result = evaluate_file(self.model, path, threads=resolve_threads(threads, every_core=True))
        return FileScore(result.log10_probability, result.perplexity, result.scored_count, result.oov_count)

    def begin_sentence(self, bos: bool = True) -> RnnState:
        """The state before a sentence's first word: ``ppl``'s start state, having read ``</s>`` (``bos``) or
        nothing."""
        return sentence_start_state(self.model, bos)

    def score_word(self, state: RnnState, word: str) -> tuple[float, RnnState]:
        """(log10 P(``word`` | ``state``), the state after it): one step of the scoring kernel."""
        if not isinstance(state, RnnState):
            raise RnnlmpyError(f"not a state of this model: {state!r}")
        if self._bundle is None:
            self._bundle = kernel_network(self.model)
        vocabulary = self.model.vocabulary
        word_id = vocabulary.index.get(word, vocabulary.unknown_index)
        probability, following = score_next_word(self.model, state, word_id, self._bundle)
        return (math.log10(max(probability, metrics.SMALLEST_PROBABILITY)) if probability > 0 else -math.inf,
                following)

    def _distribution(self, state):
        return next_word_probabilities(self.model, state)


# ---------------------------------------------------------------- the n-gram language model

@dataclass(frozen=True)
class NgramState(State):
    """A point in a text for a backoff n-gram: ``context[n - 1]`` is the table index of the n-gram (order n,
    1 <= n < the model's order) that ends at the last word, -1 where the model has none."""

    context: tuple[int, ...]


class NgramLanguageModel(LanguageModel):
    """A backoff n-gram model (ARPA) behind ``LanguageModel``, scored as SRILM and KenLM score it.

    ``perplexity_of_file`` is ``rnnlmpy ngram -lm MODEL -test path`` (empty lines skipped, as SRILM does).
    """

    def __init__(self, path: Optional[PathLike] = None, model: Union[NgramModel, NgramTrie, None] = None) -> None:
        if (path is None) == (model is None):
            raise RnnlmpyError("give the path of an n-gram model, or a loaded one (NgramModel or NgramTrie)")
        self.path = None if path is None else os.fspath(path)
        self.model = read_ngram_model(self.path) if model is None else model
        self._words = tuple(self.model.words)
        index = self.model.index
        self._start = index.get(SENTENCE_START, -1)
        self._end = index.get(SENTENCE_END, -1)
        self._unknown = index.get(UNKNOWN_WORD, -1)

    def __repr__(self) -> str:
        return f"NgramLanguageModel({self.path or 'order ' + str(self.model.order)!r})"

    @property
    def vocabulary(self) -> Sequence[str]:
        """The model's words (its unigrams), ``<s>`` and ``</s>`` included."""
        return self._words

    def _contains(self, word: str) -> bool:
        return word in self.model.index

    def _unknown_index(self) -> int:
        return self._unknown

    def _encode(self, tokens: list[str]) -> list[int]:
        get, unknown = self.model.index.get, self._unknown
        return [get(token, unknown) for token in tokens]

    def _sentence_log10(self, sentences, bos, eos, threads):
        """All sentences as one stream: each opens with ``<s>`` (or, without ``bos``, a position that matches
        no n-gram: a null context) and ends with ``</s>`` when ``eos``."""
        opening = self._start if bos else -1
        ids, position = [], []
        for tokens in sentences:
            encoded = [opening, *self._encode(tokens), *([self._end] if eos else [])]
            ids.extend(encoded)
            position.extend(range(len(encoded)))
        stream = SentenceStream(ids=np.array(ids, dtype=np.int32), position=np.array(position, dtype=np.int32),
                                sentences=len(sentences))
        log10_prob, _ = self.model.score_stream(stream)
        predicted = stream.position > 0
        return np.where(stream.ids < 0, -math.inf, log10_prob)[predicted]

    def _sentence_probabilities(self, sentences, bos, eos, threads):
        return 10.0 ** self._sentence_log10(sentences, bos, eos, threads)

    def _file_probabilities(self, path, threads):
        tokens = read_corpus(path, "test file")
        return tokens, ngram_token_probabilities(self.model, tokens)

    def perplexity_of_file(self, path: str, threads: Optional[int] = None) -> FileScore:
        """``rnnlmpy ngram -lm MODEL -test path``: SRILM's logprob and ppl (``</s>`` counted), and its OOVs."""
        scores = score_sentences(self.model, read_sentences(path, "test file"), source=path)
        return FileScore(scores.logprob, scores.ppl, scores.words - scores.oovs + scores.sentences, scores.oovs)

    def begin_sentence(self, bos: bool = True) -> NgramState:
        """The state after ``<s>`` (``bos``), or the null context (no history)."""
        context = [-1] * (self.model.order - 1)
        if bos and context:
            context[0] = self._start
        return NgramState(tuple(context))

    @functools.cached_property
    def _tables(self) -> NgramModel:
        """The model as the tables word-by-word scoring looks n-grams up in: a binary model's are made on the
        first such call, so that scoring texts keeps it mapped as it is."""
        return self.model if isinstance(self.model, NgramModel) else self.model.to_model()

    def _find(self, order: int, context: int, words: np.ndarray) -> np.ndarray:
        """Table index of each n-gram (the (order - 1)-gram ``context``, word) at ``order``, -1 where absent."""
        if order == 1:
            return np.where(words >= 0, words, -1)
        if context < 0:
            return np.full(len(words), -1, dtype=np.int64)
        return self._tables.lookup(order, np.full(len(words), context, dtype=np.int64), words)

    def _log10_given(self, state: NgramState, words: np.ndarray) -> np.ndarray:
        """log10 P(word | state) of each word id (int64 (K,), all >= 0): the longest n-gram found, plus the
        backoff weights of the longer contexts that were not (as ``kneser_ney.score_stream``)."""
        orders = self._tables.orders
        result = np.full(len(words), np.nan)
        backoff = np.zeros(len(words))
        for n in range(self.model.order, 0, -1):
            found = self._find(n, state.context[n - 2] if n > 1 else 0, words)
            take = (found >= 0) & np.isnan(result)
            result[take] = orders[n - 1].log10_prob[found[take]] + backoff[take]
            if n > 1 and state.context[n - 2] >= 0:
                backoff[np.isnan(result)] += orders[n - 2].log10_backoff[state.context[n - 2]]
        return result

    def score_word(self, state: NgramState, word: str) -> tuple[float, NgramState]:
        """(log10 P(``word`` | ``state``), the state after it); an unknown word is ``<unk>`` where the model has
        one, else unscored (``-inf``) and the state after it a null context."""
        if not isinstance(state, NgramState) or len(state.context) != self.model.order - 1:
            raise RnnlmpyError(f"not a state of this model: {state!r}")
        word_id = self.model.index.get(word, self._unknown)
        if word_id < 0:
            return -math.inf, NgramState((-1,) * (self.model.order - 1))
        words = np.array([word_id], dtype=np.int64)
        log10_prob = float(self._log10_given(state, words)[0])
        context = [word_id] + [int(self._find(n, state.context[n - 2], words)[0]) for n in range(2, self.model.order)]
        return log10_prob, NgramState(tuple(context[:self.model.order - 1]))

    def _distribution(self, state):
        words = np.arange(len(self._words), dtype=np.int64)
        if self._start >= 0:
            words = words[words != self._start]  # context only, never predicted
        probabilities = np.zeros(len(self._words))
        probabilities[words] = 10.0 ** self._log10_given(state, words)
        return probabilities

"""Reading corpus files: strict UTF-8, ASCII space/tab tokenisation, ``</s>`` per line.

The rules follow the C++ rnnlm where they matter for compatibility (space and tab
separate words, every line ends with ``</s>``, an empty line still gives ``</s>``,
carriage returns are dropped) and do better where it does not (a last line without
a newline keeps its words, invalid UTF-8 is reported with its line number).
"""

from __future__ import annotations

from .errors import RnnlmpyError
from .files import CONTAINER, KIND_NAMES, NGRAM_BINARY, PNG, kind_of, read_file_bytes

SENTENCE_END = "</s>"


def decode_utf8(data: bytes, path: str, what: str = "file") -> str:
    """Decode ``data`` strictly as UTF-8, naming the line and byte of the first bad byte (or, for a model or image
    given as text, what the file is)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        refuse_binary_kind(data, path, what)
        line = data.count(b"\n", 0, error.start) + 1
        raise RnnlmpyError(
            f"{what} {path!r} is not valid UTF-8: line {line}, byte {error.start} "
            f"(0x{data[error.start]:02x})"
        ) from None


def refuse_binary_kind(start: bytes, path: str, what: str) -> None:
    """RnnlmpyError naming what the file is when ``start`` (its first bytes, not UTF-8) opens a binary kind of file
    (an rnnlmpy model, a binary n-gram model, a PNG image): clearer than the position of its first non-UTF-8 byte. A text kind (ARPA,
    HMM) with a bad byte keeps the UTF-8 error, which says where the byte is."""
    kind = kind_of(start)
    if kind in (CONTAINER, NGRAM_BINARY, PNG):
        raise RnnlmpyError(f"{what} {path!r} is {KIND_NAMES[kind]}, not text")


def read_text(path: str, what: str = "file") -> str:
    """The text of a UTF-8 file; RnnlmpyError (naming ``what``) if it is missing, unreadable or not UTF-8."""
    return decode_utf8(read_file_bytes(path, what), path, what)


def token_lines(tokens: list[str]) -> list[list[str]]:
    """Split a token stream whose lines are closed by ``</s>`` back into lines (without the ``</s>``)."""
    lines, current = [], []
    for token in tokens:
        if token == SENTENCE_END:
            lines.append(current)
            current = []
        else:
            current.append(token)
    if current:
        raise RnnlmpyError("token stream does not end with </s>")
    return lines


def split_tokens(line: str) -> list[str]:
    """Split one line into tokens on ASCII space and tab only.

    Unlike ``str.split()`` this keeps Unicode spaces (U+00A0, U+3000, ...) inside
    tokens, as the C++ rnnlm does.
    """
    return [token for token in line.replace("\t", " ").split(" ") if token]


def text_lines(text: str) -> list[str]:
    """Split decoded text into lines; CR is dropped and a final newline adds no line."""
    if "\r" in text:
        text = text.replace("\r", "")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


SPACE_TOKEN = "<sp>"  # a space in character models


def char_tokens(line: str) -> list[str]:
    """A line as characters, each a token; spaces and tabs become ``<sp>``."""
    return [SPACE_TOKEN if char in " \t" else char for char in line]


def read_corpus(path: str, what: str = "corpus", allow_empty: bool = False, char_level: bool = False) -> list[str]:
    """Read a corpus file as a flat list of tokens, each line closed by ``</s>``.

    ``what`` names the file in error messages (e.g. "training file"). With
    ``char_level`` every character is a token (see ``char_tokens``).
    Raises RnnlmpyError for a missing, unreadable, non-UTF-8 or (unless
    ``allow_empty``) empty file.
    """
    text = read_text(path, what)
    tokens: list[str] = []
    tokenize = char_tokens if char_level else split_tokens
    for line in text_lines(text):
        tokens.extend(tokenize(line))
        tokens.append(SENTENCE_END)
    if not allow_empty and tokens.count(SENTENCE_END) == len(tokens):
        raise RnnlmpyError(f"{what} {path!r} is empty (no words)")
    return tokens


def as_tokens(tokens, what: str = "tokens"):
    """``tokens`` as a token sequence whose lines end with ``</s>``: a ``str`` is read as text (KenLM's
    ``score("the company said")``): its lines are split into words on spaces and tabs, each line closed by
    ``</s>``; any other sequence is returned as it is, never iterated here. ``bytes`` raise RnnlmpyError
    naming ``what`` (decode them first: which encoding is the caller's to say).

    A string is never taken as a sequence of one-character tokens.
    """
    if isinstance(tokens, str):
        return [token for line in text_lines(tokens) for token in (*split_tokens(line), SENTENCE_END)]
    if isinstance(tokens, (bytes, bytearray, memoryview)):
        raise RnnlmpyError(f"{what} must be text (a str) or a list of tokens, not bytes: decode them first")
    return tokens


def as_sentences(sentences, what: str = "sentences") -> list[list[str]]:
    """``sentences`` as a list of word lists: a ``str`` is read as text, one sentence a line; a sentence
    given as a ``str`` is split into words on spaces and tabs (never into characters). ``bytes`` raise
    RnnlmpyError naming ``what``."""
    if isinstance(sentences, str):
        return [split_tokens(line) for line in text_lines(sentences)]
    as_tokens(sentences, what)  # bytes are refused

    def words(sentence):
        return split_tokens(sentence) if isinstance(sentence, str) else as_tokens(sentence, what)

    return [words(sentence) for sentence in sentences]

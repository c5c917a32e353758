"""The rnnlmpy model-file container, shared by every kind of model rnnlmpy writes.

A NumPy ``.npz`` archive (a zip of ``.npy`` arrays, no pickles) whose array
``header`` holds UTF-8 JSON ``{"format": "rnnlmpy", "kind": ..., "version": 1,
...}``; the other arrays are the model's, by name. Word lists are stored as one
UTF-8 byte array, ``\\n``-separated. Files are written atomically.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import MISSING, fields
from typing import Callable, Optional

import numpy as np

from .errors import RnnlmpyError
from .files import CONTAINER, RNNLM_CPP, describe_file, open_input, sniff, write_atomically
from .system import check_fits

FORMAT_NAME = "rnnlmpy"
FORMAT_VERSION = 1
DTYPES = {"float32": np.float32, "float64": np.float64}  # weight precisions a model can hold
MAX_HEADER_BYTES = 2**26  # a header holds settings and per-epoch records: far less than this
KIND_NAMES = {"rnnlm": "language model (rnnlm)", "tagger": "POS tagger"}


def encode_words(words: list[str]) -> np.ndarray:
    """Words as one UTF-8 byte array (uint8), ``\\n``-separated (words never contain newlines)."""
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)


def decode_words(data: np.ndarray) -> list[str]:
    """Inverse of ``encode_words``."""
    return bytes(data).decode("utf-8").split("\n")


ZIP_MEMBER_TIME = (1980, 1, 1, 0, 0, 0)  # the date of every member of a container: no clock in the bytes


def write_store(path: str, kind: str, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write a container of ``kind`` ("rnnlm", "tagger"): JSON ``header`` plus named arrays, atomically.

    The same header and arrays always give the same bytes (``write_npz``), so that a model's file can be
    compared, hashed and cached by content.
    """
    header = {"format": FORMAT_NAME, "kind": kind, "version": FORMAT_VERSION, **header}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), **arrays}
    write_atomically(path, lambda handle: write_npz(handle, arrays))


def write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to the binary ``handle`` as ``np.savez`` does (one uncompressed ``NAME.npy`` member each,
    zip64, no pickles), except that every member is dated ZIP_MEMBER_TIME instead of the time of writing."""
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            member = zipfile.ZipInfo(name + ".npy", date_time=ZIP_MEMBER_TIME)
            member.compress_type = zipfile.ZIP_STORED
            member.external_attr = 0o600 << 16  # what zipfile gives a member written by name (np.savez's)
            with archive.open(member, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, np.asanyarray(value), allow_pickle=False)


def read_store(path: str, kind: Optional[str], advice: str = "", header_only: bool = False,
               check_declared: Optional[Callable[[dict, dict], None]] = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a container, checking its format, version and ``kind`` (None: any); return (header, arrays).

    ``advice`` is appended to the error for a model of another kind (what to use instead).
    ``header_only`` reads and checks the header without loading the arrays (then ``arrays`` is empty).
    Before any array is inflated, every member's .npy header is read: the declared shapes and dtypes must
    fit in the memory available together, and ``check_declared(header, declared)`` (``declared``: name ->
    (shape, dtype)) may refuse them against the model's header (ValueError), so a small file that declares
    a huge array is refused without allocating it.
    """
    found = sniff(path)
    if found == RNNLM_CPP:
        raise RnnlmpyError(f"{path!r} is a C++ rnnlm language model, not a {kind or 'rnnlmpy'} model")
    if found != CONTAINER:
        raise RnnlmpyError(f"{path!r} is not an rnnlmpy model file")
    with open_input(path, "model file") as handle:
        if handle.compression is not None:  # NumPy reads the zip container only as it is on disk
            raise RnnlmpyError(f"{path!r} is {describe_file(path)}; decompress it first")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "header" not in archive.files:
                raise RnnlmpyError(f"{path!r} is not an rnnlmpy model file (it has no header)")
            declared = declared_arrays(archive.zip)
            shape, dtype = declared["header"]
            if len(shape) != 1 or dtype != np.uint8 or shape[0] > MAX_HEADER_BYTES:
                raise RnnlmpyError(f"model file {path!r} has a corrupt header (a {dtype} array of shape {shape}, "
                                   f"not up to {MAX_HEADER_BYTES:,} bytes of JSON)")
            header = _parse_header(path, archive["header"], kind, advice)
            if header_only:
                return header, {}
            _check_size(path, declared)
            if check_declared is not None:
                try:
                    check_declared(header, declared)
                except (RnnlmpyError, ValueError, TypeError, KeyError) as error:
                    detail = f"it lacks {error}" if isinstance(error, KeyError) else str(error)
                    raise RnnlmpyError(f"model file {path!r} is inconsistent: {detail}") from None
            arrays = {name: archive[name] for name in archive.files if name != "header"}
    except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, OSError, EOFError, NotImplementedError) as error:
        raise RnnlmpyError(f"model file {path!r} is corrupt or truncated ({error.__class__.__name__})") from None
    except MemoryError:  # an array whose declared shape does not fit in memory
        raise RnnlmpyError(f"model file {path!r} declares arrays too large for this machine's memory "
                           f"(corrupt?)") from None
    return header, arrays


def declared_arrays(archive: zipfile.ZipFile) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each ``.npy`` member's declared (shape, dtype), read from its header alone (nothing else is inflated).

    ValueError for a member that is not a .npy array or declares a negative dimension.
    """
    declared = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            continue
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"member {info.filename!r} has .npy format version {version}")
        if any(size < 0 for size in shape):
            raise ValueError(f"member {info.filename!r} declares the shape {shape}")
        declared[info.filename[:-len(".npy")]] = (tuple(shape), dtype)
    return declared


def _check_size(path: str, declared: dict) -> None:
    """RnnlmpyError when the ``declared`` arrays (name -> (shape, dtype)) together exceed the memory available."""
    needed = sum(float(math.prod(shape)) * dtype.itemsize for shape, dtype in declared.values())
    check_fits(needed, f"model file {path!r} declares arrays that")


def _parse_header(path: str, raw: np.ndarray, kind: Optional[str], advice: str) -> dict:
    """The container's JSON header (a uint8 array), its format, version and ``kind`` (None: any) checked."""
    try:
        header = json.loads(bytes(raw).decode("utf-8"))
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON (UnicodeDecodeError, JSONDecodeError)
        raise RnnlmpyError(f"model file {path!r} has a corrupt header ({error.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise RnnlmpyError(f"model file {path!r} has a corrupt header (a JSON {type(header).__name__}, "
                           f"not an object)")
    if header.get("format") != FORMAT_NAME:
        raise RnnlmpyError(f"{path!r} is not an rnnlmpy model file")
    if header.get("version") != FORMAT_VERSION:
        raise RnnlmpyError(
            f"model {path!r} has format version {header.get('version')!r}; this rnnlmpy reads version {FORMAT_VERSION}"
        )
    if not isinstance(header.get("kind"), str):
        raise RnnlmpyError(f"model file {path!r} has a corrupt header (no kind of model)")
    if kind is not None and header.get("kind") != kind:
        raise RnnlmpyError(f"model {path!r} is a {KIND_NAMES.get(header.get('kind'), repr(header.get('kind')))}, "
                           f"not a {KIND_NAMES.get(kind, kind)}{advice}")
    return header


def container_kind(path: str) -> str:
    """The ``kind`` named in a container's header ("rnnlm", "tagger")."""
    header, _ = read_store(path, None, header_only=True)
    return header["kind"]


def settings_from_header(cls, values, what: str):
    """A ``cls`` dataclass from a header's JSON object, each known field checked against its default's type."""
    if not isinstance(values, dict):
        raise ValueError(f"its header's {what!r} is not a JSON object")
    chosen = {}
    for item in fields(cls):
        if item.name not in values:
            continue
        value = values[item.name]
        default = item.default if item.default is not MISSING else item.default_factory()
        if isinstance(default, bool):
            fits = isinstance(value, bool)
        elif isinstance(default, float):
            fits = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif default is None and "bool" in str(item.type):  # an optional flag: True, False or None
            fits = value is None or isinstance(value, bool)
        elif default is None and "str" in str(item.type):  # an optional name, e.g. the optimizer or None
            fits = value is None or isinstance(value, str)
        elif default is None and "float" in str(item.type):  # an optional number, e.g. a float or None
            fits = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
        elif isinstance(default, int) or default is None:  # None: class_count, an int or None
            fits = (isinstance(value, int) and not isinstance(value, bool)) or (default is None and value is None)
        else:
            fits = isinstance(value, type(default))
        if not fits:
            raise ValueError(f"{what} setting {item.name!r} has a value of the wrong type ({str(value)[:40]!r})")
        chosen[item.name] = value
    return cls(**chosen)


def checked_array(arrays: dict, name: str, ndim: int, kinds: str, finite: bool = False) -> np.ndarray:
    """``arrays[name]``, checked to have ``ndim`` dimensions, a dtype of one of ``kinds`` (NumPy kind letters)
    and, with ``finite``, only finite values."""
    if name not in arrays:
        raise ValueError(f"it has no array {name!r}")
    array = arrays[name]
    if array.ndim != ndim or array.dtype.kind not in kinds:
        raise ValueError(f"array {name!r} is {array.dtype} with {array.ndim} dimension(s), expected {ndim} of "
                         f"{'floats' if kinds == 'f' else 'integers' if kinds == 'iu' else 'bytes'}")
    if finite and not np.all(np.isfinite(array)):
        raise ValueError(f"array {name!r} holds NaN or infinite values")
    return array


NUMBER = (int, float)  # a JSON number (a bool is refused, though Python counts it as an int)


def checked_history(history, required: dict[str, tuple], optional: dict[str, tuple]) -> list:
    """A header's per-epoch history: a list of JSON objects, each holding every ``required`` field and any
    ``optional`` one with a value of the given Python types (``type(None)`` allows null; bools are never
    numbers), so that reports can format every record; ValueError naming the first record that is not."""
    if not isinstance(history, list):
        raise ValueError("its header's 'history' is not a list")
    for number, record in enumerate(history):
        if not isinstance(record, dict):
            raise ValueError(f"its header's history record {number} is not a JSON object")
        for name, types in (*required.items(), *optional.items()):
            if name not in record:
                if name in required:
                    raise ValueError(f"its header's history record {number} has no {name!r}")
                continue
            value = record[name]
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                raise ValueError(f"its header's history record {number} has {name!r} of the wrong type "
                                 f"({str(value)[:40]!r})")
    return history

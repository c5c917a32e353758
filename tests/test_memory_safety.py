"""Files that would have crashed or misled: each is refused in one line, or rebuilt, before any kernel sees it.

A model container declaring arrays its header does not give (refused before they are
inflated), a checkpoint without a corpus fingerprint or with a missing kernel array,
history records of the wrong types (``info``, ``plot``), C++ weights beyond float32,
tagger transitions that are not log probabilities, and corpus cache entries that are
stale (the text rewritten in place, its mtime set back) or hold ids outside their types.
"""

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from rnnlmpy import train
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.store import read_store
from rnnlmpy.base.system import available_memory_bytes
from rnnlmpy.corpus import cache as corpus_cache
from rnnlmpy.corpus.encoding import encode_file
from rnnlmpy.rnnlm.cpp_format import write_rnnlm
from rnnlmpy.rnnlm.model import RnnlmConfig
from rnnlmpy.rnnlm.model_file import load_model, save_model

from helpers import pattern_corpus, run_cli, tiny_model, train_until_crash, write_text


def one_line(call, *expected) -> str:
    """``call()`` must raise RnnlmpyError with a one-line message holding every ``expected``."""
    with pytest.raises(RnnlmpyError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    for text in expected:
        assert text in message, message
    return message


def cli_one_line(argv, capsys, *expected) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err


def container_arrays(path):
    """(header dict, arrays) of a saved container."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(bytes(arrays.pop("header"))), arrays


def write_container(path, header, arrays, declared=None):
    """A container of ``arrays``; ``declared`` (name -> shape) writes that member as a .npy header declaring the
    shape, followed by only 64 bytes of zeros (a member that would inflate to its declared size)."""
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
             **{name: value for name, value in arrays.items() if name not in (declared or {})})
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, shape in (declared or {}).items():
            member = io.BytesIO()
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", member.getvalue() + b"\0" * 64)
    path.write_bytes(buffer.getvalue())
    return str(path)


# ---------------------------------------------------------------- declared shapes, before inflating

@pytest.fixture
def saved_model(tmp_path):
    path = tmp_path / "good.model"
    save_model(tiny_model(dtype="float32"), str(path))
    return container_arrays(str(path))


def test_a_member_declaring_another_shape_is_refused_before_it_is_inflated(saved_model, tmp_path, monkeypatch):
    header, arrays = saved_model
    rows, hidden = arrays["input_weights"].shape
    path = write_container(tmp_path / "bomb.model", header, arrays, {"input_weights": (rows * 1000, hidden)})
    inflated = []
    original = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array",
                        lambda *args, **kwargs: inflated.append(1) or original(*args, **kwargs))
    one_line(lambda: load_model(path), path, "'input_weights' declares the shape", f"({rows * 1000}, {hidden})")
    assert len(inflated) == 1  # the JSON header only


def test_a_member_declaring_more_than_memory_is_refused(saved_model, tmp_path, capsys):
    header, arrays = saved_model
    huge = (available_memory_bytes() * 1000 // 4, 1)  # far more than memory, however much is freed meanwhile
    path = write_container(tmp_path / "huge.model", header, arrays, {"input_weights": huge})
    one_line(lambda: read_store(path, "rnnlm"), path, "GiB of memory")
    test = write_text(tmp_path / "test.txt", ["w1 w2"])
    cli_one_line(["ppl", "-rnnlm", path, "-test", test], capsys, path, "GiB of memory")


def test_an_array_no_model_has_is_refused(saved_model, tmp_path):
    header, arrays = saved_model
    path = write_container(tmp_path / "extra.model", header, {**arrays, "surprise": np.zeros(3)})
    one_line(lambda: load_model(path), "'surprise'")


def test_a_tagger_member_declaring_another_shape_is_refused(tmp_path):
    from rnnlmpy.tagger import TaggerConfig, load_tagger, new_tagger, save_tagger
    sentences = [(["the", "dog", "runs"], ["DT", "NN", "VBZ"]), (["a", "cat"], ["DT", "NN"])]
    save_tagger(new_tagger(TaggerConfig(hidden_size=4, ensemble=2), sentences), str(tmp_path / "good.npz"))
    header, arrays = container_arrays(str(tmp_path / "good.npz"))
    path = write_container(tmp_path / "bomb.npz", header, arrays, {"network1/forward_recurrent": (4000, 4)})
    one_line(lambda: load_tagger(path), "network1/forward_recurrent", "(4000, 4)")
    arrays["transitions"] = arrays["transitions"].copy()
    arrays["transitions"][0, 0] = np.inf
    path = write_container(tmp_path / "inf.npz", header, arrays)
    one_line(lambda: load_tagger(path), "'transitions'")


@pytest.mark.parametrize("name", ["network0/forward_input", "network1/output_weights"])
def test_a_tagger_weight_of_another_precision_is_refused(name, tmp_path, capsys):
    """Kernels compiled for a mix of precisions were never meant to run (a crafted mix crashed ``tag`` with heap
    corruption under the fuzz test): every weight has the tagger's precision."""
    from rnnlmpy.tagger import TaggerConfig, load_tagger, new_tagger, save_tagger
    sentences = [(["the", "dog", "runs"], ["DT", "NN", "VBZ"]), (["a", "cat"], ["DT", "NN"])]
    save_tagger(new_tagger(TaggerConfig(hidden_size=4, ensemble=2), sentences), str(tmp_path / "good.npz"))
    header, arrays = container_arrays(str(tmp_path / "good.npz"))
    arrays[name] = arrays[name].astype(np.float64)
    path = write_container(tmp_path / "mixed.npz", header, arrays)
    one_line(lambda: load_tagger(path), name, "float64", "precision is float32")
    test = write_text(tmp_path / "words.txt", ["the cat runs"])
    cli_one_line(["tag", "-test", test, "-model", path], capsys, path, "precision is float32")


# ---------------------------------------------------------------- history records

BAD_HISTORIES = {
    "record a string": ["epoch 1"],
    "epoch a string": [{"epoch": "0", "alpha": 0.1, "train_entropy": 3.0, "words_per_second": 1.0, "seconds": 1.0}],
    "alpha null": [{"epoch": 0, "alpha": None, "train_entropy": 3.0, "words_per_second": 1.0, "seconds": 1.0}],
    "no train entropy": [{"epoch": 0, "alpha": 0.1, "words_per_second": 1.0, "seconds": 1.0}],
    "valid ppl a list": [{"epoch": 0, "alpha": 0.1, "train_entropy": 3.0, "words_per_second": 1.0,
                          "seconds": 1.0, "valid_ppl": [1]}],
    "accepted a number": [{"epoch": 0, "alpha": 0.1, "train_entropy": 3.0, "words_per_second": 1.0,
                           "seconds": 1.0, "accepted": 1}],
}


@pytest.mark.parametrize("case", sorted(BAD_HISTORIES))
def test_info_and_plot_of_a_history_of_wrong_types_are_one_line(case, saved_model, tmp_path, capsys):
    header, arrays = saved_model
    header["training"]["history"] = BAD_HISTORIES[case]
    path = write_container(tmp_path / "history.model", header, arrays)
    cli_one_line(["info", "-rnnlm", path], capsys, path, "history record 0")
    cli_one_line(["plot", path, "-o", str(tmp_path / "curve.png")], capsys, path, "history record 0")


def test_a_tagger_history_of_wrong_types_is_one_line(tmp_path, capsys):
    from rnnlmpy.tagger import TaggerConfig, new_tagger, save_tagger
    sentences = [(["the", "dog"], ["DT", "NN"])]
    save_tagger(new_tagger(TaggerConfig(hidden_size=3, ensemble=1), sentences), str(tmp_path / "good.npz"))
    header, arrays = container_arrays(str(tmp_path / "good.npz"))
    header["history"] = [{"epoch": 0, "alpha": "fast", "train_entropy": 1.0}]
    path = write_container(tmp_path / "bad.npz", header, arrays)
    cli_one_line(["info", "-rnnlm", path], capsys, "history record 0", "'alpha'")


# ---------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A mid-epoch checkpoint of one thread: (folder, model path, train file, valid file, config)."""
    folder = tmp_path_factory.mktemp("checkpoint")
    train_file = write_text(folder / "train.txt", pattern_corpus(3000, 1))
    valid_file = write_text(folder / "valid.txt", pattern_corpus(50, 2))
    config = dict(hidden_size=6, class_count=3, bptt=2, bptt_block=3)
    path = str(folder / "ck.model")
    train_until_crash(train_file, path, valid_file, RnnlmConfig(**config), position=10_000, max_iter=1,
                      anti_kasparek=10_000, threads=1)
    assert load_model(path).training.position > 0
    return folder, path, train_file, valid_file, config


def resume(checkpoint, path):
    _, _, train_file, valid_file, config = checkpoint
    return train(train_file, path, valid_file, RnnlmConfig(**config), max_iter=1, anti_kasparek=10_000, debug=0,
                 threads=1)


@pytest.mark.parametrize("fingerprint", ["", None], ids=["empty", "missing"])
def test_a_checkpoint_without_a_corpus_fingerprint_is_refused(fingerprint, checkpoint, tmp_path):
    header, arrays = container_arrays(checkpoint[1])
    if fingerprint is None:
        del header["training"]["corpus_sha256"]
    else:
        header["training"]["corpus_sha256"] = fingerprint
    path = write_container(tmp_path / "nofingerprint.model", header, arrays)
    one_line(lambda: resume(checkpoint, path), "no corpus fingerprint")


def test_a_checkpoint_missing_counters_is_one_line(checkpoint, tmp_path):
    header, arrays = container_arrays(checkpoint[1])
    del arrays["resume/kernel/counters"]
    path = write_container(tmp_path / "nocounters.model", header, arrays)
    one_line(lambda: resume(checkpoint, path), path, "'counters'")


def test_an_intact_checkpoint_resumes(checkpoint, tmp_path):
    header, arrays = container_arrays(checkpoint[1])
    path = write_container(tmp_path / "same.model", header, arrays)
    assert resume(checkpoint, path).training.finished


# ---------------------------------------------------------------- C++ weights beyond float32

@pytest.mark.parametrize("value", ["1e308", "-1e39", "3.5e38"])
def test_cpp_text_weights_beyond_float32_are_refused(value, tmp_path):
    path = tmp_path / "m.rnnlm"
    write_rnnlm(tiny_model(dtype="float32"), str(path))
    text = path.read_text(encoding="utf-8")
    marker = "\nHidden layer activation:\n"
    start = text.index(marker) + len(marker)
    path.write_text(text[:start] + value + text[text.index("\n", start):], encoding="utf-8")
    one_line(lambda: load_model(str(path)), f"{path}:", value, "float32")


# ---------------------------------------------------------------- the corpus cache

def test_a_text_rewritten_in_place_with_its_old_mtime_is_read_again(tmp_path, cache_dir):
    path = write_text(tmp_path / "t.txt", ["a b c"])
    assert [corpus.types for corpus in (encode_file(path), encode_file(path))] == [["</s>", "a", "b", "c"]] * 2
    stat = os.stat(path)
    with open(path, "r+b") as handle:  # same size, other words, then the old times (touch -r)
        handle.write(b"x y z\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_size == stat.st_size and os.stat(path).st_mtime_ns == stat.st_mtime_ns
    assert encode_file(path).types == ["</s>", "x", "y", "z"]


@pytest.mark.parametrize("bad_id", [2**31 - 1, -7, 4])
def test_cached_ids_outside_the_types_are_rebuilt(bad_id, tmp_path, cache_dir):
    path = write_text(tmp_path / "t.txt", ["a b c", "c b"])
    expected = encode_file(path, cache=False)
    encode_file(path)
    ids_path = os.path.join(corpus_cache.entry_path(str(cache_dir), os.path.abspath(path)), corpus_cache.IDS_FILE)
    ids = np.fromfile(ids_path, dtype="<i4")
    ids[1] = bad_id
    ids.tofile(ids_path)
    rebuilt = encode_file(path)
    assert isinstance(rebuilt.type_ids, np.memmap)
    np.testing.assert_array_equal(np.asarray(rebuilt.type_ids), np.asarray(expected.type_ids))


@pytest.mark.parametrize("damage", ["first type not </s>", "a type twice", "fingerprint not hex", "negative lines",
                                    "more lines than tokens", "last id not </s>"])
def test_a_cache_entry_that_contradicts_itself_is_rebuilt(damage, tmp_path, cache_dir):
    path = write_text(tmp_path / "t.txt", ["a b c", "c b"])
    expected = encode_file(path, cache=False)
    encode_file(path)
    entry = corpus_cache.entry_path(str(cache_dir), os.path.abspath(path))
    manifest_path, types_path = (os.path.join(entry, name) for name in (corpus_cache.MANIFEST_FILE,
                                                                        corpus_cache.TYPES_FILE))
    manifest = json.load(open(manifest_path))
    types = open(types_path, encoding="utf-8").read().split("\n")[:-1]
    if damage == "first type not </s>":
        types[0], types[1] = types[1], types[0]
    elif damage == "a type twice":
        types[2] = types[1]
    elif damage == "fingerprint not hex":
        manifest["sha256"] = "z" * 64
    elif damage == "negative lines":
        manifest["lines"] = -1
    elif damage == "more lines than tokens":
        manifest["lines"] = manifest["tokens"] + 1
    else:
        ids_path = os.path.join(entry, corpus_cache.IDS_FILE)
        ids = np.fromfile(ids_path, dtype="<i4")
        ids[-1] = 1
        ids.tofile(ids_path)
    json.dump(manifest, open(manifest_path, "w"))
    open(types_path, "w", encoding="utf-8").write("".join(t + "\n" for t in types))
    rebuilt = encode_file(path)
    assert rebuilt.types == expected.types and rebuilt.sha256 == expected.sha256
    assert rebuilt.line_count == expected.line_count
    np.testing.assert_array_equal(np.asarray(rebuilt.type_ids), np.asarray(expected.type_ids))


# ---------------------------------------------------------------- kernels shared by counting and non-counting loops

def test_a_kernel_first_compiled_inside_the_refcount_free_loops_is_safe_elsewhere(tmp_path):
    """The GRU cell's kernels, compiled (and cached) while training compiles its reference-count-free loops, are
    then called from loops that count references (here the GRU micro-benchmark's). A kernel that returned its
    array argument made the counting caller free the array early: 'malloc(): unaligned tcache chunk detected'."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), "PYTHONPATH": root}
    corpus = write_text(tmp_path / "t.txt", [" ".join(f"w{(i * 7 + j) % 40}" for j in range(8)) for i in range(300)])
    trained = subprocess.run([sys.executable, "-m", "rnnlmpy", "train", "-train", corpus, "-rnnlm",
                              str(tmp_path / "m"), "-hidden", "20", "-hidden-type", "gru", "-max-iter", "1",
                              "-debug", "0"], cwd=str(tmp_path), env=environment, capture_output=True, text=True,
                             timeout=900)
    assert trained.returncode == 0, trained.stderr[-2000:]
    bench = subprocess.run([sys.executable, "-m", "tools.bench.gru_kernel", "--hidden", "20", "--vocab", "200",
                            "--positions", "2000", "--calls", "20", "--repeats", "1", "--dtype", "float32"],
                           cwd=root, env=environment, capture_output=True, text=True, timeout=900)
    assert bench.returncode == 0, (bench.returncode, bench.stderr[-2000:])

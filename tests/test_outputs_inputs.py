"""Outputs are regular files, written under their lock; inputs are regular files and never block (issue 21)."""

import os
import signal
import stat
import subprocess
import sys

import pytest

from rnnlmpy.base import files
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.corpus import encode_file

from helpers import run_cli, write_text

CONFIG = dict(hidden_size=8, class_count=3, bptt=2, bptt_block=5, rand_seed=3)
TAGGED = ["the_DT cat_NN sat_VBD", "a_DT dog_NN ran_VBD"]


@pytest.fixture(scope="module")
def trained(trained_model):
    files = trained_model(CONFIG, sentences=(200, 30, 30), max_iter=1)
    return dict(files, tagged=write_text(files["folder"] / "tagged.txt", TAGGED))


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def make_node(path, kind):
    """A FIFO, or a character device with /dev/null's numbers (skipped where mknod is not permitted)."""
    if kind == "fifo":
        os.mkfifo(path)
        return stat.S_ISFIFO
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a character device needs root (CAP_MKNOD); the FIFO case covers the same check")
    return stat.S_ISCHR


@pytest.fixture()
def no_hang():
    """Fail the test (instead of hanging it) if something blocks for 60 s, e.g. opening a FIFO nobody writes."""
    def interrupt(signum, frame):
        raise TimeoutError("blocked for 60 s")
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


WRITERS = {
    "ngram -arpa": ["ngram", "-train", "{train}", "-order", "2", "-arpa", "{out}"],
    "convert -o": ["convert", "-rnnlm", "{model}", "-to", "rnnlmpy", "-o", "{out}"],
    "plot -o": ["plot", "{model}", "-o", "{out}"],
    "train -rnnlm": ["train", "-train", "{train}", "-rnnlm", "{out}", "-hidden", "8", "-one-iter", "-debug", "0"],
    "tag-train -model": ["tag-train", "-train", "{tagged}", "-model", "{out}", "-model-type", "hmm"],
}
FORCEABLE = {"ngram -arpa", "convert -o", "plot -o", "train -rnnlm"}


def argv_for(writer, out, trained, force=False):
    argv = [part.format(out=out, **trained) for part in WRITERS[writer]]
    return argv + ["-force"] if force and writer in FORCEABLE else argv


# ---------------------------------------------------------------- outputs are only ever regular files

@pytest.mark.parametrize("kind", ["fifo", "char device"])
@pytest.mark.parametrize("writer", WRITERS)
def test_an_output_never_replaces_a_fifo_or_device_even_with_force(writer, kind, trained, tmp_path, capsys, no_hang):
    out = str(tmp_path / "node")
    still_a_node = make_node(out, kind)
    code, _, err = run_cli(argv_for(writer, out, trained, force=True), capsys)
    assert code == 2 and "writes only regular files" in one_error_line(err)
    assert still_a_node(os.lstat(out).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["node"]  # no temporary file, no lock file left


def test_write_atomically_refuses_a_node_that_appears_while_writing(tmp_path):
    out = str(tmp_path / "out")

    def write(handle):
        handle.write(b"data")
        os.mkfifo(out)  # another process puts a FIFO there after the command's checks

    with pytest.raises(RnnlmpyError, match="FIFO"):
        files.write_atomically(out, write)
    assert stat.S_ISFIFO(os.lstat(out).st_mode) and os.listdir(tmp_path) == ["out"]


# ---------------------------------------------------------------- symbolic links

@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("writer", ["ngram -arpa", "convert -o", "tag-train -model"])
def test_a_symlink_loop_or_a_dangling_link_is_never_replaced(writer, force, trained, tmp_path, capsys):
    os.symlink("loop_b", tmp_path / "loop_a")
    os.symlink("loop_a", tmp_path / "loop_b")
    os.symlink("missing", tmp_path / "dangling")
    for name, expected in (("loop_a", "symbolic link loop"), ("dangling", "symbolic link to a missing file")):
        code, _, err = run_cli(argv_for(writer, str(tmp_path / name), trained, force), capsys)
        assert code == 2 and expected in one_error_line(err)
    assert sorted(os.listdir(tmp_path)) == ["dangling", "loop_a", "loop_b"]
    assert all(os.path.islink(tmp_path / name) for name in os.listdir(tmp_path))


@pytest.mark.parametrize("writer", ["ngram -arpa", "plot -o"])
def test_a_link_to_a_fifo_is_refused_even_with_force(writer, trained, tmp_path, capsys, no_hang):
    os.mkfifo(tmp_path / "fifo")
    os.symlink("fifo", tmp_path / "link")
    code, _, err = run_cli(argv_for(writer, str(tmp_path / "link"), trained, force=True), capsys)
    assert code == 2 and "is a FIFO (named pipe); rnnlmpy writes only regular files" in one_error_line(err)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode) and os.path.islink(tmp_path / "link")
    assert sorted(os.listdir(tmp_path)) == ["fifo", "link"]


def test_a_link_to_an_earlier_output_is_written_through_and_kept(trained, tmp_path, capsys):
    target = tmp_path / "real.arpa"
    assert run_cli(argv_for("ngram -arpa", str(target), trained), capsys)[0] == 0
    before = target.read_bytes()
    target.write_bytes(before.replace(b"ngram 2=", b"ngram  2="))  # still an ARPA model, but different bytes
    os.symlink("real.arpa", tmp_path / "link.arpa")
    assert run_cli(argv_for("ngram -arpa", str(tmp_path / "link.arpa"), trained), capsys)[0] == 0
    assert os.path.islink(tmp_path / "link.arpa") and target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["link.arpa", "real.arpa"]


# ---------------------------------------------------------------- one writer per output; stale temporaries

@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_respects_the_lock_another_run_holds(writer, trained, tmp_path, capsys):
    out = tmp_path / "out"
    with files.exclusive_lock(str(out)):  # what a running `train -rnnlm out` holds before its first save
        code, _, err = run_cli(argv_for(writer, str(out), trained, force=True), capsys)
    assert code == 2 and "another rnnlmpy run is writing" in one_error_line(err)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("writer", sorted(FORCEABLE))
def test_force_does_not_override_the_lock_on_a_model_being_trained(writer, trained, tmp_path, capsys):
    out = tmp_path / "out"
    out.write_bytes(b"saved by a running train")
    with files.exclusive_lock(str(out)):
        code, _, err = run_cli(argv_for(writer, str(out), trained, force=True), capsys)
    assert code == 2 and "another rnnlmpy run is writing" in one_error_line(err)
    assert out.read_bytes() == b"saved by a running train"


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_removes_the_temporaries_an_interrupted_write_left(writer, trained, tmp_path, capsys):
    out = tmp_path / "out"
    stale = tmp_path / "out.k3x_9abc.tmp"  # what kill -9 during write_atomically leaves
    stale.write_bytes(b"half a model")
    others = [tmp_path / "out.other.k3x_9abc.tmp", tmp_path / "other.tmp", tmp_path / "out.tmp"]
    for other in others:  # another output's temporary, and files that are not temporaries of "out"
        other.write_bytes(b"not ours")
    code, _, err = run_cli(argv_for(writer, str(out), trained), capsys)
    assert code == 0 and not stale.exists() and out.exists(), err
    assert all(other.read_bytes() == b"not ours" for other in others)
    if writer in ("ngram -arpa", "convert -o", "tag-train -model"):
        assert f"removed {stale} (left by an interrupted write)" in err


def test_the_temporary_of_a_write_killed_with_sigkill_is_removed_by_the_next_ngram_arpa(trained, tmp_path, capsys):
    out = str(tmp_path / "kn.arpa")
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys\n"
        "from rnnlmpy.base.files import write_atomically\n"
        "def write(handle):\n"
        "    handle.write(b'half an ARPA file' * 1000)\n"
        "    handle.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_atomically(sys.argv[1], write)\n"), out], timeout=120)
    assert killed.returncode == -signal.SIGKILL
    left = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith("kn.arpa.")
    code, _, err = run_cli(argv_for("ngram -arpa", out, trained), capsys)
    assert code == 0 and f"removed {tmp_path / left[0]}" in err
    assert sorted(os.listdir(tmp_path)) == ["kn.arpa"]


def test_only_regular_temporaries_of_this_output_are_removed(tmp_path):
    ours = [tmp_path / "m.abc_123.tmp", tmp_path / "m.q9.tmp"]
    kept = [tmp_path / "m.x.abc_123.tmp", tmp_path / "m.tmp", tmp_path / "m.abc.tmp.keep", tmp_path / "mm.abc.tmp"]
    for path in ours + kept:
        path.write_bytes(b"")
    os.mkdir(tmp_path / "m.folder.tmp")
    os.symlink("m.tmp", tmp_path / "m.link.tmp")
    assert files.remove_stale_temporaries(str(tmp_path / "m")) == sorted(str(path) for path in ours)
    assert sorted(os.listdir(tmp_path)) == sorted([path.name for path in kept] + ["m.folder.tmp", "m.link.tmp"])


def test_write_atomically_holds_the_lock_unless_this_process_already_does(tmp_path):
    out = str(tmp_path / "out")
    with files.exclusive_lock(out):
        files.write_atomically(out, lambda handle: handle.write(b"mine"))  # the holder writes freely
    assert open(out, "rb").read() == b"mine" and not os.path.exists(out + ".lock")
    with files.exclusive_lock(out), pytest.raises(RnnlmpyError, match="another rnnlmpy run"):
        with files.exclusive_lock(out):
            pass


# ---------------------------------------------------------------- inputs are regular files and never block

READERS = {
    "train -train": ["train", "-train", "{node}", "-rnnlm", "{out}", "-hidden", "8", "-one-iter"],
    "train -valid": ["train", "-train", "{train}", "-valid", "{node}", "-rnnlm", "{out}", "-hidden", "8"],
    "ppl -test": ["ppl", "-rnnlm", "{model}", "-test", "{node}"],
    "ppl -rnnlm": ["ppl", "-rnnlm", "{node}", "-test", "{train}"],
    "ngram -train": ["ngram", "-train", "{node}", "-arpa", "{out}"],
    "ngram -lm": ["ngram", "-lm", "{node}", "-test", "{train}"],
    "ngram -test": ["ngram", "-train", "{train}", "-test", "{node}"],
    "convert -rnnlm": ["convert", "-rnnlm", "{node}", "-to", "rnnlmpy", "-o", "{out}"],
    "tag-train -train": ["tag-train", "-train", "{node}", "-model", "{out}", "-model-type", "hmm"],
    "info -rnnlm": ["info", "-rnnlm", "{node}"],
}


@pytest.mark.parametrize("kind", ["fifo", "char device"])
@pytest.mark.parametrize("reader", READERS)
def test_a_fifo_or_device_input_is_refused_at_once(reader, kind, trained, tmp_path, capsys, no_hang):
    node = str(tmp_path / "node")
    make_node(node, kind)
    argv = [part.format(node=node, out=str(tmp_path / "out"), **trained) for part in READERS[reader]]
    code, _, err = run_cli(argv, capsys)
    line = one_error_line(err)
    assert code == 2 and "not a regular file" in line and repr(node) in line
    assert not os.path.exists(tmp_path / "out")


def test_the_library_readers_refuse_a_fifo_without_opening_it(tmp_path, no_hang):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    for read in (lambda: files.read_file_bytes(fifo, "text"), lambda: files.sniff(fifo),
                 lambda: encode_file(fifo, "text"), lambda: encode_file(fifo, "text", char_level=True)):
        with pytest.raises(RnnlmpyError, match="is a FIFO \\(named pipe\\), not a regular file"):
            read()


# ---------------------------------------------------------------- options that would be ignored

@pytest.mark.parametrize("extra, named", [(["-arpa", "{out}"], "-arpa"), (["-order", "4"], "-order"),
                                          (["-arpa", "{out}", "-force"], "-arpa, -force")])
def test_ngram_with_lm_refuses_what_it_would_ignore(extra, named, trained, tmp_path, capsys):
    arpa = str(tmp_path / "kn.arpa")
    assert run_cli(argv_for("ngram -arpa", arpa, trained), capsys)[0] == 0
    out = str(tmp_path / "out.arpa")
    code, stdout, err = run_cli(["ngram", "-lm", arpa, "-test", trained["train"]]
                                + [part.format(out=out) for part in extra], capsys)
    assert code == 2 and one_error_line(err).startswith(f"rnnlmpy: error: {named}: only for building")
    assert stdout == "" and not os.path.exists(out)


def test_ngram_refuses_force_without_arpa(trained, capsys):
    code, _, err = run_cli(["ngram", "-train", trained["train"], "-test", trained["train"], "-force"], capsys)
    assert code == 2 and "-force only concerns the file at -arpa" in one_error_line(err)


@pytest.mark.parametrize("kind", ["fifo", "char"])
def test_a_fifo_or_device_at_the_history_path_is_refused_without_blocking(kind, trained, tmp_path, capsys, no_hang):
    model = str(tmp_path / "model")
    make_node(model + ".history.jsonl", kind)
    code, _, err = run_cli(["train", "-train", trained["train"], "-rnnlm", model, "-hidden", "4", "-one-iter",
                            "-debug", "0"], capsys)
    assert code == 2 and "history.jsonl" in one_error_line(err) and "regular file" in err
    assert not stat.S_ISREG(os.lstat(model + ".history.jsonl").st_mode)


def test_append_bytes_adds_to_a_regular_file_and_creates_a_missing_one(tmp_path):
    path = str(tmp_path / "log.jsonl")
    files.append_bytes(path, b"one\n")
    files.append_bytes(path, b"two\n" * 50_000)
    with open(path, "rb") as handle:
        assert handle.read() == b"one\n" + b"two\n" * 50_000

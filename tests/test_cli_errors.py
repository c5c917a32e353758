"""A new user's first hour and a hostile user's options: one line on stderr and exit status 2, never a traceback.

Covers: tag-train's numeric options, stdout on a full device, -rand-seed out of range in gen, an unusable
Matplotlib backend, an unreachable Dask scheduler, corpora that cannot be downloaded, and token sequences
given as a string.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.executor import open_executor
from rnnlmpy.mixing.interpolate import ngram_token_probabilities
from rnnlmpy.ngram.kneser_ney import score_sentences, train_ngram
from rnnlmpy.rnnlm.evaluation import score, score_tokens
from rnnlmpy.rnnlm.model_file import save_model
from rnnlmpy.tagger import TaggerConfig, new_tagger, train_hmm

from helpers import load_locator, run_cli, tiny_model, write_text


# ---------------------------------------------------------------- corpora that are nowhere and cannot be fetched

def test_a_failed_download_names_every_folder_searched_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """``make demo`` without corpora and without network: one line naming $RNNLMPY_CORPORA, ../shared/corpora
    and corpora/data, and no empty corpus folder left where the download would have gone."""
    locate = load_locator()
    downloads = tmp_path / "data"
    monkeypatch.delenv("RNNLMPY_CORPORA", raising=False)
    monkeypatch.setattr(locate, "DOWNLOAD_DIR", str(downloads))
    monkeypatch.setattr(locate, "is_complete", lambda folder, corpus: False)  # whatever ../shared holds

    def offline(url):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(locate, "_download", offline)
    monkeypatch.setattr(sys, "argv", ["locate.py", "--fetch", "--corpus", "rnnlm-example"])
    assert locate.main() == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for searched in ("$RNNLMPY_CORPORA", os.path.join("shared", "corpora"), str(downloads),
                     "name resolution", "'rnnlm-example'"):
        assert searched in lines[0]
    assert not downloads.exists()


def test_a_failed_download_into_the_set_folder_leaves_it_as_it_was(tmp_path, monkeypatch):
    locate = load_locator()
    monkeypatch.setenv("RNNLMPY_CORPORA", str(tmp_path))

    def offline(url):
        raise OSError("network is unreachable")

    monkeypatch.setattr(locate, "_download", offline)
    for corpus in ("ptb", "wiki-en-pos"):  # a tarball and raw files
        with pytest.raises(OSError):
            locate.fetch(corpus)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- tag-train's settings: range, finiteness, memory

TAGGED = ["the_DT dog_NN runs_VBZ", "a_DT cat_NN sleeps_VBZ", "dogs_NNS run_VBP fast_RB"] * 5


def one_error_line(code, out, err):
    """The exit status is 2 and stderr is one error line (no traceback); returns that line."""
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("options, expected", [
    (["-alpha", "inf"], "-alpha must be a finite number"),
    (["-alpha", "nan"], "-alpha must be a finite number"),  # click's range lets NaN through
    (["-ensemble", "100000000"], "would need"),  # ~2 TB: more than any machine running the tests
    (["-hidden", "100000000"], "would need"),
    (["-rand-seed", "-1"], "-rand-seed must be between 0 and 2^63 - 1"),
    (["-rand-seed", str(2**63)], "-rand-seed must be between 0 and 2^63 - 1"),
])
def test_tag_train_refuses_settings_out_of_range_before_reading(tmp_path, capsys, options, expected):
    train = write_text(tmp_path / "train.pos", TAGGED)
    model = tmp_path / "m.tagger"
    line = one_error_line(*run_cli(["tag-train", "-train", train, "-model", str(model), *options], capsys))
    assert expected in line
    assert not model.exists()


def test_tag_train_that_diverges_writes_no_tagger(tmp_path, capsys):
    """A finite -alpha can still overflow the float32 weights: no tagger is written that ``tag`` would refuse."""
    train = write_text(tmp_path / "train.pos", TAGGED)
    model = tmp_path / "m.tagger"
    line = one_error_line(*run_cli(["tag-train", "-train", train, "-model", str(model), "-alpha", "1e300",
                                    "-iter", "1", "-ensemble", "1", "-debug", "0"], capsys))
    assert "diverged" in line and "-alpha" in line
    assert not model.exists()


@pytest.mark.parametrize("setting", ["alpha_decay", "gradient_cutoff", "init_scale", "word_dropout"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_tagger_settings_the_command_line_does_not_show_are_checked_too(setting, value):
    with pytest.raises(RnnlmpyError, match=setting):
        TaggerConfig(**{setting: value}).validate()


# ---------------------------------------------------------------- stdout on a full device, seeds, plot backends

def full_device(folder):
    """A character device like /dev/full (1, 7: every write fails with ENOSPC) made in ``folder``; /dev/full
    itself where making device nodes is not permitted; the test is skipped when neither can be written to."""
    path = os.path.join(folder, "full")
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
    except OSError:
        path = "/dev/full"
    try:
        handle = os.open(path, os.O_WRONLY)
    except OSError as error:
        pytest.skip(f"no full device to write to: {error}")
    try:
        os.write(handle, b"x")
        pytest.skip(f"{path} accepts writes")
    except OSError as error:
        if error.errno != errno.ENOSPC:
            pytest.skip(f"{path} fails writes with {error}, not ENOSPC")
    finally:
        os.close(handle)
    return path


@pytest.fixture()
def model_files(tmp_path):
    """A tiny language model, an HMM tagger and texts for them, in tmp_path: {name: path}."""
    model = tiny_model()
    words = model.vocabulary.words[1:]
    text = write_text(tmp_path / "test.txt", [" ".join(words[i:] + words[:i]) for i in range(len(words))] * 50)
    save_model(model, str(tmp_path / "m.rnnlm"))
    train_hmm([(["the", "dog"], ["DT", "NN"]), (["a", "cat"], ["DT", "NN"])]).write(str(tmp_path / "hmm.txt"))
    words = write_text(tmp_path / "words.txt", ["the dog", "a cat"] * 5000)
    return {"model": str(tmp_path / "m.rnnlm"), "text": text, "hmm": str(tmp_path / "hmm.txt"), "words": words}


@pytest.mark.parametrize("command", [
    ["ppl", "-rnnlm", "{model}", "-test", "{text}"],
    ["ppl", "-rnnlm", "{model}", "-test", "{text}", "-debug", "2"],
    ["gen", "-rnnlm", "{model}", "-gen", "3"],  # fits the buffer: fails at the last flush
    ["gen", "-rnnlm", "{model}", "-gen", "100000"],  # fails on a write
    ["ngram", "-train", "{text}", "-order", "2", "-test", "{text}", "-debug", "2"],
    ["tag", "-model", "{hmm}", "-test", "{words}"],
    ["info", "-rnnlm", "{model}"],
], ids=lambda command: " ".join(command[:1] + command[-2:]))
def test_stdout_on_a_full_device_is_one_line(tmp_path, model_files, command):
    device = full_device(tmp_path)
    argv = [part.format(**model_files) for part in command]
    with open(device, "w") as stdout:
        result = subprocess.run([sys.executable, "-m", "rnnlmpy_cli", *argv], stdout=stdout, stderr=subprocess.PIPE,
                                text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == "rnnlmpy: error: cannot write the output: No space left on device"
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_gen_refuses_a_seed_out_of_range(model_files, capsys, seed):
    line = one_error_line(*run_cli(["gen", "-rnnlm", model_files["model"], "-gen", "5", "-rand-seed", seed], capsys))
    assert "-rand-seed must be between 0 and 2^63 - 1" in line


def test_plot_names_an_unusable_backend_in_one_line(tmp_path, model_files):
    pytest.importorskip("matplotlib")
    output = tmp_path / "curve.png"
    result = subprocess.run([sys.executable, "-m", "rnnlmpy_cli", "plot", model_files["model"], "-o", str(output)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "MPLBACKEND": "nonexistent"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "MPLBACKEND='nonexistent'" in result.stderr and not output.exists()


# ---------------------------------------------------------------- token sequences given as a string

def test_a_string_is_scored_as_a_sentence_never_as_characters():
    """``score_tokens(model, "w1 w2 w3")`` is KenLM's ``score("w1 w2 w3")``: the words, then ``</s>``."""
    model = tiny_model()
    as_list = score_tokens(model, ["w1", "w2", "w3", "</s>", "w4", "</s>"])
    as_text = score_tokens(model, "w1 w2 w3\nw4")
    assert list(as_text.tokens) == list(as_list.tokens)
    assert as_text.perplexity == as_list.perplexity and as_text.oov_count == 0
    assert score(model, "w1 w2\tw3\nw4").perplexity == as_list.perplexity
    assert score(model, "w1 w2 w3\nw4", dynamic_alpha=0.1).perplexity == \
        score(model, ["w1", "w2", "w3", "</s>", "w4", "</s>"], dynamic_alpha=0.1).perplexity
    assert list(model.vocabulary.encode("w1 w2")) == list(model.vocabulary.encode(["w1", "w2", "</s>"]))
    for call in (lambda: score_tokens(model, b"w1 w2"), lambda: model.vocabulary.encode(b"w1")):
        with pytest.raises(RnnlmpyError, match="not bytes"):
            call()


def test_sentences_given_as_strings_are_split_into_words(tmp_path):
    sentences = [(["the", "dog", "runs"], ["DT", "NN", "VBZ"]), (["a", "cat", "sleeps"], ["DT", "NN", "VBZ"])]
    as_lists = [words for words, _ in sentences]
    as_strings = [" ".join(words) for words in as_lists]
    hmm = train_hmm(sentences)
    rnn = new_tagger(TaggerConfig(hidden_size=4, ensemble=1), sentences)
    for tagger in (hmm, rnn):
        expected = tagger.tag(as_lists)
        assert [len(tags) for tags in expected] == [3, 3]
        assert tagger.tag(as_strings) == expected
        assert tagger.tag("\n".join(as_strings)) == expected
    ngram, _ = train_ngram(write_text(tmp_path / "train.txt", as_strings * 3), 2)
    expected = score_sentences(ngram, as_lists).log10_prob
    assert list(score_sentences(ngram, as_strings).log10_prob) == list(expected)
    assert list(ngram_token_probabilities(ngram, "the dog runs\na cat sleeps")) == \
        list(ngram_token_probabilities(ngram, ["the", "dog", "runs", "</s>", "a", "cat", "sleeps", "</s>"]))


# ---------------------------------------------------------------- -scheduler: one line, promptly

def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def not_dask():
    """The address of a TCP server on 127.0.0.1 that answers every connection with an HTTP error, as a web server
    (or a Dask dashboard) would; stopped after the test."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def answer():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                stop.wait(1)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("address, expected", [
    ("garbage", "is not a Dask scheduler address"),
    ("http://127.0.0.1:8786", "is not a Dask scheduler address"),
    ("unix:///tmp/dask.sock", "is not a Dask scheduler address"),
    ("127.0.0.1:0", "port 0 is not between 1 and 65535"),
    ("refused", "Connection refused"),
    ("not dask", "is not a Dask scheduler"),
])
def test_a_scheduler_that_is_not_there_is_one_line(model_files, request, address, expected):
    """Dask's client, given such an address, failed and then waited 40 s at exit to print "Exception ignored in
    Client.__del__" with a traceback (or, against a web server, waited for ever)."""
    pytest.importorskip("distributed", reason="Dask's distributed is not installed: pip install 'rnnlmpy[dask]'")
    if address == "refused":
        address = f"tcp://127.0.0.1:{free_port()}"
    elif address == "not dask":
        address = request.getfixturevalue("not_dask")
    result = subprocess.run([sys.executable, "-m", "rnnlmpy_cli", "ppl", "-rnnlm", model_files["model"], "-test",
                             model_files["text"], "-scheduler", address], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr


def test_a_scheduler_lost_mid_run_is_one_error_and_no_dask_log(tmp_path, capfd):
    """A scheduler killed while a task runs: the work ends in RnnlmpyError naming the scheduler, and Dask's
    "Failed to reconnect" and clean-up tracebacks stay off stderr."""
    pytest.importorskip("distributed", reason="Dask's distributed is not installed: pip install 'rnnlmpy[dask]'")
    from test_dask import START_TIMEOUT_SECONDS, _start, _stop

    scheduler_file = tmp_path / "scheduler.json"
    log = open(tmp_path / "cluster.log", "w")
    processes = [_start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--no-dashboard", "--scheduler-file", str(scheduler_file)], log)]
    try:
        for _ in range(int(START_TIMEOUT_SECONDS / 0.2)):
            if scheduler_file.exists() and scheduler_file.stat().st_size:
                break
            time.sleep(0.2)
        processes.append(_start([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                 str(scheduler_file), "--nthreads", "1", "--no-nanny", "--no-dashboard"], log))
        address = json.loads(scheduler_file.read_text())["address"]
        capfd.readouterr()
        with pytest.raises(RnnlmpyError, match="lost the Dask scheduler at"):
            with open_executor(1, address) as executor:
                task = executor.submit(time.sleep, 600)  # a task that outlives the scheduler
                processes[0].kill()
                processes[0].wait()
                task.result(timeout=300)
        err = capfd.readouterr().err
        assert "Traceback" not in err and "distributed" not in err, err
    finally:
        _stop(processes)
        log.close()

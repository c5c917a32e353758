"""Every command that compiles kernels says so (once, on stderr, not at -debug 0), and compiling is never timed.

``base.compiling`` listens to Numba's compile events: the notice depends on whether a kernel is compiled (an
empty Numba cache) or loaded from the cache, never on how fast the machine is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numba
import pytest

from rnnlmpy.base.compiling import NOTICE, compiling, mute
from rnnlmpy.rnnlm.model_file import save_model

from helpers import tiny_model, write_text


def fresh_function():
    """A new Numba function (no cache): its first call with a new type compiles, later calls do not."""
    @numba.njit(cache=False)
    def twice(value):
        return value * 2
    return twice


def test_the_notice_comes_at_a_compilation_and_not_at_a_call_of_compiled_code():
    function = fresh_function()
    said = []
    started = time.perf_counter()
    with compiling(said.append) as block:
        assert function(3) == 6
        assert function(4) == 8
        assert function(0.5) == 1.0  # a second signature: compiled, but the notice is said once
    elapsed = time.perf_counter() - started
    assert said == [NOTICE]
    assert block.compiled >= 2 and 0 < block.seconds <= elapsed
    with compiling(said.append) as again:
        assert function(5) == 10
    assert said == [NOTICE] and again.compiled == 0 and again.seconds == 0


def test_nested_blocks_say_through_the_innermost_speaker_and_count_in_every_block():
    outer_said, inner_said = [], []
    with compiling(outer_said.append) as outer:
        with compiling() as timing_only:  # no say of its own: the enclosing block's
            fresh_function()(1)
        with compiling(inner_said.append) as inner:
            fresh_function()(1)  # the notice was said in this outermost block already
    assert outer_said == [NOTICE] and inner_said == []
    assert timing_only.compiled >= 1 and inner.compiled >= 1 and outer.compiled >= 2
    assert outer.seconds >= timing_only.seconds + inner.seconds > 0
    inner_said.clear()
    with compiling(outer_said.append):
        with compiling(inner_said.append):
            fresh_function()(1)
    assert inner_said == [NOTICE]


def test_mute_silences_the_open_blocks_and_no_block_is_silent():
    said = []
    with compiling(said.append) as block:
        mute()
        fresh_function()(1)
    assert said == [] and block.compiled >= 1
    fresh_function()(1)  # outside any block: nothing to say it through, nothing fails


def run(argv, cache):
    """``rnnlmpy argv`` in a subprocess with its own Numba cache folder; returns the CompletedProcess."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    result = subprocess.run([sys.executable, "-m", "rnnlmpy_cli", *argv], capture_output=True, text=True, env=env,
                            timeout=900)
    assert result.returncode == 0, result.stderr
    return result


def test_the_first_run_on_an_empty_cache_says_it_compiles_and_the_next_does_not(tmp_path):
    model = tiny_model()
    path = str(tmp_path / "m.rnnlm")
    save_model(model, path)
    text = write_text(tmp_path / "test.txt", [" ".join(model.vocabulary.words[1:])] * 20)
    cache = tmp_path / "numba-cache"
    quiet = run(["ppl", "-rnnlm", path, "-test", text, "-debug", "0"], cache)  # compiles, silently
    assert NOTICE not in quiet.stderr and os.listdir(cache)
    first = run(["gen", "-rnnlm", path, "-gen", "5"], cache)  # sampling kernels: not compiled yet
    assert first.stderr.count(NOTICE) == 1
    for argv in (["gen", "-rnnlm", path, "-gen", "5"], ["ppl", "-rnnlm", path, "-test", text]):
        assert NOTICE not in run(argv, cache).stderr  # loaded from the cache

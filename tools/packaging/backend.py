"""rnnlmpy's build backend: setuptools', with the kernels compiled into the wheel.

A wheel built on the machine that installs it (``pip install rnnlmpy`` from
source, ``pip install .``) carries Numba's cache of the kernels the first
commands need, compiled by ``python -m rnnlmpy_cli.precompile`` inside the
wheel's files (setup.py runs it after copying the sources). So the first
``rnnlmpy`` command starts at once instead of compiling for 10-70 s; the build
takes that time instead. For that build only, the compiler's packages (Numba,
NumPy, click) are added to the build environment.

``RNNLMPY_PRECOMPILE`` chooses what is compiled: unset, the default set;
``all``, every output layer and cell too; ``0``, nothing (a wheel for other
machines: cached code only serves the same CPU and Numba version). Editable
installs never compile (the sources change under them; ``rnnlmpy
compile-kernels`` does it on request). A failure to compile never fails the
build: the kernels then compile at first use, as without a cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F401,F403  (every hook setuptools provides, unchanged unless below)

PRECOMPILE = "RNNLMPY_PRECOMPILE"
OFF = {"0", "no", "none", "off", "false"}
KERNEL_CACHE = ("rnnlmpy", "kernels", "__pycache__")  # Numba's in-tree cache of the kernels, in the package
COMPILER_PACKAGES = ["numba", "numpy", "click", "scipy"]  # what ``python -m rnnlmpy_cli.precompile`` imports


def kernel_set() -> str | None:
    """The set of kernels a wheel build compiles: ``$RNNLMPY_PRECOMPILE``, "" for the precompiler's default set,
    or None for none (turned off, or Numba's JIT disabled)."""
    value = os.environ.get(PRECOMPILE, "").strip().lower()
    if value in OFF or os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return None
    return value


def get_requires_for_build_wheel(config_settings=None):
    """setuptools' build requirements, plus the compiler's packages when the wheel will carry compiled kernels."""
    return build_meta.get_requires_for_build_wheel(config_settings) + (
        COMPILER_PACKAGES if kernel_set() is not None else [])


def compile_kernels_into(build_lib: str) -> bool:
    """Compile the kernel set into the package copied to ``build_lib`` (Numba's in-tree cache, which the wheel
    then holds), after removing any cache an earlier build left there; True when it worked. Prints what it
    does; never raises for a failed compilation."""
    # what an earlier build left in the build folder (pip builds in the source tree) must not reach this wheel
    shutil.rmtree(os.path.join(build_lib, *KERNEL_CACHE), ignore_errors=True)
    chosen = kernel_set()
    if chosen is None:
        print(f"rnnlmpy: kernels not compiled into the wheel ({PRECOMPILE} is off); they compile at first use")
        return False
    environment = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    # the copied package first; then whatever the build environment puts on the path (pip's isolated build
    # environment reaches its packages through PYTHONPATH in some versions)
    search_path = [os.path.abspath(build_lib), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    environment.update(PYTHONPATH=os.pathsep.join(search_path), PYTHONDONTWRITEBYTECODE="1")
    print("rnnlmpy: compiling the kernels into the wheel (about a minute) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="rnnlmpy-build-") as folder:
        done = subprocess.run([sys.executable, "-m", "rnnlmpy_cli.precompile", *(["--set", chosen] if chosen else [])],
                              cwd=folder, env=environment)
    if done.returncode != 0:
        print(f"rnnlmpy: warning: compiling the kernels failed (status {done.returncode}); they will compile at "
              "first use instead", flush=True)
    return done.returncode == 0

"""Packaging hook: after the sources are copied into the build folder, compile the kernels into it.

All metadata is in pyproject.toml; what is compiled and when is explained in
tools/packaging/backend.py.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools", "packaging"))
from backend import compile_kernels_into  # noqa: E402


class BuildWithKernels(build_py):
    """``build_py`` that also fills the copied package's kernel cache (not for editable installs)."""

    def run(self):
        super().run()
        if not self.editable_mode:
            compile_kernels_into(self.build_lib)


setup(cmdclass={"build_py": BuildWithKernels})

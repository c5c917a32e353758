"""The command line's start-up: each command imports its own family's modules only."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import rnnlmpy_cli
from rnnlmpy_cli.main import FAMILY_OF, cli


def test_the_family_table_names_every_command_of_every_module_once():
    defined = {}
    for info in pkgutil.iter_modules(rnnlmpy_cli.__path__):
        if info.name.startswith("_"):  # __main__ runs the command line
            continue
        module = importlib.import_module(f"rnnlmpy_cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert command.name not in defined, command.name
            defined[command.name] = info.name
    assert defined == FAMILY_OF
    assert {name: cli.commands[name].name for name in FAMILY_OF} == {name: name for name in FAMILY_OF}


def test_a_command_loads_its_own_family_only():
    probe = ("import sys\n"
             "from rnnlmpy_cli.main import main\n"
             "try:\n    main(['ppl', '--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(name for name in sys.modules if name.startswith(('rnnlmpy_cli.', 'rnnlmpy.tagger'))),"
             " file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = eval(done.stderr.strip().splitlines()[-1])
    assert "rnnlmpy_cli.rnnlm" in loaded
    assert not [name for name in loaded if name.startswith(("rnnlmpy_cli.tagger", "rnnlmpy_cli.report",
                                                            "rnnlmpy.tagger"))], loaded


def test_the_facade_and_the_command_line_import_numba_only_with_a_family_that_needs_it():
    probe = ("import sys, rnnlmpy, rnnlmpy_cli.main\n"
             "from rnnlmpy_cli.main import main\n"
             "try:\n    main(['compile-kernels', '--help'])\nexcept SystemExit:\n    pass\n"
             "print('numba' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
    # the control: the first use of a model family's name imports it, and Numba with it
    done = subprocess.run([sys.executable, "-c", "import sys, rnnlmpy; rnnlmpy.LanguageModel; "
                           "print('numba' in sys.modules)"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"

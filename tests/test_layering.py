"""The package's layers: every import of every module is read (ast) and checked against the layer rule.

base <- kernels <- corpus <- {rnnlm, ngram} <- {mixing, tagger} <- report <- api (``LanguageModel``) <- the
``rnnlmpy`` facade <- the command line (``rnnlmpy_cli``). A module may import its own
layer's family and any lower layer, never a higher one nor a sibling family of its
own layer; above corpus a family uses only the families it is built on (``BUILT_ON``:
the tagger does not reach into the language models); there are no import cycles;
kernels import only numpy, numba (and llvmlite, Numba's own IR builder, for an intrinsic) and the standard
library's math, typing and functools; each kernel family
has exactly one caller in the library. The command line imports only package faces
(``rnnlmpy`` and its subpackages' ``__init__``), and nothing imports the command line:
``python -m rnnlmpy`` (``rnnlmpy/__main__.py``) is the one entry point allowed to reach
it, only inside its ``if __name__ == "__main__":`` block, and nothing imports that file.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = {"rnnlmpy": os.path.join(CHECKOUT, "rnnlmpy"), "rnnlmpy_cli": os.path.join(CHECKOUT, "cli")}

# (layer number, family) by module prefix; the longest matching prefix wins.
LAYERS = {
    "rnnlmpy.base": (0, "base"),
    "rnnlmpy.kernels": (1, "kernels"),
    "rnnlmpy.corpus": (2, "corpus"),
    "rnnlmpy.rnnlm": (3, "rnnlm"),
    "rnnlmpy.ngram": (3, "ngram"),
    "rnnlmpy.mixing": (4, "mixing"),
    "rnnlmpy.tagger": (4, "tagger"),
    "rnnlmpy.report": (5, "report"),
    "rnnlmpy.api": (6, "api"),
    "rnnlmpy": (7, "facade"),
    "rnnlmpy.__main__": (8, "cli"),
    "rnnlmpy_cli": (8, "cli"),
}
SHARED_LAYERS = 2  # base, kernels and corpus (layers 0-2) serve every family above them
# family above the shared layers -> the families of those layers it is built on (the facade and the CLI use all)
BUILT_ON = {"rnnlm": set(), "ngram": set(), "mixing": {"rnnlm", "ngram"}, "tagger": set(),
            "report": {"rnnlm", "ngram", "tagger", "mixing"}, "api": {"rnnlm", "ngram", "mixing"}}
CLI_PACKAGE = "rnnlmpy_cli"
ENTRY_POINT = "rnnlmpy.__main__"  # `python -m rnnlmpy`: may import the CLI under `if __name__ == "__main__":`
KERNEL_IMPORTS_ALLOWED = {"numpy", "numba", "llvmlite", "math", "typing", "functools", "__future__"}
# kernel family -> the one library module allowed to import it
KERNEL_CALLERS = {
    "rnnlmpy.kernels.lm": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.layers": {"rnnlmpy.rnnlm.network", "rnnlmpy.rnnlm.model"},
    "rnnlmpy.kernels.cell": {"rnnlmpy.rnnlm.network", "rnnlmpy.tagger.rnn"},
    "rnnlmpy.kernels.elman": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.class_softmax": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.direct": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.tagger": {"rnnlmpy.tagger.rnn"},
    "rnnlmpy.kernels.hsoftmax": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.nce": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.gru": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.hogwild": {"rnnlmpy.rnnlm.network"},
    "rnnlmpy.kernels.tokens": {"rnnlmpy.corpus.encoding"},
    "rnnlmpy.kernels.ngram": {"rnnlmpy.ngram.binary"},
    "rnnlmpy.kernels.lm_gradients": {"rnnlmpy.rnnlm.gradients"},
    "rnnlmpy.kernels.jacobians": {"rnnlmpy.rnnlm.gradients", "rnnlmpy.tagger.gradients"},
}


def discover(packages: dict[str, str]) -> dict[str, str]:
    """Module name -> file path for every .py file of the packages."""
    modules = {}
    for package, folder in packages.items():
        for root, _, files in os.walk(folder):
            for name in files:
                if not name.endswith(".py"):
                    continue
                relative = os.path.relpath(os.path.join(root, name), folder)[:-3].split(os.sep)
                if relative[-1] == "__init__":
                    relative = relative[:-1]
                modules[".".join([package, *relative])] = os.path.join(root, name)
    return modules


def names_bound(path: str) -> set[str]:
    """The names a module binds at its top level by importing them (a package face's re-exports)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    return {(alias.asname or alias.name).split(".")[0] for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}


def imports_of(module: str, path: str, known: set[str], bound: dict[str, set[str]] | None = None) -> set[str]:
    """Every module ``module`` imports (anywhere in the file, functions included), internal ones resolved.

    ``from package import name`` is an import of the submodule ``package.name``, unless the package's
    ``__init__`` binds ``name`` itself (``bound``: package -> names), which is then what the import gets."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    is_package = os.path.basename(path) == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base_parts = parts if is_package else parts[:-1]
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                reexported = bound is not None and alias.name in bound.get(base, ())
                found.add(candidate if candidate in known and not reexported else base)
    return found


def faces(modules: dict[str, str]) -> set[str]:
    """The package faces: ``rnnlmpy`` itself and each of its subpackages (their ``__init__``)."""
    return {name for name, path in modules.items()
            if name.split(".")[0] == "rnnlmpy" and name.count(".") <= 1 and os.path.basename(path) == "__init__.py"}


def is_cli(module: str) -> bool:
    """Whether ``module`` is part of the command-line package."""
    return module == CLI_PACKAGE or module.startswith(CLI_PACKAGE + ".")


def entry_point_leaks(path: str) -> list[str]:
    """Imports of the CLI in the entry point's file outside its ``if __name__ == "__main__":`` block."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    leaks = []
    for statement in tree.body:
        if _is_main_guard(statement):
            continue
        for node in ast.walk(statement):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            leaks += [f"{ENTRY_POINT} imports {name} outside `if __name__ == \"__main__\":`"
                      for name in names if is_cli(name)]
    return leaks


def _is_main_guard(statement: ast.stmt) -> bool:
    test = getattr(statement, "test", None)
    return (isinstance(statement, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def layer_of(module: str) -> tuple[int, str] | None:
    """The (layer, family) of an internal module, or None for an outside one."""
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def violations(packages: dict[str, str]) -> list[str]:
    """Every breach of the layer rule, as readable lines (empty: the layout is clean)."""
    modules = discover(packages)
    bound = {name: names_bound(path) for name, path in modules.items() if os.path.basename(path) == "__init__.py"}
    graph = {name: imports_of(name, path, set(modules), bound) for name, path in modules.items()}
    package_faces = faces(modules)
    problems = []
    for importer, targets in sorted(graph.items()):
        own = layer_of(importer)
        for target in sorted(targets):
            their = layer_of(target)
            if target == ENTRY_POINT or (is_cli(target) and not is_cli(importer) and importer != ENTRY_POINT):
                problems.append(f"{importer} imports {target}: nothing imports the command line")
            if is_cli(importer) and target.split(".")[0] == "rnnlmpy" and target not in package_faces:
                problems.append(f"{importer} imports {target}: the command line imports only package faces")
            if own is not None and own[1] == "kernels" and their is None:
                if target.split(".")[0] not in KERNEL_IMPORTS_ALLOWED:
                    problems.append(f"{importer} imports {target}: kernels import only numpy, numba and math")
                continue
            if own is None or their is None:
                continue
            if their[0] > own[0]:
                problems.append(f"{importer} imports {target}: upward, from layer {own[1]} to {their[1]}")
            elif their[0] == own[0] and their[1] != own[1]:
                problems.append(f"{importer} imports {target}: sideways, between sibling families")
            elif (own[1] in BUILT_ON and their[0] > SHARED_LAYERS and their[1] != own[1]
                  and their[1] not in BUILT_ON[own[1]]):
                problems.append(f"{importer} imports {target}: sideways, {own[1]} is not built on {their[1]}")
            callers = KERNEL_CALLERS.get(target)
            if callers is not None and own[1] not in ("kernels",) and importer not in callers:
                problems.append(f"{importer} imports {target}: only {', '.join(sorted(callers))} may call it")
    if ENTRY_POINT in modules:
        problems += entry_point_leaks(modules[ENTRY_POINT])
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of internal modules that import each other."""
    internal = {name: sorted(t for t in targets if t in graph and t != name) for name, targets in graph.items()}
    state, stack, found = {}, [], []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in internal[name]:
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(internal):
        if name not in state:
            visit(name)
    return found


def test_the_package_follows_the_layer_rule():
    assert violations(PACKAGES) == []


def test_every_kernel_family_has_exactly_its_one_caller():
    modules = discover(PACKAGES)
    importers = {family: set() for family in KERNEL_CALLERS}
    for name, path in modules.items():
        if layer_of(name)[1] == "kernels":
            continue
        for target in imports_of(name, path, set(modules)):
            if target in importers:
                importers[target].add(name)
    assert importers == KERNEL_CALLERS


NAME_TABLES_ONLY = {"rnnlmpy.rnnlm.model"}  # imports kernels.layers for its name tables, calls no kernel


def test_every_module_that_calls_kernels_has_the_compile_notice_watch_numba():
    """base.compiling hears Numba only once ``watch_numba()`` ran; each caller runs it at import, so a command
    that compiles through any caller says so."""
    modules = discover(PACKAGES)
    callers = set().union(*KERNEL_CALLERS.values()) - NAME_TABLES_ONLY
    for name in sorted(callers):
        with open(modules[name], encoding="utf-8") as handle:
            assert "\nwatch_numba()" in handle.read(), f"{name} calls kernels but never runs watch_numba()"


def write_tree(root, files: dict[str, str]) -> dict[str, str]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    packages = {"rnnlmpy": str(root / "rnnlmpy")}
    if (root / "cli").is_dir():
        packages[CLI_PACKAGE] = str(root / "cli")
    return packages


@pytest.mark.parametrize("files, expected", [
    ({"rnnlmpy/base/text.py": "from ..rnnlm.model import RnnlmConfig\n", "rnnlmpy/rnnlm/model.py": ""},
     "upward, from layer base to rnnlm"),
    ({"rnnlmpy/rnnlm/a.py": "from . import b\n", "rnnlmpy/rnnlm/b.py": "def f():\n    from .a import x\n"},
     "import cycle: rnnlmpy.rnnlm.a -> rnnlmpy.rnnlm.b -> rnnlmpy.rnnlm.a"),
    ({"rnnlmpy/kernels/lm.py": "import scipy.special\n"}, "kernels import only numpy, numba and math"),
    ({"rnnlmpy/ngram/arpa.py": "from rnnlmpy.rnnlm import model\n", "rnnlmpy/rnnlm/model.py": ""},
     "sideways, between sibling families"),
    ({"rnnlmpy/rnnlm/training.py": "from ..kernels import lm\n", "rnnlmpy/kernels/lm.py": ""},
     "only rnnlmpy.rnnlm.network may call it"),
    ({"rnnlmpy/tagger/rnn.py": "from ..rnnlm.model import initial_weights\n", "rnnlmpy/rnnlm/model.py": ""},
     "sideways, tagger is not built on rnnlm"),
    ({"rnnlmpy/rnnlm/__init__.py": "", "rnnlmpy/rnnlm/model.py": "",
      "cli/rnnlm.py": "from rnnlmpy.rnnlm.model import RnnlmConfig\n"},
     "the command line imports only package faces"),
    ({"rnnlmpy/report/info.py": "def f():\n    from rnnlmpy_cli.main import main\n", "cli/main.py": ""},
     "nothing imports the command line"),
    ({"rnnlmpy/report/info.py": "import rnnlmpy.__main__\n", "rnnlmpy/__main__.py": ""},
     "nothing imports the command line"),
    ({"rnnlmpy/__main__.py": "from rnnlmpy_cli.main import main\n", "cli/main.py": ""},
     "rnnlmpy.__main__ imports rnnlmpy_cli.main outside"),
])
def test_the_checker_catches_each_kind_of_breach(tmp_path, files, expected):
    found = violations(write_tree(tmp_path, {"rnnlmpy/__init__.py": "", **files}))
    assert any(expected in line for line in found), found


@pytest.mark.parametrize("files", [
    {"cli/rnnlm.py": "from rnnlmpy.rnnlm import load_model\nfrom rnnlmpy import rnnlm\nimport rnnlmpy\n",
     "rnnlmpy/rnnlm/__init__.py": "", "rnnlmpy/rnnlm/model_file.py": ""},
    {"rnnlmpy/__main__.py": "if __name__ == '__main__':\n    from rnnlmpy_cli.main import main\n    main()\n",
     "cli/main.py": ""},
    {"rnnlmpy/mixing/compare.py": "from ..rnnlm.model import RnnlmModel\nfrom ..ngram import train_ngram\n",
     "rnnlmpy/rnnlm/model.py": "", "rnnlmpy/ngram/__init__.py": ""},
], ids=["cli-uses-faces", "guarded-entry-point", "mixing-built-on-models"])
def test_the_checker_accepts_what_the_rule_allows(tmp_path, files):
    assert violations(write_tree(tmp_path, {"rnnlmpy/__init__.py": "", **files})) == []


def test_importing_the_library_leaves_the_command_line_unloaded_and_python_m_rnnlmpy_runs():
    modules = sorted(name for name in discover({"rnnlmpy": PACKAGES["rnnlmpy"]}) if name != ENTRY_POINT)
    probe = ("import importlib, sys\n"
             f"for name in {modules!r} + ['rnnlmpy.__main__']:\n    importlib.import_module(name)\n"
             "print(sorted(name for name in sys.modules if name.split('.')[0] == 'rnnlmpy_cli'))\n")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=CHECKOUT)
    assert loaded.stdout.strip() == "[]"
    version = subprocess.run([sys.executable, "-m", "rnnlmpy", "--version"], capture_output=True, text=True,
                             cwd=CHECKOUT)
    assert (version.returncode, version.stdout.split()[0]) == (0, "rnnlmpy,")

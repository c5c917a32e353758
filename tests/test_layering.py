"""The package's layers: every import of every module is read (ast) and checked against the layer rule.

base <- kernels <- corpus <- {rnnlm, ngram} <- {mixing, tagger} <- report <- the
``rnnlmpy`` facade <- the command line (``rnnlmpy_cli``, and ``python -m rnnlmpy``, an entry
point nobody imports). A module may import its own layer's family and any lower
layer, never a higher one nor a sibling family of its own layer; there are no
import cycles; kernels import only numpy, numba and the standard library's math and typing;
each kernel family has exactly one caller in the library.
"""

from __future__ import annotations

import ast
import os

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
    "rnnlmpy": (6, "facade"),
    "rnnlmpy.__main__": (7, "cli"),
    "rnnlmpy_cli": (7, "cli"),
}
KERNEL_IMPORTS_ALLOWED = {"numpy", "numba", "math", "typing", "__future__"}
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


def imports_of(module: str, path: str, known: set[str]) -> set[str]:
    """Every module ``module`` imports (anywhere in the file, functions included), internal ones resolved."""
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
                found.add(candidate if candidate in known else base)
    return found


def layer_of(module: str) -> tuple[int, str] | None:
    """The (layer, family) of an internal module, or None for an outside one."""
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def violations(packages: dict[str, str]) -> list[str]:
    """Every breach of the layer rule, as readable lines (empty: the layout is clean)."""
    modules = discover(packages)
    graph = {name: imports_of(name, path, set(modules)) for name, path in modules.items()}
    problems = []
    for importer, targets in sorted(graph.items()):
        own = layer_of(importer)
        for target in sorted(targets):
            their = layer_of(target)
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
            callers = KERNEL_CALLERS.get(target)
            if callers is not None and own[1] not in ("kernels",) and importer not in callers:
                problems.append(f"{importer} imports {target}: only {', '.join(sorted(callers))} may call it")
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


def write_tree(root, files: dict[str, str]) -> dict[str, str]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {"rnnlmpy": str(root / "rnnlmpy")}


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
])
def test_the_checker_catches_each_kind_of_breach(tmp_path, files, expected):
    found = violations(write_tree(tmp_path, {"rnnlmpy/__init__.py": "", **files}))
    assert any(expected in line for line in found), found

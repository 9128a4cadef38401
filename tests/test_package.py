"""The package's shape: every module imports, no import cycle, no module shadows the standard library, a clean API."""

from __future__ import annotations

import ast
import importlib
import sys
import types
from pathlib import Path

import pytest

import jaxrg

ROOT = Path(jaxrg.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in ROOT.rglob("*.py"))
IMPORTABLE = [m for m in MODULES if not m.endswith("__main__")]  # a __main__ module runs its program


def _imports(path: Path, name: str) -> set[str]:
    """Every jaxrg module that ``path`` imports, at module level or inside functions (lazy imports count too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    # the package itself (``import jaxrg`` for its version) is not a dependency on every module
    return {m for m in found if m in MODULES and m != "jaxrg" and m != name}


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        deps = _imports(path, name)
        # a module depends on its parent packages' __init__ (they run first), not the other way round
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    return graph


@pytest.mark.parametrize("name", IMPORTABLE)
def test_every_module_imports(name):
    importlib.import_module(name)


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep.startswith(node + "."):  # a package importing its own submodules
                continue
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif state.get(dep) is None:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_shadows_the_standard_library():
    shadows = [m for m in MODULES if m.rpartition(".")[2] in sys.stdlib_module_names]
    assert not shadows, shadows


def test_public_api_is_explicit_and_complete():
    assert len(jaxrg.__all__) == len(set(jaxrg.__all__))
    for name in jaxrg.__all__:
        assert hasattr(jaxrg, name), name
    public = {n for n, v in vars(jaxrg).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert public - set(jaxrg.__all__) == set(), "exported but not in __all__"


def test_no_comment_speaks_of_work_items():
    offenders = [f"{p.relative_to(ROOT.parent)}:{i}" for p in ROOT.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if "# issue" in line.lower()]
    assert not offenders, offenders

"""The project's module import graph, read from the source with ``ast``: every import, also the
ones inside functions (a hidden import is still a dependency), relative ones resolved. It has no
cycle, and the packages depend on each other in one direction only."""
from __future__ import annotations

import ast
import graphlib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "resources", "state", "sandbox")


@cache
def modules() -> dict[str, Path]:
    """Module name -> file, for every module of the four packages."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported_names(name: str, path: Path):
    """Every dotted name one module imports, relative imports made absolute."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            yield base
            # `from package import module` imports that module.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _project_module(dotted: str) -> str | None:
    # `from orchestrator.config import EnvConfig` depends on the module orchestrator.config.
    while dotted and dotted not in modules():
        dotted = dotted.rpartition(".")[0]
    return dotted or None


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the project's modules it imports."""
    edges = {}
    for name, path in modules().items():
        targets = {_project_module(dotted) for dotted in _imported_names(name, path)}
        edges[name] = frozenset(targets - {None, name})
    return edges


def test_the_graph_holds_imports_inside_functions_and_relative_ones():
    # Guards the test itself: a graph that missed these would find no cycle and no breach.
    assert len(modules()) > 100
    assert "orchestrator.state_cli" in graph()["orchestrator.cli"]  # inside main()
    assert "state.document" in graph()["state"]  # from .document import ...
    assert "state.local" in graph()["state.s3"]  # from .local import ...


def test_no_import_cycle():
    try:
        graphlib.TopologicalSorter(graph()).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        pytest.fail("import cycle: " + " -> ".join(cycle))


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# (importing package, imported package, what is allowed of it, why)
DIRECTIONS = [
    ("resources.aws", "resources", ("resources.aws",), "the AWS plumbing knows nothing of the handlers"),
    ("resources", "orchestrator", (), "handlers are used by the engine, never the other way"),
    ("state", "orchestrator", (), "state is stored for the engine, never the other way"),
    ("sandbox", "orchestrator", (), "the sandbox serves the engine, never the other way"),
    ("state", "resources", ("resources.aws",), "state never reaches for a resource handler"),
]


@pytest.mark.parametrize("importer,imported,allowed,why", DIRECTIONS, ids=[f"{d[0]}-{d[1]}" for d in DIRECTIONS])
def test_packages_import_in_one_direction(importer, imported, allowed, why):
    breaches = sorted(f"{module} imports {target}" for module, targets in graph().items() if _inside(module, importer)
                      for target in targets
                      if _inside(target, imported) and not any(_inside(target, a) for a in allowed))
    assert not breaches, f"{importer} must not import {imported} ({why}): " + "; ".join(breaches)

"""The project's module import graph, read from the source with ``ast``: every import, also the
ones inside functions (a hidden import is still a dependency), relative ones resolved. It has no
cycle, the packages depend on each other in one direction only, and the handlers' families
(resources/network, data, ...) reach only the contract, the AWS plumbing and their own family,
save the few cross-family imports listed here."""
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
    ("resources.base", "resources", ("resources.aws",), "the handler contract knows no family"),
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


# The handler families: every handler lives in one (resources/base.py and resources/aws/ are not handlers).
FAMILIES = ("network", "data", "compute", "api", "security", "shared")
# (importing family, imported family) -> why: the only imports from one family into another. The
# security family is the one others build on; it imports no other family itself.
CROSS_FAMILY = {
    ("api", "security"): "the stage's execution log group is a log group (api/logs.py subclasses LogGroup)",
    ("data", "security"): "the EFS file-system policy is compared in IAM's canonical form (iam_role.canonical_policy)",
    ("shared", "security"): "the account's API Gateway CloudWatch role is an IAM role (subclasses IamRole)",
}


def _family(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "resources" and parts[1] in FAMILIES else None


def test_every_handler_module_is_in_a_family():
    outside = sorted(name for name in modules() if _inside(name, "resources") and _family(name) is None
                     and name not in ("resources", "resources.base") and not _inside(name, "resources.aws"))
    assert not outside, "resources/ holds base.py, aws/ and the family packages only: " + ", ".join(outside)
    assert {_family(name) for name in modules()} >= set(FAMILIES)


def _family_imports():
    """(module, imported module) for every import of a family module into the rest of resources/."""
    return [(module, target) for module, targets in graph().items() if _family(module)
            for target in sorted(targets) if _inside(target, "resources")]


def test_a_family_imports_the_contract_the_plumbing_its_own_family_and_only_the_listed_others():
    breaches = sorted(f"{module} imports {target}" for module, target in _family_imports()
                      if target != "resources.base" and not _inside(target, "resources.aws")
                      and _family(target) != _family(module)
                      and (_family(module), _family(target)) not in CROSS_FAMILY)
    assert not breaches, "a family imports resources.base, resources.aws, its own family and CROSS_FAMILY: " + "; ".join(breaches)


def test_the_listed_cross_family_imports_are_the_ones_made():
    # Keeps CROSS_FAMILY the truth: an entry no import needs any more is removed, not kept as a licence.
    made = {(_family(module), _family(target)) for module, target in _family_imports()
            if _family(target) and _family(target) != _family(module)}
    assert made == set(CROSS_FAMILY)

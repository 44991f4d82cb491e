"""Pure functions over dependency graphs.

A graph maps each node to the nodes it depends on (the graphlib convention).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

Graph = Mapping[str, Iterable[str]]


class GraphError(ValueError):
    """The graph cannot be walked: a cycle or a dependency on an unknown node."""


def reverse(graph: Graph) -> dict[str, set[str]]:
    """Map each node to the nodes that depend on it (the teardown order graph)."""
    out: dict[str, set[str]] = {node: set() for node in graph}
    for node, deps in graph.items():
        for dep in deps:
            out.setdefault(dep, set()).add(node)
    return out


def descendants(graph: Graph, node: str) -> set[str]:
    """Every node that transitively depends on ``node``."""
    dependents = reverse(graph)
    seen: set[str] = set()
    todo = list(dependents.get(node, ()))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(dependents[current])
    return seen


def critical_path_weights(graph: Graph, duration: Mapping[str, float]) -> dict[str, float]:
    """Own duration plus the longest chain of durations among a node's dependents.

    The highest weight marks the node that starts the longest remaining chain,
    so starting it first shortens the whole run ("longest pole first").
    """
    graph = _freeze(graph)
    dependents = reverse(graph)
    weights: dict[str, float] = {}
    # Dependents-first order: every dependent is weighed before the node itself.
    for node in reversed(_static_order(graph)):
        tail = max((weights[d] for d in dependents[node]), default=0.0)
        weights[node] = duration.get(node, 0.0) + tail
    return weights


def validate(graph: Graph) -> None:
    """Raise GraphError unless every dependency is a node and there is no cycle."""
    graph = _freeze(graph)
    unknown = sorted({dep for deps in graph.values() for dep in deps} - set(graph))
    if unknown:
        users = sorted(node for node, deps in graph.items() if set(deps) & set(unknown))
        raise GraphError(f"unknown dependency: {', '.join(unknown)} (needed by {', '.join(users)})")
    _static_order(graph)


def _freeze(graph: Graph) -> dict[str, tuple[str, ...]]:
    # Dependencies may be one-shot iterables; these functions read them twice.
    return {node: tuple(deps) for node, deps in graph.items()}


def _static_order(graph: Graph) -> list[str]:
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise GraphError(f"dependency cycle: {' -> '.join(exc.args[1])}") from exc

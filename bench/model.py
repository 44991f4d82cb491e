"""What a run should take: the critical path and the sequential sum of the stack's own graph.

A node costs the calls it issues, each the per-call latency plus its operation's scaled typical
duration (bench.durations) — the very delays the latency layer applies. The calls come from a
calibration run (bench.calibrate), so nothing here is a hard-coded figure. Calls made outside any
node (credentials check, the AZ lookup) run before the walk and add to both sums.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bench.durations import slow_seconds
from orchestrator import graph as graphs


class AwsCall(Protocol):
    service: str
    operation: str


@dataclass(frozen=True)
class Estimate:
    critical_path_s: float
    path: tuple[str, ...]  # the nodes of the longest chain, first to last
    sequential_s: float
    before_walk_s: float = 0.0  # the calls outside any node, part of both sums
    costs: dict[str, float] = field(default_factory=dict)  # per node


def call_seconds(call: AwsCall, *, latency: float, scale: float) -> float:
    return latency + scale * slow_seconds(call.service, call.operation)


def node_costs(calls_by_node: Mapping[str, Sequence[AwsCall]], *, latency: float, scale: float) -> dict[str, float]:
    return {node: sum(call_seconds(c, latency=latency, scale=scale) for c in calls) for node, calls in calls_by_node.items()}


def longest_path(graph: Mapping[str, Iterable[str]], costs: Mapping[str, float]) -> tuple[float, tuple[str, ...]]:
    """Length and nodes of the costliest chain; ``graph`` maps a node to what must finish first."""
    graph = {node: tuple(deps) for node, deps in graph.items()}
    if not graph:
        return 0.0, ()
    weights = graphs.critical_path_weights(graph, costs)  # own cost + costliest chain after it
    dependents = graphs.reverse(graph)
    node = max(sorted(graph), key=lambda n: weights[n])
    path = [node]
    while dependents[node]:
        node = max(sorted(dependents[node]), key=lambda n: weights[n])
        path.append(node)
    return weights[path[0]], tuple(path)


def estimate(
    graph: Mapping[str, Iterable[str]], calls_by_node: Mapping[str, Sequence[AwsCall]],
    outside_calls: Sequence[AwsCall], *, latency: float, scale: float,
) -> Estimate:
    costs = node_costs(calls_by_node, latency=latency, scale=scale)
    before = sum(call_seconds(c, latency=latency, scale=scale) for c in outside_calls)
    length, path = longest_path(graph, costs)
    return Estimate(before + length, path, before + sum(costs.values()), before, costs)

"""A whole pass over the stack: build the graph, walk it, collect results. No I/O but AWS."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from orchestrator import graph as graphs
from orchestrator.azs import AZ_COUNT, choose_azs
from orchestrator.config import EnvConfig
from orchestrator.errors import UserError
from orchestrator.executor import Outcome, WalkObserver, walk
from orchestrator.reconciler import NodeResult, Reconciler
from orchestrator.spec import UNKNOWN, Node, resolve
from orchestrator.stack import stack_nodes, stack_outputs
from resources.clock import REAL_CLOCK, Clock
from resources.shared_reads import SharedReads


class TeardownRefused(UserError):
    pass


@dataclass
class RunResult:
    results: list[NodeResult]
    failures: dict[str, Outcome]
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def _failures(outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    return {k: o for k, o in sorted(outcomes.items()) if o.status != "ok"}


def reconcile_stack(
    aws, *, env: str, doc, save: Callable[[], Any], cfg: EnvConfig | None = None, plan: bool = False,
    clock: Clock = REAL_CLOCK, parallelism: int = 16, nodes: list[Node] | None = None,
    shared: SharedReads | None = None, observer: WalkObserver | None = None,
) -> RunResult:
    cfg = cfg or EnvConfig()
    azs = choose_azs(aws.client("ec2"), recorded=doc.azs, env=env, region=aws.region)
    by_key = {n.key: n for n in (nodes or stack_nodes(env, cfg, azs))}
    graph = {k: n.depends_on for k, n in by_key.items()}
    graphs.validate(graph)
    if not plan:
        doc.azs = azs
        save()
    rec = Reconciler(aws, env=env, state=doc, save=save, clock=clock, plan=plan, shared=shared)
    weights = graphs.critical_path_weights(graph, {k: n.handler.expected_seconds for k, n in by_key.items()})
    if observer is not None:
        observer.begin({k: n.name for k, n in by_key.items()})
    outcomes = walk(
        graph, lambda k: rec.reconcile(by_key[k]), max_workers=parallelism, priority=weights, on_event=observer
    )
    results = [outcomes[k].value for k in by_key if outcomes[k].status == "ok"]  # stack order
    resolved = {k: (resolve(ref, rec.outputs) if ref else None) for k, ref in stack_outputs().items()}
    # A run over part of the stack (tests) leaves the outputs of absent nodes unknown: null.
    outputs = {k: (None if v is UNKNOWN else v) for k, v in resolved.items()}
    failures = _failures(outcomes)
    if not plan and not failures:
        doc.outputs = outputs
        save()
    return RunResult(results, failures, outputs)


def teardown_stack(
    aws, *, env: str, doc, save: Callable[[], Any], clock: Clock = REAL_CLOCK, parallelism: int = 16,
    nodes: list[Node] | None = None, observer: WalkObserver | None = None,
) -> RunResult:
    # Names and tags do not depend on the AZs, so teardown finds everything without them.
    azs = doc.azs or [f"{aws.region}-az{i}" for i in range(1, AZ_COUNT + 1)]
    by_key = {n.key: n for n in (nodes or stack_nodes(env, EnvConfig(), azs))}
    # Only the nodes of this run: a partial node list (tests) names dependencies outside it.
    reverse = graphs.reverse({k: n.depends_on & by_key.keys() for k, n in by_key.items()})
    rec = Reconciler(aws, env=env, state=doc, save=save, clock=clock)
    for node in by_key.values():
        reason = rec.handler(node).teardown_guard(resolve(node.spec, {}))
        if reason:
            raise TeardownRefused(f"refusing to tear down {env}: {reason}")
    if observer is not None:
        observer.begin({k: n.name for k, n in by_key.items()})
    weights = graphs.critical_path_weights(reverse, {k: n.handler.expected_delete_seconds for k, n in by_key.items()})
    outcomes = walk(
        reverse, lambda k: rec.teardown(by_key[k]), max_workers=parallelism, priority=weights, on_event=observer
    )
    results = [outcomes[k].value for k in reversed(list(by_key)) if outcomes[k].status == "ok"]
    failures = _failures(outcomes)
    if not failures:
        doc.azs = []
        doc.outputs = {}
        save()
    return RunResult(results, failures)

"""Parallel walk of a dependency graph on a bounded thread pool."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any, Protocol

import structlog

from orchestrator.errors import one_line
from orchestrator.graph import GraphError, descendants

log = structlog.get_logger(__name__)

OnEvent = Callable[[str, str, "Outcome | None"], None]


class WalkObserver(Protocol):
    """Watches a walk (the live progress view on a terminal).

    ``begin`` gets every node of the walk (key -> resource name) before anything starts; then the
    observer is the walk's ``on_event``: ("start", None) from the worker thread about to run the
    node, ("end", outcome) once it is over.
    """

    def begin(self, names: Mapping[str, str]) -> None: ...

    def __call__(self, key: str, event: str, outcome: Outcome | None) -> None: ...


@dataclass(frozen=True)
class Outcome:
    status: str  # "ok" | "failed" | "dependency_failed" | "skipped"
    reason: str = ""
    value: Any = None
    # Lines that follow the reason (ResourceError.details).
    details: tuple[str, ...] = ()


def walk(
    graph: Mapping[str, Iterable[str]],
    run_node: Callable[[str], Any],
    *,
    max_workers: int = 8,
    priority: Mapping[str, float] | None = None,
    on_event: OnEvent | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Outcome]:
    """Run ``run_node`` for every node once all its dependencies succeeded.

    Returns an Outcome for every node, including nodes only named as dependencies.
    Raises GraphError on a cycle; a non-Exception BaseException raised by
    ``run_node`` propagates once the nodes in flight have finished.
    """
    graph = {node: tuple(deps) for node, deps in graph.items()}
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError as exc:
        raise GraphError(f"dependency cycle: {' -> '.join(exc.args[1])}") from exc

    nodes = set(graph).union(*graph.values())
    weight = priority or {}
    outcomes: dict[str, Outcome] = {}
    # Ready nodes wait here rather than in the pool's FIFO queue, so a node that
    # becomes ready later can still overtake lower-priority ones, and `stop`
    # keeps anything not yet started from starting.
    ready: list[tuple[float, str]] = []
    in_flight: dict[Future[Any], str] = {}

    def emit(key: str, event: str, outcome: Outcome | None) -> None:
        if on_event is None:
            return
        try:
            on_event(key, event, outcome)
        except Exception:
            log.exception("on_event_failed", node=key, phase=event)

    def finish(key: str, outcome: Outcome) -> None:
        outcomes[key] = outcome
        emit(key, "end", outcome)

    def start(key: str) -> Any:
        emit(key, "start", None)
        return run_node(key)

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="walk") as pool:
        while True:
            for key in sorter.get_ready():
                heapq.heappush(ready, (-weight.get(key, 0.0), key))
            while ready and len(in_flight) < max_workers and not stopped():
                _, key = heapq.heappop(ready)
                in_flight[pool.submit(start, key)] = key
            # A failed node is never done(), so the sorter stays active forever;
            # the walk ends when nothing runs and nothing more can start.
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                key = in_flight.pop(future)
                try:
                    value = future.result()
                except Exception as exc:
                    log.debug("node_failed", node=key, exc_info=exc)
                    finish(key, Outcome("failed", one_line(exc), details=tuple(getattr(exc, "details", ()))))
                    for child in sorted(descendants(graph, key) - outcomes.keys()):
                        finish(child, Outcome("dependency_failed", f"dependency failed: {key}"))
                else:
                    sorter.done(key)
                    finish(key, Outcome("ok", value=value))

    for key in sorted(nodes - outcomes.keys()):
        finish(key, Outcome("skipped", "run interrupted"))
    return outcomes

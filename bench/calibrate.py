"""Which AWS calls each node of the stack issues: the real commands, run in this process.

``orchestrator.cli.main`` runs exactly as ``bin/reconcile`` / ``bin/teardown`` would, with two
observers slipped in for the measurement only: an ``Aws`` that also records each call with the
node being worked on by the calling thread, and a ``walk`` that notes which node a worker thread
starts. Run against the latency layer with no delay, so it is quick; the timed runs then go
through the same code with the delays on.
"""
from __future__ import annotations

import contextlib
import io
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from unittest import mock

from bench.classify import Call
from resources.aws import Aws, is_mutating


@dataclass
class PhaseCalls:
    by_node: dict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    outside: list[Call] = field(default_factory=list)  # before or after the walk (no node)

    @property
    def total(self) -> int:
        return len(self.outside) + sum(len(c) for c in self.by_node.values())


class _Recorder:
    def __init__(self) -> None:
        self.phase = PhaseCalls()
        self._current = threading.local()
        self._lock = threading.Lock()

    def run_node(self, run_node):
        def wrapped(key):
            self._current.node = key
            try:
                return run_node(key)
            finally:
                self._current.node = None

        return wrapped

    def record(self, service: str, operation: str) -> None:
        call = Call(service, operation, is_mutating(operation))
        node = getattr(self._current, "node", None)
        with self._lock:
            (self.phase.by_node[node] if node else self.phase.outside).append(call)


def run_recorded(command: str, argv: list[str]) -> tuple[int, PhaseCalls]:
    """Run one command in this process; its exit code and its calls, by node."""
    from orchestrator import cli, run

    recorder = _Recorder()

    class RecordingAws(Aws):
        def _count(self, model, **kwargs) -> None:
            super()._count(model, **kwargs)
            # The signing name, as the latency layer sees it in the request's credential scope.
            recorder.record(model.service_model.signing_name, model.name)

    real_walk = run.walk

    def walk(graph, run_node, **kwargs):
        return real_walk(graph, recorder.run_node(run_node), **kwargs)

    with mock.patch("resources.aws.Aws", RecordingAws), mock.patch.object(run, "walk", walk), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(command, argv)
    return code, recorder.phase

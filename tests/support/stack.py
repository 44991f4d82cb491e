"""Run the real reconcile / teardown passes in-process, for handler and reconciler tests."""
from __future__ import annotations

from orchestrator.run import RunResult, reconcile_stack, teardown_stack
from resources.aws import Aws
from tests.support.memory_state import MemoryState


def converge(aws: Aws, state: MemoryState, *, env: str = "dev", plan: bool = False, clock=None, **kw) -> RunResult:
    kwargs = {"clock": clock.as_clock()} if clock is not None else {}
    run = reconcile_stack(aws, env=env, doc=state.doc, save=state.save, plan=plan, **kwargs, **kw)
    assert run.ok, run.failures
    return run


def destroy(aws: Aws, state: MemoryState, *, env: str = "dev", clock=None, **kw) -> RunResult:
    kwargs = {"clock": clock.as_clock()} if clock is not None else {}
    run = teardown_stack(aws, env=env, doc=state.doc, save=state.save, **kwargs, **kw)
    assert run.ok, run.failures
    return run


def actions(run: RunResult) -> dict[str, str]:
    return {r.key: r.action for r in run.results}

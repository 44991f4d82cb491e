"""The drift check over the real stack in-process: unreadable resources are unchecked, not in sync."""
from botocore.exceptions import ClientError

from orchestrator.drift import drift_stack
from orchestrator.report import render_drift
from resources.log_group import LogGroup
from tests.support.memory_state import MemoryState
from tests.support.stack import converge


def test_fresh_stack_is_in_sync_and_an_unreadable_resource_is_reported_unchecked(aws, clock, monkeypatch):
    state = MemoryState()
    converge(aws, state, clock=clock)
    assert drift_stack(aws, env="dev", doc=state.doc).in_sync

    def denied(self, *args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "DescribeLogGroups")

    monkeypatch.setattr(LogGroup, "find", denied)
    report = drift_stack(aws, env="dev", doc=state.doc)
    assert not report.in_sync
    assert {u["resource"] for u in report.unchecked} >= {"logs.api", "logs.worker"}
    assert all("AccessDenied" in u["reason"] for u in report.unchecked if u["resource"].startswith("logs."))
    text = render_drift({"env": "dev", "region": "us-east-1", "in_sync": False, "drifted": [], "missing": [],
                         "unmanaged": [], "unchecked": report.unchecked})
    assert "could not check logs.api" in text

"""The drift check over the real stack in-process: unreadable resources are unchecked, not in sync."""
from botocore.exceptions import ClientError

from orchestrator.drift import drift_stack
from orchestrator.report import render_drift
from resources.security.log_group import LogGroup
from tests.support.memory_state import MemoryState
from tests.support.stack import converge


def test_fresh_stack_is_in_sync_and_an_unreadable_resource_is_reported_unchecked(aws, clock, monkeypatch):
    state = MemoryState()
    converge(aws, state, clock=clock)
    assert drift_stack(aws, env="dev", doc=state.doc).in_sync

    def denied(self, *args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "DescribeLogGroups")

    # Every read of a log group, one by name or all of them at once.
    monkeypatch.setattr(LogGroup, "describe", denied)
    monkeypatch.setattr(LogGroup, "describe_many", denied)
    report = drift_stack(aws, env="dev", doc=state.doc)
    assert not report.in_sync
    assert {u["resource"] for u in report.unchecked} >= {"logs.api", "logs.worker"}
    assert all("AccessDenied" in u["reason"] for u in report.unchecked if u["resource"].startswith("logs."))
    text = render_drift({"env": "dev", "region": "us-east-1", "in_sync": False, "drifted": [], "missing": [],
                         "unmanaged": [], "unchecked": report.unchecked})
    assert "could not check logs.api" in text


def _tagged(aws):
    from resources.aws.inventory import tagged_resources

    return tagged_resources(aws.client("resourcegroupstaggingapi"), "dev")


def _calls(aws, service: str, operation: str) -> int:
    return aws.calls.counts[(service, operation)]


def test_tags_come_from_the_tag_index_and_a_change_behind_the_tools_back_is_still_caught(aws, clock):
    """The kinds whose describe carries no tags (log groups here) read them from the one tagging
    API listing of the environment, not one call each; an out-of-band tag change is still found."""
    state = MemoryState()
    converge(aws, state, clock=clock)
    before = _calls(aws, "logs", "ListTagsForResource")
    assert drift_stack(aws, env="dev", doc=state.doc).in_sync
    assert _calls(aws, "logs", "ListTagsForResource") == before

    logs = aws.client("logs")
    group = logs.describe_log_groups(logGroupNamePrefix="/ecs/video-processing-dev/metadata-api")["logGroups"][0]
    logs.tag_resource(resourceArn=group["arn"].removesuffix(":*"), tags={"Environment": "prod"})
    report = drift_stack(aws, env="dev", doc=state.doc)
    assert [(d["resource"], d["attribute"], d["expected"], d["actual"]) for d in report.drifted] == [
        ("logs.api", "tags.Environment", "dev", "prod")]


def test_a_tag_index_that_lags_behind_is_read_again_and_reports_nothing_that_is_not_so(aws, clock):
    """C-TAG-1: the index follows changes with a delay. A difference it shows (here: tags from
    before a change the tool made) is read again from the resource, once, before it is reported."""
    import dataclasses

    state = MemoryState()
    converge(aws, state, clock=clock)
    stale = [dataclasses.replace(f, tags={**f.tags, "Environment": "old"}) if ":log-group:/ecs/" in f.id else f
             for f in _tagged(aws)]
    before = _calls(aws, "logs", "ListTagsForResource")
    report = drift_stack(aws, env="dev", doc=state.doc, swept=stale)
    assert report.in_sync, report
    # The two ECS log groups the index showed changed, each read again by itself.
    assert _calls(aws, "logs", "ListTagsForResource") == before + 2

"""Log group handler on moto: one log group per ECS service with retention, read back with the test's own client."""
from __future__ import annotations

import dataclasses

import boto3
import pytest

from orchestrator.config import EnvConfig
from orchestrator.reconciler import Reconciler
from orchestrator.run import reconcile_stack
from orchestrator.spec import Node
from orchestrator.stack.security import key_nodes, log_group_nodes
from resources.base import ResourceError
from resources.security.log_group import LogGroup
from resources.aws.clock import FakeClock
from sandbox.fidelity import logs_kms
from tests.conftest import REGION
from tests.resources.network import changed_fields, ownership, recorded_id
from tests.support.memory_state import MemoryState
from tests.support.stack import actions as all_actions, converge, destroy

GROUPS = {"logs.api": "/ecs/video-processing-dev/metadata-api", "logs.worker": "/ecs/video-processing-dev/video-worker"}


@pytest.fixture
def logs(moto_aws):
    return boto3.client("logs", region_name=REGION)


def actions(run) -> dict[str, str]:
    # The environment's KMS key is converged with these nodes (they are encrypted with it).
    return {k: a for k, a in all_actions(run).items() if k != "kms.key"}


def nodes():
    # The groups are encrypted with the environment's key (docs/configuration.md "logs").
    return log_group_nodes("dev", EnvConfig()) + key_nodes("dev", EnvConfig())


def converged(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=nodes(), clock=clock)
    return state


def log_group(logs, name: str) -> dict | None:
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next((g for g in found if g["logGroupName"] == name), None)


def group_tags(logs, name: str) -> dict[str, str]:
    return logs.list_tags_for_resource(resourceArn=log_group(logs, name)["logGroupArn"])["tags"]


def test_create_with_retention_and_tags_then_second_run_changes_nothing(aws, logs, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert actions(run) == dict.fromkeys(GROUPS, "create")
    for key, name in GROUPS.items():
        group = log_group(logs, name)
        assert group["retentionInDays"] == 30
        assert group_tags(logs, name) == ownership(name)
        assert recorded_id(state, key) == name
        outputs = state.doc.resource(key)["outputs"]
        # The log group's own ARN: the execution role's policy appends ":log-stream:*" to it.
        assert outputs == {"id": name, "name": name, "arn": group["arn"].removesuffix(":*"), "region": REGION,
                           "account_id": "123456789012"}
        assert not outputs["arn"].endswith(":*")

    before_mutating = aws.calls.mutating
    before_describes = aws.calls.counts[("logs", "DescribeLogGroups")]
    again = converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before_mutating
    # Both groups live under one path: one listing of it answers the two nodes.
    assert aws.calls.counts[("logs", "DescribeLogGroups")] - before_describes == 1


@pytest.mark.parametrize("by_hand", ["changed", "removed"])
def test_retention_changed_by_hand_is_restored(aws, logs, clock, by_hand):
    state = converged(aws, clock)
    name = GROUPS["logs.worker"]
    if by_hand == "changed":
        logs.put_retention_policy(logGroupName=name, retentionInDays=1)
    else:
        logs.delete_retention_policy(logGroupName=name)

    plan = converge(aws, state, nodes=nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"logs.worker": {"retention_days"}}
    [change] = [r for r in plan.results if r.key == "logs.worker"][0].changes
    assert (change.expected, change.actual) == (30, 1 if by_hand == "changed" else None)
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert actions(run) == {"logs.api": "unchanged", "logs.worker": "update"}
    assert log_group(logs, name)["retentionInDays"] == 30


def test_tag_removed_by_hand_is_restored(aws, logs, clock):
    state = converged(aws, clock)
    name = GROUPS["logs.api"]
    logs.untag_resource(resourceArn=log_group(logs, name)["logGroupArn"], tagKeys=["Environment"])
    plan = converge(aws, state, nodes=nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"logs.api": {"tags.Environment"}}
    converge(aws, state, nodes=nodes(), clock=clock)
    assert group_tags(logs, name) == ownership(name)


def test_deleted_behind_our_back_is_recreated(aws, logs, clock):
    state = converged(aws, clock)
    logs.delete_log_group(logGroupName=GROUPS["logs.api"])
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert actions(run) == {"logs.api": "create", "logs.worker": "unchanged"}
    assert log_group(logs, GROUPS["logs.api"])["retentionInDays"] == 30
    assert group_tags(logs, GROUPS["logs.api"]) == ownership(GROUPS["logs.api"])


def test_a_log_group_of_the_same_name_without_our_tags_is_not_adopted(aws, logs, clock):
    name = GROUPS["logs.api"]
    logs.create_log_group(logGroupName=name, tags={"Team": "someone-else"})
    state = MemoryState()
    run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=nodes())
    assert set(run.failures) == {"logs.api"}
    assert "exists but is not managed by video-pipeline-infra" in run.failures["logs.api"].reason
    assert group_tags(logs, name) == {"Team": "someone-else"}
    # Teardown leaves it alone too.
    destroy(aws, state, nodes=nodes(), clock=clock)
    assert log_group(logs, name) is not None


def test_a_longer_name_with_the_same_prefix_is_not_mistaken_for_ours(aws, logs, clock):
    logs.create_log_group(logGroupName=GROUPS["logs.api"] + "-old", tags=ownership(GROUPS["logs.api"]))
    state = converged(aws, clock)
    assert log_group(logs, GROUPS["logs.api"]) is not None
    assert recorded_id(state, "logs.api") == GROUPS["logs.api"]


@pytest.mark.parametrize("name", ["/ecs/video processing", "x" * 513, "", "/ecs/vidéo"])
def test_names_aws_refuses_are_refused_before_any_call(aws, name):
    # The engine checks every node's spec (LogGroup.validate) before the node's first call.
    spec = {**nodes()[0].spec, "name": name}
    state = MemoryState()
    engine = Reconciler(aws, env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock())
    before = aws.calls.total
    with pytest.raises(ResourceError, match="1-512 letters, digits"):  # B-LOG-1
        engine.reconcile(Node("logs.api", LogGroup, spec))
    assert aws.calls.total == before


# -- D-LOG-1: the environment key's policy lets CloudWatch Logs use it -------------------------

def without_the_logs_statement(nodes_: list[Node]) -> list[Node]:
    """The stack's nodes with a key policy that leaves CloudWatch Logs out."""
    changed = []
    for node in nodes_:
        if node.key == "kms.key":
            policy = {**node.spec["policy"], "Statement": [
                s for s in node.spec["policy"]["Statement"] if s.get("Sid") != "CloudWatchLogsEncrypts"]}
            node = dataclasses.replace(node, spec={**node.spec, "policy": policy})
        changed.append(node)
    return changed


def test_the_stack_key_policy_lets_cloudwatch_logs_encrypt_its_groups(aws, logs, clock):
    """With the layer checking the key as AWS does, both groups are made encrypted with the key."""
    state = MemoryState()
    with logs_kms.key_policy_checked():
        run = converge(aws, state, nodes=nodes(), clock=clock)
    assert run.ok, run.failures
    key = recorded_id(state, "kms.key")
    for name in GROUPS.values():
        assert log_group(logs, name)["kmsKeyId"].endswith(f":key/{key}")


def test_the_environment_key_encrypts_its_own_groups_only(aws, logs, clock):
    """The key policy admits the environment's log groups, not every group of the account: a
    group of another environment (or of anyone else) cannot be encrypted with it."""
    from botocore.exceptions import ClientError

    state = MemoryState()
    with logs_kms.key_policy_checked():
        assert converge(aws, state, nodes=nodes(), clock=clock).ok
        key_arn = aws.client("kms").describe_key(KeyId=recorded_id(state, "kms.key"))["KeyMetadata"]["Arn"]
        for other in ("/ecs/video-processing-prod/metadata-api", "/by-hand/dev"):
            with pytest.raises(ClientError) as refused:
                logs.create_log_group(logGroupName=other, kmsKeyId=key_arn)
            assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        logs.create_log_group(logGroupName="/ecs/video-processing-dev/another", kmsKeyId=key_arn)


def test_a_key_policy_without_the_cloudwatch_logs_statement_is_refused(aws, logs, clock):
    state = MemoryState()
    with logs_kms.key_policy_checked():
        run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(),
                              nodes=without_the_logs_statement(nodes()))
    assert set(run.failures) == set(GROUPS)
    assert "AccessDeniedException" in run.failures["logs.api"].reason
    assert all(log_group(logs, name) is None for name in GROUPS.values())

"""IAM role handler on moto: the ECS execution and task roles, read back with the test's own client.

The roles' policies reference the log groups and the Redis secret (converged with them) and the
RDS-managed secret, EFS file system and access point (other handlers: literal ARNs here).
"""
from __future__ import annotations

import dataclasses
import json
import urllib.parse

import boto3
import pytest

from orchestrator.config import EnvConfig
from orchestrator.reconciler import Reconciler
from orchestrator.run import reconcile_stack
from orchestrator.spec import Join, Node, Ref
from orchestrator.stack.security import ECS_TASK_TRUST, ECS_TRUST, iam_nodes, key_nodes, log_group_nodes, secret_nodes
from resources.base import ResourceError
from resources.security.iam_role import IamRole, canonical_policy, fill_placeholders
from resources.aws.clock import FakeClock
from tests.conftest import REGION
from tests.resources.network import changed_fields, ownership
from tests.support.memory_state import MemoryState
from tests.support.stack import actions as all_actions, converge, destroy

ROLES = {"iam.execution_role": "ecs-task-execution-role-dev", "iam.task_role": "ecs-task-role-dev"}
ACCOUNT = "123456789012"
# The trust policies as AWS holds them: the account and region filled in (docs/configuration.md IAM row).
TRUSTS = {"iam.execution_role": fill_placeholders(ECS_TRUST, ACCOUNT, REGION),
          "iam.task_role": fill_placeholders(ECS_TASK_TRUST, ACCOUNT, REGION)}
ELSEWHERE = {
    ("rds.instance", "secret_arn"): f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0b5d8c1e-Ab12Cd",
    ("efs.file_system", "arn"): f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0",
    ("efs.access_point", "arn"): f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/fsap-0123456789abcdef0",
}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


@pytest.fixture
def iam(moto_aws):
    return boto3.client("iam", region_name=REGION)


def actions(run) -> dict[str, str]:
    # The environment's KMS key is converged with these nodes (they are encrypted with it).
    return {k: a for k, a in all_actions(run).items() if k != "kms.key"}


def literal_refs(value):
    """The spec with refs to other helpers' nodes replaced by literal ARNs."""
    if isinstance(value, Ref):
        return ELSEWHERE.get((value.node, value.attr), value)
    if isinstance(value, Join):
        return Join(*(literal_refs(p) for p in value.parts))
    if isinstance(value, dict):
        return {k: literal_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal_refs(v) for v in value]
    return value


def nodes():
    cfg = EnvConfig()
    roles = [dataclasses.replace(n, spec=literal_refs(n.spec)) for n in iam_nodes("dev", cfg)]
    redis_secret = [n for n in secret_nodes("dev", cfg) if n.key == "secret.redis_auth"]
    return key_nodes("dev", cfg) + log_group_nodes("dev", cfg) + redis_secret + roles


def converged(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=nodes(), clock=clock)
    return state


def role(iam, name: str) -> dict:
    return iam.get_role(RoleName=name)["Role"]


def inline(iam, name: str) -> dict[str, dict]:
    return {p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"] for p in iam.list_role_policies(RoleName=name)["PolicyNames"]}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_create_roles_trusting_ecs_tasks_with_scoped_policies_then_second_run_changes_nothing(aws, iam, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert {k: a for k, a in actions(run).items() if k in ROLES} == dict.fromkeys(ROLES, "create")
    for key, name in ROLES.items():
        found = role(iam, name)
        assert canonical_policy(found["AssumeRolePolicyDocument"]) == canonical_policy(TRUSTS[key])
        assert {t["Key"]: t["Value"] for t in found["Tags"]} == ownership(name)
        assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
        assert state.doc.resource(key)["outputs"] == {"id": name, "name": name, "arn": found["Arn"]}
    assert role(iam, ROLES["iam.task_role"])["Description"] == "The video pipeline tasks: mount their EFS access point"

    execution = inline(iam, ROLES["iam.execution_role"])["execution"]
    by_sid = {s["Sid"]: s for s in execution["Statement"]}
    log_arns = [recorded_arn(state, "logs.api"), recorded_arn(state, "logs.worker")]
    assert sorted(as_list(by_sid["WriteOwnLogs"]["Resource"])) == sorted(f"{a}:log-stream:*" for a in log_arns)
    assert sorted(as_list(by_sid["ReadOwnSecrets"]["Resource"])) == sorted(
        [ELSEWHERE[("rds.instance", "secret_arn")], recorded_arn(state, "secret.redis_auth")])
    [mount] = inline(iam, ROLES["iam.task_role"])["tasks"]["Statement"]
    assert mount["Resource"] in (ELSEWHERE[("efs.file_system", "arn")], [ELSEWHERE[("efs.file_system", "arn")]])

    before = aws.calls.mutating
    again = converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def recorded_arn(state, key: str) -> str:
    return state.doc.resource(key)["outputs"]["arn"]


def test_no_policy_allows_a_wildcard_action_on_every_resource(aws, iam, clock):
    converged(aws, clock)
    for name in ROLES.values():
        for document in inline(iam, name).values():
            for statement in document["Statement"]:
                actions_ = as_list(statement.get("Action", []))
                assert "*" not in actions_
                if "*" in as_list(statement.get("Resource", [])):
                    # Only actions without resource-level permissions, named one by one.
                    assert all("*" not in a for a in actions_), statement
        assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []


def test_inline_policy_edited_by_hand_is_restored(aws, iam, clock):
    state = converged(aws, clock)
    name = ROLES["iam.task_role"]
    wanted = inline(iam, name)["tasks"]
    broad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "elasticfilesystem:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="tasks", PolicyDocument=json.dumps(broad))

    plan = converge(aws, state, nodes=nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"iam.task_role": {"inline_policies"}}
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert actions(run)["iam.task_role"] == "update"
    assert canonical_policy(inline(iam, name)["tasks"]) == canonical_policy(wanted)


@pytest.mark.aws_managed_policies
def test_policies_added_by_hand_are_removed(aws, iam, clock):
    state = converged(aws, clock)
    name = ROLES["iam.execution_role"]
    iam.put_role_policy(RoleName=name, PolicyName="debug", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x/*"}]}))
    iam.attach_role_policy(RoleName=name, PolicyArn=ADMIN)

    plan = converge(aws, state, nodes=nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"iam.execution_role": {"inline_policies", "managed_policy_arns"}}
    converge(aws, state, nodes=nodes(), clock=clock)
    assert set(inline(iam, name)) == {"execution"}
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []


def test_trust_policy_description_and_tags_changed_by_hand_are_restored(aws, iam, clock):
    state = converged(aws, clock)
    name = ROLES["iam.execution_role"]
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}))
    iam.update_role(RoleName=name, Description="edited")
    iam.untag_role(RoleName=name, TagKeys=["Environment"])

    plan = converge(aws, state, nodes=nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"iam.execution_role": {"assume_role_policy", "description", "tags.Environment"}}
    converge(aws, state, nodes=nodes(), clock=clock)
    found = role(iam, name)
    assert canonical_policy(found["AssumeRolePolicyDocument"]) == canonical_policy(TRUSTS["iam.execution_role"])
    assert found["Description"] == "ECS pulls images, writes logs and reads secrets for the tasks"
    assert {t["Key"]: t["Value"] for t in found["Tags"]} == ownership(name)


def test_deleted_behind_our_back_is_recreated(aws, iam, clock):
    state = converged(aws, clock)
    name = ROLES["iam.task_role"]
    old_id = role(iam, name)["RoleId"]
    iam.delete_role_policy(RoleName=name, PolicyName="tasks")
    iam.delete_role(RoleName=name)

    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert actions(run)["iam.task_role"] == "create"
    assert {a for k, a in actions(run).items() if k != "iam.task_role"} == {"unchanged"}
    assert role(iam, name)["RoleId"] != old_id
    assert set(inline(iam, name)) == {"tasks"}


def test_a_role_of_the_same_name_without_our_tags_is_not_adopted(aws, iam, clock):
    name = ROLES["iam.task_role"]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ECS_TRUST))
    state = MemoryState()
    run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=nodes())
    assert set(run.failures) == {"iam.task_role"}
    assert f"IAM role {name} exists but is not managed by video-pipeline-infra" in run.failures["iam.task_role"].reason
    assert inline(iam, name) == {}
    # Teardown does not touch it either.
    destroy(aws, state, nodes=nodes(), clock=clock)
    assert role(iam, name)["RoleName"] == name


@pytest.mark.aws_managed_policies
def test_delete_detaches_and_deletes_policies_first_and_delete_when_already_gone(aws, iam, clock):
    state = converged(aws, clock)
    # DeleteRole answers DeleteConflict while a policy is still attached (moto enforces it).
    iam.attach_role_policy(RoleName=ROLES["iam.task_role"], PolicyArn=ADMIN)
    run = destroy(aws, state, nodes=nodes(), clock=clock)
    assert {k: a for k, a in actions(run).items() if k in ROLES} == dict.fromkeys(ROLES, "delete")
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert names.isdisjoint(ROLES.values())
    again = destroy(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(again).values()) == {"absent"}


def test_policy_documents_compare_equal_in_every_form_iam_answers():
    sent = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:b", "arn:a"],
                                                    "Condition": {"StringEquals": {"k": "v"}}}}
    answered = urllib.parse.quote(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:a", "arn:b"], "Condition": {"StringEquals": {"k": ["v"]}}}]}))
    assert canonical_policy(answered) == canonical_policy(sent)
    assert canonical_policy(ECS_TRUST) != canonical_policy({**ECS_TRUST, "Statement": [{**ECS_TRUST["Statement"][0], "Effect": "Deny"}]})


@pytest.mark.parametrize("name", ["r" * 65, "ecs task role", "rôle", ""])
def test_names_aws_refuses_are_refused_before_any_call(aws, name):
    # The engine checks every node's spec (IamRole.validate) before the node's first call.
    spec = {**literal_refs(iam_nodes("dev", EnvConfig())[1].spec), "name": name}
    state = MemoryState()
    engine = Reconciler(aws, env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock())
    before = aws.calls.total
    with pytest.raises(ResourceError, match="1-64 letters, digits"):  # B-IAM-1
        engine.reconcile(Node("iam.task_role", IamRole, spec))
    assert aws.calls.total == before

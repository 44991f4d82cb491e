"""docs/configuration.md, the IAM, secrets and ECS rows (issue 15), on moto.

Each row is read back with the test's own boto3 clients after a reconcile, switched off behind
the tool's back, seen in the plan (which is what bin/drift reports: drift is the plan's diff),
and put back by the next reconcile. FSBP control ids as docs/configuration.md gives them:

    IAM.21 trust policies scoped to the account (SourceAccount, SourceArn), operators by type,
           no wildcard actions        test_trust_policies_..., test_role_policies_that_break_...
    SecretsManager.* a resource policy on each secret: only its readers and administrators read
                                      test_secret_policies_..., test_secret_policy_admins_...,
                                      test_secret_policies_are_adopted_...
    ECS.5  read-only root file system test_task_definitions_..., test_read_only_root_...
    ECS.4  no privileged container    test_task_definitions_..., test_container_rules_...
    ECS.8  no secrets in environment  test_task_definitions_..., test_container_rules_...
    (awslogs non-blocking with a buffer) test_task_definitions_...
"""
from __future__ import annotations

import collections
import dataclasses
import json

import boto3
import pytest

from orchestrator.config import ConfigError, EnvConfig, validate_config
from orchestrator.spec import Join, Ref
from orchestrator.stack.compute import task_definition_nodes
from orchestrator.stack.data import rds_nodes
from orchestrator.stack.security import iam_nodes, key_nodes, log_group_nodes, secret_nodes, secret_policy_nodes
from resources.base import spec_problems
from resources.compute.ecs_task_definition import TaskDefinition
from resources.security.iam_role import IamRole, canonical_policy
from resources.security.secret_policy import SecretPolicy
from tests.conftest import REGION
from tests.resources.network import changed_fields
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy

ACCOUNT = "123456789012"
# With no secret_admin_principals and no role_arn the account administers the secrets: its
# principals are exempt from the Deny (IAM decides), whoever runs the tool.
ACCOUNT_EXEMPT = {"StringNotEquals": {"aws:PrincipalAccount": [ACCOUNT]}}
EXECUTION, TASK, MONITORING = "ecs-task-execution-role-dev", "ecs-task-role-dev", "rds-monitoring-role-dev"
SECRETS = {"secret.redis_auth.policy": "redis-auth-dev", "secret.api_key.policy": "api-keys-dev"}
FAMILIES = {"ecs.taskdef.api": "metadata-api-dev", "ecs.taskdef.worker": "video-worker-dev"}
# Refs to nodes of other parts of the stack, as literal values.
ELSEWHERE = {
    ("rds.instance", "secret_arn"): f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0b5d8c1e-Ab12Cd",
    ("rds.instance", "address"): "rds-postgresql-dev.example.us-east-1.rds.amazonaws.com",
    ("redis.replication_group", "address"): "master.redis-dev.example.use1.cache.amazonaws.com",
    ("efs.file_system", "arn"): f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0",
    ("efs.file_system", "id"): "fs-0123456789abcdef0",
    ("efs.access_point", "arn"): f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/fsap-0123456789abcdef0",
    ("efs.access_point", "id"): "fsap-0123456789abcdef0",
}


@pytest.fixture
def iam(moto_aws):
    return boto3.client("iam", region_name=REGION)


@pytest.fixture
def sm(moto_aws):
    return boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def ecs(moto_aws):
    return boto3.client("ecs", region_name=REGION)


@pytest.fixture
def api_key(moto_aws) -> str:
    return boto3.client("apigateway", region_name=REGION).create_api_key(name="api-key-dev", enabled=True)["id"]


def literal(value, api_key: str):
    if isinstance(value, Ref):
        if value.node == "apigw.api_key":
            return api_key
        return ELSEWHERE.get((value.node, value.attr), value)
    if isinstance(value, Join):
        return Join(*(literal(p, api_key) for p in value.parts))
    if isinstance(value, dict):
        return {k: literal(v, api_key) for k, v in value.items()}
    if isinstance(value, list):
        return [literal(v, api_key) for v in value]
    return value


def nodes(api_key: str, cfg: EnvConfig = EnvConfig()):
    """The stack's key, log groups, secrets, roles, secret policies and task definitions, with
    the refs to other parts (RDS, Redis, EFS, API Gateway) as literal values."""
    parts = (key_nodes("dev", cfg) + log_group_nodes("dev", cfg) + secret_nodes("dev", cfg) + iam_nodes("dev", cfg)
             + secret_policy_nodes("dev", cfg) + task_definition_nodes("dev", cfg))
    return [dataclasses.replace(n, spec=literal(n.spec, api_key)) for n in parts]


def mutating_calls(aws, before: collections.Counter) -> dict[str, int]:
    now = aws.calls.counts
    return {f"{s} {op}": now[(s, op)] - before[(s, op)] for (s, op) in now
            if now[(s, op)] != before[(s, op)] and not op.startswith(("Describe", "Get", "List"))}


def trust(iam, name: str) -> dict:
    [statement] = canonical_policy(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])["Statement"]
    return statement


def secret_policy(sm, name: str) -> dict:
    return canonical_policy(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])


def latest_container(ecs, family: str) -> dict:
    return ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]


# -- IAM ------------------------------------------------------------------------------------------

def test_trust_policies_are_scoped_to_the_account_switched_off_seen_and_restored(aws, iam, api_key, clock):
    state = MemoryState()
    monitoring = rds_nodes("dev", EnvConfig(), 2)[2]
    stack = nodes(api_key) + [monitoring]
    converge(aws, state, nodes=stack, clock=clock)
    # The task role: ECS passes the task's ARN and the account (ECS developer guide, task IAM role).
    assert trust(iam, TASK) == {
        "Effect": "Allow", "Principal": {"Service": ["ecs-tasks.amazonaws.com"]}, "Action": ["sts:AssumeRole"],
        "Condition": {"StringEquals": {"aws:SourceAccount": [ACCOUNT]},
                      "ArnLike": {"aws:SourceArn": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"]}}}
    assert trust(iam, EXECUTION)["Condition"] == {"StringEquals": {"aws:SourceAccount": [ACCOUNT]}}
    # Enhanced Monitoring: for this environment's instance only (RDS user guide, confused deputy).
    assert trust(iam, MONITORING)["Condition"] == {
        "StringEquals": {"aws:SourceAccount": [ACCOUNT]},
        "ArnLike": {"aws:SourceArn": [f"arn:aws:rds:{REGION}:{ACCOUNT}:db:rds-postgresql-dev"]}}
    # The task role's EFS condition on an ARN-typed key uses the ARN operator.
    [mount] = canonical_policy(iam.get_role_policy(RoleName=TASK, PolicyName="tasks")["PolicyDocument"])["Statement"]
    assert list(mount["Condition"]) == ["ArnEquals"]

    # Behind the tool's back: the conditions dropped from every trust policy.
    open_trust = lambda service: json.dumps({"Version": "2012-10-17", "Statement": [  # noqa: E731
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
    for name in (EXECUTION, TASK):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=open_trust("ecs-tasks.amazonaws.com"))
    iam.update_assume_role_policy(RoleName=MONITORING, PolicyDocument=open_trust("monitoring.rds.amazonaws.com"))
    plan = converge(aws, state, nodes=stack, plan=True, clock=clock)
    assert changed_fields(plan) == dict.fromkeys(
        ("iam.execution_role", "iam.task_role", "iam.rds_monitoring_role"), {"assume_role_policy"})

    converge(aws, state, nodes=stack, clock=clock)
    assert "aws:SourceArn" in trust(iam, TASK)["Condition"]["ArnLike"]
    assert "aws:SourceArn" in trust(iam, MONITORING)["Condition"]["ArnLike"]
    assert trust(iam, EXECUTION)["Condition"] == {"StringEquals": {"aws:SourceAccount": [ACCOUNT]}}
    again = converge(aws, state, nodes=stack, plan=True, clock=clock)
    assert changed_fields(again) == {}


@pytest.mark.parametrize("statement, problem", [
    ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "S allows every action on every resource (FSBP IAM.1)"),
    ({"Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::b/*"},
     "S allows every action of a service (s3:*; FSBP IAM.21)"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
      "Condition": {"StringLike": {"aws:SourceArn": "arn:aws:ecs:*"}}},
     "S: condition key aws:SourceArn is an ARN: use ArnEquals or ArnLike, not StringLike"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
      "Condition": {"ArnEquals": {"aws:SourceAccount": ACCOUNT}}},
     "S: condition key aws:SourceAccount is a string: use StringEquals, not ArnEquals"),
])
def test_role_policies_that_break_the_iam_row_are_refused_before_any_call(aws, statement, problem):
    role = IamRole(aws, env="dev")
    spec = {"name": "r-dev", "tags": {}, "description": None, "managed_policy_arns": [],
            "assume_role_policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]},
            "inline_policies": {"p": {"Version": "2012-10-17", "Statement": [{"Sid": "S", **statement}]}}}
    before = aws.calls.total
    assert spec_problems(role, spec, lambda v: False) == [f"iam_role r-dev: policy p: {problem}"]
    assert aws.calls.total == before
    # The stack's own roles and secret policies pass the same rules.
    for node in nodes("k") + [rds_nodes("dev", EnvConfig(), 2)[2]]:
        if node.handler in (IamRole, SecretPolicy):
            assert spec_problems(node.handler(aws, env="dev"), node.spec, lambda v: isinstance(v, (Ref, Join))) == []


# -- secrets --------------------------------------------------------------------------------------

def test_secret_policies_are_put_at_create_switched_off_seen_and_restored(aws, sm, iam, api_key, clock):
    state = MemoryState()
    before = collections.Counter(aws.calls.counts)
    converge(aws, state, nodes=nodes(api_key), clock=clock)
    # One call per secret (the kill sweep's count).
    assert mutating_calls(aws, before)["secretsmanager PutResourcePolicy"] == 2
    execution = iam.get_role(RoleName=EXECUTION)["Role"]["Arn"]
    redis = secret_policy(sm, "redis-auth-dev")
    assert redis["Statement"] == [
        {"Sid": "ReadersRead", "Effect": "Allow", "Principal": {"AWS": [execution]},
         "Action": ["secretsmanager:GetSecretValue"], "Resource": ["*"]},
        {"Sid": "NobodyElseReads", "Effect": "Deny", "Principal": {"AWS": ["*"]},
         "Action": ["secretsmanager:GetSecretValue"], "Resource": ["*"],
         "Condition": {"ArnNotLike": {"aws:PrincipalArn": [execution]}, **ACCOUNT_EXEMPT}},
    ]
    # Nobody in the stack reads the API key: only its administrators (here the account).
    [deny] = secret_policy(sm, "api-keys-dev")["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == ACCOUNT_EXEMPT

    # Behind the tool's back: one policy removed, the other widened to the whole account.
    sm.delete_resource_policy(SecretId="redis-auth-dev")
    sm.put_resource_policy(SecretId="api-keys-dev", ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "secretsmanager:*",
         "Resource": "*"}]}))
    plan = converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)
    assert actions(plan)["secret.redis_auth.policy"] == "create"
    assert changed_fields(plan)["secret.api_key.policy"] == {"policy"}

    converge(aws, state, nodes=nodes(api_key), clock=clock)
    assert secret_policy(sm, "redis-auth-dev") == redis
    assert secret_policy(sm, "api-keys-dev")["Statement"] == [deny]
    assert changed_fields(converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)) == {}


def test_secret_policy_admins_come_from_the_configuration(aws, sm, api_key, clock):
    admins = [f"arn:aws:iam::{ACCOUNT}:role/deploy", f"arn:aws:iam::{ACCOUNT}:role/ops/oncall"]
    cfg = validate_config({"secret_admin_principals": admins, "role_arn": f"arn:aws:iam::{ACCOUNT}:role/ci"})
    converge(aws, MemoryState(), nodes=nodes(api_key, cfg), clock=clock)
    [deny] = secret_policy(sm, "api-keys-dev")["Statement"]
    # The configured principals, exactly: neither the caller, nor the role, nor the account.
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": sorted(admins)}}


def test_without_admins_the_environments_role_administers_the_secrets(aws, sm, api_key, clock):
    role = f"arn:aws:iam::{ACCOUNT}:role/teams/deployer"
    converge(aws, MemoryState(), nodes=nodes(api_key, validate_config({"role_arn": role})), clock=clock)
    [deny] = secret_policy(sm, "api-keys-dev")["Statement"]
    # aws:PrincipalArn of a session of the role is the role's ARN with its path.
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [role]}}


@pytest.mark.parametrize("principal", [
    "deploy", "arn:aws:iam::123:role/x", f"arn:aws:iam::{ACCOUNT}:role/*", f"arn:aws:iam::{ACCOUNT}:role/ops/*",
    f"arn:aws:iam::{ACCOUNT}:user/dev-*",
])
def test_secret_admin_principals_are_refused_when_not_an_exact_principal(principal):
    with pytest.raises(ConfigError) as refused:
        validate_config({"secret_admin_principals": [principal]})
    assert refused.value.lines == [
        f"config: secret_admin_principals = [{principal!r}] is not allowed "
        "(IAM role or user ARNs such as arn:aws:iam::123456789012:role/deploy, without wildcards, at most 20)"]


def test_secret_policies_are_adopted_after_state_loss_and_go_with_teardown(aws, sm, api_key, clock):
    state = MemoryState()
    converge(aws, state, nodes=nodes(api_key), clock=clock)
    lost = MemoryState()
    before = aws.calls.mutating
    run = converge(aws, lost, nodes=nodes(api_key), clock=clock)
    assert {k: a for k, a in actions(run).items() if k in SECRETS} == dict.fromkeys(SECRETS, "unchanged")
    assert aws.calls.mutating == before
    assert lost.doc.resource("secret.redis_auth.policy")["id"] == sm.describe_secret(SecretId="redis-auth-dev")["ARN"]

    before = collections.Counter(aws.calls.counts)
    destroy(aws, lost, clock=clock)
    assert mutating_calls(aws, before)["secretsmanager DeleteResourcePolicy"] == 2
    assert sm.list_secrets()["SecretList"] == []


# -- ECS ------------------------------------------------------------------------------------------

def test_task_definitions_hold_the_ecs_row_switched_off_seen_and_restored(aws, ecs, api_key, clock):
    state = MemoryState()
    converge(aws, state, nodes=nodes(api_key), clock=clock)
    for key, family in FAMILIES.items():
        definition = latest_container(ecs, family)
        [container] = definition["containerDefinitions"]
        assert container["readonlyRootFilesystem"] is True and container["privileged"] is False
        options = container["logConfiguration"]["options"]
        assert (options["mode"], options["max-buffer-size"]) == ("non-blocking", "25m")
        # Nothing secret-looking in plain environment; the secrets by reference only.
        assert {e["name"] for e in container["environment"]} == {
            "DB_HOST", "DB_PORT", "DB_NAME", "REDIS_HOST", "REDIS_PORT", "REDIS_TLS"}
        assert {s["name"] for s in container["secrets"]} == {"DB_CREDENTIALS", "REDIS_AUTH_TOKEN"}
    # The writable paths of a read-only root: task volumes (nginx's cache and pid directories).
    api = latest_container(ecs, FAMILIES["ecs.taskdef.api"])
    assert {m["containerPath"] for m in api["containerDefinitions"][0]["mountPoints"]} == {"/var/cache/nginx", "/var/run"}
    assert {v["name"] for v in api["volumes"]} == {"scratch-var-cache-nginx", "scratch-var-run"}

    # Behind the tool's back: a revision with a writable root, a privileged container and
    # blocking logs registered as the family's latest.
    hand = {k: api[k] for k in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory",
                                "executionRoleArn", "taskRoleArn", "volumes")}
    [container] = api["containerDefinitions"]
    container = {**container, "readonlyRootFilesystem": False, "privileged": True,
                 "logConfiguration": {"logDriver": "awslogs", "options": {
                     k: v for k, v in container["logConfiguration"]["options"].items() if k not in ("mode", "max-buffer-size")}}}
    tags = ecs.describe_task_definition(taskDefinition=api["family"], include=["TAGS"])["tags"]
    ecs.register_task_definition(**hand, containerDefinitions=[container], tags=tags)
    plan = converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)
    assert changed_fields(plan) == {"ecs.taskdef.api": {f"container_definitions[metadata-api].{f}" for f in ("logConfiguration", "privileged", "readonlyRootFilesystem")}}

    converge(aws, state, nodes=nodes(api_key), clock=clock)
    [restored] = latest_container(ecs, FAMILIES["ecs.taskdef.api"])["containerDefinitions"]
    assert restored["readonlyRootFilesystem"] is True and restored["privileged"] is False
    assert restored["logConfiguration"]["options"]["mode"] == "non-blocking"
    assert changed_fields(converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)) == {}


def test_read_only_root_and_the_log_buffer_follow_the_configuration(aws, ecs, api_key, clock):
    cfg = validate_config({"ecs_readonly_root_filesystem": False, "ecs_log_max_buffer_size": "4m",
                           "worker_scratch_paths": ["/tmp", "/var/tmp"]})
    converge(aws, MemoryState(), nodes=nodes(api_key, cfg), clock=clock)
    api = latest_container(ecs, FAMILIES["ecs.taskdef.api"])
    [container] = api["containerDefinitions"]
    # Off: a writable root and no scratch volumes; the buffer as configured.
    assert container.get("readonlyRootFilesystem") in (False, None) and api["volumes"] == []
    assert container["logConfiguration"]["options"]["max-buffer-size"] == "4m"
    with pytest.raises(ConfigError) as refused:
        validate_config({"ecs_log_max_buffer_size": "25", "api_scratch_paths": ["/"], "worker_scratch_paths": ["tmp"],
                         "ecs_readonly_root_filesystem": "yes"})
    assert refused.value.lines == [
        "config: ecs_readonly_root_filesystem must be true or false, got 'yes'",
        "config: api_scratch_paths = ['/'] is not allowed (distinct absolute paths other than /, at most 10)",
        "config: worker_scratch_paths = ['tmp'] is not allowed (distinct absolute paths other than /, at most 10)",
        "config: ecs_log_max_buffer_size = '25' is not allowed (a size from 1m to 4g, such as 25m)",
    ]


def test_container_rules_are_refused_before_any_call(aws, api_key):
    [api_node, _] = [n for n in nodes(api_key) if n.handler is TaskDefinition]
    [container] = api_node.spec["container_definitions"]
    bad = {**container, "privileged": True,
           "environment": [*container["environment"], {"name": "DB_PASSWORD", "value": "x"}]}
    spec = {**api_node.spec, "container_definitions": [bad]}
    before = aws.calls.total
    problems = spec_problems(TaskDefinition(aws, env="dev"), spec, lambda v: isinstance(v, (Ref, Join)))
    assert problems == [
        "ecs_task_definition metadata-api-dev: container metadata-api: privileged containers are not allowed (FSBP ECS.4)",
        "ecs_task_definition metadata-api-dev: container metadata-api: environment variable DB_PASSWORD looks like a "
        "secret: pass it in secrets (valueFrom) instead (FSBP ECS.8)",
    ]
    assert aws.calls.total == before


def test_the_execution_role_pulls_only_from_the_private_repositories_the_images_name(aws, iam, api_key, clock):
    """The default images are public (Amazon ECR Public): Fargate pulls them without credentials,
    so the role holds no ECR permission at all; a private ECR image gives it that repository only."""
    from orchestrator.stack.security import ecr_pull_statements

    converge(aws, MemoryState(), nodes=nodes(api_key), clock=clock)
    [name] = iam.list_role_policies(RoleName=EXECUTION)["PolicyNames"]
    statements = iam.get_role_policy(RoleName=EXECUTION, PolicyName=name)["PolicyDocument"]["Statement"]
    assert not [s for s in statements if any(a.startswith("ecr:") for a in s["Action"])], statements

    private = f"{ACCOUNT}.dkr.ecr.ap-northeast-1.amazonaws.com/video/worker:1.4"
    auth, pull = ecr_pull_statements(["public.ecr.aws/docker/library/nginx:stable-alpine", private])
    assert (auth["Action"], auth["Resource"]) == (["ecr:GetAuthorizationToken"], "*")
    assert pull["Resource"] == [f"arn:aws:ecr:ap-northeast-1:{ACCOUNT}:repository/video/worker"]
    assert ecr_pull_statements([f"{private}@sha256:{'a' * 64}"])[1]["Resource"] == pull["Resource"]

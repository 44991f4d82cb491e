"""ECS cluster, task definitions and services on moto: the standard case list, read back with the
test's own clients, plus what moto cannot show (pending and failed deployments, IAM propagation,
pacing) against a Stubber and a FakeClock.

The nodes come from orchestrator.stack.compute. Subnets come from converging the real network
nodes; every other dependency (security group, roles, log groups, RDS/Redis/EFS values, the
target group) is a literal made here, so these tests do not wait for the other handlers.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from orchestrator.config import EnvConfig
from orchestrator.spec import Join, Node, Ref, has_unknown, resolve
from orchestrator.stack.compute import cluster_nodes, service_nodes, task_definition_nodes
from orchestrator.stack.network import network_nodes
from orchestrator.stack.security import ECS_TRUST, log_group_name
from resources.aws import Aws
from resources.base import Observed, ResourceError, Status, ownership_tags, spec_problems
from resources.compute.ecs import Cluster, Service, TaskDefinition, fargate_memory_choices, subset_equal
from resources.compute.ecs_task_definition import TASK_DEFINITION_FIELDS
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy

REGION = "us-east-1"
AZS = ["us-east-1a", "us-east-1b"]
ACCOUNT = "123456789012"
CLUSTER = "video-processing-dev"
FAMILIES = {"ecs.taskdef.api": "metadata-api-dev", "ecs.taskdef.worker": "video-worker-dev"}
SERVICES = {"ecs.service.api": "metadata-api-dev", "ecs.service.worker": "video-worker-dev"}
ECS_KEYS = ["ecs.cluster", *FAMILIES, *SERVICES]
DB_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0f1e2d3c-AbCdEf"
REDIS_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:redis-auth-dev-GhIjKl"
FILE_SYSTEM = "fs-0123456789abcdef0"
ACCESS_POINT = "fsap-0123456789abcdef0"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/api-tg-dev/0123456789abcdef"


# -- the stack's ECS nodes with other helpers' dependencies as literals --------------------------
def substitute(value, literals: dict):
    """Replace the refs named in ``literals`` by their values; other refs stay (converged here)."""
    if isinstance(value, Ref):
        return literals.get((value.node, value.attr), value)
    if isinstance(value, Join):
        parts = [substitute(p, literals) for p in value.parts]
        return Join(*parts) if any(isinstance(p, (Ref, Join)) for p in parts) else "".join(map(str, parts))
    if isinstance(value, dict):
        return {k: substitute(v, literals) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [substitute(v, literals) for v in value]
    return value


@dataclass
class Stack:
    state: MemoryState
    network: list[Node]
    literals: dict
    sg_id: str
    roles: dict[str, str]

    def nodes(self, cfg: EnvConfig | None = None) -> list[Node]:
        cfg = cfg or EnvConfig()
        here = {n.key for n in self.network} | set(ECS_KEYS)
        ecs = [*cluster_nodes("dev", cfg), *task_definition_nodes("dev", cfg), *service_nodes("dev", cfg, len(AZS))]
        return self.network + [
            dataclasses.replace(n, spec=substitute(n.spec, self.literals), after=tuple(a for a in n.after if a in here))
            for n in ecs
        ]

    def id(self, key: str) -> str:
        return self.state.doc.resource(key)["id"]


@pytest.fixture
def ecs(moto_aws):
    return boto3.client("ecs", region_name=REGION)


@pytest.fixture
def stack(aws, ec2, clock) -> Stack:
    state = MemoryState()
    network = network_nodes("dev", EnvConfig(), AZS)
    converge(aws, state, nodes=network, clock=clock)
    vpc_id = state.doc.resource("vpc")["id"]
    sg_id = ec2.create_security_group(GroupName="ecs-sg-dev", Description="ECS Fargate tasks", VpcId=vpc_id)["GroupId"]
    iam, logs = boto3.client("iam", region_name=REGION), boto3.client("logs", region_name=REGION)
    roles = {
        key: iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ECS_TRUST))["Role"]["Arn"]
        for key, name in (("iam.execution_role", "ecs-task-execution-role-dev"), ("iam.task_role", "ecs-task-role-dev"))
    }
    literals = {
        ("sg.ecs", "id"): sg_id,
        ("rds.instance", "address"): "rds-postgresql-dev.c0ffee.us-east-1.rds.amazonaws.com",
        ("rds.instance", "secret_arn"): DB_SECRET,
        ("redis.replication_group", "address"): "master.redis-dev.c0ffee.use1.cache.amazonaws.com",
        ("secret.redis_auth", "arn"): REDIS_SECRET,
        ("efs.file_system", "id"): FILE_SYSTEM,
        ("efs.access_point", "id"): ACCESS_POINT,
        ("elb.target_group", "arn"): TARGET_GROUP,
        **{(key, "arn"): arn for key, arn in roles.items()},
    }
    for short, service in (("api", "metadata-api"), ("worker", "video-worker")):
        logs.create_log_group(logGroupName=log_group_name("dev", service))
        literals[(f"logs.{short}", "name")] = log_group_name("dev", service)
        literals[(f"logs.{short}", "region")] = REGION
    return Stack(state, network, literals, sg_id, roles)


def ecs_actions(run) -> dict[str, str]:
    return {k: v for k, v in actions(run).items() if k in ECS_KEYS}


def describe_service(ecs, name: str) -> dict:
    [service] = ecs.describe_services(cluster=CLUSTER, services=[name], include=["TAGS"])["services"]
    return service


def active_revisions(ecs, family: str) -> list[str]:
    return ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]


def latest(ecs, family: str) -> dict:
    return ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])


def tag_map(tags) -> dict:
    return {t["key"]: t["value"] for t in tags or []}


def ecs_calls(aws: Aws, operation: str) -> int:
    return aws.calls.counts[("ecs", operation)]


# -- moto: the standard case list ----------------------------------------------------------------
def test_create_reads_back_cluster_task_definitions_and_services_then_second_run_changes_nothing(aws, ecs, clock, stack):
    run = converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    assert ecs_actions(run) == dict.fromkeys(ECS_KEYS, "create")
    # The create calls carried everything: the post-create diff found nothing to fix.
    for operation in ("UpdateCluster", "UpdateService", "TagResource"):
        assert ecs_calls(aws, operation) == 0
    assert ecs_calls(aws, "RegisterTaskDefinition") == 2

    [cluster] = ecs.describe_clusters(clusters=[CLUSTER], include=["SETTINGS", "TAGS"])["clusters"]
    assert cluster["status"] == "ACTIVE" and cluster["clusterArn"] == stack.id("ecs.cluster")
    assert {s["name"]: s["value"] for s in cluster["settings"]}["containerInsights"] == "enabled"
    assert tag_map(cluster["tags"]) == ownership_tags(CLUSTER, "dev")

    worker = latest(ecs, "video-worker-dev")
    definition = worker["taskDefinition"]
    assert tag_map(worker["tags"]) == ownership_tags("video-worker-dev", "dev")
    assert definition["networkMode"] == "awsvpc" and definition["requiresCompatibilities"] == ["FARGATE"]
    assert (definition["cpu"], definition["memory"]) == ("1024", "2048")
    assert definition["executionRoleArn"] == stack.roles["iam.execution_role"]
    assert definition["taskRoleArn"] == stack.roles["iam.task_role"]
    [container] = definition["containerDefinitions"]
    assert container["image"] == EnvConfig().worker_image
    assert container["logConfiguration"] == {"logDriver": "awslogs", "options": {
        "awslogs-group": "/ecs/video-processing-dev/video-worker", "awslogs-region": REGION,
        "awslogs-stream-prefix": "video-worker", "mode": "non-blocking", "max-buffer-size": "25m"}}
    # Secrets by reference only: ECS resolves them at task start, no value is stored.
    assert sorted(container["secrets"], key=lambda s: s["name"]) == [
        {"name": "DB_CREDENTIALS", "valueFrom": DB_SECRET},
        {"name": "REDIS_AUTH_TOKEN", "valueFrom": f"{REDIS_SECRET}:auth_token::"},
    ]
    # The read-only root file system's scratch (docs/configuration.md ECS row) follows the EFS volume.
    assert container["mountPoints"] == [
        {"sourceVolume": "video-processing", "containerPath": "/mnt/video-processing", "readOnly": False},
        {"sourceVolume": "scratch-tmp", "containerPath": "/tmp", "readOnly": False}]
    volume, scratch = definition["volumes"]
    assert scratch == {"name": "scratch-tmp"}
    efs = volume["efsVolumeConfiguration"]
    assert efs["fileSystemId"] == FILE_SYSTEM and efs["transitEncryption"] == "ENABLED"
    assert efs["authorizationConfig"] == {"accessPointId": ACCESS_POINT, "iam": "ENABLED"}
    assert efs.get("rootDirectory", "/") == "/"
    api = latest(ecs, "metadata-api-dev")["taskDefinition"]
    assert api["containerDefinitions"][0]["portMappings"][0]["containerPort"] == 80
    assert api["volumes"] == [{"name": "scratch-var-cache-nginx"}, {"name": "scratch-var-run"}]

    private = sorted(stack.id(f"subnet.private.{i}") for i in (1, 2))
    for key, name in SERVICES.items():
        service = describe_service(ecs, name)
        assert service["serviceArn"] == stack.id(key) and service["status"] == "ACTIVE"
        assert service["launchType"] == "FARGATE" and service["clusterArn"] == stack.id("ecs.cluster")
        vpc = service["networkConfiguration"]["awsvpcConfiguration"]
        assert sorted(vpc["subnets"]) == private
        assert vpc["assignPublicIp"] == "DISABLED" and vpc["securityGroups"] == [stack.sg_id]
        assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        assert service["taskDefinition"] == stack.id(key.replace("service", "taskdef"))
        assert service["runningCount"] == service["desiredCount"]
        assert service["propagateTags"] == "SERVICE"
        assert tag_map(service["tags"]) == ownership_tags(name, "dev")
    assert describe_service(ecs, "metadata-api-dev")["desiredCount"] == 2
    assert describe_service(ecs, "metadata-api-dev")["loadBalancers"] == [
        {"targetGroupArn": TARGET_GROUP, "containerName": "metadata-api", "containerPort": 80}]
    assert describe_service(ecs, "video-worker-dev")["loadBalancers"] == []

    before = aws.calls.mutating
    again = converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before
    for family in FAMILIES.values():
        assert len(active_revisions(ecs, family)) == 1  # no new revision


def test_changed_image_registers_exactly_one_revision_and_moves_the_service_to_it(aws, ecs, clock, stack):
    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    first = stack.id("ecs.taskdef.api")
    cfg = EnvConfig(api_image="public.ecr.aws/nginx/nginx:1.27")

    plan = converge(aws, stack.state, nodes=stack.nodes(cfg), clock=clock, plan=True)
    changed = {r.key: {d.field for d in r.changes} for r in plan.results if r.action != "unchanged"}
    # Only the field that changes, and the service roll it causes (the new revision's ARN is
    # known after apply).
    assert changed == {"ecs.taskdef.api": {"container_definitions[metadata-api].image"}, "ecs.service.api": {"task_definition"}}
    [image] = next(r for r in plan.results if r.key == "ecs.taskdef.api").changes
    assert image.expected == "public.ecr.aws/nginx/nginx:1.27"

    registered = ecs_calls(aws, "RegisterTaskDefinition")
    run = converge(aws, stack.state, nodes=stack.nodes(cfg), clock=clock)
    assert ecs_actions(run) == {**dict.fromkeys(ECS_KEYS, "unchanged"), "ecs.taskdef.api": "update", "ecs.service.api": "update"}
    assert ecs_calls(aws, "RegisterTaskDefinition") == registered + 1
    revisions = active_revisions(ecs, "metadata-api-dev")
    assert len(revisions) == 2 and first in revisions
    newest = latest(ecs, "metadata-api-dev")["taskDefinition"]
    assert newest["revision"] == 2 and newest["containerDefinitions"][0]["image"] == cfg.api_image
    assert stack.id("ecs.taskdef.api") == newest["taskDefinitionArn"]
    service = describe_service(ecs, "metadata-api-dev")
    assert service["taskDefinition"] == newest["taskDefinitionArn"]
    assert [d["taskDefinition"] for d in service["deployments"]] == [newest["taskDefinitionArn"]]
    assert len(active_revisions(ecs, "video-worker-dev")) == 1

    before = aws.calls.mutating
    converge(aws, stack.state, nodes=stack.nodes(cfg), clock=clock)
    assert aws.calls.mutating == before


def test_container_insights_and_tags_changed_behind_our_back_are_restored_in_place(aws, ecs, clock, stack):
    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    arn, revision = stack.id("ecs.cluster"), stack.id("ecs.taskdef.worker")
    ecs.update_cluster(cluster=arn, settings=[{"name": "containerInsights", "value": "disabled"}])
    ecs.untag_resource(resourceArn=arn, tagKeys=["Environment"])
    ecs.untag_resource(resourceArn=revision, tagKeys=["Environment"])

    plan = converge(aws, stack.state, nodes=stack.nodes(), clock=clock, plan=True)
    changed = {r.key: {d.field for d in r.changes} for r in plan.results if r.action != "unchanged"}
    assert changed == {"ecs.cluster": {"container_insights", "tags.Environment"},
                       "ecs.taskdef.worker": {"tags.Environment"}}

    created, registered = ecs_calls(aws, "CreateCluster"), ecs_calls(aws, "RegisterTaskDefinition")
    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    # Never CreateCluster again on an existing cluster: moto would reset it; a tag is
    # no reason for a new revision.
    assert ecs_calls(aws, "CreateCluster") == created
    assert ecs_calls(aws, "RegisterTaskDefinition") == registered
    [cluster] = ecs.describe_clusters(clusters=[arn], include=["SETTINGS", "TAGS"])["clusters"]
    assert {s["name"]: s["value"] for s in cluster["settings"]}["containerInsights"] == "enabled"
    assert tag_map(cluster["tags"])["Environment"] == "dev"
    assert tag_map(latest(ecs, "video-worker-dev")["tags"])["Environment"] == "dev"
    assert active_revisions(ecs, "video-worker-dev") == [revision]


def test_desired_count_and_circuit_breaker_restored_after_a_manual_update_service(aws, ecs, clock, stack):
    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    ecs.update_service(cluster=CLUSTER, service="metadata-api-dev", desiredCount=5, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}, "maximumPercent": 200, "minimumHealthyPercent": 100})

    plan = converge(aws, stack.state, nodes=stack.nodes(), clock=clock, plan=True)
    [result] = [r for r in plan.results if r.key == "ecs.service.api"]
    assert result.action == "update"
    assert {d.field: (d.expected, d.actual) for d in result.changes} == {
        "desired_count": (2, 5),
        "circuit_breaker": ({"enable": True, "rollback": True}, {"enable": False, "rollback": False}),
    }

    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    service = describe_service(ecs, "metadata-api-dev")
    assert service["desiredCount"] == 2 and service["runningCount"] == 2
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["serviceArn"] == stack.id("ecs.service.api")


def test_service_and_task_definition_deleted_behind_our_back_are_recreated(aws, ecs, clock, stack):
    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    old_revision = stack.id("ecs.taskdef.worker")
    ecs.delete_service(cluster=CLUSTER, service="metadata-api-dev", force=True)
    ecs.deregister_task_definition(taskDefinition=old_revision)

    run = converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    assert ecs_actions(run) == {
        **dict.fromkeys(ECS_KEYS, "unchanged"),
        "ecs.service.api": "create", "ecs.taskdef.worker": "create", "ecs.service.worker": "update",
    }
    api = describe_service(ecs, "metadata-api-dev")
    assert api["status"] == "ACTIVE" and api["runningCount"] == 2
    [revision] = active_revisions(ecs, "video-worker-dev")
    assert revision != old_revision and stack.id("ecs.taskdef.worker") == revision
    assert describe_service(ecs, "video-worker-dev")["taskDefinition"] == revision


def test_teardown_deletes_services_before_the_cluster_then_everything_is_absent(aws, ecs, clock, stack):
    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    operations: list[str] = []
    aws.client("ecs").meta.events.register("before-call", lambda model, **_: operations.append(model.name))

    run = destroy(aws, stack.state, nodes=stack.nodes(), clock=clock)
    assert ecs_actions(run) == dict.fromkeys(ECS_KEYS, "delete")
    for name in SERVICES.values():
        service = describe_service(ecs, name)
        assert service["status"] == "INACTIVE" and service["desiredCount"] == 0
    [cluster] = ecs.describe_clusters(clusters=[CLUSTER])["clusters"]
    assert cluster["status"] == "INACTIVE"
    for family in FAMILIES.values():
        assert active_revisions(ecs, family) == []
    last_service_delete = max(i for i, op in enumerate(operations) if op == "DeleteService")
    assert operations.index("DeleteCluster") > last_service_delete
    assert operations.count("DeleteService") == 2

    again = destroy(aws, stack.state, nodes=stack.nodes(), clock=clock)
    assert set(ecs_actions(again).values()) == {"absent"}


# -- pure: validation and the task definition comparison -----------------------------------------
def worker_spec(**changes) -> dict:
    [node] = [n for n in task_definition_nodes("dev", EnvConfig()) if n.key == "ecs.taskdef.worker"]
    efs = {("efs.file_system", "id"): FILE_SYSTEM, ("efs.access_point", "id"): ACCESS_POINT}
    return {**substitute(node.spec, efs), **changes}


def efs_volume(**config) -> list[dict]:
    base = {"fileSystemId": FILE_SYSTEM, "transitEncryption": "ENABLED",
            "authorizationConfig": {"accessPointId": ACCESS_POINT, "iam": "ENABLED"}}
    return [{"name": "video-processing", "efsVolumeConfiguration": {**base, **config}}]


@pytest.mark.parametrize("changes, message", [
    ({"cpu": "256", "memory": "4096"}, "Fargate does not offer cpu 256 with memory 4096"),
    ({"cpu": "300", "memory": "512"}, "Fargate does not offer cpu 300"),
    ({"network_mode": "bridge"}, "FARGATE requires network_mode awsvpc"),
    ({"volumes": efs_volume(transitEncryption="DISABLED")}, "transitEncryption must be ENABLED"),
    ({"volumes": efs_volume(rootDirectory="/videos")}, "rootDirectory must be omitted or '/'"),
    ({"name": "video worker"}, "letters, digits, hyphens or underscores"),
])
def test_task_definition_rules_aws_enforces_and_moto_does_not_are_refused(aws, changes, message):
    # The engine checks every node's spec with spec_problems before the first call
    # (run.check_specs), the refs to other nodes still unknown.
    problems = spec_problems(TaskDefinition(aws, env="dev"), resolve(worker_spec(**changes), {}), has_unknown)
    assert len(problems) == 1 and problems[0].startswith("ecs_task_definition ")
    assert re.search(message, problems[0]), problems


def test_valid_fargate_sizes_and_the_stack_defaults_pass_validation(aws):
    handler = TaskDefinition(aws, env="dev")
    assert spec_problems(handler, resolve(worker_spec(), {}), has_unknown) == []
    assert handler.desired(worker_spec()) == worker_spec()
    big = resolve(worker_spec(cpu="16384", memory=str(120 * 1024), volumes=efs_volume(rootDirectory="/")), {})
    assert spec_problems(handler, big, has_unknown) == []
    assert fargate_memory_choices(256) == (512, 1024, 2048)
    assert 60 * 1024 in fargate_memory_choices(8192) and 58 * 1024 not in fargate_memory_choices(8192)


def test_task_definition_rules_wait_for_values_still_unknown(aws):
    # Before the walk a Ref is UNKNOWN (resolve with no outputs): nothing to say about it yet.
    [node] = [n for n in task_definition_nodes("dev", EnvConfig()) if n.key == "ecs.taskdef.worker"]
    assert spec_problems(TaskDefinition(aws, env="dev"), resolve(node.spec, {}), has_unknown) == []


def test_cluster_name_is_validated_before_any_call(aws):
    spec = {"name": "video processing", "tags": {}, "container_insights": "enabled"}
    [problem] = spec_problems(Cluster(aws, env="dev"), spec, has_unknown)
    assert problem.startswith("ecs_cluster video processing: ECS cluster name")


def test_subset_equal_ignores_what_aws_adds_and_reorders_but_sees_real_changes():
    desired = {"name": "api", "image": "nginx:1", "essential": True,
               "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
               "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
               "mountPoints": [], "command": ["sh", "-c", "x"]}
    actual = {**desired, "cpu": 0, "volumesFrom": [], "systemControls": [],
              "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
              "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}
    del actual["mountPoints"]
    assert subset_equal([desired], [actual])
    assert subset_equal({"rootDirectory": None, "readOnly": False}, {})
    assert not subset_equal([desired], [{**actual, "image": "nginx:2"}])
    assert not subset_equal([desired], [actual, {**actual, "name": "sidecar"}])
    assert not subset_equal([desired], [{**actual, "command": ["sh", "x", "-c"]}])
    assert not subset_equal([desired], [{**actual, "environment": [{"name": "A", "value": "1"}]}])
    assert not subset_equal({"task_role": "arn:a"}, {})
    assert not subset_equal([], [{"name": "extra"}])


def test_register_task_definition_is_paced_to_the_ecs_bucket(aws, clock):
    # ECS: a burst of 20 RegisterTaskDefinition calls, then one per second (T-2).
    handler = TaskDefinition(aws, env="dev", clock=clock.as_clock())
    stub = Stubber(aws.client("ecs"))
    for revision in range(1, 23):
        stub.add_response("register_task_definition", {"taskDefinition": {
            "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/video-worker-dev:{revision}"}})
    spec = worker_spec(execution_role_arn="arn:aws:iam::123456789012:role/x", task_role_arn="arn:aws:iam::123456789012:role/y")
    spec = substitute(spec, {("rds.instance", "address"): "db", ("rds.instance", "secret_arn"): DB_SECRET,
                             ("redis.replication_group", "address"): "redis", ("secret.redis_auth", "arn"): REDIS_SECRET,
                             ("logs.worker", "name"): "g", ("logs.worker", "region"): REGION})
    with stub:
        for _ in range(20):
            handler.create(spec, "token")
        assert clock.sleeps == []
        clock.t += 0.2
        handler.create(spec, "token")
        handler.create(spec, "token")
    assert clock.sleeps == [pytest.approx(0.8), pytest.approx(1.0)]
    assert clock.now() == pytest.approx(2.0)


def test_copies_registered_by_attempts_whose_answer_was_lost_are_deregistered(aws, clock):
    """botocore retried RegisterTaskDefinition twice: revision 2 is a copy made by a lost
    attempt; revision 1, with another image, is an older revision and stays ACTIVE."""
    handler = TaskDefinition(aws, env="dev", clock=clock.as_clock())
    spec = worker_spec(execution_role_arn="arn:aws:iam::123456789012:role/x", task_role_arn="arn:aws:iam::123456789012:role/y")
    spec = substitute(spec, {("rds.instance", "address"): "db", ("rds.instance", "secret_arn"): DB_SECRET,
                             ("redis.replication_group", "address"): "redis", ("secret.redis_auth", "arn"): REDIS_SECRET,
                             ("logs.worker", "name"): "g", ("logs.worker", "region"): REGION})
    arn = lambda n: f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/video-worker-dev:{n}"  # noqa: E731
    content = {api: spec[key] for key, api in TASK_DEFINITION_FIELDS.items() if spec.get(key) is not None}
    older = {**content, "containerDefinitions": [{**content["containerDefinitions"][0], "image": "busybox:1"}]}
    stub = Stubber(aws.client("ecs"))
    stub.add_response("register_task_definition", {
        "taskDefinition": {**content, "taskDefinitionArn": arn(3), "family": "video-worker-dev", "revision": 3},
        "ResponseMetadata": {"RetryAttempts": 2}})
    stub.add_response("list_task_definitions", {"taskDefinitionArns": [arn(1), arn(2), arn(3)]},
                      {"familyPrefix": "video-worker-dev", "status": "ACTIVE"})
    stub.add_response("describe_task_definition", {"taskDefinition": {**older, "taskDefinitionArn": arn(1)}},
                      {"taskDefinition": arn(1)})
    stub.add_response("describe_task_definition", {"taskDefinition": {**content, "taskDefinitionArn": arn(2)}},
                      {"taskDefinition": arn(2)})
    stub.add_response("deregister_task_definition", {"taskDefinition": {"taskDefinitionArn": arn(2)}}, {"taskDefinition": arn(2)})
    with stub:
        assert handler.create(spec, "token") == arn(3)
    stub.assert_no_pending_responses()


# -- Stubber: what moto cannot show ----------------------------------------------------------------
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/metadata-api-dev"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
REVISION = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/metadata-api-dev:3"


def service_answer(status="ACTIVE", deployments=None, running=2, desired=2) -> dict:
    return {"services": [{
        "serviceArn": SERVICE_ARN, "serviceName": "metadata-api-dev", "clusterArn": CLUSTER_ARN, "status": status,
        "desiredCount": desired, "runningCount": running, "launchType": "FARGATE", "taskDefinition": REVISION,
        "deployments": deployments if deployments is not None else [deployment("PRIMARY", "COMPLETED")],
        "tags": [{"key": k, "value": v} for k, v in ownership_tags("metadata-api-dev", "dev").items()],
    }], "failures": []}


def deployment(status: str, rollout: str, reason: str = "", id_: str = "ecs-svc/1") -> dict:
    return {"id": id_, "status": status, "rolloutState": rollout, "rolloutStateReason": reason, "taskDefinition": REVISION}


def service_spec() -> dict:
    return Service(Aws(REGION), env="dev").desired({
        "name": "metadata-api-dev", "tags": ownership_tags("metadata-api-dev", "dev"),
        "cluster": CLUSTER_ARN, "cluster_name": CLUSTER, "task_definition": REVISION, "desired_count": 2,
        "launch_type": "FARGATE", "subnet_ids": ["subnet-b", "subnet-a"], "security_group_ids": ["sg-1"],
        "assign_public_ip": "DISABLED", "load_balancers": [], "circuit_breaker": {"enable": True, "rollback": True},
        "propagate_tags": "SERVICE",
    })


@pytest.fixture
def stubbed(clock):
    """A Service handler whose ecs client (the very object it uses) answers from a Stubber."""
    aws = Aws(REGION)
    handler = Service(aws, env="dev", clock=clock.as_clock())
    stubber = Stubber(aws.client("ecs"))
    with stubber:
        yield handler, stubber
    stubber.assert_no_pending_responses()


def test_service_with_two_deployments_is_pending_until_one_is_left(stubbed):
    handler, stubber = stubbed
    two = [deployment("PRIMARY", "IN_PROGRESS", id_="ecs-svc/2"), deployment("ACTIVE", "COMPLETED")]
    stubber.add_response("describe_services", service_answer(deployments=two))
    stubber.add_response("describe_services", service_answer(running=1))
    stubber.add_response("describe_services", service_answer())
    assert handler.refresh(SERVICE_ARN).status is Status.PENDING
    assert handler.refresh(SERVICE_ARN).status is Status.PENDING  # one deployment, 1 of 2 running
    assert handler.refresh(SERVICE_ARN).status is Status.READY


def test_deployment_stopped_by_the_circuit_breaker_is_failed_with_its_reason(stubbed):
    handler, stubber = stubbed
    reason = "ECS deployment circuit breaker: tasks failed to start."
    stubber.add_response("describe_services", service_answer(deployments=[
        deployment("PRIMARY", "IN_PROGRESS", id_="ecs-svc/2"), deployment("ACTIVE", "FAILED", reason)]))
    refresh = handler.refresh(SERVICE_ARN)
    assert refresh.status is Status.FAILED and refresh.detail == reason


def test_draining_service_is_deleting_and_inactive_is_gone(stubbed):
    handler, stubber = stubbed
    stubber.add_response("describe_services", service_answer(status="DRAINING"))
    stubber.add_response("describe_services", service_answer(status="INACTIVE"))
    stubber.add_response("describe_services", {"services": [], "failures": [{"arn": SERVICE_ARN, "reason": "MISSING"}]})
    stubber.add_client_error("describe_services", "ClusterNotFoundException", "Cluster not found.")
    stubber.add_response("describe_services", service_answer(status="DRAINING"))
    # B-ECS-3: on its way out (a teardown waits for it), not a live service to reconcile.
    assert handler.refresh(SERVICE_ARN).status is Status.DELETING
    assert handler.refresh(SERVICE_ARN).status is Status.GONE
    assert handler.refresh(SERVICE_ARN).status is Status.GONE
    assert handler.refresh(SERVICE_ARN).status is Status.GONE  # its cluster is gone
    assert handler.read(SERVICE_ARN) is None


def test_create_service_retries_while_the_new_role_cannot_be_assumed(stubbed, clock):
    handler, stubber = stubbed
    message = ("Unable to assume role and validate the specified targetGroupArn. "
               "Please verify that the ECS service role being passed has the proper permissions.")
    for _ in range(2):
        stubber.add_client_error("create_service", "InvalidParameterException", message)
    stubber.add_response("create_service", {"service": {"serviceArn": SERVICE_ARN}}, {
        "cluster": CLUSTER_ARN, "serviceName": "metadata-api-dev", "taskDefinition": REVISION, "desiredCount": 2,
        "launchType": "FARGATE", "clientToken": "token-1",
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                    "maximumPercent": 200, "minimumHealthyPercent": 100},
        "loadBalancers": [],
        "tags": [{"key": k, "value": v} for k, v in sorted(ownership_tags("metadata-api-dev", "dev").items())],
        "propagateTags": "SERVICE", "enableECSManagedTags": True,
    })
    assert handler.create(service_spec(), "token-1") == SERVICE_ARN
    assert len(clock.sleeps) == 2 and clock.now() < 120


def test_create_service_gives_up_on_the_role_after_the_propagation_timeout(clock):
    aws = Aws(REGION)
    handler = Service(aws, env="dev", clock=clock.as_clock())
    with Stubber(aws.client("ecs")) as stubber:
        for _ in range(30):  # more than the retry can use
            stubber.add_client_error("create_service", "InvalidParameterException", "Unable to assume role")
        with pytest.raises(ClientError, match="Unable to assume role") as raised:
            handler.create(service_spec(), "token-1")
    # The caller sees AWS's own error, after about two minutes of retries.
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert 120 <= clock.now() < 140


def test_missing_service_linked_role_is_created_once_then_create_service_retried(clock):
    aws = Aws(REGION)
    handler = Service(aws, env="dev", clock=clock.as_clock())
    ecs_stub, iam_stub = Stubber(aws.client("ecs")), Stubber(aws.client("iam"))
    message = "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
    for _ in range(2):
        ecs_stub.add_client_error("create_service", "InvalidParameterException", message)
    ecs_stub.add_response("create_service", {"service": {"serviceArn": SERVICE_ARN}})
    iam_stub.add_response("create_service_linked_role", {"Role": {
        "Path": "/aws-service-role/ecs.amazonaws.com/", "RoleName": "AWSServiceRoleForECS", "RoleId": "AROA0000000000000000",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        "CreateDate": "2026-01-01T00:00:00Z"}}, {"AWSServiceName": "ecs.amazonaws.com"})
    with ecs_stub, iam_stub:
        assert handler.create(service_spec(), "token-1") == SERVICE_ARN
    iam_stub.assert_no_pending_responses()
    ecs_stub.assert_no_pending_responses()
    assert len(clock.sleeps) == 2


def test_other_invalid_parameters_are_not_retried(stubbed, clock):
    handler, stubber = stubbed
    stubber.add_client_error("create_service", "InvalidParameterException", "Error retrieving subnet information for [subnet-a]")
    with pytest.raises(ClientError, match="subnet"):
        handler.create(service_spec(), "token-1")
    assert clock.sleeps == []


def test_create_that_was_not_idempotent_adopts_the_live_service_of_ours(stubbed):
    handler, stubber = stubbed
    stubber.add_client_error("create_service", "InvalidParameterException", "Creation of service was not idempotent.")
    stubber.add_response("describe_services", service_answer(),
                         {"cluster": CLUSTER, "services": ["metadata-api-dev"], "include": ["TAGS"]})
    assert handler.create(service_spec(), "token-2") == SERVICE_ARN


def test_create_whose_name_a_draining_service_holds_explains_it(stubbed):
    # B-ECS-3: the name of a DRAINING service cannot be created again until it is INACTIVE.
    handler, stubber = stubbed
    stubber.add_client_error("create_service", "InvalidParameterException", "Creation of service was not idempotent.")
    stubber.add_response("describe_services", service_answer(status="DRAINING"),
                         {"cluster": CLUSTER, "services": ["metadata-api-dev"], "include": ["TAGS"]})
    with pytest.raises(ResourceError, match="the name is taken by a service that is not ours or still DRAINING"):
        handler.create(service_spec(), "token-2")


def cluster_answer(status: str, tags: dict | None = None) -> dict:
    tags = ownership_tags(CLUSTER, "dev") if tags is None else tags
    return {"clusters": [{"clusterArn": CLUSTER_ARN, "clusterName": CLUSTER, "status": status,
                          "settings": [{"name": "containerInsights", "value": "enabled"}],
                          "tags": [{"key": k, "value": v} for k, v in tags.items()]}], "failures": []}


@pytest.mark.parametrize(("status", "expected"), [
    ("ACTIVE", Status.READY), ("PROVISIONING", Status.PENDING), ("DEPROVISIONING", Status.DELETING),
    ("INACTIVE", Status.GONE), ("MISSING", Status.GONE),
])
def test_cluster_status_maps_each_aws_status(status, expected):
    aws = Aws(REGION)
    handler = Cluster(aws, env="dev")
    answer = {"clusters": [], "failures": [{"arn": CLUSTER_ARN, "reason": "MISSING"}]} if status == "MISSING" else cluster_answer(status)
    with Stubber(aws.client("ecs")) as stubber:
        stubber.add_response("describe_clusters", answer)
        stubber.add_response("describe_clusters", answer)
        assert handler.refresh(CLUSTER_ARN).status is expected
        # B-ECS-4: an INACTIVE (deleted) cluster stays discoverable; it is not a live cluster.
        assert (handler.read(CLUSTER_ARN) is None) == (expected in (Status.GONE, Status.DELETING))


def test_a_cluster_of_that_name_without_our_tags_is_not_created_over(clock):
    # CreateCluster on an existing name would reset its settings and drop its tags.
    aws = Aws(REGION)
    handler = Cluster(aws, env="dev", clock=clock.as_clock())
    spec = {"name": CLUSTER, "tags": ownership_tags(CLUSTER, "dev"), "container_insights": "enabled"}
    with Stubber(aws.client("ecs")) as stubber:
        stubber.add_response("describe_clusters", cluster_answer("ACTIVE", {"Team": "someone-else"}))
        stubber.add_response("describe_clusters", cluster_answer("ACTIVE", {"Team": "someone-else"}))
        assert handler.list_owned(spec) == []
        with pytest.raises(ResourceError, match="exists without this environment's tags; not adopting it"):
            handler.create(spec, "token")
        stubber.assert_no_pending_responses()


def test_cluster_delete_waits_while_services_drain(clock):
    aws = Aws(REGION)
    handler = Cluster(aws, env="dev", clock=clock.as_clock())
    obs = Observed(CLUSTER_ARN, {}, {}, {"clusterName": CLUSTER})
    with Stubber(aws.client("ecs")) as stubber:
        for _ in range(2):
            stubber.add_client_error("delete_cluster", "ClusterContainsServicesException",
                                     "The Cluster cannot be deleted while Services are active.")
        stubber.add_response("delete_cluster", {"cluster": {"clusterArn": CLUSTER_ARN, "status": "INACTIVE"}},
                             {"cluster": CLUSTER_ARN})
        handler.delete(obs)
        stubber.assert_no_pending_responses()
    assert len(clock.sleeps) == 2


# -- day 2 on the fidelity layer's clock (docs/aws-behaviours.md C-ECS-1, C-ECS-4) -----------------------------

def test_a_run_that_starts_during_a_deployment_waits_for_it(aws, ecs, clock, stack):
    from sandbox.fidelity import clock as layer_clock

    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    # The reconciler's clock drives the layer's: every poll it sleeps moves the deployment on.
    with layer_clock.use(clock):
        # A run killed during a deploy left it going (C-ECS-4).
        ecs.update_service(cluster=CLUSTER, service="metadata-api-dev", forceNewDeployment=True)
        assert describe_service(ecs, "metadata-api-dev")["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        started = clock.now()
        run = converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
        assert ecs_actions(run) == dict.fromkeys(ECS_KEYS, "unchanged")
        assert clock.now() - started >= layer_clock.duration("ecs.deployment")
        assert describe_service(ecs, "metadata-api-dev")["deployments"][0]["rolloutState"] == "COMPLETED"


def test_a_deployment_the_circuit_breaker_stops_fails_the_run_with_its_reason(aws, ecs, clock, stack):
    from orchestrator.run import reconcile_stack
    from sandbox.fidelity import clock as layer_clock

    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    broken = EnvConfig(api_image="public.ecr.aws/nginx/nginx:broken")
    with layer_clock.use(clock):
        layer_clock.fail("ecs-image", broken.api_image)
        run = reconcile_stack(aws, env="dev", doc=stack.state.doc, save=stack.state.save, clock=clock.as_clock(),
                              nodes=stack.nodes(broken))
    reason = run.failures["ecs.service.api"].reason
    assert "metadata-api-dev" in reason and "failed" in reason, reason
    # The breaker rolled the service back: the revision it runs is the one before.
    assert describe_service(ecs, "metadata-api-dev")["taskDefinition"].endswith("metadata-api-dev:1")


def test_a_deploy_is_waited_for_as_long_as_the_service_update_timeout_allows(aws, ecs, clock, stack):
    # A rolling deploy takes 2-6 min, more behind a deregistration delay (T-1.2): here
    # 15 min, past the 5 min a kind gets by default, inside the service's update_timeout.
    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    cfg = EnvConfig(api_image="public.ecr.aws/nginx/nginx:1.27")
    slow = 15 * 60
    assert Service.update_timeout > slow
    with layer_clock_driven(clock, {"ecs.deployment": slow}):
        started = clock.now()
        run = converge(aws, stack.state, nodes=stack.nodes(cfg), clock=clock)
        assert clock.now() - started >= slow
    assert ecs_actions(run)["ecs.service.api"] == "update"
    service = describe_service(ecs, "metadata-api-dev")
    assert service["taskDefinition"] == stack.id("ecs.taskdef.api")
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]


def test_a_first_deployment_that_failed_is_reported_by_the_next_run_with_its_reason(aws, ecs, clock, stack):
    """C-ECS-2: nothing to roll back to, the deployment stays FAILED: the next run does not call
    the service unchanged, it names the failure (the engine's on_failed "stop")."""
    from orchestrator.run import reconcile_stack

    broken = EnvConfig(api_image="public.ecr.aws/nginx/nginx:broken")
    run = lambda: reconcile_stack(aws, env="dev", doc=stack.state.doc, save=stack.state.save,  # noqa: E731
                                  clock=clock.as_clock(), nodes=stack.nodes(broken))
    with layer_clock_driven(clock) as layer:
        layer.fail("ecs-image", broken.api_image)
        first = run()
        assert "metadata-api-dev" in first.failures["ecs.service.api"].reason
        second = run()
    reason = second.failures["ecs.service.api"].reason
    assert "metadata-api-dev" in reason and "circuit breaker" in reason, reason
    assert [d["rolloutState"] for d in describe_service(ecs, "metadata-api-dev")["deployments"]] == ["FAILED"]
    assert stack.state.doc.resource("ecs.service.api")["failure"]["reason"] == reason


def test_a_deploy_whose_tasks_exit_after_running_ends_at_the_update_deadline_naming_counts_and_stop_codes(
        aws, ecs, clock, stack):
    """D-ECS-1: the worker (no load balancer, no health check) on a revision whose container starts then exits:
    the breaker does not count those tasks, the deployment stays IN_PROGRESS, and the run fails at the
    service's update deadline with one line naming the deployment's counts, the stop codes and reasons."""
    from orchestrator.run import reconcile_stack
    from sandbox.fidelity import ecs_deployments

    converge(aws, stack.state, nodes=stack.nodes(), clock=clock)
    crashing = EnvConfig(worker_image="public.ecr.aws/docker/library/busybox:exits")
    with layer_clock_driven(clock) as layer:
        layer.switch(ecs_deployments.EXITED_UNCOUNTED, True)
        layer.fail("ecs-image", crashing.worker_image, "Essential container in task exited")
        started = clock.now()
        run = reconcile_stack(aws, env="dev", doc=stack.state.doc, save=stack.state.save, clock=clock.as_clock(),
                              nodes=stack.nodes(crashing))
        waited = clock.now() - started
        [deployment, _] = describe_service(ecs, "video-worker-dev")["deployments"]
    assert Service.update_timeout <= waited < Service.update_timeout + 5 * 60
    assert deployment["rolloutState"] == "IN_PROGRESS"
    reason = run.failures["ecs.service.worker"].reason
    assert "\n" not in reason
    assert reason.startswith("ecs_service video-worker-dev (") and f"limit {Service.update_timeout}" in reason
    assert "video-worker-dev:2 never reached a steady state: deployment IN_PROGRESS: desired 1, running 0, failed 0" in reason
    assert "the last stopped tasks: 5 EssentialContainerExited (Essential container in task exited)" in reason

    # The fix: the next run deploys it at once rather than first waiting out the stuck deployment
    # (which would never end by itself), and the service reaches a steady state on it.
    fixed = EnvConfig(worker_image="public.ecr.aws/docker/library/busybox:1.37")
    with layer_clock_driven(clock):
        started = clock.now()
        run = reconcile_stack(aws, env="dev", doc=stack.state.doc, save=stack.state.save, clock=clock.as_clock(),
                              nodes=stack.nodes(fixed))
        waited = clock.now() - started
    assert run.failures == {}, run.failures
    assert waited < Service.update_timeout / 2, waited
    [primary, *_] = describe_service(ecs, "video-worker-dev")["deployments"]
    assert (primary["rolloutState"], primary["runningCount"]) == ("COMPLETED", 1), primary
    task = ecs.describe_task_definition(taskDefinition=primary["taskDefinition"])["taskDefinition"]
    assert task["containerDefinitions"][0]["image"] == fixed.worker_image


@contextlib.contextmanager
def layer_clock_driven(clock, durations=None):
    """The fidelity layer's clock driven by the reconciler's: every poll moves deployments on."""
    from sandbox.fidelity import clock as layer_clock

    with layer_clock.use(clock, durations):
        yield layer_clock

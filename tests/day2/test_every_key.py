"""Day-2 changes you can trust (issue 13): every key of the README's configuration table changed
on one running environment, in turn.

For each key: (a) the plan names the nodes that change and each change's class; (b) the apply
succeeds with exactly the mutating calls listed (the orchestrator's own CallLog); (c) a second
apply makes no mutating call; (d) drift is clean. A key AWS cannot change in place (a VPC CIDR,
a target group's port, a Redis engine downgrade) is refused by the plan and by the apply, which
then makes no mutating call and remembers nothing. Keys that only change what a teardown does
(``db_final_snapshot``, ``kms_deletion_window_days``, ``deletion_protection``) are also followed
to that teardown, at the end of the module.

The scenarios run in the order of SCENARIOS on one environment (module-scoped; a whole-stack
create takes about 2 s), each from the configuration the one before left: a day 2 is a sequence
of changes, and a change may need an earlier one (Fargate's 512 CPU needs 1024 MiB, set first).
The layer's clock is the orchestrator's injected FakeClock, so a 15-minute RDS modification or a
2-minute ECS deployment is waited for as on AWS without any wall time passing.

``DAY2_REPORT=FILE`` writes the table (key, value, plan, apply's calls) to FILE as Markdown, for
the issue's note; nothing is written otherwise.
"""
from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from orchestrator.config import EnvConfig
from orchestrator.run import TeardownRefused, prepare_teardown, teardown_stack
from orchestrator.stack import stack_nodes
from sandbox.fidelity import clock as layer_clock
from tests.conftest import REGION
from tests.day2.environment import ENV, Day2Env, changes, mutating, running_environment

IN_PLACE, DOWNTIME, REPLACE, IMPOSSIBLE = "IN_PLACE", "DOWNTIME", "REPLACE", "IMPOSSIBLE"
RDS_MODIFY = layer_clock.DURATIONS["rds.modify_pending"] + layer_clock.DURATIONS["rds.modify"]
# Mount targets, the file-system policy, secret policies, a web ACL's association and logging are not
# taggable AWS resources (their handlers say so).
TAGGED = sorted(n.key for n in stack_nodes(ENV, EnvConfig(), ["a", "b"]) if n.handler.taggable)
# What a tag added to (or removed from) every resource costs: one tagging call per resource, by
# each service's own API (ec2 CreateTags per resource; RDS, ElastiCache, ELB and EFS tag the
# subnet groups, target groups and access points as well).
TAG_CALLS = {"apigateway": 5, "ec2": 24, "ecs": 5, "efs": 2, "elasticache": 2, "elbv2": 2, "iam": 5, "kms": 1, "logs": 8,
             "rds": 2, "secretsmanager": 2, "wafv2": 1}
ADD_TAG_OPS = {"apigateway": "TagResource", "ec2": "CreateTags", "ecs": "TagResource", "efs": "TagResource",
               "elasticache": "AddTagsToResource", "elbv2": "AddTags", "iam": "TagRole", "kms": "TagResource",
               "logs": "TagResource", "rds": "AddTagsToResource", "secretsmanager": "TagResource", "wafv2": "TagResource"}
REMOVE_TAG_OPS = {"apigateway": "UntagResource", "ec2": "DeleteTags", "ecs": "UntagResource", "efs": "UntagResource",
                  "elasticache": "RemoveTagsFromResource", "elbv2": "RemoveTags", "iam": "UntagRole",
                  "kms": "UntagResource", "logs": "UntagResource", "rds": "RemoveTagsFromResource",
                  "secretsmanager": "UntagResource", "wafv2": "UntagResource"}
NEW_REVISION = {"ecs RegisterTaskDefinition": 1, "ecs UpdateService": 1}
WORKER_RULE = {"resource": "ecs.service.worker", "attribute": "desired_count", "reason": "autoscaling owns the count"}


@dataclass(frozen=True)
class Scenario:
    key: str
    value: Any
    # node -> {field: change class}: exactly what the plan shows.
    plan: dict[str, dict[str, str]]
    # "service Operation" -> count: exactly the apply's mutating calls (empty when refused).
    calls: dict[str, int] = field(default_factory=dict)
    # Nodes whose change the plan and the apply refuse (AWS has no in-place change).
    refused: frozenset[str] = frozenset()
    # At least this much time on the layer's clock: the apply waited for AWS (a modification, a
    # deployment) rather than calling it done at the API's answer.
    waits: float = 0.0
    label: str = ""

    @property
    def id(self) -> str:
        return self.label or self.key


def rds(field_name: str, change: str = IN_PLACE) -> dict[str, dict[str, str]]:
    return {"rds.instance": {field_name: change}}


def redis(field_name: str, change: str = IN_PLACE) -> dict[str, dict[str, str]]:
    return {"redis.replication_group": {field_name: change}}


def revision(role: str, field_name: str) -> dict[str, dict[str, str]]:
    """A task definition change is a new revision, and its service rolls to it (the plan shows both)."""
    return {f"ecs.taskdef.{role}": {field_name: IN_PLACE}, f"ecs.service.{role}": {"task_definition": IN_PLACE}}


MODIFY = {"rds ModifyDBInstance": 1}
MODIFY_GROUP = {"elasticache ModifyReplicationGroup": 1}

SCENARIOS = [
    Scenario("tags", {"CostCenter": "video"}, {k: {"tags.CostCenter": IN_PLACE} for k in TAGGED},
             {f"{s} {ADD_TAG_OPS[s]}": n for s, n in TAG_CALLS.items()}, label="tags (add a key)"),
    # README: a key removed from the configuration is removed from every resource (retired tags).
    Scenario("tags", {}, {k: {"tags.CostCenter": IN_PLACE} for k in TAGGED},
             {f"{s} {REMOVE_TAG_OPS[s]}": n for s, n in TAG_CALLS.items()}, label="tags (remove the key)"),
    Scenario("deletion_protection", True, {"rds.instance": {"deletion_protection": IN_PLACE},
                                           "elb.nlb": {"deletion_protection": IN_PLACE}},
             {"rds ModifyDBInstance": 1, "elbv2 ModifyLoadBalancerAttributes": 1}),
    Scenario("db_instance_class", "db.t3.large", rds("instance_class", DOWNTIME), MODIFY, waits=RDS_MODIFY),
    # "17" runs RDS's default minor, 17.6 on the fidelity layer (rds_versions.py). A newer minor is
    # in place; a target RDS does not offer is refused by the plan, before any call; a major
    # upgrade to a valid target (DescribeDBEngineVersions ValidUpgradeTarget) is downtime, sent
    # with AllowMajorVersionUpgrade and waited for ("upgrading") (C-RDS-5).
    Scenario("db_engine_version", "17.7", rds("engine_version"), MODIFY, waits=RDS_MODIFY, label="db_engine_version (minor)"),
    Scenario("db_engine_version", "19", rds("engine_version", IMPOSSIBLE), refused=frozenset({"rds.instance"}),
             label="db_engine_version (invalid target)"),
    Scenario("db_engine_version", "18", rds("engine_version", DOWNTIME), MODIFY, waits=RDS_MODIFY,
             label="db_engine_version (major upgrade)"),
    Scenario("db_allocated_storage", 30, rds("allocated_storage"), MODIFY, waits=RDS_MODIFY),
    Scenario("db_backup_retention_days", 14, rds("backup_retention_days"), MODIFY, waits=RDS_MODIFY),
    Scenario("db_final_snapshot", True, {}),
    Scenario("db_monitoring_interval", 30, rds("monitoring_interval"), MODIFY),
    # The upgrade log's group leaves the graph and stays in AWS (logs are data); teardown still
    # deletes it (test_teardown_follows_...).
    Scenario("db_log_exports", ["postgresql"], rds("cloudwatch_logs_exports"), MODIFY),
    Scenario("db_log_retention_days", 400, {"logs.rds.postgresql": {"retention_days": IN_PLACE}}, {"logs PutRetentionPolicy": 1}),
    Scenario("db_auto_minor_version_upgrade", False, rds("auto_minor_version_upgrade"), MODIFY),
    Scenario("redis_node_type", "cache.t3.small", redis("node_type", DOWNTIME), MODIFY_GROUP,
             waits=layer_clock.DURATIONS["elasticache.modify"]),
    # Redis OSS 7.1 is the last Redis OSS: a running 7.1 can only be given an older version, which
    # ElastiCache refuses (no downgrade), or one it does not offer (C-EC-3). Upgrades that apply
    # are in tests/day2/test_engine_upgrades.py, on an environment made on Redis OSS 6.2.
    Scenario("redis_engine_version", "7.0", redis("engine_version", IMPOSSIBLE), refused=frozenset({"redis.replication_group"}),
             label="redis_engine_version (downgrade)"),
    Scenario("redis_engine_version", "7.3", redis("engine_version", IMPOSSIBLE), refused=frozenset({"redis.replication_group"}),
             label="redis_engine_version (not offered)"),
    Scenario("redis_num_nodes", 3, redis("num_cache_clusters"), {"elasticache IncreaseReplicaCount": 1},
             waits=layer_clock.DURATIONS["elasticache.modify"]),
    Scenario("redis_snapshot_retention_days", 14, redis("snapshot_retention_days"), MODIFY_GROUP),
    Scenario("redis_snapshot_window", "18:00-19:00", redis("snapshot_window"), MODIFY_GROUP),
    Scenario("redis_auto_minor_version_upgrade", False, redis("auto_minor_version_upgrade"), MODIFY_GROUP),
    Scenario("log_retention_days", 60, {"logs.api": {"retention_days": IN_PLACE}, "logs.worker": {"retention_days": IN_PLACE}},
             {"logs PutRetentionPolicy": 2}),
    Scenario("api_image", "public.ecr.aws/docker/library/nginx:1.27-alpine",
             revision("api", "container_definitions[metadata-api].image"), NEW_REVISION,
             waits=layer_clock.DURATIONS["ecs.deployment"]),
    # The target group's port is fixed at creation: a new group is made beside the old one (it
    # holds no data, so without asking), the listener, the security groups, the task definition,
    # the service and the API routes follow, then the old group is deleted
    # (tests/day2/test_replacements.py follows it further).
    Scenario("api_port", 8080, {
        "sg.nlb": {"ingress": IN_PLACE, "egress": IN_PLACE}, "sg.ecs": {"ingress": IN_PLACE},
        "elb.target_group": {"port": REPLACE}, "elb.nlb": {"listeners": IN_PLACE},
        "ecs.taskdef.api": {"container_definitions[metadata-api].portMappings": IN_PLACE},
        "ecs.service.api": {"task_definition": IN_PLACE, "load_balancers": IN_PLACE},
        "apigw.rest_api": {"routes./videos.GET": IN_PLACE, "routes./videos.POST": IN_PLACE, "routes./videos/{id}.GET": IN_PLACE},
        # New routes are a new deployment of the stage: in the plan, not only in the apply.
        "apigw.stage": {"deployed_config": IN_PLACE},
    }, {"elbv2 CreateTargetGroup": 1, "elbv2 DeleteListener": 1, "elbv2 CreateListener": 1, "elbv2 DeleteTargetGroup": 1,
        "ec2 AuthorizeSecurityGroupIngress": 2, "ec2 RevokeSecurityGroupIngress": 2, "ec2 AuthorizeSecurityGroupEgress": 1,
        "ec2 RevokeSecurityGroupEgress": 1, "ecs RegisterTaskDefinition": 1, "ecs UpdateService": 1,
        "apigateway PutIntegration": 3, "apigateway CreateDeployment": 1, "apigateway UpdateStage": 1},
        waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("api_memory", 1024, revision("api", "memory"), NEW_REVISION, waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("api_cpu", 512, revision("api", "cpu"), NEW_REVISION, waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("api_desired_count", 3, {"ecs.service.api": {"desired_count": IN_PLACE}}, {"ecs UpdateService": 1}),
    Scenario("worker_image", "public.ecr.aws/docker/library/busybox:1.37",
             revision("worker", "container_definitions[video-worker].image"), NEW_REVISION,
             waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("worker_memory", 4096, revision("worker", "memory"), NEW_REVISION, waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("worker_cpu", 2048, revision("worker", "cpu"), NEW_REVISION, waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("worker_desired_count", 2, {"ecs.service.worker": {"desired_count": IN_PLACE}}, {"ecs UpdateService": 1}),
    Scenario("worker_command", ["sh", "-c", "while true; do sleep 60; done"],
             revision("worker", "container_definitions[video-worker].command"), NEW_REVISION,
             waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("api_throttle_rate", 50.0, {"apigw.usage_plan": {"throttle": IN_PLACE}}, {"apigateway UpdateUsagePlan": 1}),
    Scenario("api_throttle_burst", 100, {"apigw.usage_plan": {"throttle": IN_PLACE}}, {"apigateway UpdateUsagePlan": 1}),
    # Only the drift report reads it: nothing changes, nothing is called.
    Scenario("drift", {"ignore": [WORKER_RULE]}, {}),
    # Only the commands' account check reads it (before any call; tests/e2e/test_lock_timeout_and_account.py):
    # naming the account the environment is in changes nothing.
    Scenario("account_id", "123456789012", {}),
    # The role the CLI assumes; in the stack, the secrets' administrator when none is named.
    Scenario("role_arn", "arn:aws:iam::123456789012:role/video-pipeline-deployer", {
        "secret.redis_auth.policy": {"policy": IN_PLACE}, "secret.api_key.policy": {"policy": IN_PLACE}},
        {"secretsmanager PutResourcePolicy": 2}),
    Scenario("efs_backup", False, {"efs.file_system": {"backup": IN_PLACE}}, {"efs PutBackupPolicy": 1}),
    Scenario("lb_cross_zone", False, {"elb.nlb": {"cross_zone": IN_PLACE}}, {"elbv2 ModifyLoadBalancerAttributes": 1}),
    Scenario("flow_log_retention_days", 400, {"logs.flow": {"retention_days": IN_PLACE}}, {"logs PutRetentionPolicy": 1}),
    Scenario("kms_deletion_window_days", 7, {}),
    # issue 15, IAM / secrets / ECS and API Gateway keys.
    Scenario("ecs_log_max_buffer_size", "50m", {
        **revision("api", "container_definitions[metadata-api].logConfiguration"),
        **revision("worker", "container_definitions[video-worker].logConfiguration")},
        {"ecs RegisterTaskDefinition": 2, "ecs UpdateService": 2}, waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("api_scratch_paths", ["/var/cache/nginx", "/var/run", "/tmp"], {
        "ecs.taskdef.api": {"container_definitions[metadata-api].mountPoints": IN_PLACE, "volumes": IN_PLACE},
        "ecs.service.api": {"task_definition": IN_PLACE}}, NEW_REVISION, waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("worker_scratch_paths", ["/tmp", "/scratch"], {
        "ecs.taskdef.worker": {"container_definitions[video-worker].mountPoints": IN_PLACE, "volumes": IN_PLACE},
        "ecs.service.worker": {"task_definition": IN_PLACE}}, NEW_REVISION, waits=layer_clock.DURATIONS["ecs.deployment"]),
    # A writable root needs no scratch volumes: both go.
    Scenario("ecs_readonly_root_filesystem", False, {
        f"ecs.taskdef.{role}": {f"container_definitions[{name}].readonlyRootFilesystem": IN_PLACE,
                                  f"container_definitions[{name}].mountPoints": IN_PLACE, "volumes": IN_PLACE}
        for role, name in (("api", "metadata-api"), ("worker", "video-worker"))} | {
        "ecs.service.api": {"task_definition": IN_PLACE}, "ecs.service.worker": {"task_definition": IN_PLACE}},
        {"ecs RegisterTaskDefinition": 2, "ecs UpdateService": 2}, waits=layer_clock.DURATIONS["ecs.deployment"]),
    Scenario("secret_admin_principals", ["arn:aws:iam::123456789012:role/deploy"], {
        "secret.redis_auth.policy": {"policy": IN_PLACE}, "secret.api_key.policy": {"policy": IN_PLACE}},
        {"secretsmanager PutResourcePolicy": 2}),
    # A schedule: the token of a stack made minutes ago is not due; nothing changes now. The
    # rotation it starts once the token is older (and its calls) is tests/day2/test_rotation.py.
    Scenario("secret_rotation_days", 30, {}),
    # Only a rotation's RetireAfter reads it (tests/day2/test_api_key_rotation.py): nothing changes now.
    Scenario("api_key_rotation_grace_hours", 48, {}),
    Scenario("api_log_level", "INFO", {"apigw.stage": {"log_level": IN_PLACE}}, {"apigateway UpdateStage": 1}),
    Scenario("api_log_retention_days", 400, {"logs.api_access": {"retention_days": IN_PLACE},
                                              "logs.api_execution": {"retention_days": IN_PLACE},
                                              "logs.waf": {"retention_days": IN_PLACE}},
             {"logs PutRetentionPolicy": 3}),
    Scenario("api_detailed_metrics", False, {"apigw.stage": {"metrics_enabled": IN_PLACE}}, {"apigateway UpdateStage": 1}),
    Scenario("api_tracing", False, {"apigw.stage": {"tracing_enabled": IN_PLACE}}, {"apigateway UpdateStage": 1}),
    Scenario("api_waf_rate_limit", 1000, {"waf.web_acl": {"rate_limit": IN_PLACE}}, {"wafv2 UpdateWebACL": 1}),
    # Switched off: the nodes the configuration drops are deleted, association first.
    Scenario("api_waf", False, {"waf.association": {}, "waf.web_acl": {}, "waf.logging": {}},
             {"wafv2 DisassociateWebACL": 1, "wafv2 DeleteLoggingConfiguration": 1, "wafv2 DeleteWebACL": 1}),
    # The VPC's CIDR cannot change: a new VPC, and with it every resource in it, the database
    # included: refused without --allow-replace vpc (tests/day2/test_replacements.py gives it).
    Scenario("vpc_cidr", "10.1.0.0/16", {}, refused=frozenset({"vpc"})),
]

REPORT: list[dict] = []


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory) as running:
        yield running
    target = os.environ.get("DAY2_REPORT")
    if target and REPORT:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(report_table(REPORT))


def report_table(rows: list[dict]) -> str:
    """Markdown: key, value, the plan (node: field CLASS), the apply's mutating calls, and how long
    the apply waited for AWS on the layer's clock."""
    def plan_cell(row: dict) -> str:
        if not row["plan"]:
            return "no change"
        by_node = [f"{node} ({', '.join(f'{f} {c}' for f, c in fields.items())})" for node, fields in row["plan"].items()]
        distinct = {json.dumps(fields, sort_keys=True) for fields in row["plan"].values()}
        if len(by_node) > 8 and len(distinct) == 1:
            shown = f"each of {len(by_node)} nodes ({', '.join(f'{f} {c}' for f, c in row['plan'][next(iter(row['plan']))].items())})"
        elif len(by_node) > 8:
            first = next(iter(row["plan"]))
            shown = f"{by_node[0]} and {len(by_node) - 1} nodes that depend on {first}"
        else:
            shown = "; ".join(by_node)
        if row["refused"]:
            shown += f"; **refused**: {', '.join(row['refused']) if len(row['refused']) <= 3 else str(len(row['refused'])) + ' nodes'}"
        return shown

    lines = ["| key | changed to | plan: node (field class) | apply's mutating calls | apply waited (layer clock) |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        calls = ", ".join(f"{op} ×{n}" for op, n in sorted(row["calls"].items())) or "none"
        lines.append(f"| `{row['key']}` | `{json.dumps(row['value'])}` | {plan_cell(row)} | {calls} | {row['waited']:.0f} s |")
    return "\n".join(lines) + "\n"


def test_every_configuration_key_has_a_day2_scenario():
    """A key added to EnvConfig later without a scenario here fails this, by name."""
    keys = {f.name for f in dataclasses.fields(EnvConfig)}
    missing = sorted(keys - {s.key for s in SCENARIOS})
    assert not missing, f"configuration keys with no day-2 scenario in tests/day2/test_every_key.py: {', '.join(missing)}"
    assert {s.key for s in SCENARIOS} <= keys, "a scenario names a key EnvConfig does not have"
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_a_key_changed_on_a_running_environment(env: Day2Env, scenario: Scenario):
    before = env.cfg
    recorded = env.doc.config
    assert getattr(before, scenario.key) != scenario.value, "the scenario must change the key"
    wanted = dataclasses.replace(before, **{scenario.key: scenario.value})

    # (a) the plan: which nodes change, each change's class.
    plan = env.plan(wanted)
    shown = changes(plan)
    if scenario.key == "vpc_cidr":
        # Every node in the VPC changes with it; the VPC's own change is the replacement.
        assert shown["vpc"] == {"cidr_block": REPLACE}
        assert len(shown) > 30
    else:
        assert shown == scenario.plan
    assert {r.key for r in plan.refused} >= scenario.refused
    if not scenario.refused:
        assert plan.refused == []

    # (b) the apply: refused before any mutating call, or done with exactly these calls.
    clock_before = env.clock.now()
    run = env.apply(wanted)
    assert run.ok, run.failures
    REPORT.append({"key": scenario.key, "value": scenario.value, "plan": shown, "refused": sorted(r.key for r in run.refused),
                   "calls": env.last_calls, "waited": env.clock.now() - clock_before})
    if scenario.refused:
        assert {r.key for r in run.refused} >= scenario.refused
        assert env.last_calls == {}
        # A refused apply remembers nothing: the environment is still judged by what it was.
        assert env.cfg == before and env.doc.config == recorded
    else:
        assert run.refused == []
        assert env.last_calls == scenario.calls
        assert env.clock.now() - clock_before >= scenario.waits
        assert env.cfg == wanted and env.doc.config["values"][scenario.key] == scenario.value

    # (c) a second apply makes no mutating call (and, with nothing to do, waits for nothing).
    clock_before = env.clock.now()
    again = env.apply(env.cfg)
    assert again.ok and again.refused == [] and env.last_calls == {}
    assert [r.key for r in again.results if r.action != "unchanged"] == []
    assert env.clock.now() == clock_before

    # (d) drift is clean: nothing drifted, failed, pending, missing, unmanaged or unchecked.
    report = env.drift()
    assert report.in_sync, dataclasses.asdict(report)
    assert report.pending == [] and report.ignored == []

    check = KEY_CHECKS.get(scenario.id)
    if check:
        check(env, scenario)


# -- what some keys do beyond the walk ------------------------------------------------------------

def refused_teardown(env: Day2Env, cfg: EnvConfig) -> str:
    before = env.snapshot()
    with pytest.raises(TeardownRefused) as refused:
        prepare_teardown(env.aws, env=ENV, doc=env.doc, save=env.state.save, cfg=cfg, clock=env.clock.as_clock())
    assert mutating(before, env.snapshot()) == {}
    return str(refused.value)


def deletion_protection_refuses_teardown(env: Day2Env, scenario: Scenario) -> None:
    """On in the configuration: refused at once. Off in the configuration but still on in AWS
    (no reconcile since): refused from what AWS says, naming the protected resources."""
    assert "deletion_protection is on in its configuration" in refused_teardown(env, env.cfg)
    live = refused_teardown(env, dataclasses.replace(env.cfg, deletion_protection=False))
    assert "rds-postgresql-dev" in live and "api-nlb-dev" in live and "nothing was deleted" in live


def drift_rule_ignores_what_it_names(env: Day2Env, scenario: Scenario) -> None:
    """The rule takes an out-of-band change of the worker's count out of drift (listed as
    ignored, in sync); the reconcile still puts the count back."""
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.update_service(cluster=f"video-processing-{ENV}", service=f"video-worker-{ENV}", desiredCount=5)
    report = env.drift()
    assert report.in_sync and report.drifted == []
    assert [(i["category"], i["resource"], i["attribute"]) for i in report.ignored] == [
        ("drifted", "ecs.service.worker", "desired_count")]
    without_rule = env.drift(dataclasses.replace(env.cfg, drift={}))
    assert [(d["resource"], d["attribute"]) for d in without_rule.drifted] == [("ecs.service.worker", "desired_count")]
    assert env.apply().ok and env.last_calls == {"ecs UpdateService": 1}
    assert env.drift().ignored == []


def export_log_group_of_a_dropped_type_stays(env: Day2Env, scenario: Scenario) -> None:
    """RDS no longer exports the upgrade log; its group, with the logs in it, is still there and
    drift (clean above) does not call it unmanaged: the state still names it."""
    logs = boto3.client("logs", region_name=REGION)
    name = f"/aws/rds/instance/rds-postgresql-{ENV}/upgrade"
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]] == [name]


def vpc_cidr_refusal_names_its_blast_radius(env: Day2Env, scenario: Scenario) -> None:
    """The refusal says what a new VPC would take with it: every dependent and the data lost."""
    plan = env.plan(dataclasses.replace(env.cfg, vpc_cidr=scenario.value))
    [vpc] = [r for r in plan.refused if r.key == "vpc"]
    assert vpc.action == "replace"
    # What sits in the VPC goes with it, data stores included; what does not (the key, log groups,
    # secrets, the cluster, the file system itself: only its mount targets are in subnets) stays.
    assert {"rds.instance", "redis.replication_group", "efs.mount_targets", "ecs.service.api", "apigw.vpc_link"} <= set(vpc.dependents)
    assert not {"iam.task_role", "kms.key", "logs.api", "secret.redis_auth", "ecs.cluster", "efs.file_system"} & set(vpc.dependents)
    assert set(vpc.data_lost) == {"rds.instance", "redis.replication_group", "logs.api_execution"}
    assert "cannot change cidr_block '10.0.0.0/16' → '10.1.0.0/16' in place" in vpc.refusal
    assert f"it takes {len(vpc.dependents)} dependent(s) with it; data lost: logs.api_execution" in vpc.refusal
    assert "--allow-replace vpc" in vpc.refusal
    assert [r.key for r in plan.refused] == ["vpc"]  # what goes with it is not refused on its own


def rds_major_upgrade_runs_the_new_major(env: Day2Env, scenario: Scenario) -> None:
    """Read back with the test's own client: 18 runs 18.1, on the default group of its family
    (RDS swaps a default group; a custom one would have been refused, C-RDS-5)."""
    [db] = boto3.client("rds", region_name=REGION).describe_db_instances(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBInstances"]
    assert (db["EngineVersion"], db["DBInstanceStatus"]) == ("18.1", "available")
    assert [g["DBParameterGroupName"] for g in db["DBParameterGroups"]] == ["default.postgres18"]


def rds_invalid_target_names_the_valid_ones(env: Day2Env, scenario: Scenario) -> None:
    plan = env.plan(dataclasses.replace(env.cfg, db_engine_version=scenario.value))
    [db] = [r for r in plan.refused if r.key == "rds.instance"]
    assert "RDS offers no upgrade of PostgreSQL 17.7 to 19" in db.refusal and "valid targets: 18.1 (" in db.refusal


KEY_CHECKS = {
    "db_engine_version (major upgrade)": rds_major_upgrade_runs_the_new_major,
    "db_engine_version (invalid target)": rds_invalid_target_names_the_valid_ones,
    "db_log_exports": export_log_group_of_a_dropped_type_stays,
    "deletion_protection": deletion_protection_refuses_teardown,
    "drift": drift_rule_ignores_what_it_names,
    "vpc_cidr": vpc_cidr_refusal_names_its_blast_radius,
}


def test_teardown_follows_the_keys_that_only_change_teardown(env: Day2Env):
    """After every scenario: deletion_protection = false and a reconcile (README "Teardown"), then
    the teardown takes the final snapshot db_final_snapshot asked for and schedules the key's
    deletion kms_deletion_window_days away."""
    # After the whole sequence these are set already; run alone, the test sets them itself.
    protected = env.cfg.deletion_protection
    ready = dataclasses.replace(env.cfg, deletion_protection=False, db_final_snapshot=True, kms_deletion_window_days=7)
    assert env.apply(ready).ok
    assert env.last_calls == ({"rds ModifyDBInstance": 1, "elbv2 ModifyLoadBalancerAttributes": 1} if protected else {})
    kms = boto3.client("kms", region_name=REGION)
    key_id = kms.describe_key(KeyId=f"alias/video-pipeline-{ENV}")["KeyMetadata"]["KeyId"]

    down = teardown_stack(env.aws, env=ENV, doc=env.doc, save=env.state.save, cfg=env.cfg, clock=env.clock.as_clock())
    assert down.ok, down.failures
    snapshots = boto3.client("rds", region_name=REGION).describe_db_snapshots(DBInstanceIdentifier=f"rds-postgresql-{ENV}")
    assert [s["DBSnapshotIdentifier"].startswith(f"rds-postgresql-{ENV}-final-")
            for s in snapshots["DBSnapshots"] if s["SnapshotType"] == "manual"] == [True]
    key = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert key["KeyState"] == "PendingDeletion"
    # The export log groups go too, that of a log type db_log_exports dropped included.
    logs = boto3.client("logs", region_name=REGION)
    assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/rds/instance/rds-postgresql-{ENV}/")["logGroups"] == []
    # moto dates the deletion on the wall clock (now + the window), not the layer's.
    assert abs((key["DeletionDate"] - datetime.now(timezone.utc)).total_seconds() - 7 * 86400) < 3600

"""Rotating the Redis AUTH token without downtime (orchestrator/rotation.py; README "Secret
rotation"), on one running environment: the whole stack on in-process moto with the fidelity
layer's clock (ElastiCache modifications and ECS deployments take their real time on it, no wall
time passes), read back with the test's own boto3 clients and the layer's record of the tokens
the replication group accepts (sandbox/fidelity/elasticache_auth.py).
"""
from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from orchestrator.config import EnvConfig, retired_tag_keys
from orchestrator.drift import drift_stack
from orchestrator.rotation import SET_TAG, utc_now
from orchestrator.run import apply_stack
from sandbox.fidelity import clock as layer_clock
from sandbox.fidelity.elasticache_auth import accepted_tokens
from tests.conftest import REGION
from tests.day2.environment import ENV, Day2Env, Killed, changes, killed_after, mutating, running_environment

SECRET, GROUP = f"redis-auth-{ENV}", f"redis-{ENV}"
ROTATE = frozenset({"secret.redis_auth"})
SERVICES = {"metadata-api": "ecs.service.api", "video-worker": "ecs.service.worker"}
# One rotation's mutating calls (measured; README "Secret rotation").
ROTATION_CALLS = {
    "secretsmanager PutSecretValue": 1,                        # (a)
    "elasticache ModifyReplicationGroup": 2,                   # (b) ROTATE, (e) SET
    "secretsmanager UpdateSecretVersionStage": 2,              # (c) AWSCURRENT, (f) AWSPENDING
    "ecs UpdateService": 2,                                    # (d) both services read the token
    "elasticache AddTagsToResource": 2,                        # (e) "setting:…" before SET, the version after
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory) as running:
        yield running


def group_name(env: Day2Env) -> str:
    return env.doc.resource("redis.replication_group")["id"]


def versions(sm) -> dict[str, list[str]]:
    return {v["VersionId"]: sorted(v["VersionStages"]) for v in sm.list_secret_version_ids(SecretId=SECRET)["Versions"]}


def staged(sm, stage: str) -> list[str]:
    return [vid for vid, stages in versions(sm).items() if stage in stages]


def token_of(sm, version_id: str | None = None) -> str:
    extra = {"VersionId": version_id} if version_id else {}
    return json.loads(sm.get_secret_value(SecretId=SECRET, **extra)["SecretString"])["auth_token"]


def group_tag(env: Day2Env) -> str | None:
    ec = boto3.client("elasticache", region_name=REGION)
    arn = ec.describe_replication_groups(ReplicationGroupId=group_name(env))["ReplicationGroups"][0]["ARN"]
    return {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=arn)["TagList"]}.get(SET_TAG)


def primary_deployments(env: Day2Env) -> dict[str, str]:
    ecs = boto3.client("ecs", region_name=REGION)
    found = ecs.describe_services(cluster=f"video-processing-{ENV}", services=[f"{s}-{ENV}" for s in SERVICES])["services"]
    return {s["serviceName"]: next(d["id"] for d in s["deployments"] if d["status"] == "PRIMARY") for s in found}


def rotate(env: Day2Env, *, forced: bool = True, cfg: EnvConfig | None = None, now=utc_now, kill_after: int | None = None):
    """bin/reconcile [--rotate secret.redis_auth]; with ``kill_after``, the process dies right
    after its k-th mutating call."""
    before = env.snapshot()
    with killed_after(env, kill_after, ("secretsmanager", "elasticache", "ecs")):
        run = apply_stack(env.aws, env=ENV, doc=env.doc, save=env.state.save, cfg=cfg or env.cfg,
                          clock=env.clock.as_clock(), rotate=ROTATE if forced else frozenset(), now=now, parallelism=1)
    env.last_calls = mutating(before, env.snapshot())
    return run


def assert_rotated_once(sm, env: Day2Env, previous: str) -> str:
    """One AWSCURRENT, no AWSPENDING, the group SET to exactly that token and tagged with it."""
    [current] = staged(sm, "AWSCURRENT")
    assert staged(sm, "AWSPENDING") == []
    assert current != previous and staged(sm, "AWSPREVIOUS") == [previous]
    assert accepted_tokens(group_name(env)) == [token_of(sm)]
    assert group_tag(env) == current
    return current


def test_the_stack_starts_with_one_token_the_group_accepts(env):
    sm = boto3.client("secretsmanager", region_name=REGION)
    assert len(staged(sm, "AWSCURRENT")) == 1 and staged(sm, "AWSPENDING") == []
    assert accepted_tokens(group_name(env)) == [token_of(sm)]


def test_a_plan_with_rotate_shows_the_change_and_makes_no_mutating_call(env):
    plan = env.plan(rotate=ROTATE)
    assert changes(plan) == {"secret.redis_auth": {"rotation": "IN_PLACE"}}
    [result] = [r for r in plan.results if r.key == "secret.redis_auth"]
    assert result.changes[0].why == "asked for with --rotate" and "days old" in result.changes[0].actual
    # Without --rotate and within secret_rotation_days: nothing to do.
    assert changes(env.plan()) == {}


def test_a_rotation_swaps_the_token_with_both_accepted_while_the_services_redeploy(env):
    sm = boto3.client("secretsmanager", region_name=REGION)
    [previous] = staged(sm, "AWSCURRENT")
    old_token = token_of(sm)
    deployed_before = primary_deployments(env)
    started = env.clock.now()
    # What Redis accepts, and what the secret's AWSCURRENT holds, when each service redeploys.
    seen = []

    def at_deploy(model, **_):
        if model.name == "UpdateService":
            seen.append((accepted_tokens(group_name(env)), token_of(sm)))

    ecs = env.aws.client("ecs")
    ecs.meta.events.register("before-call", at_deploy)
    try:
        run = rotate(env)
    finally:
        ecs.meta.events.unregister("before-call", at_deploy)
    assert run.ok, run.failures
    assert env.last_calls == ROTATION_CALLS
    current = assert_rotated_once(sm, env, previous)
    # Tasks started by the redeploy read the new token; tasks still running use the old one:
    # both are accepted then.
    assert seen == [([old_token, token_of(sm)], token_of(sm))] * 2
    assert token_of(sm) != old_token and old_token not in accepted_tokens(group_name(env))
    # Both services started new tasks (ECS resolves the secret at task start), verified deploys.
    after = primary_deployments(env)
    assert all(after[name] != deployed_before[name] for name in after)
    # Two group modifications and the deployments were waited for on AWS's time.
    assert env.clock.now() - started >= 2 * layer_clock.DURATIONS["elasticache.modify"]
    rotated = {r.key: [d.field for d in r.changes] for r in run.results if r.action != "unchanged"}
    assert rotated == {"secret.redis_auth": ["rotation"], "ecs.service.api": ["deployment"], "ecs.service.worker": ["deployment"]}
    # Nothing is left to do, nothing drifted; the token never reached the state.
    assert changes(env.plan()) == {}
    assert env.drift().in_sync
    assert old_token not in json.dumps(env.doc.__dict__, default=str) and token_of(sm) not in json.dumps(env.doc.__dict__, default=str)
    assert current in versions(sm)


def test_the_schedule_rotates_a_token_older_than_secret_rotation_days_and_drift_reports_it(env):
    sm = boto3.client("secretsmanager", region_name=REGION)
    def later():
        return utc_now() + timedelta(days=91)

    report = drift_stack(env.aws, env=ENV, doc=env.doc, cfg=env.cfg, retired_tags=retired_tag_keys(env.doc, env.cfg), now=later)
    assert not report.in_sync
    # The AUTH token's AWSCURRENT version and the API key, both made 91 days before "now".
    entries = {e["resource"]: e for e in report.drifted}
    assert sorted(entries) == ["apigw.api_key", "secret.redis_auth"]
    for entry in entries.values():
        assert (entry["attribute"], entry["expected"]) == ("rotation", "at most 90 days old")
        assert entry["actual"].endswith("91 days old")
    # 0 never rotates on a schedule; 120 days is not due yet.
    for days in (0, 120):
        assert changes(env.plan(EnvConfig(secret_rotation_days=days), now=later)) == {}
    [previous] = staged(sm, "AWSCURRENT")
    run = rotate(env, forced=False, now=later)
    assert run.ok, run.failures
    # Both rotate (the API key's own calls: tests/day2/test_api_key_rotation.py).
    assert {k: n for k, n in env.last_calls.items() if not k.startswith("apigateway")} == {
        **ROTATION_CALLS, "secretsmanager PutSecretValue": 2, "secretsmanager TagResource": 1}
    assert_rotated_once(sm, env, previous)


def test_a_rolled_back_deploy_stops_the_rotation_before_set_and_the_next_run_finishes_it(env):
    """(d) failed: the old token is still accepted (tasks that did not restart keep working), the
    run fails; the next run redeploys and SETs."""
    sm = boto3.client("secretsmanager", region_name=REGION)
    [previous] = staged(sm, "AWSCURRENT")
    old_token = token_of(sm)
    ecs = boto3.client("ecs", region_name=REGION)
    worker = ecs.describe_services(cluster=f"video-processing-{ENV}", services=[f"video-worker-{ENV}"])["services"][0]
    revision = worker["taskDefinition"].rsplit("/", 1)[1]  # video-worker-dev:N, what the redeploy starts again
    layer_clock.fail("ecs-task-definition", revision)
    try:
        run = rotate(env)
    finally:
        layer_clock.unfail("ecs-task-definition", revision)
    assert not run.ok and list(run.failures)[0] == "ecs.service.worker"
    assert "stopped before SET" in run.failures["secret.redis_auth"].reason
    assert "elasticache ModifyReplicationGroup" in env.last_calls and env.last_calls["elasticache ModifyReplicationGroup"] == 1
    [current] = staged(sm, "AWSCURRENT")
    assert staged(sm, "AWSPENDING") == [current] and current != previous
    assert accepted_tokens(group_name(env)) == [old_token, token_of(sm)]
    # The plan and drift say it is half way; the next run (no --rotate) ends it.
    assert changes(env.plan())["secret.redis_auth"] == {"rotation": "IN_PLACE"}
    again = rotate(env, forced=False)
    assert again.ok, again.failures
    assert_rotated_once(sm, env, previous)


@pytest.mark.parametrize("k", range(1, sum(ROTATION_CALLS.values()) + 1))
def test_a_rotation_killed_after_any_of_its_calls_is_resumed_by_the_next_run(env, k):
    sm = boto3.client("secretsmanager", region_name=REGION)
    [previous] = staged(sm, "AWSCURRENT")
    with pytest.raises(Killed):
        rotate(env, kill_after=k)
    # The next run, without --rotate: what AWS shows is enough to carry on.
    resumed = rotate(env, forced=False)
    assert resumed.ok, resumed.failures
    assert_rotated_once(sm, env, previous)
    assert changes(env.plan()) == {}

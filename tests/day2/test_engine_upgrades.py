"""Day-2 engine upgrades of Redis that apply (issue 13): the default environment runs Redis OSS
7.1, the last Redis OSS, so it can only be refused an upgrade (tests/day2/test_every_key.py). Here
an environment made on Redis OSS 6.2 is upgraded across parameter group families to 7.0, then
to the minor 7.1, each on the fidelity layer's clock (sandbox/fidelity/elasticache_versions.py,
docs/aws-behaviours.md C-EC-1, C-EC-3), with the same four checks as every key: (a) the plan, (b) the apply's
exact mutating calls and its wait, (c) a second apply with no call, (d) drift clean; and the
members read back with the test's own client.
"""
from __future__ import annotations

import dataclasses

import boto3
import pytest

from orchestrator.config import EnvConfig
from sandbox.fidelity import clock as layer_clock
from tests.conftest import REGION
from tests.day2.environment import ENV, Day2Env, changes, running_environment

MODIFY = layer_clock.DURATIONS["elasticache.modify"]
GROUP = f"redis-{ENV}"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory, EnvConfig(redis_engine_version="6.2")) as running:
        yield running


def members() -> list[tuple[str, str]]:
    """(engine version, parameter group) of every member of the group, read back."""
    ec = boto3.client("elasticache", region_name=REGION)
    [group] = ec.describe_replication_groups(ReplicationGroupId=GROUP)["ReplicationGroups"]
    clusters = [ec.describe_cache_clusters(CacheClusterId=m)["CacheClusters"][0] for m in group["MemberClusters"]]
    return [(c["EngineVersion"], c["CacheParameterGroup"]["CacheParameterGroupName"]) for c in clusters]


def upgrade(env: Day2Env, version: str) -> None:
    wanted = dataclasses.replace(env.cfg, redis_engine_version=version)
    plan = env.plan(wanted)
    assert changes(plan) == {"redis.replication_group": {"engine_version": "DOWNTIME"}} and plan.refused == []
    [change] = [d for r in plan.results if r.key == "redis.replication_group" for d in r.changes]
    assert "failover" in change.why
    started = env.clock.now()
    run = env.apply(wanted)
    assert run.ok and run.refused == [], run.failures
    assert env.last_calls == {"elasticache ModifyReplicationGroup": 1}
    assert env.clock.now() - started >= MODIFY  # waited for "modifying" to end, the version visible
    again = env.apply(env.cfg)
    assert again.ok and env.last_calls == {} and [r.key for r in again.results if r.action != "unchanged"] == []
    report = env.drift()
    assert report.in_sync and report.pending == [], dataclasses.asdict(report)


def test_the_environment_starts_on_redis_6_2_with_its_default_parameter_group(env):
    nodes = len(members())
    assert members() == [("6.2", "default.redis6.x")] * nodes and nodes == env.cfg.redis_num_nodes


def test_a_major_upgrade_moves_every_member_to_7_0_and_the_redis7_default_group(env):
    upgrade(env, "7.0")
    assert set(members()) == {("7.0", "default.redis7")}


def test_a_minor_upgrade_keeps_the_family_and_its_group(env):
    upgrade(env, "7.1")
    assert set(members()) == {("7.1", "default.redis7")}


def test_a_downgrade_after_the_upgrades_is_refused_with_no_call(env):
    wanted = dataclasses.replace(env.cfg, redis_engine_version="6.2")
    run = env.apply(wanted)
    assert [r.key for r in run.refused] == ["redis.replication_group"] and env.last_calls == {}
    assert "cannot be downgraded (7.1 to 6.2)" in run.refused[0].refusal
    assert set(members()) == {("7.1", "default.redis7")}

"""ElastiCache engine versions and engine upgrades (sandbox/fidelity/elasticache_versions.py):
docs/aws-behaviours.md A-45, C-EC-1, C-EC-3, in-process under mock_aws, read back with the test's own client."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock

REGION = "us-east-1"
MODIFY = clock.DURATIONS["elasticache.modify"]


@pytest.fixture
def ec(moto_aws):
    return boto3.client("elasticache", region_name=REGION)


def create_group(ec, version: str) -> None:
    ec.create_replication_group(ReplicationGroupId="cache-a", ReplicationGroupDescription="fidelity", Engine="redis",
                                EngineVersion=version, CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True, MultiAZEnabled=True)


def status(ec) -> str:
    return ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"][0]["Status"]


def members(ec) -> list[tuple]:
    """(version, parameter group, pending version) of every member."""
    clusters = [c for c in ec.describe_cache_clusters()["CacheClusters"] if c.get("ReplicationGroupId") == "cache-a"]
    return [(c["EngineVersion"], (c.get("CacheParameterGroup") or {}).get("CacheParameterGroupName"),
             (c.get("PendingModifiedValues") or {}).get("EngineVersion")) for c in clusters]


def refused(ec, **params) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ec.modify_replication_group(ReplicationGroupId="cache-a", ApplyImmediately=True, **params)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterCombination"
    return caught.value.response["Error"]["Message"]


def test_describe_cache_engine_versions_lists_versions_with_their_families(ec):
    pages = ec.get_paginator("describe_cache_engine_versions").paginate(Engine="redis")
    listed = {v["EngineVersion"]: v["CacheParameterGroupFamily"] for p in pages for v in p["CacheEngineVersions"]}
    assert listed == {"4.0.10": "redis4.0", "5.0.6": "redis5.0", "6.0": "redis6.x", "6.2": "redis6.x", "7.0": "redis7", "7.1": "redis7"}
    [default] = ec.describe_cache_engine_versions(Engine="valkey", DefaultOnly=True)["CacheEngineVersions"]
    assert (default["EngineVersion"], default["CacheParameterGroupFamily"]) == ("8.1", "valkey8")
    assert ec.describe_cache_engine_versions(Engine="redis", EngineVersion="7.3")["CacheEngineVersions"] == []


def test_a_major_upgrade_is_modifying_then_every_member_runs_it_on_the_new_default_group(ec, on_the_clock):
    """C-EC-1 on the clock: pending on every member meanwhile; one operation at a time."""
    create_group(ec, "6.2")
    assert members(ec) == [("6.2", "default.redis6.x", None)] * 2
    ec.modify_replication_group(ReplicationGroupId="cache-a", EngineVersion="7.1", CacheParameterGroupName="default.redis7",
                                ApplyImmediately=True)
    assert (status(ec), members(ec)) == ("modifying", [("6.2", "default.redis6.x", "7.1")] * 2)
    with pytest.raises(botocore.exceptions.ClientError) as busy:
        ec.modify_replication_group(ReplicationGroupId="cache-a", CacheNodeType="cache.t3.small", ApplyImmediately=True)
    assert busy.value.response["Error"]["Code"] == "InvalidReplicationGroupState"
    on_the_clock.sleep(MODIFY)
    assert (status(ec), members(ec)) == ("available", [("7.1", "default.redis7", None)] * 2)


def test_a_minor_upgrade_keeps_the_group_and_applies_at_once_on_the_instant_clock(ec):
    create_group(ec, "7.0")
    ec.modify_replication_group(ReplicationGroupId="cache-a", EngineVersion="7.1", ApplyImmediately=True)
    assert (status(ec), members(ec)) == ("available", [("7.1", "default.redis7", None)] * 2)


def test_a_downgrade_a_version_not_offered_and_a_group_of_the_old_family_are_refused(ec):
    create_group(ec, "6.2")
    assert refused(ec, EngineVersion="6.0") == "Cannot downgrade redis from 6.2 to 6.0"
    assert refused(ec, EngineVersion="7.3") == "Cannot find version 7.3 for redis"
    assert refused(ec, EngineVersion="7.1", CacheParameterGroupName="default.redis6.x") == (
        "Expected a parameter group of family redis7 but found one of family redis6.x")
    assert (status(ec), members(ec)) == ("available", [("6.2", "default.redis6.x", None)] * 2)

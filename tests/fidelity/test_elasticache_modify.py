"""ElastiCache replication group changes on the layer's clock (sandbox/fidelity/
elasticache_modify.py): docs/aws-behaviours.md A-37, C-EC-1, C-EC-2, in-process under mock_aws."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock, elasticache_modify
from tests.fidelity.test_elasticache import create_group

REGION = "us-east-1"
MODIFY = clock.DURATIONS["elasticache.modify"]
TAGS = [{"Key": "stack", "Value": "video"}]


@pytest.fixture
def ec(moto_aws):
    return boto3.client("elasticache", region_name=REGION)


def group(ec) -> dict:
    return ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"][0]


def members(ec) -> dict[str, str]:
    clusters = ec.describe_cache_clusters()["CacheClusters"]
    return {c["CacheClusterId"]: c["CacheNodeType"] for c in clusters if c.get("ReplicationGroupId") == "cache-a"}


def test_replica_count_changes_at_once_on_the_instant_clock(ec):
    """A-37: both calls exist and answer the group (moto alone answers an unparseable body)."""
    create_group(ec, clusters=2, subnet_group=None)
    answer = ec.increase_replica_count(ReplicationGroupId="cache-a", NewReplicaCount=2, ApplyImmediately=True)["ReplicationGroup"]
    assert answer["MemberClusters"] == ["cache-a-001", "cache-a-002", "cache-a-003"] and answer["Status"] == "available"
    assert set(members(ec)) == {"cache-a-001", "cache-a-002", "cache-a-003"}
    ec.decrease_replica_count(ReplicationGroupId="cache-a", NewReplicaCount=0, ApplyImmediately=True)
    assert group(ec)["MemberClusters"] == ["cache-a-001"] and set(members(ec)) == {"cache-a-001"}
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec.decrease_replica_count(ReplicationGroupId="cache-a", NewReplicaCount=0, ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_a_replica_change_is_modifying_one_operation_at_a_time_then_visible(ec, on_the_clock):
    """C-EC-1, A-37; and the new member carries the group's tags (C-EC-2)."""
    create_group(ec, clusters=2, subnet_group=None, Tags=TAGS)
    answer = ec.increase_replica_count(ReplicationGroupId="cache-a", NewReplicaCount=2, ApplyImmediately=True)["ReplicationGroup"]
    assert (answer["Status"], answer["MemberClusters"]) == ("modifying", ["cache-a-001", "cache-a-002"])
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec.modify_replication_group(ReplicationGroupId="cache-a", CacheNodeType="cache.t3.small", ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidReplicationGroupState"
    on_the_clock.sleep(MODIFY - 1)
    assert group(ec)["Status"] == "modifying"
    on_the_clock.sleep(1)
    assert (group(ec)["Status"], group(ec)["MemberClusters"]) == ("available", ["cache-a-001", "cache-a-002", "cache-a-003"])
    arn = next(c["ARN"] for c in ec.describe_cache_clusters()["CacheClusters"] if c["CacheClusterId"] == "cache-a-003")
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == TAGS


def test_a_node_type_change_is_modifying_then_visible_on_the_group_and_its_members(ec, on_the_clock):
    """C-EC-1."""
    create_group(ec, clusters=2, subnet_group=None)
    old = group(ec)["CacheNodeType"]
    ec.modify_replication_group(ReplicationGroupId="cache-a", CacheNodeType="cache.t3.small", ApplyImmediately=True)
    assert (group(ec)["Status"], group(ec)["CacheNodeType"]) == ("modifying", old)
    on_the_clock.sleep(MODIFY)
    assert (group(ec)["Status"], group(ec)["CacheNodeType"]) == ("available", "cache.t3.small")
    assert set(members(ec).values()) == {"cache.t3.small"}


def test_member_clusters_carry_the_groups_tags(ec, on_the_clock):
    """C-EC-2: tags of the group, at create and when they change, are the members' tags."""
    create_group(ec, clusters=2, subnet_group=None, Tags=TAGS)
    arns = [c["ARN"] for c in ec.describe_cache_clusters()["CacheClusters"] if c.get("ReplicationGroupId") == "cache-a"]
    assert len(arns) == 2 and all(ec.list_tags_for_resource(ResourceName=a)["TagList"] == TAGS for a in arns)
    ec.add_tags_to_resource(ResourceName=group(ec)["ARN"], Tags=[{"Key": "owner", "Value": "ops"}])
    ec.remove_tags_from_resource(ResourceName=group(ec)["ARN"], TagKeys=["stack"])
    assert all(ec.list_tags_for_resource(ResourceName=a)["TagList"] == [{"Key": "owner", "Value": "ops"}] for a in arns)


# -- D-EC-1: a new replica is still creating after its group reads available -------------------------

REPLICA_CREATE = clock.DURATIONS["elasticache.replica_create"]
SECRET_TOKEN = "Tok3nFromTheSecretValue0123456789abcdefABCDEF0123456789abcdefXY"


def statuses(ec) -> dict[str, str]:
    clusters = ec.describe_cache_clusters()["CacheClusters"]
    return {c["CacheClusterId"]: c["CacheClusterStatus"] for c in clusters if c.get("ReplicationGroupId") == "cache-a"}


def refused_code(call, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call(ReplicationGroupId="cache-a", ApplyImmediately=True, **kwargs)
    return refused.value.response["Error"]["Code"]


@pytest.fixture
def replicas_lag(on_the_clock):
    clock.switch(elasticache_modify.REPLICA_LAG, True)
    return on_the_clock


def test_a_new_replica_is_creating_while_its_group_reads_available_and_changes_are_refused(ec, replicas_lag):
    create_group(ec, clusters=2, subnet_group=None, TransitEncryptionEnabled=True, AuthToken=SECRET_TOKEN)
    ec.increase_replica_count(ReplicationGroupId="cache-a", NewReplicaCount=2, ApplyImmediately=True)
    replicas_lag.sleep(MODIFY)
    assert group(ec)["Status"] == "available"
    assert statuses(ec) == {"cache-a-001": "available", "cache-a-002": "available", "cache-a-003": "creating"}
    assert refused_code(ec.modify_replication_group, CacheNodeType="cache.t3.small") == "InvalidCacheClusterState"
    assert refused_code(ec.modify_replication_group, ReplicationGroupDescription="new words") == "InvalidCacheClusterState"
    # An AUTH token ROTATE is refused before it starts: the group does not go modifying.
    assert refused_code(ec.modify_replication_group, AuthToken="An0therT0kenValue0123456789", AuthTokenUpdateStrategy="ROTATE") \
        == "InvalidCacheClusterState"
    assert refused_code(ec.increase_replica_count, NewReplicaCount=3) == "InvalidCacheClusterState"
    assert group(ec)["Status"] == "available" and group(ec)["Description"] == "fidelity"
    replicas_lag.sleep(REPLICA_CREATE - 1)
    assert statuses(ec)["cache-a-003"] == "creating"
    replicas_lag.sleep(1)
    assert set(statuses(ec).values()) == {"available"}
    ec.modify_replication_group(ReplicationGroupId="cache-a", CacheNodeType="cache.t3.small", ApplyImmediately=True)
    assert group(ec)["Status"] == "modifying"


def test_the_replica_is_creating_from_the_end_of_the_change_however_late_it_is_read(ec, replicas_lag):
    create_group(ec, clusters=2, subnet_group=None)
    ec.increase_replica_count(ReplicationGroupId="cache-a", NewReplicaCount=2, ApplyImmediately=True)
    replicas_lag.sleep(MODIFY + REPLICA_CREATE)  # nobody read the group in between
    assert set(statuses(ec).values()) == {"available"}


def test_off_by_default_every_member_is_available_when_the_group_is(ec, on_the_clock):
    create_group(ec, clusters=2, subnet_group=None)
    ec.increase_replica_count(ReplicationGroupId="cache-a", NewReplicaCount=2, ApplyImmediately=True)
    on_the_clock.sleep(MODIFY)
    assert set(statuses(ec).values()) == {"available"} and len(statuses(ec)) == 3
    ec.modify_replication_group(ReplicationGroupId="cache-a", CacheNodeType="cache.t3.small", ApplyImmediately=True)
    assert group(ec)["Status"] == "modifying"

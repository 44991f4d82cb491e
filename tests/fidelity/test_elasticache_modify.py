"""ElastiCache replication group changes on the layer's clock (sandbox/fidelity/
elasticache_modify.py): aws-notes A-37, C-EC-1, C-EC-2, in-process under mock_aws."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock
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

"""A replication group's delete on the layer's clock (sandbox/fidelity/elasticache.py, PENDING_DELETES):
docs/aws-behaviours.md B-EC-6, A-18. On AWS a delete is asynchronous: the group reads "deleting" for
minutes, then DescribeReplicationGroups answers ReplicationGroupNotFoundFault. Nothing sleeps: the
clock is a FakeClock."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from bench.durations import slow_seconds
from sandbox.fidelity import clock as layer_clock
from sandbox.fidelity.elasticache import PENDING_DELETES
from tests.fidelity.test_elasticache import code, create_group, subnets_in

REGION = "us-east-1"
DELETE = layer_clock.DURATIONS["elasticache.delete"]


@pytest.fixture
def ec(moto_aws, on_the_clock):
    layer_clock.switch(PENDING_DELETES, True)
    ec2, ec = boto3.client("ec2", region_name=REGION), boto3.client("elasticache", region_name=REGION)
    ec.create_cache_subnet_group(CacheSubnetGroupName="cache-subnets", CacheSubnetGroupDescription="two AZs",
                                 SubnetIds=subnets_in(ec2, ["us-east-1a", "us-east-1b"]))
    create_group(ec)
    return ec


def statuses(ec) -> tuple[str, set[str]]:
    [group] = ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"]
    return group["Status"], {c["CacheClusterStatus"] for c in ec.describe_cache_clusters()["CacheClusters"]}


def test_the_delete_duration_is_the_timings_figure_the_benchmark_uses_too():
    assert DELETE == slow_seconds("elasticache", "DeleteReplicationGroup") == 360


def test_a_group_reads_deleting_with_its_members_for_its_duration_then_is_not_found(ec, on_the_clock):
    assert ec.delete_replication_group(ReplicationGroupId="cache-a")["ReplicationGroup"]["Status"] == "deleting"
    on_the_clock.sleep(DELETE - 1)
    assert statuses(ec) == ("deleting", {"deleting"})
    # Its subnet group is still in use, and its id still taken.
    with pytest.raises(ClientError) as caught:
        ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-subnets")
    assert code(caught) == "CacheSubnetGroupInUse"
    with pytest.raises(ClientError) as caught:
        create_group(ec)
    assert code(caught) == "ReplicationGroupAlreadyExists"

    on_the_clock.sleep(1)
    with pytest.raises(ClientError) as caught:
        ec.describe_replication_groups(ReplicationGroupId="cache-a")
    assert code(caught) == "ReplicationGroupNotFoundFault"
    assert ec.describe_cache_clusters()["CacheClusters"] == []
    ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-subnets")


def test_the_end_of_a_delete_frees_the_id_without_a_read_first(ec, on_the_clock):
    ec.delete_replication_group(ReplicationGroupId="cache-a")
    on_the_clock.sleep(DELETE)
    assert create_group(ec)["ReplicationGroupId"] == "cache-a"


def test_a_second_delete_while_deleting_does_not_restart_the_clock(ec, on_the_clock):
    ec.delete_replication_group(ReplicationGroupId="cache-a")
    on_the_clock.sleep(DELETE / 2)
    ec.delete_replication_group(ReplicationGroupId="cache-a")
    on_the_clock.sleep(DELETE / 2)
    assert ec.describe_replication_groups()["ReplicationGroups"] == []


def test_without_the_switch_a_delete_still_ends_at_once(moto_aws, on_the_clock):
    ec = boto3.client("elasticache", region_name=REGION)
    create_group(ec, subnet_group=None)
    ec.delete_replication_group(ReplicationGroupId="cache-a")
    assert ec.describe_replication_groups()["ReplicationGroups"] == []

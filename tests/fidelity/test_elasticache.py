"""The ElastiCache fidelity patches, seen through plain boto3: in-process (mock_aws, the layer is
applied by conftest) and through a moto server subprocess started by ``python -m sandbox.serve``."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError


REGION = "us-east-1"


def code(caught: pytest.ExceptionInfo) -> str:
    return caught.value.response["Error"]["Code"]


def subnets_in(ec2, azs: list[str]) -> list[str]:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for i, az in enumerate(azs)
    ]


def create_group(ec, group_id: str = "cache-a", *, clusters: int = 2, subnet_group: str | None = "cache-subnets", **extra):
    arguments = dict(
        ReplicationGroupId=group_id, ReplicationGroupDescription="fidelity", Engine="redis", EngineVersion="7.1",
        CacheNodeType="cache.t3.micro", NumCacheClusters=clusters, AutomaticFailoverEnabled=clusters > 1,
        MultiAZEnabled=clusters > 1, SecurityGroupIds=["sg-0123456789abcdef0"], **extra,
    )
    if subnet_group:
        arguments["CacheSubnetGroupName"] = subnet_group
    return ec.create_replication_group(**arguments)["ReplicationGroup"]


@pytest.fixture
def clients(moto_aws):
    return boto3.client("ec2", region_name=REGION), boto3.client("elasticache", region_name=REGION)


def test_num_cache_clusters_makes_that_many_members_spread_over_the_subnet_groups_azs(clients):
    ec2, ec = clients
    ec.create_cache_subnet_group(
        CacheSubnetGroupName="cache-subnets", CacheSubnetGroupDescription="two AZs",
        SubnetIds=subnets_in(ec2, ["us-east-1c", "us-east-1d"]),
    )
    group = create_group(ec, clusters=3)
    assert group["MemberClusters"] == ["cache-a-001", "cache-a-002", "cache-a-003"]
    [node_group] = ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"][0]["NodeGroups"]
    members = {m["CacheClusterId"]: (m["CurrentRole"], m["PreferredAvailabilityZone"]) for m in node_group["NodeGroupMembers"]}
    assert members == {
        "cache-a-001": ("primary", "us-east-1c"),
        "cache-a-002": ("replica", "us-east-1d"),
        "cache-a-003": ("replica", "us-east-1c"),
    }
    # Every member is a cache cluster of its own, with the group's settings.
    clusters = {c["CacheClusterId"]: c for c in ec.describe_cache_clusters()["CacheClusters"]}
    assert set(clusters) == set(members)
    for cluster in clusters.values():
        assert cluster["ReplicationGroupId"] == "cache-a"
        assert cluster["CacheSubnetGroupName"] == "cache-subnets"
        assert cluster["CacheNodeType"] == "cache.t3.micro"
        assert [g["SecurityGroupId"] for g in cluster["SecurityGroups"]] == ["sg-0123456789abcdef0"]


def test_preferred_cache_cluster_azs_win_over_the_subnet_group(clients):
    _, ec = clients
    create_group(ec, subnet_group=None, PreferredCacheClusterAZs=["us-east-1f", "us-east-1e"])
    [node_group] = ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"][0]["NodeGroups"]
    assert [m["PreferredAvailabilityZone"] for m in node_group["NodeGroupMembers"]] == ["us-east-1f", "us-east-1e"]


def test_replicas_per_node_group_still_works_as_moto_had_it(clients):
    _, ec = clients
    group = ec.create_replication_group(
        ReplicationGroupId="cache-b", ReplicationGroupDescription="d", Engine="redis", CacheNodeType="cache.t3.micro",
        ReplicasPerNodeGroup=2,
    )["ReplicationGroup"]
    assert group["MemberClusters"] == ["cache-b-001", "cache-b-002", "cache-b-003"]


def test_deleted_group_is_gone_with_its_members_and_its_id_can_be_used_again(clients):
    _, ec = clients
    create_group(ec, subnet_group=None, Tags=[{"Key": "Owner", "Value": "first"}])
    answer = ec.delete_replication_group(ReplicationGroupId="cache-a")["ReplicationGroup"]
    assert answer["Status"] == "deleting"
    with pytest.raises(ClientError) as caught:
        ec.describe_replication_groups(ReplicationGroupId="cache-a")
    assert code(caught) == "ReplicationGroupNotFoundFault"
    assert ec.describe_cache_clusters()["CacheClusters"] == []
    ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="cache-a", WaiterConfig={"Delay": 0, "MaxAttempts": 1})

    again = create_group(ec, subnet_group=None)
    assert again["Status"] == "available"
    # The old group's tags did not survive into the new one.
    assert ec.list_tags_for_resource(ResourceName=again["ARN"])["TagList"] == []
    with pytest.raises(ClientError) as caught:
        ec.delete_replication_group(ReplicationGroupId="missing")
    assert code(caught) == "ReplicationGroupNotFoundFault"


def test_delete_cache_subnet_group_refuses_while_in_use_then_deletes_then_not_found(clients):
    ec2, ec = clients
    ec.create_cache_subnet_group(
        CacheSubnetGroupName="cache-subnets", CacheSubnetGroupDescription="d", SubnetIds=subnets_in(ec2, ["us-east-1a", "us-east-1b"]),
    )
    create_group(ec)
    with pytest.raises(ClientError) as caught:
        ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-subnets")
    assert code(caught) == "CacheSubnetGroupInUse"

    ec.delete_replication_group(ReplicationGroupId="cache-a")
    ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-subnets")
    assert ec.describe_cache_subnet_groups()["CacheSubnetGroups"] == []
    with pytest.raises(ClientError) as caught:
        ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-subnets")
    assert code(caught) == "CacheSubnetGroupNotFoundFault"


@pytest.mark.server
def test_patches_are_active_in_a_moto_server_started_by_sandbox_serve(server):
    ec = boto3.client("elasticache", region_name=REGION, endpoint_url=server.endpoint)
    ec.create_cache_subnet_group(CacheSubnetGroupName="cache-subnets", CacheSubnetGroupDescription="d", SubnetIds=["subnet-0a"])
    assert create_group(ec)["MemberClusters"] == ["cache-a-001", "cache-a-002"]
    ec.delete_replication_group(ReplicationGroupId="cache-a")
    with pytest.raises(ClientError) as caught:
        ec.describe_replication_groups(ReplicationGroupId="cache-a")
    assert code(caught) == "ReplicationGroupNotFoundFault"
    ec.delete_cache_subnet_group(CacheSubnetGroupName="cache-subnets")
    assert ec.describe_cache_subnet_groups()["CacheSubnetGroups"] == []

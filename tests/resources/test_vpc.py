"""VPC handler on moto: the standard case list, read back with the test's own client."""
from __future__ import annotations

from orchestrator.stack import network_nodes
from orchestrator.config import EnvConfig
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge


def vpc_nodes():
    return [n for n in network_nodes("dev", EnvConfig(), ["us-east-1a", "us-east-1b"]) if n.key == "vpc"]


def owned_vpcs(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:ManagedBy", "Values": ["video-pipeline-infra"]}])["Vpcs"]
    return vpcs


def test_create_sets_cidr_dns_and_tags_then_second_run_changes_nothing(aws, ec2):
    state = MemoryState()
    run = converge(aws, state, nodes=vpc_nodes())
    assert actions(run) == {"vpc": "create"}
    [vpc] = owned_vpcs(ec2)
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert {t["Key"]: t["Value"] for t in vpc["Tags"]} == {
        "Name": "vpc-dev", "Environment": "dev", "ManagedBy": "video-pipeline-infra"}
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        answer = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)
        assert answer[attribute[0].upper() + attribute[1:]]["Value"] is True
    assert state.doc.resource("vpc")["id"] == vpc["VpcId"]

    before = aws.calls.mutating
    again = converge(aws, state, nodes=vpc_nodes())
    assert actions(again) == {"vpc": "unchanged"}
    assert aws.calls.mutating == before


def test_dns_hostnames_turned_off_behind_our_back_is_restored(aws, ec2):
    state = MemoryState()
    converge(aws, state, nodes=vpc_nodes())
    vpc_id = state.doc.resource("vpc")["id"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": False})
    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "Environment"}])
    plan = converge(aws, state, nodes=vpc_nodes(), plan=True)
    [result] = plan.results
    # Found again by recorded id even though a tag is gone; the diff names both fields.
    assert result.action == "update"
    assert {d.field for d in result.changes} == {"enable_dns_hostnames", "tags.Environment"}
    converge(aws, state, nodes=vpc_nodes())
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is True
    tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Tags"]}
    assert tags["Environment"] == "dev"


def test_deleted_behind_our_back_is_recreated(aws, ec2):
    state = MemoryState()
    converge(aws, state, nodes=vpc_nodes())
    old = state.doc.resource("vpc")["id"]
    ec2.delete_vpc(VpcId=old)
    run = converge(aws, state, nodes=vpc_nodes())
    assert actions(run) == {"vpc": "create"}
    [vpc] = owned_vpcs(ec2)
    assert vpc["VpcId"] != old and state.doc.resource("vpc")["id"] == vpc["VpcId"]

"""A walk looks each EC2 kind up with one filtered listing, and still finds what left it.

Counts come from the orchestrator's own call log; the resources are read back with the test's
client.
"""
from __future__ import annotations

from orchestrator.config import EnvConfig
from orchestrator.stack import network_nodes
from tests.resources.network import AZS, owned_addresses, owned_internet_gateways, owned_vpc
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge

LISTED = ("DescribeSubnets", "DescribeSecurityGroups", "DescribeRouteTables", "DescribeNatGateways",
          "DescribeAddresses", "DescribeInternetGateways")


def network():
    return network_nodes("dev", EnvConfig(), AZS)


def ec2_reads(aws) -> dict[str, int]:
    return {op: n for (svc, op), n in aws.calls.counts.items() if svc == "ec2" and op.startswith("Describe")}


def delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def test_a_converged_network_is_checked_with_one_listing_per_kind(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=network(), clock=clock)
    before = ec2_reads(aws)
    run = converge(aws, state, nodes=network(), clock=clock)
    assert set(actions(run).values()) == {"unchanged"}
    reads = delta(ec2_reads(aws), before)
    # 6 subnets, 2 NATs, 2 EIPs, 4 route tables: one read of each kind, whatever the count.
    assert {op: reads.get(op) for op in LISTED if op != "DescribeSecurityGroups"} == {
        op: 1 for op in LISTED if op != "DescribeSecurityGroups"
    }
    assert "DescribeAvailabilityZones" not in reads  # the AZs come from the state


def test_security_groups_and_all_their_rules_take_two_reads(aws, clock):
    from orchestrator.stack.security import security_group_nodes

    nodes = network() + security_group_nodes("dev", EnvConfig())
    state = MemoryState()
    converge(aws, state, nodes=nodes, clock=clock)
    before = ec2_reads(aws)
    run = converge(aws, state, nodes=nodes, clock=clock)
    assert set(actions(run).values()) == {"unchanged"}
    reads = delta(ec2_reads(aws), before)
    assert reads["DescribeSecurityGroups"] == 1
    assert reads["DescribeSecurityGroupRules"] == 1


def test_a_resource_whose_tags_were_removed_is_still_found_by_id(aws, ec2, clock):
    # Elastic IPs are listed by the environment's tags: without them the EIP is not listed,
    # and the lookup by recorded id must find it (and the plan must show the tags to restore).
    state = MemoryState()
    converge(aws, state, nodes=network(), clock=clock)
    eip = owned_addresses(ec2)["nat-eip-1-dev"]["AllocationId"]
    ec2.delete_tags(Resources=[eip], Tags=[{"Key": "Environment"}, {"Key": "ManagedBy"}])

    plan = converge(aws, state, nodes=network(), clock=clock, plan=True)
    [eip_result] = [r for r in plan.results if r.key == "eip.1"]
    assert eip_result.action == "update" and eip_result.id == eip
    assert {d.field for d in eip_result.changes} == {"tags.Environment", "tags.ManagedBy"}

    converge(aws, state, nodes=network(), clock=clock)
    assert owned_addresses(ec2)["nat-eip-1-dev"]["AllocationId"] == eip


def test_a_detached_gateway_of_a_lost_state_is_adopted_not_duplicated(aws, ec2, clock):
    # A run killed between CreateInternetGateway and AttachInternetGateway leaves our gateway
    # outside the VPC's listing: it must be found by its tags and attached.
    state = MemoryState()
    converge(aws, state, nodes=network(), clock=clock)
    igw = owned_internet_gateways(ec2)["igw-dev"]["InternetGatewayId"]
    vpc = owned_vpc(ec2)["VpcId"]
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    state.lose()
    state.doc.azs = AZS

    run = converge(aws, state, nodes=network(), clock=clock)
    assert actions(run)["igw"] == "update"
    gateways = owned_internet_gateways(ec2)
    assert list(gateways) == ["igw-dev"]
    assert gateways["igw-dev"]["InternetGatewayId"] == igw
    assert [a["VpcId"] for a in gateways["igw-dev"]["Attachments"]] == [vpc]

"""Internet gateway handler on moto: the standard case list, read back with the test's own client."""
from __future__ import annotations

from tests.resources.network import (
    changed_fields, nodes, owned_internet_gateways, owned_vpc, ownership, tags,
)
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge

NAME = "igw-dev"


def igw_nodes():
    return nodes("igw")


def attached_vpcs(igw: dict) -> list[str]:
    return [a["VpcId"] for a in igw.get("Attachments", []) if a["State"] in ("available", "attached")]


def test_create_attaches_to_the_vpc_with_tags_then_second_run_changes_nothing(aws, ec2, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=igw_nodes(), clock=clock)
    assert actions(run) == {"vpc": "create", "igw": "create"}
    [(name, igw)] = owned_internet_gateways(ec2).items()
    assert name == NAME
    assert attached_vpcs(igw) == [owned_vpc(ec2)["VpcId"]]
    assert tags(igw) == ownership(NAME)
    assert state.doc.resource("igw")["id"] == igw["InternetGatewayId"]

    before = aws.calls.mutating
    again = converge(aws, state, nodes=igw_nodes(), clock=clock)
    assert actions(again) == {"vpc": "unchanged", "igw": "unchanged"}
    assert aws.calls.mutating == before


def test_deleted_behind_our_back_is_recreated_and_attached(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=igw_nodes(), clock=clock)
    old = state.doc.resource("igw")["id"]
    vpc_id = owned_vpc(ec2)["VpcId"]
    ec2.detach_internet_gateway(InternetGatewayId=old, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=old)

    run = converge(aws, state, nodes=igw_nodes(), clock=clock)
    assert actions(run) == {"vpc": "unchanged", "igw": "create"}
    igw = owned_internet_gateways(ec2)[NAME]
    assert igw["InternetGatewayId"] != old
    # The attachment is not part of the create call: the post-create diff must have made it.
    assert attached_vpcs(igw) == [vpc_id]
    assert state.doc.resource("igw")["id"] == igw["InternetGatewayId"]


def test_detached_behind_our_back_is_reattached(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=igw_nodes(), clock=clock)
    igw_id = state.doc.resource("igw")["id"]
    vpc_id = owned_vpc(ec2)["VpcId"]
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)

    plan = converge(aws, state, nodes=igw_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"igw": {"vpc_id"}}
    [change] = [r for r in plan.results if r.key == "igw"][0].changes
    assert (change.expected, change.actual, change.replace) == (vpc_id, None, False)
    assert attached_vpcs(owned_internet_gateways(ec2)[NAME]) == []  # the plan changed nothing

    run = converge(aws, state, nodes=igw_nodes(), clock=clock)
    assert actions(run) == {"vpc": "unchanged", "igw": "update"}
    igw = owned_internet_gateways(ec2)[NAME]
    assert igw["InternetGatewayId"] == igw_id
    assert attached_vpcs(igw) == [vpc_id]

"""Elastic IP handler on moto: the standard case list, read back with the test's own client."""
from __future__ import annotations

from tests.resources.network import changed_fields, nodes, owned_addresses, ownership, tags
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge

EIPS = {"eip.1": "nat-eip-1-dev", "eip.2": "nat-eip-2-dev"}


def eip_nodes():
    # An EIP needs nothing, but reconcile_stack saves the stack's outputs (VpcId) at the end of a
    # pass and cannot save an unknown one, so the VPC comes along.
    return nodes("vpc", *EIPS)


def test_create_two_vpc_addresses_with_tags_then_second_run_changes_nothing(aws, ec2, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=eip_nodes(), clock=clock)
    assert actions(run) == {"vpc": "create", **dict.fromkeys(EIPS, "create")}
    addresses = owned_addresses(ec2)
    assert set(addresses) == set(EIPS.values())
    for key, name in EIPS.items():
        address = addresses[name]
        assert address["Domain"] == "vpc"
        assert tags(address) == ownership(name)
        entry = state.doc.resource(key)
        assert entry["id"] == address["AllocationId"]
        assert entry["outputs"]["public_ip"] == address["PublicIp"]

    before = aws.calls.mutating
    again = converge(aws, state, nodes=eip_nodes(), clock=clock)
    assert actions(again) == {"vpc": "unchanged", **dict.fromkeys(EIPS, "unchanged")}
    assert aws.calls.mutating == before


def test_released_behind_our_back_is_reallocated(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=eip_nodes(), clock=clock)
    old = state.doc.resource("eip.2")["id"]
    ec2.release_address(AllocationId=old)
    run = converge(aws, state, nodes=eip_nodes(), clock=clock)
    assert actions(run) == {"vpc": "unchanged", "eip.1": "unchanged", "eip.2": "create"}
    address = owned_addresses(ec2)["nat-eip-2-dev"]
    assert address["AllocationId"] != old and address["Domain"] == "vpc"
    assert state.doc.resource("eip.2")["id"] == address["AllocationId"]


def test_tag_removed_by_hand_is_restored(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=eip_nodes(), clock=clock)
    allocation_id = state.doc.resource("eip.1")["id"]
    ec2.delete_tags(Resources=[allocation_id], Tags=[{"Key": "Environment"}])

    plan = converge(aws, state, nodes=eip_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"eip.1": {"tags.Environment"}}
    run = converge(aws, state, nodes=eip_nodes(), clock=clock)
    assert actions(run) == {"vpc": "unchanged", "eip.1": "update", "eip.2": "unchanged"}
    [address] = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
    assert tags(address) == ownership("nat-eip-1-dev")

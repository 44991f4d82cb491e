"""Subnet handler on moto: the standard case list, read back with the test's own client."""
from __future__ import annotations

from tests.resources.network import (
    changed_fields, nodes, owned_subnets, owned_vpc, ownership, recorded_ids, tags,
)
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge

# key → (Name, CIDR, AZ): the VPC's /16 carved in /20 slices, public then private then isolated.
SUBNETS = {
    "subnet.public.1": ("public-subnet-1-dev", "10.0.0.0/20", "us-east-1a"),
    "subnet.public.2": ("public-subnet-2-dev", "10.0.16.0/20", "us-east-1b"),
    "subnet.private.1": ("private-subnet-1-dev", "10.0.32.0/20", "us-east-1a"),
    "subnet.private.2": ("private-subnet-2-dev", "10.0.48.0/20", "us-east-1b"),
    "subnet.isolated.1": ("isolated-subnet-1-dev", "10.0.64.0/20", "us-east-1a"),
    "subnet.isolated.2": ("isolated-subnet-2-dev", "10.0.80.0/20", "us-east-1b"),
}


def subnet_nodes():
    return nodes(*SUBNETS)


def test_create_six_subnets_with_cidrs_azs_and_tags_then_second_run_changes_nothing(aws, ec2, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=subnet_nodes(), clock=clock)
    assert actions(run) == {"vpc": "create", **dict.fromkeys(SUBNETS, "create")}
    vpc_id = owned_vpc(ec2)["VpcId"]
    subnets = owned_subnets(ec2)
    assert set(subnets) == {name for name, _, _ in SUBNETS.values()}
    for key, (name, cidr, az) in SUBNETS.items():
        subnet = subnets[name]
        assert (subnet["VpcId"], subnet["CidrBlock"], subnet["AvailabilityZone"]) == (vpc_id, cidr, az), key
        assert tags(subnet) == ownership(name)
        assert state.doc.resource(key)["id"] == subnet["SubnetId"]

    before = aws.calls.mutating
    again = converge(aws, state, nodes=subnet_nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_deleted_behind_our_back_is_recreated(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=subnet_nodes(), clock=clock)
    old = state.doc.resource("subnet.private.1")["id"]
    ec2.delete_subnet(SubnetId=old)
    run = converge(aws, state, nodes=subnet_nodes(), clock=clock)
    assert actions(run)["subnet.private.1"] == "create"
    assert {a for k, a in actions(run).items() if k != "subnet.private.1"} == {"unchanged"}
    subnet = owned_subnets(ec2)["private-subnet-1-dev"]
    assert subnet["SubnetId"] != old
    assert (subnet["CidrBlock"], subnet["AvailabilityZone"]) == ("10.0.32.0/20", "us-east-1a")
    assert state.doc.resource("subnet.private.1")["id"] == subnet["SubnetId"]


def test_adopted_by_tags_after_state_loss(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=subnet_nodes(), clock=clock)
    ids = recorded_ids(state, SUBNETS)
    state.lose()
    before = aws.calls.mutating
    run = converge(aws, state, nodes=subnet_nodes(), clock=clock)
    assert set(actions(run).values()) == {"unchanged"}
    assert aws.calls.mutating == before
    assert recorded_ids(state, SUBNETS) == ids
    assert len(owned_subnets(ec2)) == 6
    # The AZs are read back from the live subnets, not chosen afresh.
    assert state.doc.azs == ["us-east-1a", "us-east-1b"]


def test_tag_changed_by_hand_is_restored_and_foreign_tags_are_left_alone(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=subnet_nodes(), clock=clock)
    subnet_id = state.doc.resource("subnet.isolated.2")["id"]
    ec2.create_tags(Resources=[subnet_id], Tags=[{"Key": "Name", "Value": "renamed"}, {"Key": "CostCenter", "Value": "42"}])

    plan = converge(aws, state, nodes=subnet_nodes(), plan=True, clock=clock)
    # Still found by its recorded id though its Name is wrong; only our own key is a change.
    assert changed_fields(plan) == {"subnet.isolated.2": {"tags.Name"}}
    [change] = [r for r in plan.results if r.key == "subnet.isolated.2"][0].changes
    assert (change.expected, change.actual) == ("isolated-subnet-2-dev", "renamed")
    assert tags(ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0])["Name"] == "renamed"  # plan changed nothing

    run = converge(aws, state, nodes=subnet_nodes(), clock=clock)
    assert actions(run)["subnet.isolated.2"] == "update"
    subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    assert tags(subnet) == {**ownership("isolated-subnet-2-dev"), "CostCenter": "42"}
    assert set(actions(converge(aws, state, nodes=subnet_nodes(), clock=clock)).values()) == {"unchanged"}

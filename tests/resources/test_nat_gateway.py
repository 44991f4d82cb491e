"""NAT gateway handler on moto: the standard case list plus NAT states, read back with the test's own client.

moto answers every NAT ``available`` at once and ignores tag filters on describe_nat_gateways
(docs/aws-behaviours.md A-6); pending and failed NATs are covered with a Stubber in test_ec2_waits_and_retries.
"""
from __future__ import annotations

import pytest

from orchestrator.run import reconcile_stack
from resources.network.elastic_ip import DELETE_TIMEOUT, NAT_LETS_GO, ElasticIp
from resources.base import Observed, ResourceError
from sandbox.fidelity import clock as layer_clock, ec2_addresses
from tests.resources.network import (
    live_nat_gateways, nodes, owned_addresses, owned_subnets, ownership, recorded_id, tags,
)
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy

NATS = {"nat.1": "nat-gateway-1-dev", "nat.2": "nat-gateway-2-dev"}
PREREQUISITES = ["vpc", "igw", "subnet.public.1", "subnet.public.2", "eip.1", "eip.2"]


def nat_nodes():
    return nodes(*NATS)


def prerequisite_nodes():
    return [n for n in nat_nodes() if n.key not in NATS]


def hand_made_nat(ec2, subnet_id: str, name: str) -> str:
    """A NAT made outside the tool that carries a node's ownership tags, on an address of its own."""
    allocation_id = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(
        SubnetId=subnet_id,
        AllocationId=allocation_id,
        TagSpecifications=[{"ResourceType": "natgateway", "Tags": [{"Key": k, "Value": v} for k, v in ownership(name).items()]}],
    )
    return nat["NatGateway"]["NatGatewayId"]


def delete_like_aws(ec2, nat_id: str) -> None:
    # AWS disassociates the NAT's EIP when the NAT is deleted; so does the fidelity layer over
    # moto (docs/aws-behaviours.md A-5), else a new NAT on that EIP would fail with Resource.AlreadyAssociated.
    ec2.delete_nat_gateway(NatGatewayId=nat_id)


def test_create_one_nat_per_az_in_its_public_subnet_with_its_eip_then_second_run_changes_nothing(aws, ec2, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=nat_nodes(), clock=clock)
    assert actions(run) == dict.fromkeys(PREREQUISITES + list(NATS), "create")
    nats, subnets, addresses = live_nat_gateways(ec2), owned_subnets(ec2), owned_addresses(ec2)
    assert set(nats) == set(NATS.values())
    for i, az in ((1, "us-east-1a"), (2, "us-east-1b")):
        nat = nats[f"nat-gateway-{i}-dev"]
        public = subnets[f"public-subnet-{i}-dev"]
        assert nat["SubnetId"] == public["SubnetId"] and public["AvailabilityZone"] == az
        assert nat["VpcId"] == public["VpcId"]
        [address] = nat["NatGatewayAddresses"]
        assert address["AllocationId"] == addresses[f"nat-eip-{i}-dev"]["AllocationId"]
        assert nat["ConnectivityType"] == "public"
        assert tags(nat) == ownership(f"nat-gateway-{i}-dev")
        assert recorded_id(state, f"nat.{i}") == nat["NatGatewayId"]

    before = aws.calls.mutating
    again = converge(aws, state, nodes=nat_nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_deleted_behind_our_back_is_recreated_on_the_same_eip(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=nat_nodes(), clock=clock)
    old = recorded_id(state, "nat.1")
    delete_like_aws(ec2, old)

    run = converge(aws, state, nodes=nat_nodes(), clock=clock)
    assert actions(run)["nat.1"] == "create"
    assert {a for k, a in actions(run).items() if k != "nat.1"} == {"unchanged"}
    nat = live_nat_gateways(ec2)["nat-gateway-1-dev"]
    assert nat["NatGatewayId"] != old
    assert nat["SubnetId"] == recorded_id(state, "subnet.public.1")
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == recorded_id(state, "eip.1")
    assert recorded_id(state, "nat.1") == nat["NatGatewayId"]


def test_a_deleted_nat_carrying_our_tags_is_not_adopted(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=prerequisite_nodes(), clock=clock)
    deleted = hand_made_nat(ec2, recorded_id(state, "subnet.public.1"), "nat-gateway-1-dev")
    ec2.delete_nat_gateway(NatGatewayId=deleted)

    run = converge(aws, state, nodes=nat_nodes(), clock=clock)
    assert actions(run)["nat.1"] == "create"
    nat = live_nat_gateways(ec2)["nat-gateway-1-dev"]
    assert nat["NatGatewayId"] != deleted
    assert recorded_id(state, "nat.1") == nat["NatGatewayId"]
    [old] = ec2.describe_nat_gateways(NatGatewayIds=[deleted])["NatGateways"]
    assert old["State"] == "deleted"


def test_two_live_nats_carrying_the_same_tags_fail_the_node_naming_both(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=prerequisite_nodes(), clock=clock)
    twins = [
        hand_made_nat(ec2, recorded_id(state, f"subnet.public.{i}"), "nat-gateway-1-dev") for i in (1, 2)
    ]
    before_nats = len(ec2.describe_nat_gateways()["NatGateways"])

    run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=nat_nodes())
    failure = run.failures["nat.1"]
    assert failure.status == "failed"
    assert all(nat_id in failure.reason for nat_id in twins)
    assert "nat-gateway-1-dev" in failure.reason
    # The other AZ is independent and still converges; no third NAT is made for nat.1.
    assert "nat.2" not in run.failures
    assert len(ec2.describe_nat_gateways()["NatGateways"]) == before_nats + 1
    # Nothing adopted; the failure is kept for the next run and the drift check.
    entry = state.doc.resource("nat.1")
    assert "id" not in entry and "2 live resources carry its tags" in entry["failure"]["reason"]


def test_recreate_after_teardown_sends_a_fresh_client_token(aws, ec2, clock):
    # AWS remembers a CreateNatGateway ClientToken for at least a day (EC2 idempotency guide:
    # "You should not reuse a client token in another call later on"); the same token with a
    # new subnet or EIP answers IdempotentParameterMismatch. moto ignores tokens entirely, so
    # the tokens sent are recorded and compared instead.
    sent: list[str] = []
    aws.client("ec2").meta.events.register(
        "provide-client-params.ec2.CreateNatGateway", lambda params, **_: sent.append(params["ClientToken"])
    )
    state = MemoryState()
    converge(aws, state, nodes=nat_nodes(), clock=clock)
    destroy(aws, state, nodes=nat_nodes(), clock=clock)
    converge(aws, state, nodes=nat_nodes(), clock=clock)
    first, second = set(sent[:2]), set(sent[2:])
    assert len(sent) == 4
    assert first.isdisjoint(second), "the rebuilt NATs reuse the client tokens of the NATs torn down"


# -- D-EIP-1: AWS lets go of a deleted NAT's address late -----------------------------------------

RELEASE_WINDOW = layer_clock.DURATIONS["ec2.nat_address_release"]


def test_teardown_releases_each_address_once_aws_lets_go_of_it_after_its_nat(aws, ec2, clock):
    """D-EIP-1: after the NATs read deleted, ReleaseAddress answers AuthFailure for a while on the
    layer's clock; the teardown waits it out on the same clock and releases both addresses."""
    state = MemoryState()
    with layer_clock.use(clock):
        layer_clock.switch(ec2_addresses.SWITCH, True)
        converge(aws, state, nodes=nat_nodes(), clock=clock)
        started = clock.now()
        run = destroy(aws, state, nodes=nat_nodes(), clock=clock)
    assert actions(run) == dict.fromkeys(PREREQUISITES + list(NATS), "delete")
    assert owned_addresses(ec2) == {} and live_nat_gateways(ec2) == {}
    assert clock.now() - started >= RELEASE_WINDOW  # refused at first, released once the window was over


def test_an_address_aws_does_not_let_go_of_within_the_delete_timeout_fails_in_one_line(aws, ec2, clock):
    """D-EIP-1: the retry is bounded by the address's delete timeout, then one clear line."""
    state = MemoryState()
    with layer_clock.use(clock, durations={"ec2.nat_address_release": 2 * DELETE_TIMEOUT}):
        layer_clock.switch(ec2_addresses.SWITCH, True)
        converge(aws, state, nodes=nat_nodes(), clock=clock)
        ec2.delete_nat_gateway(NatGatewayId=recorded_id(state, "nat.1"))
        started = clock.now()
        with pytest.raises(ResourceError) as failed:
            ElasticIp(aws, env="dev", clock=clock.as_clock()).delete(Observed(recorded_id(state, "eip.1"), {}, {}))
    message = str(failed.value)
    assert "\n" not in message and "AuthFailure" in message and "run the teardown again later" in message
    assert "You do not have permission" not in message
    assert DELETE_TIMEOUT <= clock.now() - started <= DELETE_TIMEOUT + NAT_LETS_GO.max_delay
    assert "nat-eip-1-dev" in owned_addresses(ec2)

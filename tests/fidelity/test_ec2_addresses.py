"""ReleaseAddress of a just-deleted NAT gateway's Elastic IP (sandbox/fidelity/ec2_addresses.py):
docs/aws-behaviours.md D-EIP-1, in-process under mock_aws on the layer's clock."""
from __future__ import annotations

import botocore.exceptions
import pytest

from sandbox.fidelity import clock, ec2_addresses

WINDOW = clock.DURATIONS["ec2.nat_address_release"]


@pytest.fixture
def lagging(on_the_clock):
    clock.switch(ec2_addresses.SWITCH, True)
    return on_the_clock


def nat_on_new_address(ec2) -> tuple[str, str]:
    """A NAT gateway on an address of its own: (NAT id, allocation id)."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    return ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"], eip


def release(ec2, allocation_id: str) -> str | None:
    """The error code ReleaseAddress answers, None when the address was released."""
    try:
        ec2.release_address(AllocationId=allocation_id)
    except botocore.exceptions.ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


def test_the_address_of_a_just_deleted_nat_answers_auth_failure_until_the_window_is_over(ec2, lagging):
    nat, eip = nat_on_new_address(ec2)
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"] == "deleted"
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec2.release_address(AllocationId=eip)
    assert refused.value.response["Error"] == {
        "Code": "AuthFailure", "Message": "You do not have permission to access the specified resource."}
    lagging.sleep(WINDOW - 1)
    assert release(ec2, eip) == "AuthFailure"
    lagging.sleep(1)
    assert release(ec2, eip) is None
    assert ec2.describe_addresses()["Addresses"] == []


def test_an_address_no_nat_held_is_released_at_once(ec2, lagging):
    nat, _ = nat_on_new_address(ec2)
    other = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert release(ec2, other) is None


def test_off_by_default_even_on_a_controlled_clock(ec2, on_the_clock):
    nat, eip = nat_on_new_address(ec2)
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert release(ec2, eip) is None


def test_a_reset_turns_it_off(ec2, lagging):
    clock.reset()
    with clock.use(lagging):
        nat, eip = nat_on_new_address(ec2)
        ec2.delete_nat_gateway(NatGatewayId=nat)
        assert release(ec2, eip) is None

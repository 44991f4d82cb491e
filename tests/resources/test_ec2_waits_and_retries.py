"""AWS behaviour moto cannot show: pending and failed states, late visibility, retried AWS errors.

moto answers every EC2 resource ``available`` in the create response and is always consistent
(docs/aws-behaviours.md A-35 and B-EC2-1), so these paths run against a botocore Stubber on the
handler's own client, or a fake client whose answers follow a FakeClock. Nothing sleeps.
"""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from orchestrator.waiting import VISIBILITY_GRACE, WaitTimeout, wait_for
from resources.base import FieldDiff, Observed, ResourceError, Status
from resources.aws.clock import FakeClock
from resources.network.elastic_ip import ElasticIp
from resources.network.internet_gateway import InternetGateway
from resources.network.nat_gateway import NatGateway
from resources.network.subnet import Subnet
from resources.network.vpc import Vpc
from tests.support.stubs import stubbed_aws
from orchestrator import lifecycle

NAT_ID = "nat-0123456789abcdef0"
OURS = {"Name": "nat-gateway-1-dev", "Environment": "dev", "ManagedBy": "video-pipeline-infra"}


def nat_answer(state: str, *, nat_id: str = NAT_ID, tags: dict | None = None, **extra) -> dict:
    return {
        "NatGatewayId": nat_id,
        "State": state,
        "SubnetId": "subnet-0a",
        "VpcId": "vpc-0a",
        "ConnectivityType": "public",
        "NatGatewayAddresses": [{"AllocationId": "eipalloc-0a"}],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or OURS).items()],
        **extra,
    }


@pytest.fixture
def stubbed():
    yield from stubbed_aws("ec2")


def describe_nat(stubber: Stubber, *states: str) -> None:
    for state in states:
        stubber.add_response("describe_nat_gateways", {"NatGateways": [nat_answer(state)]}, {"NatGatewayIds": [NAT_ID]})


def wait_nat_ready(handler: NatGateway, fake: FakeClock, *, timeout: float = 600):
    return wait_for(
        lambda: handler.refresh(NAT_ID), Status.READY, what=f"nat_gateway nat-gateway-1-dev ({NAT_ID})",
        timeout=timeout, ceiling=NatGateway.poll_ceiling, clock=fake.as_clock(),
    )


class ClockDrivenEc2:
    """A fake ec2 client whose NAT is pending until a given simulated time, then ``then``."""

    def __init__(self, clock: FakeClock, *, ready_at: float, then: str = "available"):
        self.clock, self.ready_at, self.then = clock, ready_at, then
        self.polls = 0

    def describe_nat_gateways(self, NatGatewayIds):
        self.polls += 1
        state = self.then if self.clock.now() >= self.ready_at else "pending"
        return {"NatGateways": [nat_answer(state)]}


class FakeAws:
    region = "us-east-1"

    def __init__(self, ec2):
        self.ec2 = ec2

    def client(self, service):
        assert service == "ec2"
        return self.ec2


def assert_backoff(sleeps: list[float], ceiling: float) -> None:
    """First poll after 1 s, each interval half as long again as the last, capped at the ceiling."""
    assert sleeps[0] == 1.0
    for before, after in zip(sleeps, sleeps[1:]):
        assert after == pytest.approx(min(before * 1.5, ceiling))
    assert max(sleeps) <= ceiling


# -- waiting ---------------------------------------------------------------------------------

def test_nat_pending_twice_then_available_is_ready_after_short_growing_sleeps(stubbed, fake):
    aws, stubber = stubbed
    describe_nat(stubber, "pending", "pending", "available")
    result = wait_nat_ready(NatGateway(aws, env="dev", clock=fake.as_clock()), fake)
    assert result.status is Status.READY
    assert fake.sleeps == [1.0, 1.5]
    assert fake.now() < 10  # a 105 s NAT is not made to wait for a fixed 15 s poll


def test_nat_ready_after_105_s_is_seen_within_one_poll_ceiling(fake):
    ec2 = ClockDrivenEc2(fake, ready_at=105)
    result = wait_nat_ready(NatGateway(FakeAws(ec2), env="dev", clock=fake.as_clock()), fake)
    assert result.status is Status.READY
    assert_backoff(fake.sleeps, ceiling=NatGateway.poll_ceiling)
    assert 105 <= fake.now() < 105 + NatGateway.poll_ceiling
    assert ec2.polls <= 20  # a 1 s fixed poll would have made over 100 calls


def test_nat_failed_with_gateway_not_attached_raises_with_the_failure_code(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_response("describe_nat_gateways", {"NatGateways": [nat_answer("pending")]}, {"NatGatewayIds": [NAT_ID]})
    stubber.add_response(
        "describe_nat_gateways",
        {"NatGateways": [nat_answer("failed", FailureCode="Gateway.NotAttached", FailureMessage="Network vpc-0a has no Internet gateway attached")]},
        {"NatGatewayIds": [NAT_ID]},
    )
    with pytest.raises(ResourceError) as caught:
        wait_nat_ready(NatGateway(aws, env="dev", clock=fake.as_clock()), fake)
    assert not isinstance(caught.value, WaitTimeout)
    assert "Gateway.NotAttached" in str(caught.value) and NAT_ID in str(caught.value)
    assert fake.sleeps == [1.0]  # failed is final: no polling until the timeout


def test_nat_pending_past_the_timeout_raises_wait_timeout_naming_the_limit(fake):
    ec2 = ClockDrivenEc2(fake, ready_at=float("inf"))
    with pytest.raises(WaitTimeout) as caught:
        wait_nat_ready(NatGateway(FakeAws(ec2), env="dev", clock=fake.as_clock()), fake, timeout=600)
    message = str(caught.value)
    assert "limit 600 s" in message and "pending" in message and NAT_ID in message
    assert 600 <= fake.now() < 600 + NatGateway.poll_ceiling
    assert_backoff(fake.sleeps, ceiling=NatGateway.poll_ceiling)


def test_just_created_nat_not_visible_yet_counts_as_pending(stubbed, fake):
    aws, stubber = stubbed
    # AWS answers NatGatewayNotFound, moto an empty list (docs/aws-behaviours.md A-6); both mean "not yet".
    stubber.add_client_error("describe_nat_gateways", "NatGatewayNotFound", expected_params={"NatGatewayIds": [NAT_ID]})
    stubber.add_response("describe_nat_gateways", {"NatGateways": []}, {"NatGatewayIds": [NAT_ID]})
    describe_nat(stubber, "available")
    result = wait_nat_ready(NatGateway(aws, env="dev", clock=fake.as_clock()), fake)
    assert result.status is Status.READY
    assert fake.sleeps == [1.0, 1.5]


def test_resource_never_visible_is_reported_gone_after_the_grace_period(fake):
    class NeverVisibleEc2:
        def describe_subnets(self, SubnetIds):
            return {"Subnets": []}

    handler = Subnet(FakeAws(NeverVisibleEc2()), env="dev", clock=fake.as_clock())
    with pytest.raises(ResourceError) as caught:
        wait_for(lambda: handler.refresh("subnet-0a"), Status.READY, what="subnet private-subnet-1-dev (subnet-0a)",
                 timeout=300, ceiling=Subnet.poll_ceiling, clock=fake.as_clock())
    assert not isinstance(caught.value, WaitTimeout)
    assert "disappeared" in str(caught.value)
    assert VISIBILITY_GRACE <= fake.now() < VISIBILITY_GRACE + Subnet.poll_ceiling


def test_deleted_nat_counts_as_gone_for_a_delete_wait(stubbed, fake):
    aws, stubber = stubbed
    describe_nat(stubber, "deleting", "deleted")
    handler = NatGateway(aws, env="dev", clock=fake.as_clock())
    result = wait_for(lambda: handler.refresh(NAT_ID), Status.GONE, what="nat", timeout=1800, ceiling=10, clock=fake.as_clock())
    assert result.status is Status.GONE
    assert fake.sleeps == [1.0]


# -- failed and deleted NATs are not live ----------------------------------------------------

def test_a_failed_nat_recorded_in_state_is_read_as_failed_and_replaced_by_the_engine(stubbed, fake):
    # B-EC2-3: a NAT "failed" (Gateway.NotAttached) holds nothing; the engine deletes it and
    # creates a new one (on_failed = "replace") instead of adopting it.
    aws, stubber = stubbed
    describe_nat(stubber, "failed")
    handler = NatGateway(aws, env="dev", clock=fake.as_clock())
    found = handler.read(NAT_ID)
    assert handler.status(found.raw).status is Status.FAILED and handler.on_failed == "replace"


def test_failed_and_deleted_nats_carrying_our_tags_are_not_adopted(stubbed, fake):
    aws, stubber = stubbed
    listed = [
        nat_answer("failed", nat_id="nat-0000000000000000a", FailureCode="Gateway.NotAttached"),
        nat_answer("deleted", nat_id="nat-0000000000000000b"),
        nat_answer("deleting", nat_id="nat-0000000000000000e"),
        nat_answer("available", nat_id="nat-0000000000000000c", tags={**OURS, "Name": "nat-gateway-2-dev"}),
        nat_answer("pending", nat_id="nat-0000000000000000d"),
    ]
    # The server-side state and tag filters are asked for, but not trusted (moto ignores the
    # tag filters, docs/aws-behaviours.md A-6). Failed ones are listed, so that teardown deletes them.
    tag_filters = [{"Name": f"tag:{k}", "Values": [OURS[k]]} for k in ("Name", "Environment", "ManagedBy")]
    for _ in range(2):
        stubber.add_response(
            "describe_nat_gateways", {"NatGateways": listed},
            {"Filters": [{"Name": "state", "Values": ["pending", "available", "failed", "deleting"]}, *tag_filters]},
        )
    handler = NatGateway(aws, env="dev", clock=fake.as_clock())
    spec = {"name": "nat-gateway-1-dev", "tags": OURS}
    assert [o.id for o in handler.list_owned(spec)] == ["nat-0000000000000000a", "nat-0000000000000000d"]
    assert lifecycle.find(handler, spec, None).id == "nat-0000000000000000d"


# -- EC2_NEW_RESOURCE: not found just after create ------------------------------------------

VPC_ID = "vpc-0123456789abcdef0"
HOSTNAMES_ON = {"VpcId": VPC_ID, "EnableDnsHostnames": {"Value": True}}


def update_dns_hostnames(aws, fake):
    handler = Vpc(aws, env="dev", clock=fake.as_clock())
    obs = Observed(VPC_ID, {"enable_dns_hostnames": False}, {})
    lifecycle.update(handler, {"name": "vpc-dev", "tags": {}}, obs, [FieldDiff("enable_dns_hostnames", True, False)])


def test_vpc_not_visible_yet_is_retried_until_modify_succeeds(stubbed, fake):
    aws, stubber = stubbed
    for _ in range(2):
        stubber.add_client_error("modify_vpc_attribute", "InvalidVpcID.NotFound", expected_params=HOSTNAMES_ON)
    stubber.add_response("modify_vpc_attribute", {}, HOSTNAMES_ON)
    update_dns_hostnames(aws, fake)
    assert len(fake.sleeps) == 2
    assert fake.sleeps == [1.0, 2.0]


def test_other_errors_are_not_retried(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_client_error("modify_vpc_attribute", "UnauthorizedOperation", expected_params=HOSTNAMES_ON)
    with pytest.raises(ClientError) as caught:
        update_dns_hostnames(aws, fake)
    assert caught.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert fake.sleeps == []


def test_not_found_that_never_clears_gives_up_after_the_bounded_timeout(fake):
    class NeverVisibleEc2:
        calls = 0

        def modify_vpc_attribute(self, **kwargs):
            self.calls += 1
            raise ClientError({"Error": {"Code": "InvalidVpcID.NotFound", "Message": "no such VPC"}}, "ModifyVpcAttribute")

    ec2 = NeverVisibleEc2()
    with pytest.raises(ClientError) as caught:
        update_dns_hostnames(FakeAws(ec2), fake)
    assert caught.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"
    assert 120 <= fake.now() < 120 + 15  # EC2_NEW_RESOURCE's timeout, overshot by at most one interval
    assert max(fake.sleeps) <= 15 and ec2.calls == len(fake.sleeps) + 1


# -- DEPENDENCIES_DRAIN: ENIs still releasing on teardown ------------------------------------

SUBNET_ID = "subnet-0123456789abcdef0"


def delete_subnet(aws, fake):
    Subnet(aws, env="dev", clock=fake.as_clock()).delete(Observed(SUBNET_ID, {}, {}))


def test_subnet_delete_waits_out_dependency_violations(stubbed, fake):
    aws, stubber = stubbed
    for _ in range(3):
        stubber.add_client_error("delete_subnet", "DependencyViolation", expected_params={"SubnetId": SUBNET_ID})
    stubber.add_response("delete_subnet", {}, {"SubnetId": SUBNET_ID})
    delete_subnet(aws, fake)
    assert fake.sleeps == [2.0, 4.0, 8.0]


def test_subnet_already_gone_counts_as_deleted(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_client_error("delete_subnet", "InvalidSubnetID.NotFound", expected_params={"SubnetId": SUBNET_ID})
    lifecycle.remove(Subnet(aws, env="dev", clock=fake.as_clock()), Observed(SUBNET_ID, {}, {}))
    assert fake.sleeps == []


def test_igw_already_detached_is_still_deleted(stubbed, fake):
    aws, stubber = stubbed
    igw_id, vpc_id = "igw-0123456789abcdef0", "vpc-0a"
    stubber.add_client_error(
        "detach_internet_gateway", "Gateway.NotAttached", expected_params={"InternetGatewayId": igw_id, "VpcId": vpc_id}
    )
    stubber.add_response("delete_internet_gateway", {}, {"InternetGatewayId": igw_id})
    InternetGateway(aws, env="dev", clock=fake.as_clock()).delete(Observed(igw_id, {"vpc_id": vpc_id}, {}))
    assert fake.sleeps == []


def test_eip_still_held_by_a_deleting_nat_is_released_once_free(stubbed, fake):
    aws, stubber = stubbed
    allocation_id = "eipalloc-0123456789abcdef0"
    stubber.add_client_error("release_address", "InvalidIPAddress.InUse", expected_params={"AllocationId": allocation_id})
    stubber.add_response("release_address", {}, {"AllocationId": allocation_id})
    ElasticIp(aws, env="dev", clock=fake.as_clock()).delete(Observed(allocation_id, {"domain": "vpc"}, {}))
    assert fake.sleeps == [2.0]

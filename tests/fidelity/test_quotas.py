"""Service Quotas and the creates that stop at them (sandbox/fidelity/quotas.py):
docs/aws-behaviours.md C-QUOTA-1, D-QUOTA-1, in-process under mock_aws."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock, quotas

REGION = "us-east-1"


@pytest.fixture
def sq(moto_aws):
    return boto3.client("service-quotas", region_name=REGION)


@pytest.fixture
def enforced(moto_aws):
    with quotas.enforced():
        yield


def code_of(call, **kwargs) -> str | None:
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


@pytest.mark.parametrize("service, code, name", [
    ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs"), ("vpc", "L-F678F1CE", "VPCs per Region"),
    ("vpc", "L-A4707A72", "Internet gateways per Region"), ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone"),
])
def test_service_quotas_answers_the_four_quotas_with_their_defaults(sq, service, code, name):
    applied = sq.get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]
    default = sq.get_aws_default_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]
    assert (applied["QuotaName"], applied["Value"], default["Value"]) == (name, 5.0, 5.0)


def test_an_applied_increase_is_answered_and_the_default_stays(sq):
    quotas.applied("L-0263D0A3", 12)
    assert sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-0263D0A3")["Quota"]["Value"] == 12.0
    assert sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode="L-0263D0A3")["Quota"]["Value"] == 5.0
    # A code under another service is not that quota.
    assert code_of(sq.get_aws_default_service_quota, ServiceCode="vpc", QuotaCode="L-0263D0A3") == "NoSuchResourceException"


def test_a_denied_caller_reads_no_quota(sq):
    clock.switch(quotas.DENIED, True)
    try:
        assert code_of(sq.get_service_quota, ServiceCode="ec2", QuotaCode="L-0263D0A3") == "AccessDeniedException"
        assert code_of(sq.get_aws_default_service_quota, ServiceCode="vpc", QuotaCode="L-F678F1CE") == "AccessDeniedException"
    finally:
        clock.reset()


def test_allocate_address_stops_at_the_quota_service_quotas_answers(ec2, enforced):
    quotas.applied("L-0263D0A3", 3)
    for _ in range(3):
        ec2.allocate_address(Domain="vpc")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec2.allocate_address(Domain="vpc")
    assert refused.value.response["Error"] == {
        "Code": "AddressLimitExceeded", "Message": "The maximum number of addresses has been reached."}
    assert len(ec2.describe_addresses()["Addresses"]) == 3


def test_create_vpc_and_internet_gateway_stop_at_five_the_default_vpc_counted(ec2, enforced):
    assert len(ec2.describe_vpcs()["Vpcs"]) == 1  # the Region's default VPC
    for _ in range(4):
        ec2.create_vpc(CidrBlock="10.0.0.0/16")
    assert code_of(ec2.create_vpc, CidrBlock="10.0.0.0/16") == "VpcLimitExceeded"
    for _ in range(5 - len(ec2.describe_internet_gateways()["InternetGateways"])):
        ec2.create_internet_gateway()
    assert code_of(ec2.create_internet_gateway) == "InternetGatewayLimitExceeded"


def test_nat_gateways_count_per_availability_zone_and_deleted_ones_do_not(ec2, enforced):
    quotas.applied("L-0263D0A3", 20)
    quotas.applied("L-FE5A380F", 2)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]

    def nat(subnet):
        return ec2.create_nat_gateway(SubnetId=subnet, AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])

    first = nat(a)["NatGateway"]["NatGatewayId"]
    nat(a)
    assert code_of(nat, subnet=a) == "NatGatewayLimitExceeded"
    nat(b)  # another AZ: a quota of its own
    ec2.delete_nat_gateway(NatGatewayId=first)
    nat(a)  # a deleted gateway no longer counts


def test_off_by_default(ec2):
    for _ in range(6):
        ec2.allocate_address(Domain="vpc")
    assert len(ec2.describe_addresses()["Addresses"]) == 6

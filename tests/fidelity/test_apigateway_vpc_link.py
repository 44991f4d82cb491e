"""API Gateway VPC links on the layer's clock (sandbox/fidelity/apigateway_vpc_link.py):
docs/aws-behaviours.md C-VPCL-1, in-process under mock_aws."""
from __future__ import annotations

import boto3
import pytest

from sandbox.fidelity import clock

REGION = "us-east-1"
NLB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb/0123456789abcdef"
TAKES = clock.DURATIONS["apigateway.vpc_link"]


@pytest.fixture
def apigw(moto_aws):
    return boto3.client("apigateway", region_name=REGION)


def link(apigw, link_id: str) -> tuple[str, str | None]:
    found = apigw.get_vpc_link(vpcLinkId=link_id)
    return found["status"], found.get("statusMessage")


def test_a_vpc_link_is_pending_then_available(apigw, on_the_clock):
    created = apigw.create_vpc_link(name="ok", targetArns=[NLB])
    assert created["status"] == "PENDING"
    on_the_clock.sleep(TAKES - 1)
    assert link(apigw, created["id"]) == ("PENDING", None)
    on_the_clock.sleep(1)
    assert link(apigw, created["id"]) == ("AVAILABLE", "Your vpc link is ready for use")


def test_a_vpc_link_marked_failing_ends_failed_and_stays_listed_until_deleted(apigw, on_the_clock):
    """C-VPCL-1: FAILED with a statusMessage; it still exists (and holds its NLB)."""
    clock.fail("vpc-link", "broken", "NLB is not in a valid state")
    created = apigw.create_vpc_link(name="broken", targetArns=[NLB])
    on_the_clock.sleep(TAKES)
    assert link(apigw, created["id"]) == ("FAILED", "NLB is not in a valid state")
    [listed] = apigw.get_vpc_links()["items"]
    assert (listed["id"], listed["status"], listed["targetArns"]) == (created["id"], "FAILED", [NLB])
    apigw.delete_vpc_link(vpcLinkId=created["id"])
    assert apigw.get_vpc_links()["items"] == []


def test_the_instant_clock_keeps_a_vpc_link_available_at_once(apigw):
    created = apigw.create_vpc_link(name="ok", targetArns=[NLB])
    assert created["status"] == "AVAILABLE" and "statusMessage" not in created

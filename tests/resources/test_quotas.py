"""The plan refuses a create past the account's quotas before any mutating call
(orchestrator/quotas.py; docs/aws-behaviours.md C-QUOTA-1, D-QUOTA-1).

The network layer of two environments, in-process, with the fidelity layer enforcing the quotas
its Service Quotas answers (sandbox/fidelity/quotas.py): without the check, the second
environment's create stops at AllocateAddress with its VPC, subnets and gateway already made.
"""
from __future__ import annotations

import pytest

from orchestrator.config import EnvConfig
from orchestrator.run import apply_stack
from orchestrator.stack import network_nodes
from sandbox.fidelity import clock, quotas
from tests.resources.network import AZS
from tests.support.memory_state import MemoryState


@pytest.fixture
def enforced(moto_aws):
    with quotas.enforced():
        yield


def apply(aws, env: str, state: MemoryState | None = None):
    state = state or MemoryState(env)
    return apply_stack(aws, env=env, doc=state.doc, save=state.save, nodes=network_nodes(env, EnvConfig(), AZS)), state


def vpcs_of(ec2, env: str) -> list[str]:
    return [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": [env]}])["Vpcs"]]


def quota_calls(aws) -> dict:
    return {op: n for (svc, op), n in aws.calls.counts.items() if svc == "service-quotas"}


@pytest.fixture
def first(aws, ec2, enforced):
    """Environment "first" built (2 Elastic IPs), and 2 addresses someone else holds: 4 of 5."""
    run, state = apply(aws, "first")
    assert run.ok and not run.refused, run.failures
    for _ in range(2):
        ec2.allocate_address(Domain="vpc")
    return state


def test_a_second_environment_past_the_address_quota_is_refused_with_nothing_created(aws, ec2, first):
    addresses = len(ec2.describe_addresses()["Addresses"])
    mutating = aws.calls.mutating
    run, state = apply(aws, "second")
    [refused] = run.refused
    assert refused.key == "eip.1"
    assert refused.refusal == (
        "quota EC2-VPC Elastic IPs (L-0263D0A3) in us-east-1: 4 in use + 2 to create = 6, over the limit of 5 "
        "(the account's quota); raise it in the Service Quotas console, or: aws service-quotas "
        "request-service-quota-increase --service-code ec2 --quota-code L-0263D0A3 --desired-value 6 --region us-east-1")
    # Refused by the plan: not one mutating call, nothing of the environment in AWS or its state.
    assert aws.calls.mutating == mutating
    assert vpcs_of(ec2, "second") == [] and len(ec2.describe_addresses()["Addresses"]) == addresses
    assert state.saves == []


def test_an_applied_increase_read_from_service_quotas_lets_it_through(aws, ec2, first):
    quotas.applied("L-0263D0A3", 6)
    run, _ = apply(aws, "second")
    assert run.ok and not run.refused, run.failures
    assert len(vpcs_of(ec2, "second")) == 1
    assert quota_calls(aws)["GetServiceQuota"] >= 1


def test_a_rerun_of_an_existing_environment_is_not_refused_and_reads_no_quota(aws, ec2, first):
    ec2.allocate_address(Domain="vpc")  # the Region now holds 5 of 5
    before, mutating = dict(aws.calls.counts), aws.calls.mutating
    run, _ = apply(aws, "first", first)
    assert run.ok and not run.refused, run.failures
    assert aws.calls.mutating == mutating
    # Nothing to create: no quota and no usage is read.
    new = {k: n - before.get(k, 0) for k, n in aws.calls.counts.items() if n != before.get(k, 0)}
    assert [op for (svc, op) in new if svc == "service-quotas"] == [], new
    assert new[("ec2", "DescribeAddresses")] == 1, new  # the walk's own lookup; the Region is not counted


def test_service_quotas_denied_falls_back_to_the_documented_default(aws, ec2, first):
    # The account was granted 10, but the deployer may not read Service Quotas: 5 is assumed.
    quotas.applied("L-0263D0A3", 10)
    clock.switch(quotas.DENIED, True)
    before = quota_calls(aws)
    try:
        run, _ = apply(aws, "second")
    finally:
        clock.switch(quotas.DENIED, False)
    [refused] = run.refused
    assert "4 in use + 2 to create = 6, over the limit of 5 (the documented default: Service Quotas could not be " \
           "read)" in refused.refusal
    # Asked once: the denial is remembered for the other quotas of the run.
    assert {op: n - before.get(op, 0) for op, n in quota_calls(aws).items()} == {
        "GetServiceQuota": 1, "GetAWSDefaultServiceQuota": 1}
    assert vpcs_of(ec2, "second") == []


def test_a_nat_gateway_past_its_zone_quota_names_the_zone(aws, ec2, first):
    quotas.applied("L-0263D0A3", 20)
    quotas.applied("L-FE5A380F", 1)  # "first" holds one NAT gateway in each AZ
    run, _ = apply(aws, "second")
    assert {r.key: r.refusal.split(":")[0] for r in run.refused} == {
        "nat.1": "quota NAT gateways per Availability Zone (L-FE5A380F) in us-east-1a",
        "nat.2": "quota NAT gateways per Availability Zone (L-FE5A380F) in us-east-1b",
    }
    assert vpcs_of(ec2, "second") == []


def test_vpc_and_internet_gateway_quotas_each_get_their_line(aws, ec2, first):
    quotas.applied("L-0263D0A3", 10)
    quotas.applied("L-F678F1CE", 2)  # the Region's default VPC and "first"'s
    quotas.applied("L-A4707A72", 1)  # "first"'s gateway (moto's default VPC has none)
    run, _ = apply(aws, "second")
    lines = {r.key: r.refusal for r in run.refused}
    assert set(lines) == {"vpc", "igw"}
    assert lines["vpc"].startswith("quota VPCs per Region (L-F678F1CE) in us-east-1: 2 in use + 1 to create = 3, "
                                   "over the limit of 2 (the account's quota); raise it")
    # Internet gateways are raised through the VPC quota, by the same amount (VPC quotas page):
    # one more than its 2.
    assert lines["igw"].endswith("over the limit of 1 (the account's quota); it rises with VPCs per Region: raise that in "
                                 "the Service Quotas console, or: aws service-quotas request-service-quota-increase "
                                 "--service-code vpc --quota-code L-F678F1CE --desired-value 3 --region us-east-1")
    assert vpcs_of(ec2, "second") == []

"""The account's quotas a create meets, checked by the plan before the first mutating call
(docs/aws-behaviours.md C-QUOTA-1, D-QUOTA-1).

An account starts with 5 Elastic IP addresses, 5 VPCs and 5 internet gateways per Region and
5 NAT gateways per Availability Zone (VPC user guide, "Amazon VPC quotas"). One environment
takes 2 addresses, 1 VPC, 1 internet gateway and 1 NAT gateway in each of its two AZs, so a
second or third environment in a Region meets the address quota, and AWS says so only when
AllocateAddress answers AddressLimitExceeded, half way through the create. The plan counts what
its run would add of each kind, reads what the Region holds now (whoever made it) and the
account's quota (Service Quotas: the applied value, else AWS's default, else the documented
one), and refuses with one line per quota met, naming how to raise it.

Only a plan that creates one of these kinds reads anything here: what a run re-uses adds
nothing, and a no-op reconcile makes no call for it.
"""
from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.errors import one_line
from orchestrator.spec import Node, Ref
from resources.aws.permissions import writes
from resources.aws.shared_reads import MAX_FILTER_VALUES, describe_all

# A plan and an apply (never drift): the quotas, and what already counts against them.
IAM = (
    writes("servicequotas:GetServiceQuota", "servicequotas:GetAWSDefaultServiceQuota", "ec2:DescribeVpcs",
           "ec2:DescribeSubnets", "ec2:DescribeInternetGateways", "ec2:DescribeNatGateways", "ec2:DescribeAddresses"),
)

@dataclass(frozen=True)
class Quota:
    kind: str  # the handler kind whose creates count against it
    name: str  # as the Service Quotas console names it
    service: str  # its Service Quotas service code
    code: str
    default: int  # the documented default, used when Service Quotas cannot be read
    per_zone: bool = False
    # The quota whose increase raises this one: "To increase this quota, increase the quota for
    # VPCs per Region" (VPC quotas page, internet gateways).
    raised_with: Quota | None = None


VPCS = Quota("vpc", "VPCs per Region", "vpc", "L-F678F1CE", 5)
QUOTAS = (
    Quota("elastic_ip", "EC2-VPC Elastic IPs", "ec2", "L-0263D0A3", 5),
    VPCS,
    Quota("internet_gateway", "Internet gateways per Region", "vpc", "L-A4707A72", 5, raised_with=VPCS),
    Quota("nat_gateway", "NAT gateways per Availability Zone", "vpc", "L-FE5A380F", 5, per_zone=True),
)

# "NAT gateways only count toward your quota in the pending, active, and deleting states."
NAT_COUNTED = frozenset({"pending", "available", "deleting"})


def refuse_over_quota(aws, results: list, by_key: dict[str, Node]) -> None:
    """Sets the refusal of the first result that would pass a quota, one per quota (and AZ)."""
    adds = _adds(results, by_key)
    limits = Limits(aws.client("service-quotas")) if adds else None
    asked = [(q, {zone: n for (kind, zone), n in adds.items() if kind == q.kind}) for q in QUOTAS]
    asked = [(q, wanted) for q, wanted in asked if wanted]
    # Each quota's usage and limit are two or three reads of their own: all asked at once, so a
    # create's plan waits for one round of them, not one after the other.
    with ThreadPoolExecutor(max_workers=max(len(asked), 1), thread_name_prefix="quotas") as pool:
        list(pool.map(lambda a: _judge(aws, a[0], limits, a[1], results, by_key), asked))


def _adding(r) -> bool:
    """A create adds one; so does a replacement made beside the old one (both exist for a
    while). One made by deleting first adds nothing."""
    return r.action == "create" or (r.action == "replace" and r.replacement == "beside")


def _adds(results: list, by_key: dict[str, Node]) -> collections.Counter:
    """(kind, AZ or None) -> how many the run would add."""
    kinds = {q.kind: q for q in QUOTAS}
    return collections.Counter(
        (r.kind, _zone(by_key.get(r.key), by_key) if kinds[r.kind].per_zone else None)
        for r in results if r.kind in kinds and _adding(r))


def _zone(node: Node | None, by_key: dict[str, Node]) -> str | None:
    """The AZ of the subnet a node sits in (a NAT gateway), from the subnet's spec."""
    subnet = node.spec.get("subnet_id") if node is not None else None
    if isinstance(subnet, Ref) and subnet.node in by_key:
        return by_key[subnet.node].spec.get("availability_zone")
    return None


def _judge(aws, quota: Quota, limits: Limits, wanted: dict, results: list, by_key: dict[str, Node]) -> None:
    used = _in_use(aws.client("ec2"), quota)
    limit, source = limits.of(quota)
    for zone, n in wanted.items():
        if used[zone] + n > limit:
            first = next(r for r in results if r.kind == quota.kind and _adding(r)
                         and (not quota.per_zone or _zone(by_key.get(r.key), by_key) == zone))
            line = _refusal(quota, aws.region, zone, used[zone], n, limit, source) + _how_to_raise(
                quota, limits, aws.region, used[zone] + n - limit)
            first.refusal = f"{first.refusal}; {line}" if first.refusal else line


def _refusal(quota: Quota, region: str, zone: str | None, used: int, n: int, limit: int, source: str) -> str:
    return (f"quota {quota.name} ({quota.code}) in {zone or region}: {used} in use + {n} to create = {used + n}, "
            f"over the limit of {limit} ({source}); ")


def _how_to_raise(quota: Quota, limits: Limits, region: str, missing: int) -> str:
    """The increase request that makes room for ``missing`` more. Internet gateways are raised
    through the VPC quota, by the same amount (VPC quotas page)."""
    raised = quota.raised_with or quota
    via = f"it rises with {raised.name}: raise that" if quota.raised_with else "raise it"
    return (f"{via} in the Service Quotas console, or: aws service-quotas request-service-quota-increase "
            f"--service-code {raised.service} --quota-code {raised.code} "
            f"--desired-value {limits.of(raised)[0] + missing} --region {region}")


def _in_use(ec2, quota: Quota) -> collections.Counter:
    """What the Region holds now of the quota's kind, by AZ for a per-AZ quota (else under None)."""
    if quota.kind == "elastic_ip":
        return collections.Counter({None: len(ec2.describe_addresses()["Addresses"])})
    if quota.kind == "vpc":
        return collections.Counter({None: len(describe_all(ec2, "describe_vpcs", "Vpcs"))})
    if quota.kind == "internet_gateway":
        return collections.Counter({None: len(describe_all(ec2, "describe_internet_gateways", "InternetGateways"))})
    gateways = [g for g in describe_all(ec2, "describe_nat_gateways", "NatGateways") if g.get("State") in NAT_COUNTED]
    zones = _subnet_zones(ec2, sorted({g["SubnetId"] for g in gateways}))
    return collections.Counter(zones.get(g["SubnetId"]) for g in gateways)


def _subnet_zones(ec2, subnet_ids: list[str]) -> dict[str, str]:
    """Subnet id -> its AZ (a NAT gateway's description names its subnet, not its AZ)."""
    zones = {}
    for start in range(0, len(subnet_ids), MAX_FILTER_VALUES):
        chunk = subnet_ids[start:start + MAX_FILTER_VALUES]
        for s in describe_all(ec2, "describe_subnets", "Subnets", Filters=[{"Name": "subnet-id", "Values": chunk}]):
            zones[s["SubnetId"]] = s["AvailabilityZone"]
    return zones


# What a read of Service Quotas may meet: an error answer (AccessDeniedException for a role
# without servicequotas:Get*, NoSuchResourceException), no endpoint, or a quota without a value.
READ_ERRORS = (ClientError, BotoCoreError, KeyError)


class Limits:
    """The account's quotas as Service Quotas answers them: the applied value (GetServiceQuota),
    else AWS's default (GetAWSDefaultServiceQuota), else the documented default when Service
    Quotas is unavailable or denied. Once it could not be read, the run's other quotas are not
    asked again, and that is said once."""

    def __init__(self, sq) -> None:
        self.sq = sq
        self.unreadable = False
        self.known: dict[str, tuple[int, str]] = {}
        # The quotas are judged at once (refuse_over_quota), their usage read side by side; the
        # limits are read one at a time, so that Service Quotas found unreadable is said once
        # and not asked again.
        self._lock = threading.Lock()

    def of(self, quota: Quota) -> tuple[int, str]:
        """The quota's value and where it was read, read once per run."""
        with self._lock:
            if quota.code not in self.known:
                self.known[quota.code] = self._read(quota)
            return self.known[quota.code]

    def _read(self, quota: Quota) -> tuple[int, str]:
        if not self.unreadable:
            try:
                return self._ask("get_service_quota", quota), "the account's quota"
            except READ_ERRORS:
                pass
            try:
                return self._ask("get_aws_default_service_quota", quota), "AWS's default quota"
            except READ_ERRORS as exc:
                self.unreadable = True
                structlog.get_logger().warning("quotas_not_read", error=one_line(exc),
                                               detail="Service Quotas could not be read; the documented defaults are used")
        return quota.default, "the documented default: Service Quotas could not be read"

    def _ask(self, operation: str, quota: Quota) -> int:
        return int(getattr(self.sq, operation)(ServiceCode=quota.service, QuotaCode=quota.code)["Quota"]["Value"])

"""What lives in an environment's VPC or carries its tags, for the drift check's "unmanaged" list.

Every EC2 describe is filtered by the VPC (unfiltered describes have the tightest rate limits,
aws-timings §2); the tagging API is only a sweep for other services (A-33: it misses some
types), never the source of truth for managed resources.
"""
from __future__ import annotations

from dataclasses import dataclass

from resources.base import MANAGED_BY
from resources.shared_reads import SharedReads, listing


@dataclass(frozen=True)
class Found:
    kind: str
    id: str


# (kind, describe call, items key, id key); AWS-owned members are skipped below.
VPC_MEMBERS = (
    ("subnet", "describe_subnets", "Subnets", "SubnetId", "vpc-id"),
    ("security_group", "describe_security_groups", "SecurityGroups", "GroupId", "vpc-id"),
    ("route_table", "describe_route_tables", "RouteTables", "RouteTableId", "vpc-id"),
    ("internet_gateway", "describe_internet_gateways", "InternetGateways", "InternetGatewayId", "attachment.vpc-id"),
    ("nat_gateway", "describe_nat_gateways", "NatGateways", "NatGatewayId", "vpc-id"),
)


def _aws_owned(kind: str, item: dict) -> bool:
    # The default security group and the main route table come with the VPC.
    if kind == "security_group":
        return item.get("GroupName") == "default"
    if kind == "route_table":
        return any(a.get("Main") for a in item.get("Associations", []))
    if kind == "nat_gateway":
        return item.get("State") in ("deleted", "deleting", "failed")
    return False


def vpc_members(ec2, vpc_id: str, shared: SharedReads | None = None) -> list[Found]:
    """With the walk's ``shared`` reads, the listings the handlers already made are reused."""
    found = []
    for kind, call, key, id_key, filter_name in VPC_MEMBERS:
        items = listing(shared, ec2, call, key, [{"Name": filter_name, "Values": [vpc_id]}])
        found += [Found(kind, i[id_key]) for i in items if not _aws_owned(kind, i)]
    return found


def tagged_resources(tagging, env: str) -> list[Found]:
    pages = tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": "Environment", "Values": [env]}, {"Key": "ManagedBy", "Values": [MANAGED_BY]}],
        # The API's maximums (100 resources, 500 tags a page): one page for a whole environment.
        ResourcesPerPage=100,
        TagsPerPage=500,
    )
    arns = [m["ResourceARN"] for page in pages for m in page["ResourceTagMappingList"]]
    # Automated RDS snapshots ("rds:" names) are the instance's own backups, tags copied.
    return [Found(arn.split(":")[2], arn) for arn in arns if ":snapshot:rds:" not in arn]

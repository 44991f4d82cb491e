"""How the tool finds what it owns: the ManagedBy tag value and the EC2 filters by environment
or VPC. Plumbing, not a handler: the handlers (resources.base, resources.network.ec2) and the
account-wide listings (inventory, availability_zones) all read it from here."""
from __future__ import annotations

MANAGED_BY = "video-pipeline-infra"


def environment_filters(env: str) -> list[dict]:
    return [{"Name": "tag:Environment", "Values": [env]}, {"Name": "tag:ManagedBy", "Values": [MANAGED_BY]}]


def vpc_filters(vpc_id: str) -> list[dict]:
    return [{"Name": "vpc-id", "Values": [vpc_id]}]

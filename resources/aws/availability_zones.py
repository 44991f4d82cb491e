"""The reads that choose the stack's AZs: the region's AZs (name and ID), those the environment's
subnets are in, and which AZs offer what the stack runs (docs/aws-behaviours.md C-AZ-1)."""
from __future__ import annotations

from dataclasses import dataclass

from resources.aws.ownership import MANAGED_BY
from resources.aws.permissions import writes


# The AZ choice of a create (never drift): where the environment's subnets are, and which AZs
# offer what it needs. No resource-level permissions exist for these.
IAM = (
    writes("ec2:DescribeAvailabilityZones", "ec2:DescribeSubnets", "ec2:DescribeInstanceTypeOfferings",
           "rds:DescribeOrderableDBInstanceOptions"),
)


@dataclass(frozen=True)
class Zone:
    """An AZ by its ID (the same physical AZ in every account) and the name it has in this one."""

    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"


def available_zones(ec2) -> list[Zone]:
    zones = ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )["AvailabilityZones"]
    # Opt-in zones (Local Zones, Wavelength) are excluded by zone-type; sorted by name for determinism.
    return sorted((Zone(z["ZoneId"], z["ZoneName"]) for z in zones
                   if z.get("OptInStatus", "opt-in-not-required") == "opt-in-not-required"), key=lambda z: z.name)


def zone_ids(ec2, names: list[str]) -> dict[str, str]:
    """name → ID for recorded names, whatever the AZs' state now (a recorded AZ may be impaired)."""
    zones = ec2.describe_availability_zones(ZoneNames=list(names), AllAvailabilityZones=True)["AvailabilityZones"]
    return {z["ZoneName"]: z["ZoneId"] for z in zones}


def zones_in_use(ec2, env: str) -> list[Zone]:
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "tag:Environment", "Values": [env]}, {"Name": "tag:ManagedBy", "Values": [MANAGED_BY]}]
    )["Subnets"]
    owned = [s for s in subnets if {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("ManagedBy") == MANAGED_BY]
    return sorted({Zone(s["AvailabilityZoneId"], s["AvailabilityZone"]) for s in owned}, key=lambda z: z.name)


def db_class_zones(rds, *, engine: str, version: str, db_class: str) -> set[str]:
    """The AZ names that offer ``db_class`` for ``engine`` at ``version`` (a major such as "17"
    covers its minors) in a VPC. Empty: the class cannot be ordered here at all."""
    # EngineVersion matches exactly: a major alone would match no option, so it is filtered here.
    exact = {"EngineVersion": version} if "." in version else {}
    pages = rds.get_paginator("describe_orderable_db_instance_options").paginate(
        Engine=engine, DBInstanceClass=db_class, Vpc=True, **exact,
        PaginationConfig={"PageSize": 1000})  # one option per version and storage type: few pages
    return {az["Name"] for page in pages for o in page["OrderableDBInstanceOptions"]
            if o["EngineVersion"] == version or o["EngineVersion"].startswith(version + ".")
            for az in o.get("AvailabilityZones", [])}


def instance_type_zone_ids(ec2, instance_type: str) -> set[str]:
    """The AZ IDs where EC2 offers ``instance_type``."""
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone-id", Filters=[{"Name": "instance-type", "Values": [instance_type]}])
    return {o["Location"] for page in pages for o in page["InstanceTypeOfferings"]}

"""Choosing the stack's two AZs: once, then recorded; recovered from live subnets after state loss."""
from __future__ import annotations

from resources.aws.ownership import MANAGED_BY


def available_zones(ec2) -> list[str]:
    zones = ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )["AvailabilityZones"]
    # Opt-in zones (Local Zones, Wavelength) are excluded by zone-type; sorted for determinism.
    return sorted(z["ZoneName"] for z in zones if z.get("OptInStatus", "opt-in-not-required") == "opt-in-not-required")


def zones_in_use(ec2, env: str) -> list[str]:
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "tag:Environment", "Values": [env]}, {"Name": "tag:ManagedBy", "Values": [MANAGED_BY]}]
    )["Subnets"]
    owned = [s for s in subnets if {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("ManagedBy") == MANAGED_BY]
    return sorted({s["AvailabilityZone"] for s in owned})

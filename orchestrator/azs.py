"""The stack's two AZs: chosen once and recorded; after a lost state, read back from live subnets."""
from __future__ import annotations

from orchestrator.errors import UserError
from resources.aws.availability_zones import available_zones, zones_in_use

AZ_COUNT = 2


def choose_azs(ec2, *, recorded: list[str], env: str, region: str) -> list[str]:
    if len(recorded) == AZ_COUNT:
        return list(recorded)
    chosen = zones_in_use(ec2, env)[:AZ_COUNT]
    for zone in available_zones(ec2):
        if len(chosen) == AZ_COUNT:
            break
        if zone not in chosen:
            chosen.append(zone)
    if len(chosen) < AZ_COUNT:
        raise UserError(f"region {region} has {len(chosen)} available AZ(s); the stack needs {AZ_COUNT}")
    return chosen

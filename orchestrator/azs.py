"""The stack's two AZs: chosen once by AZ ID among those that offer what the stack runs, and
recorded; after a lost state, read back from live subnets (docs/aws-behaviours.md C-AZ-1).

AZ names map to different physical AZs in each account; AZ IDs do not. Not every AZ offers every
DB instance class, cache node type or Fargate: a stack placed in one that does not fails half way
(RDS or ElastiCache refuse the create, ECS cannot place tasks). A choice once recorded is never
made again, even when the offering changes: a running stack does not move.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from orchestrator.errors import UserError
from resources.aws.availability_zones import (
    Zone, available_zones, db_class_zones, instance_type_zone_ids, zone_ids, zones_in_use,
)

AZ_COUNT = 2
DB_ENGINE = "postgres"

# Fargate (Linux) runs in some AZs only, in the regions AWS names them for: the ECS developer guide,
# "Supported Regions for Amazon ECS on AWS Fargate" (AWS_Fargate-Regions.html), Linux containers
# table, as read in December 2026. Every other region: every AZ. No API answers this.
FARGATE_ZONE_IDS = {
    "us-west-1": frozenset({"usw1-az1", "usw1-az3"}),
    "ap-northeast-1": frozenset({"apne1-az1", "apne1-az2", "apne1-az4"}),
}


@dataclass
class AzChoice:
    zones: list[Zone]
    why: str

    @property
    def names(self) -> list[str]:
        return [z.name for z in self.zones]

    @property
    def ids(self) -> list[str]:
        return [z.id for z in self.zones]

    def entry(self) -> dict:
        """In a reconcile's JSON document: the AZs by ID and name, and why these."""
        return {"zones": [{"id": z.id, "name": z.name} for z in self.zones], "why": self.why}

    def line(self) -> str:
        """'AZs use1-az6 (us-east-1a), use1-az1 (us-east-1b): offer db.t3.medium, ...'"""
        return f"AZs {', '.join(map(str, self.zones))}: {self.why}"


@dataclass
class Offering:
    """Which AZs offer what the stack runs. ``cache_ids`` None: not known (see ``read``)."""

    db_class: str
    db_names: set[str]
    node_type: str
    cache_ids: set[str] | None
    fargate_ids: frozenset[str] | None

    @classmethod
    def read(cls, aws, cfg, region: str) -> Offering:
        # ElastiCache has no per-AZ offering API: it refuses a create in an AZ without the node type
        # (InsufficientCacheClusterCapacity "cache.t4g.small (VPC) is not currently supported in the
        # availability zone us-east-1e", winglang/wing#4126). The nearest answer is EC2's offering
        # of the type of the same name (cache.t3.micro, t3.micro) by AZ ID: a proxy, not
        # ElastiCache's word. EC2 listing it nowhere tells nothing: then it restricts nothing.
        db_names, cache_ids = _side_by_side(
            lambda: db_class_zones(aws.client("rds"), engine=DB_ENGINE, version=cfg.db_engine_version,
                                   db_class=cfg.db_instance_class),
            lambda: instance_type_zone_ids(aws.client("ec2"), cfg.redis_node_type.removeprefix("cache.")) or None)
        return cls(cfg.db_instance_class, db_names, cfg.redis_node_type, cache_ids, FARGATE_ZONE_IDS.get(region))

    def lacks(self, zone: Zone) -> list[str]:
        missing = [self.db_class] if zone.name not in self.db_names else []
        if self.cache_ids is not None and zone.id not in self.cache_ids:
            missing.append(self.node_type)
        if self.fargate_ids is not None and zone.id not in self.fargate_ids:
            missing.append("Fargate")
        return missing

    def what(self) -> str:
        return _and([self.db_class, *([self.node_type] if self.cache_ids is not None else []), "Fargate"])


def _side_by_side(*reads: Callable[[], Any]) -> list[Any]:
    """Independent reads made at once: a first create waits for one round of them, not each."""
    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="azs") as pool:
        return list(pool.map(lambda read: read(), reads))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def choose_azs(aws, *, doc, cfg, env: str, region: str) -> AzChoice:
    """The recorded AZs (their IDs looked up once for a state that recorded names only), else those
    of the environment's live subnets, else (to complete them) the first by name that offer the DB
    class, the cache node type and Fargate."""
    ec2 = aws.client("ec2")
    recorded = doc.azs
    if len(recorded) == AZ_COUNT:
        ids = doc.az_ids
        if len(ids) != AZ_COUNT:  # recorded by a version that kept names only: same AZs, now by ID
            by_name = zone_ids(ec2, recorded)
            ids = [by_name[name] for name in recorded]
        return AzChoice([Zone(i, n) for i, n in zip(ids, recorded)], "as recorded (a running stack does not move)")
    in_use, available = _side_by_side(lambda: zones_in_use(ec2, env)[:AZ_COUNT], lambda: available_zones(ec2))
    if len(in_use) == AZ_COUNT:
        return AzChoice(in_use, "where the environment's subnets are (a running stack does not move)")
    candidates = [z for z in available if z not in in_use]
    if len(in_use) + len(candidates) < AZ_COUNT:
        raise UserError(f"region {region} has {len(in_use) + len(candidates)} available AZ(s); the stack needs {AZ_COUNT}")
    offering = Offering.read(aws, cfg, region)
    fit = [z for z in candidates if not offering.lacks(z)]
    if len(in_use) + len(fit) < AZ_COUNT:
        raise UserError(_too_few(offering, in_use, fit, candidates, region))
    chosen = in_use + fit[:AZ_COUNT - len(in_use)]
    return AzChoice(chosen, f"offer {offering.what()}")


def _too_few(offering: Offering, in_use: list[Zone], fit: list[Zone], candidates: list[Zone], region: str) -> str:
    found = len(in_use) + len(fit)
    lacking = "; ".join(f"{z} lacks {', '.join(offering.lacks(z))}" for z in candidates if offering.lacks(z))
    return (f"only {found} AZ(s) of {region} offer {offering.what()}, the stack needs {AZ_COUNT}: {lacking}; "
            "nothing was changed")

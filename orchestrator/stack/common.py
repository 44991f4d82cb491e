"""What every part of the stack shares: how a node's spec starts (name and ownership tags)."""
from __future__ import annotations

from typing import Callable

from orchestrator.config import EnvConfig
from resources.base import ownership_tags

TIERS = ("public", "private", "isolated")


def spec_factory(env: str, cfg: EnvConfig) -> Callable[..., dict]:
    def spec(name: str, **fields) -> dict:
        return {"name": name, "tags": ownership_tags(name, env, cfg.tags), **fields}

    return spec


def tier_subnets(tier: str, az_count: int) -> list:
    from orchestrator.spec import Ref

    return [Ref(f"subnet.{tier}.{i}") for i in range(1, az_count + 1)]

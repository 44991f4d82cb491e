"""Environment and region names: checked before anything touches AWS."""
from __future__ import annotations

import difflib
import re

from orchestrator.errors import UserError

# A DNS-style label short enough that the longest derived name still fits AWS's limits: the
# ElastiCache replication group id (40), load balancer and target group names (32) and RDS
# identifiers (63) are all built as "{type}-{env}".
ENV_MAX = 20
ENV_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def validate_env(env: str | None) -> str:
    shown = repr(env if env is not None else "")
    if not env:
        raise UserError("invalid environment name '': must not be empty")
    if len(env) > ENV_MAX:
        raise UserError(f"invalid environment name {shown}: at most {ENV_MAX} characters, got {len(env)}")
    if not ENV_PATTERN.fullmatch(env):
        raise UserError(
            f"invalid environment name {shown}: use lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen (e.g. dev, staging-2)"
        )
    return env


# AWS region names: a partition's prefix, a place, a number (us-east-1, us-gov-west-1,
# us-isob-east-1, eusc-de-east-1). Checked before any call: AWS's answer to a name it does not
# have is a connection error after minutes of retries, or an HTML page from an emulator.
REGION_PATTERN = re.compile(r"[a-z]{2,4}(?:-[a-z]+){1,2}-\d{1,2}")


def known_regions() -> list[str]:
    """Every region of every partition botocore knows (partitions.json, a few kB; a region newer
    than botocore is missing), without the pseudo-regions of global endpoints (aws-global)."""
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("partitions")["partitions"]
    return sorted(r for p in partitions for r in p["regions"] if not r.endswith("-global"))


def unknown_region(region: str, why: str) -> UserError:
    close = difflib.get_close_matches(region.lower(), known_regions(), n=1)
    return UserError(f"unknown AWS region {region!r}: {why}" + (f"; did you mean {close[0]}?" if close else ""))


def validate_region(region: str) -> str:
    if not REGION_PATTERN.fullmatch(region):
        raise unknown_region(region, "AWS region names look like us-east-1 or eu-west-3")
    return region

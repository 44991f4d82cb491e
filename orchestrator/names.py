"""Environment names: checked before anything touches AWS."""
from __future__ import annotations

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

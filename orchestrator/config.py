"""Per-environment settings: the seed's values as defaults, overridable from a TOML file.

    [defaults]                 # every environment
    db_instance_class = "db.t3.medium"
    [defaults.tags]            # added to every resource's tags
    CostCenter = "video"

    [environments.prod]        # one environment
    deletion_protection = true

Every value is checked against AWS's own rules (aws-notes.md table B) before any AWS call; a bad
one is reported as one line naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import UserError
from resources.ecs import FARGATE_MEMORY, fargate_memory_choices

RESERVED_TAG_KEYS = ("Name", "Environment", "ManagedBy")
TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}", re.UNICODE)
TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}", re.UNICODE)
# Environments whose data must survive a mistaken teardown unless the config says otherwise.
PRODUCTION_LIKE = re.compile(r"(prod|production|prd)(-.*)?")

# B-LOG-1: CloudWatch Logs accepts only these retention values.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# RDS Enhanced Monitoring intervals (0 = off).
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)


@dataclass(frozen=True)
class EnvConfig:
    vpc_cidr: str = "10.0.0.0/16"
    tags: dict[str, str] = field(default_factory=dict)
    # Deletion protection on RDS, and teardown refuses the environment.
    deletion_protection: bool = False
    db_instance_class: str = "db.t3.medium"
    db_engine_version: str = "17"
    db_allocated_storage: int = 20
    db_backup_retention_days: int = 7
    db_final_snapshot: bool = False
    db_monitoring_interval: int = 0
    redis_node_type: str = "cache.t3.micro"
    redis_engine_version: str = "7.1"
    redis_num_nodes: int = 2
    log_retention_days: int = 30
    api_image: str = "public.ecr.aws/docker/library/nginx:stable-alpine"
    api_port: int = 80
    api_cpu: int = 256
    api_memory: int = 512
    api_desired_count: int = 2
    worker_image: str = "public.ecr.aws/docker/library/busybox:stable"
    worker_cpu: int = 1024
    worker_memory: int = 2048
    worker_desired_count: int = 1
    # The default image is a placeholder consumer that keeps the EFS volume mounted.
    worker_command: list[str] = field(default_factory=lambda: ["sh", "-c", "while true; do sleep 3600; done"])
    api_throttle_rate: float = 100.0
    api_throttle_burst: int = 200


def defaults_for(env: str) -> dict[str, Any]:
    return {"deletion_protection": bool(PRODUCTION_LIKE.fullmatch(env))}


def load_config(path: str | None, env: str) -> EnvConfig:
    merged: dict = defaults_for(env)
    if path is None:
        return validate_config(merged)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise UserError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config {path} is not valid TOML: {exc}") from None
    unknown = set(doc) - {"defaults", "environments"}
    if unknown:
        raise UserError(f"config {path}: unknown table '{sorted(unknown)[0]}' (allowed: defaults, environments)")
    tables = (("defaults", doc.get("defaults", {})), (f"environments.{env}", doc.get("environments", {}).get(env, {})))
    for source, table in tables:
        if not isinstance(table, dict):
            raise UserError(f"config {path}: [{source}] must be a table")
        for key, value in table.items():
            if key == "tags" and isinstance(value, dict):
                merged["tags"] = {**merged.get("tags", {}), **value}
            else:
                merged[key] = value
    return validate_config(merged, where=path)


def validate_config(values: dict, where: str = "config") -> EnvConfig:
    fields = {f.name: f for f in dataclasses.fields(EnvConfig)}
    for key, value in values.items():
        if key not in fields:
            raise UserError(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(fields))})")
        _check_type(where, key, value, type(getattr(EnvConfig(), key)))
    cfg = EnvConfig(**values)
    _check_cidr(cfg.vpc_cidr, where)
    _check_tags(cfg.tags, where)
    _check_values(cfg, where)
    return cfg


def _check_type(where: str, key: str, value, expected: type) -> None:
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise UserError(f"{where}: {key} must be {_TYPE_NAMES[expected]}, got {value!r}")


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", float: "a number", dict: "a table",
               list: "a list of strings"}


def _one_of(where: str, key: str, value, allowed) -> None:
    if value not in allowed:
        shown = ", ".join(map(str, allowed))
        raise UserError(f"{where}: {key} = {value!r} is not allowed (allowed: {shown})")


def _matches(where: str, key: str, value: str, pattern: str, what: str) -> None:
    if not re.fullmatch(pattern, value):
        raise UserError(f"{where}: {key} = {value!r} is not allowed ({what})")


def _between(where: str, key: str, value, low, high) -> None:
    if not low <= value <= high:
        raise UserError(f"{where}: {key} = {value!r} is not allowed (from {low} to {high})")


def _check_values(cfg: EnvConfig, where: str) -> None:
    _matches(where, "db_instance_class", cfg.db_instance_class, r"db\.[a-z0-9]+\.[a-z0-9]+", "an RDS class such as db.t3.medium")
    _matches(where, "db_engine_version", cfg.db_engine_version, r"1[1-9](\.\d+)?", "a PostgreSQL major version such as 17, or 17.4")
    _between(where, "db_allocated_storage", cfg.db_allocated_storage, 20, 65536)
    # Multi-AZ with backups retained: 0 would turn automated backups off.
    _between(where, "db_backup_retention_days", cfg.db_backup_retention_days, 1, 35)
    _one_of(where, "db_monitoring_interval", cfg.db_monitoring_interval, MONITORING_INTERVALS)
    _matches(where, "redis_node_type", cfg.redis_node_type, r"cache\.[a-z0-9]+\.[a-z0-9]+", "an ElastiCache node type such as cache.t3.micro")
    # B-EC-5: in-transit encryption needs Redis OSS 4.0.10 or later; 5, 6 and 7 are current.
    _matches(where, "redis_engine_version", cfg.redis_engine_version, r"[5-7](\.\d+){0,2}|6\.x", "Redis OSS 5.0.6 or later, e.g. 7.1")
    # B-EC-2: automatic failover needs 2 to 6 nodes.
    _between(where, "redis_num_nodes", cfg.redis_num_nodes, 2, 6)
    _one_of(where, "log_retention_days", cfg.log_retention_days, LOG_RETENTION_DAYS)
    for role in ("api", "worker"):
        image = getattr(cfg, f"{role}_image")
        _matches(where, f"{role}_image", image, r"[a-z0-9][\w.\-/:@]{0,254}", "a container image reference")
        cpu, memory = getattr(cfg, f"{role}_cpu"), getattr(cfg, f"{role}_memory")
        _one_of(where, f"{role}_cpu", cpu, tuple(FARGATE_MEMORY))
        _one_of(where, f"{role}_memory", memory, fargate_memory_choices(cpu))
        _between(where, f"{role}_desired_count", getattr(cfg, f"{role}_desired_count"), 0, 100)
    if not all(isinstance(part, str) for part in cfg.worker_command):
        raise UserError(f"{where}: worker_command must be a list of strings")
    _between(where, "api_port", cfg.api_port, 1, 65535)
    _between(where, "api_throttle_rate", cfg.api_throttle_rate, 0.001, 10000.0)
    _between(where, "api_throttle_burst", cfg.api_throttle_burst, 1, 5000)


def _check_cidr(value, where: str) -> None:
    try:
        if not isinstance(value, str):
            raise TypeError
        net = ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        raise UserError(f"{where}: vpc_cidr {value!r} is not an IPv4 network such as 10.0.0.0/16") from None
    # AWS allows /16 to /28 for a VPC; six subnets of prefix+4 must still be at least /28.
    if not 16 <= net.prefixlen <= 24:
        raise UserError(f"{where}: vpc_cidr {value!r} must have a prefix length from /16 to /24")


def _check_tags(tags, where: str) -> None:
    for key, value in tags.items():
        if key in RESERVED_TAG_KEYS:
            raise UserError(f"{where}: tags.{key} is set by the tool and cannot be overridden")
        if key.lower().startswith("aws:"):
            raise UserError(f"{where}: tags.{key}: the aws: prefix is reserved by AWS")
        if not TAG_KEY.fullmatch(key):
            raise UserError(f"{where}: tags.{key}: keys are 1-128 letters, digits, spaces and _ . : / = + - @")
        if not isinstance(value, str) or not TAG_VALUE.fullmatch(value):
            raise UserError(f"{where}: tags.{key}: values are strings of 0-256 letters, digits, spaces and _ . : / = + - @")

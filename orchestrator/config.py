"""Per-environment settings: the seed's values as defaults, overridable from a TOML file.

    [defaults]                 # every environment
    vpc_cidr = "10.0.0.0/16"
    [defaults.tags]            # added to every resource's tags
    CostCenter = "video"

    [environments.prod]        # one environment
    vpc_cidr = "10.1.0.0/16"

Every value is checked against AWS's own rules before any AWS call; a bad one is reported as
one line naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field

from orchestrator.errors import UserError

RESERVED_TAG_KEYS = ("Name", "Environment", "ManagedBy")
TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}", re.UNICODE)
TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}", re.UNICODE)


@dataclass(frozen=True)
class EnvConfig:
    vpc_cidr: str = "10.0.0.0/16"
    tags: dict[str, str] = field(default_factory=dict)


def load_config(path: str | None, env: str) -> EnvConfig:
    if path is None:
        return EnvConfig()
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
    merged: dict = {}
    for source, table in (("defaults", doc.get("defaults", {})), (f"environments.{env}", doc.get("environments", {}).get(env, {}))):
        if not isinstance(table, dict):
            raise UserError(f"config {path}: [{source}] must be a table")
        for key, value in table.items():
            if key == "tags" and isinstance(value, dict):
                merged["tags"] = {**merged.get("tags", {}), **value}
            else:
                merged[key] = value
    return validate_config(merged, where=path)


def validate_config(values: dict, where: str = "config") -> EnvConfig:
    fields = {f.name for f in dataclasses.fields(EnvConfig)}
    for key in values:
        if key not in fields:
            raise UserError(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(fields))})")
    cfg = EnvConfig(**values)
    _check_cidr(cfg.vpc_cidr, where)
    _check_tags(cfg.tags, where)
    return cfg


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
    if not isinstance(tags, dict):
        raise UserError(f"{where}: tags must be a table of strings")
    for key, value in tags.items():
        if key in RESERVED_TAG_KEYS:
            raise UserError(f"{where}: tags.{key} is set by the tool and cannot be overridden")
        if key.lower().startswith("aws:"):
            raise UserError(f"{where}: tags.{key}: the aws: prefix is reserved by AWS")
        if not TAG_KEY.fullmatch(key):
            raise UserError(f"{where}: tags.{key}: keys are 1-128 letters, digits, spaces and _ . : / = + - @")
        if not isinstance(value, str) or not TAG_VALUE.fullmatch(value):
            raise UserError(f"{where}: tags.{key}: values are strings of 0-256 letters, digits, spaces and _ . : / = + - @")

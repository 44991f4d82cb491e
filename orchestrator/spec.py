"""Desired state as data: nodes whose specs may reference other nodes' outputs.

A ``Ref`` is the only way a value crosses handlers (CloudFormation's Ref/GetAtt): the graph's
edges are derived from the refs, so a dependency can never be forgotten.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from resources.base import Handler


@dataclass(frozen=True)
class Ref:
    node: str
    attr: str = "id"


@dataclass(frozen=True)
class Join:
    """A string built from literals and refs, e.g. a secret ARN with a JSON key suffix."""

    parts: tuple

    def __init__(self, *parts):
        object.__setattr__(self, "parts", parts)


class _Unknown:
    """A value only known once a dependency exists (a plan before the first apply)."""

    def __repr__(self) -> str:
        return "(known after apply)"

    def __eq__(self, other):  # never equal to anything real, so the diff shows the change
        return isinstance(other, _Unknown)

    __hash__ = object.__hash__


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Node:
    key: str
    handler: type[Handler]
    spec: dict[str, Any]
    # Ordering without a value: a NAT needs the IGW attached first or it ends "failed" with
    # Gateway.NotAttached (B-EC2-3), though it never reads the IGW's id.
    after: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def depends_on(self) -> set[str]:
        return set(refs_in(self.spec)) | set(self.after)


def refs_in(value: Any):
    if isinstance(value, Ref):
        yield value.node
    elif isinstance(value, Join):
        yield from refs_in(list(value.parts))
    elif isinstance(value, dict):
        for v in value.values():
            yield from refs_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from refs_in(v)


def resolve(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(value, Ref):
        node_outputs = outputs.get(value.node)
        return UNKNOWN if not node_outputs else node_outputs.get(value.attr, UNKNOWN)
    if isinstance(value, Join):
        parts = [resolve(p, outputs) for p in value.parts]
        return UNKNOWN if any(p is UNKNOWN for p in parts) else "".join(map(str, parts))
    if isinstance(value, dict):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, outputs) for v in value]
    return value


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=repr).encode()).hexdigest()[:16]

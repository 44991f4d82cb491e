"""Drift check: the reconcile walk without acting (find + diff), plus what nobody manages.

Entries name the AWS identifier so an alert can point at it. What could not be read is listed
as unchecked, never reported as in sync.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestrator.run import reconcile_stack
from orchestrator.spec import UNKNOWN
from resources.inventory import tagged_resources, vpc_members
from resources.shared_reads import SharedReads


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: None if v is UNKNOWN else str(v)))


@dataclass
class DriftReport:
    drifted: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    unmanaged: list[dict] = field(default_factory=list)
    unchecked: list[dict] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.drifted or self.missing or self.unmanaged or self.unchecked)


def drift_stack(
    aws, *, env: str, doc, cfg=None, parallelism: int = 16, observer=None, retired_tags: frozenset[str] = frozenset(),
) -> DriftReport:
    shared = SharedReads()
    run = reconcile_stack(
        aws, env=env, doc=doc, save=lambda: None, cfg=cfg, plan=True, parallelism=parallelism, shared=shared,
        observer=observer, retired_tags=retired_tags,
    )
    report = DriftReport()
    for r in run.results:
        if r.action == "create":
            recorded = (doc.resource(r.key) or {}).get("id")
            report.missing.append({"resource": r.key, "kind": r.kind, "name": r.name, "id": recorded})
        for d in r.changes if r.action in ("update", "replace") else ():
            report.drifted.append({
                "resource": r.key, "kind": r.kind, "name": r.name, "id": r.id, "attribute": d.field,
                "expected": _plain(d.expected), "actual": _plain(d.actual),
            })
    for key, outcome in run.failures.items():
        report.unchecked.append({"resource": key, "reason": outcome.reason})
    managed = {r.id for r in run.results if r.id} | {e.get("id") for e in doc.resources.values() if e.get("id")}
    report.unmanaged = _unmanaged(aws, env, run, managed, shared)
    return report


def _unmanaged(aws, env: str, run, managed: set[str], shared: SharedReads) -> list[dict]:
    vpc = next((r.id for r in run.results if r.key == "vpc" and r.id), None)
    found = vpc_members(aws.client("ec2"), vpc, shared) if vpc else []
    found += tagged_resources(aws.client("resourcegroupstaggingapi"), env)

    families = {m.rsplit(":", 1)[0] for m in managed if m and ":task-definition/" in m}

    def is_managed(resource_id: str) -> bool:
        # Earlier revisions of a managed task definition family stay ACTIVE for rollbacks.
        if ":task-definition/" in resource_id and resource_id.rsplit(":", 1)[0] in families:
            return True
        # ARNs end in the resource's id or name (vpc/vpc-123, log-group:/ecs/…, usageplans/abc).
        return resource_id in managed or any(m and resource_id.endswith(m) for m in managed)

    seen, out = set(), []
    for f in found:
        if f.id not in seen and not is_managed(f.id):
            seen.add(f.id)
            out.append({"kind": f.kind, "id": f.id})
    return out

"""Drift check: the reconcile walk without acting (find + diff), plus what nobody manages.

Entries name the AWS identifier so an alert can point at it. What could not be read is listed
as unchecked, never reported as in sync. What the configuration's ignore rules match is listed
as ignored, with the rule's reason, never dropped (orchestrator.drift_rules).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from orchestrator import retained
from orchestrator.drift_rules import apply_rules, rules_of
from orchestrator.run import reconcile_stack
from orchestrator.spec import UNKNOWN, has_unknown
from resources.aws.inventory import Found, gone, resource_id, tagged_resources, vpc_members
from resources.aws.shared_reads import SharedReads
from resources.base import Change


# The engine's synthetic changes for a failed resource (its status, a new deployment).
LIFECYCLE_FIELDS = frozenset({"status", "deployment"})


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: None if v is UNKNOWN else str(v)))


@dataclass
class DriftReport:
    drifted: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    unmanaged: list[dict] = field(default_factory=list)
    unchecked: list[dict] = field(default_factory=list)
    # Failed as AWS reports it (a rolled-back deployment, an instance "failed"), or failed at the
    # last reconcile: what it is, not a drift of one of its fields.
    failed: list[dict] = field(default_factory=list)
    # Modifications accepted and not applied yet: on their way, not drift (listed, in sync).
    pending: list[dict] = field(default_factory=list)
    # Entries an ignore rule took out of drifted, missing or unmanaged: {"category", ...the
    # entry..., "reason", "rule"}. They do not make the environment out of sync.
    ignored: list[dict] = field(default_factory=list)
    # What AWS keeps on purpose (a KMS key pending deletion, a final snapshot): listed, in sync,
    # never unmanaged (orchestrator.retained).
    retained: list[dict] = field(default_factory=list)
    # The state's record of the teardown that retired the environment, if one did.
    retired: dict | None = None

    @property
    def in_sync(self) -> bool:
        return not (self.drifted or self.missing or self.unmanaged or self.unchecked or self.failed)


def drift_stack(
    aws, *, env: str, doc, cfg=None, parallelism: int = 16, observer=None, retired_tags: frozenset[str] = frozenset(),
    swept: list[Found] | None = None, shared: SharedReads | None = None, now=None, nodes=None,
) -> DriftReport:
    """``swept``: what the tagging API lists for ``env``, when one sweep served every
    environment (``bin/drift --all``); else this check asks for its own. ``shared``: the walk's
    reads, seeded with listings made once for several environments. ``nodes``: a part of the
    stack only (tests), else the whole stack of ``cfg``."""
    shared = shared if shared is not None else SharedReads()
    if swept is not None:
        shared.index_tags(lambda: swept)
    run = reconcile_stack(
        aws, env=env, doc=doc, save=lambda: None, cfg=cfg, plan=True, parallelism=parallelism, shared=shared,
        observer=observer, retired_tags=retired_tags, nodes=nodes, **({"now": now} if now else {}),
    )
    report = DriftReport()
    for r in run.results:
        _report_result(report, r, doc)
    for key, outcome in run.failures.items():
        report.unchecked.append({"resource": key, "reason": outcome.reason})
    report.unmanaged, report.retained = _unmanaged(aws, env, run, _managed_ids(run, doc), shared)
    apply_rules(report, rules_of(cfg.drift if cfg is not None else None))
    return report


def _report_result(report: DriftReport, r, doc) -> None:
    """What the plan's result for one resource says about it: failed, pending, missing, drifted."""
    entry = {"resource": r.key, "kind": r.kind, "name": r.name, "id": r.id}
    if r.failed_state or r.previous_failure:
        reason = f"AWS reports it failed: {r.failed_state}" if r.failed_state else f"the last reconcile failed here: {r.previous_failure}"
        report.failed.append({**entry, "reason": reason})
    if r.awaiting:
        report.pending.append({**entry, "attributes": _plain(r.awaiting)})
    if r.action == "create":
        recorded = (doc.resource(r.key) or {}).get("id")
        report.missing.append({"resource": r.key, "kind": r.kind, "name": r.name, "id": recorded})
    if r.deposed:
        # A replacement's old copy a killed run left: the next reconcile deletes it.
        report.drifted.append({**entry, "attribute": "old_copies", "expected": [], "actual": list(r.deposed)})
    if r.action == "delete":
        # Made under an earlier configuration, which this one switched off (api_waf = false):
        # still there until a reconcile deletes it.
        report.drifted.append({**entry, "attribute": "exists", "expected": False, "actual": True})
    if r.action in ("update", "replace"):
        report.drifted += _drifted_fields(r)


def _drifted_fields(r) -> list[dict]:
    """An update's or a replacement's changed fields, but for those that are not drift."""
    drifted = []
    for d in r.changes:
        if d.field in LIFECYCLE_FIELDS:
            continue  # the failure is listed as what it is (_report_result)
        if has_unknown(d.expected):
            # Depends on an id AWS assigns to a dependency that is missing or replaced: it
            # cannot be judged until that exists; the dependency's own entry is the finding.
            continue
        drifted.append({
            "resource": r.key, "kind": r.kind, "name": r.name, "id": r.id, "attribute": d.field,
            "expected": _plain(d.expected), "actual": _plain(d.actual),
            # A value AWS will not change back (a managed secret's key, D-RDS-1): reported, with
            # why, never as something the next reconcile repairs.
            **({"not_repairable": d.why or "AWS refuses the change"} if d.change is Change.IMPOSSIBLE else {}),
        })
    return drifted


def _managed_ids(run, doc) -> set[str]:
    """Every id the environment manages: the walk's, the state's, and old copies still recorded."""
    return ({r.id for r in run.results if r.id} | {e.get("id") for e in doc.resources.values() if e.get("id")}
            | {old for e in doc.resources.values() for old in e.get("deposed", ())})


class Managed:
    """The identifiers of what the environment manages (ids, names, ARNs from the walk and the
    state), and whether something found in AWS is one of them or a child of one."""

    def __init__(self, ids: set[str]):
        self.ids = {i for i in ids if i}
        # Earlier revisions of a managed task definition family stay ACTIVE for rollbacks.
        self.families = {i.rsplit(":", 1)[0] for i in self.ids if ":task-definition/" in i}
        # Every tail of a managed ARN after a "/" or ":" (``loadbalancer/net/NAME/ID``), for the
        # owners AWS names by a tail of the ARN (an NLB's network interfaces).
        self.tails = {i[k + 1:] for i in self.ids for k, ch in enumerate(i) if ch in "/:"}

    def names(self, identifier: str) -> bool:
        """``identifier`` is managed: equal to a managed one, or an ARN ending in one at a "/" or
        ":" (``…:log-group:/ecs/…``, ``…:file-system/fs-1``, ``…:db:rds-postgresql-dev``)."""
        identifier = identifier.removesuffix(":*")
        if identifier in self.ids or identifier in self.tails and "/" in identifier:
            return True
        if ":task-definition/" in identifier and identifier.rsplit(":", 1)[0] in self.families:
            return True
        return any(identifier[k + 1:] in self.ids for k, ch in enumerate(identifier) if ch in "/:")

    def owns(self, found: Found) -> bool:
        """``found`` is managed, or AWS names a managed resource as its owner: a stage's REST
        API, a member cluster's replication group, a task's cluster, an ENI's NAT gateway, file
        system, load balancer or security groups (C-TAG-1, C-EC-2)."""
        if self.names(found.id):
            return True
        if found.kind == "network_interface" and found.owners and all(o.startswith("sg-") for o in found.owners):
            # Placed by a service in security groups: ours only when every group is ours.
            return all(self.names(o) for o in found.owners)
        return any(self.names(o) for o in found.owners)


def drift_retired(aws, *, env: str, doc, cfg=None, swept: list[Found] | None = None) -> DriftReport:
    """An environment a teardown retired: nothing is expected, so nothing is missing; what its
    tags still mark is retained (a key pending deletion, a final snapshot) or unmanaged (made
    since by someone else). One tagging-API sweep, unless ``swept`` (``bin/drift --all``)."""
    found = tagged_resources(aws.client("resourcegroupstaggingapi"), env) if swept is None else swept
    unmanaged, retained = classify(aws, found, Managed(set()))
    report = DriftReport(unmanaged=unmanaged, retained=retained, retired=doc.retired)
    apply_rules(report, rules_of(cfg.drift if cfg is not None else None))
    return report


def _unmanaged(aws, env: str, run, managed: set[str], shared: SharedReads) -> tuple[list[dict], list[dict]]:
    """What is in the environment's VPC or carries its tags and is neither managed nor a child
    of a managed resource, each once; what the tagging API still lists after its deletion is
    left out (C-TAG-1). The tagging API's answer is the walk's tag index (one call, or one for
    several environments under ``bin/drift --all``)."""
    vpc = next((r.id for r in run.results if r.key == "vpc" and r.id), None)
    found = vpc_members(aws.client("ec2"), vpc, shared) if vpc else []
    found += shared.tagged()
    return classify(aws, found, Managed(managed))


def unmanaged_entries(aws, found: list[Found], managed: Managed) -> list[dict]:
    return classify(aws, found, managed)[0]


def classify(aws, found: list[Found], managed: Managed) -> tuple[list[dict], list[dict]]:
    """(unmanaged, retained): what is neither managed nor a child of a managed resource, but for
    what AWS keeps on purpose after a deletion (orchestrator.retained), listed apart."""
    seen, candidates = set(), []
    # VPC listings first: they were read live, and an EC2 resource the sweep also lists is the same one.
    for f in sorted(found, key=lambda f: f.swept):
        key = resource_id(f.id)
        if key in seen:
            continue
        seen.add(key)
        if not managed.owns(f):
            candidates.append(f)
    # Existence is checked only for what is left: on a healthy stack, nothing (no call at all).
    deleted = gone(aws, [f for f in candidates if f.swept])
    kept, candidates = retained.split(aws, [f for f in candidates if f.id not in deleted])
    return [{"kind": f.kind, "id": resource_id(f.id) if f.swept and f.kind == "ec2" else f.id}
            for f in candidates], kept


# -- every environment of the account and region (bin/drift --all) -------------------------------

@dataclass
class Discovered:
    """The environments of the account and region: those with state at the location, and those
    the ownership tags show (Environment + ManagedBy), with what the one sweep listed for each."""

    with_state: list[str]
    swept: dict[str, list[Found]]

    @property
    def names(self) -> list[str]:
        return sorted(set(self.with_state) | set(self.swept))


def discover(aws, with_state: list[str]) -> Discovered:
    """One tagging-API sweep for every environment (ManagedBy only; the Environment tag splits it)."""
    by_env: dict[str, list[Found]] = {}
    for f in tagged_resources(aws.client("resourcegroupstaggingapi"), None):
        env = f.tags.get("Environment")
        if env:
            by_env.setdefault(env, []).append(f)
    return Discovered(sorted(with_state), by_env)


def leftovers(aws, swept: list[Found]) -> tuple[list[dict], list[dict]]:
    """An environment with no state: (unmanaged, retained). Everything its tags still mark is
    unmanaged, but for what the tagging API lists after its deletion (a torn-down environment's
    resources, C-TAG-1) and what AWS keeps on purpose (retained)."""
    return classify(aws, swept, Managed(set()))

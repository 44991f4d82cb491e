"""What a drift report leaves out, and how one check's findings are told from the last one's.

Ignore rules (issue 14) come from the environment's configuration (``[[defaults.drift.ignore]]``,
``[[environments.NAME.drift.ignore]]``), each with the reason a reader of the report needs:

    resource  = "ecs.service.worker"   # a node key as in the report's "resource" (or a glob over them)
    attribute = "desired_count"        # optional: only this attribute (a glob: "tags.*")
    reason    = "autoscaling owns the count"

    unmanaged = "sg-0abc*"             # a glob over the ids of unmanaged resources
    kind      = "security_group"       # optional: only unmanaged resources of this kind
    reason    = "the bastion, managed by the network team"

An ignored entry is never dropped: it moves to the report's ``ignored`` list with its reason.

Fingerprints name one finding stably from one check to the next (``bin/drift --new-only``): the
kind of entry and what identifies it, never when it was seen. Pure functions: no AWS, no I/O.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Iterable

from orchestrator.errors import unknown_key

RULE_KEYS = ("attribute", "kind", "reason", "resource", "unmanaged")
# The report's lists an ignore rule can take an entry from. "unchecked" is not one of them: a
# resource that could not be read is a failed check, never something a rule may hide.
IGNORABLE = ("drifted", "missing", "unmanaged")
# The lists whose entries are fingerprinted and can be new.
FINDINGS = ("failed", "drifted", "missing", "unmanaged", "unchecked")
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class IgnoreRule:
    reason: str
    resource: str | None = None
    attribute: str | None = None
    unmanaged: str | None = None
    kind: str | None = None

    def matches(self, category: str, entry: dict) -> bool:
        if category == "unmanaged":
            return (self.unmanaged is not None and fnmatchcase(str(entry.get("id")), self.unmanaged)
                    and (self.kind is None or self.kind == entry.get("kind")))
        if self.resource is None or not fnmatchcase(str(entry.get("resource")), self.resource):
            return False
        if category == "missing":
            # A rule about one attribute says nothing of the whole resource being gone.
            return self.attribute is None
        if category == "drifted":
            return self.attribute is None or fnmatchcase(str(entry.get("attribute")), self.attribute)
        return False

    def selector(self) -> dict[str, str]:
        """The rule without its reason: what it matches, as written in the configuration."""
        return {k: v for k, v in (("resource", self.resource), ("attribute", self.attribute),
                                  ("unmanaged", self.unmanaged), ("kind", self.kind)) if v is not None}


def rules_of(drift: dict | None) -> list[IgnoreRule]:
    """The rules of a validated ``drift`` configuration table."""
    return [IgnoreRule(**{k: v for k, v in rule.items() if k in RULE_KEYS}) for rule in (drift or {}).get("ignore", [])]


def drift_problems(drift: Any, where: str, keys: Iterable[str] | None) -> list[str]:
    """Every problem of a ``drift`` configuration table, one line each (config.validate_config).
    ``keys``: the stack's node keys (orchestrator.stack.node_keys), which a rule's resource must
    name. The caller gives them: the stack is built from a configuration, so this check cannot
    build it."""
    if not isinstance(drift, dict):
        return [f"{where}: drift must be a table ([defaults.drift] or [environments.NAME.drift])"]
    problems = [unknown_key(where, f"drift.{k}", ["drift.ignore"], "allowed: drift.ignore")
                for k in sorted(drift) if k != "ignore"]
    rules = drift.get("ignore", [])
    if not isinstance(rules, list):
        return problems + [f"{where}: drift.ignore must be a list of tables ([[environments.NAME.drift.ignore]]), "
                           f"got {rules!r}"]
    known = None if keys is None else tuple(keys)
    for index, rule in enumerate(rules, 1):
        problems += _rule_problems(rule, f"{where}: drift.ignore[{index}]", known)
    return problems


def _rule_problems(rule: Any, where: str, keys: tuple[str, ...] | None) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{where} must be a table with a reason and a resource or an unmanaged pattern, got {rule!r}"]
    return _rule_shape_problems(rule, where) + _rule_resource_problems(rule.get("resource"), where, keys)


def _rule_shape_problems(rule: dict, where: str) -> list[str]:
    """The rule's keys: known, non-empty strings, a reason, and a resource or an unmanaged pattern
    with only the keys that narrow it."""
    problems = [unknown_key(where, k, RULE_KEYS, f"allowed: {', '.join(RULE_KEYS)}") for k in rule if k not in RULE_KEYS]
    for key in RULE_KEYS:
        if key in rule and not (isinstance(rule[key], str) and rule[key].strip()):
            problems.append(f"{where}: {key} must be a non-empty string, got {rule[key]!r}")
    if "reason" not in rule:
        problems.append(f"{where}: reason is required: say why this drift is expected, for whoever reads the report")
    if ("resource" in rule) == ("unmanaged" in rule):
        problems.append(f"{where}: give exactly one of resource (a node key such as ecs.service.worker) "
                        "or unmanaged (a glob over unmanaged resource ids)")
    if "attribute" in rule and "resource" not in rule:
        problems.append(f"{where}: attribute narrows a resource rule; it needs resource")
    if "kind" in rule and "unmanaged" not in rule:
        problems.append(f"{where}: kind narrows an unmanaged rule; it needs unmanaged")
    return problems


def _rule_resource_problems(resource: Any, where: str, keys: tuple[str, ...] | None) -> list[str]:
    """A rule's resource (a node key or a glob over them) names a node of the stack."""
    if not (isinstance(resource, str) and resource.strip()):
        return []  # none, or not a string: reported with the rule's keys
    if keys is None:
        # The caller's mistake, not the user's: no resource can be judged without the stack's keys.
        raise TypeError(f"{where}: a drift rule's resource is checked against the stack's node keys; pass them")
    if any(fnmatchcase(k, resource) for k in keys):
        return []
    if GLOB_CHARACTERS & set(resource):
        return [f"{where}: resource pattern {resource!r} matches no node of the stack"]
    close = difflib.get_close_matches(resource, keys, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else " (a node key as in the drift report's \"resource\")"
    return [f"{where}: resource {resource!r} is not a node of the stack{hint}"]


def apply_rules(report, rules: list[IgnoreRule]) -> None:
    """Move every entry a rule matches from its list to ``report.ignored``, with the first
    matching rule's reason; the entry keeps its fields and says which list it came from."""
    if not rules:
        return
    for category in IGNORABLE:
        kept = []
        for entry in getattr(report, category):
            rule = next((r for r in rules if r.matches(category, entry)), None)
            if rule is None:
                kept.append(entry)
            else:
                report.ignored.append({"category": category, **entry, "reason": rule.reason, "rule": rule.selector()})
        setattr(report, category, kept)


# -- what is new since the last check (bin/drift --new-only) ------------------------------------

def fingerprint(category: str, entry: dict) -> str:
    """Stable across checks: the kind of entry and what identifies the finding (for a drifted
    attribute, the values too: a value that drifts further is a new finding)."""
    if category == "drifted":
        parts = [category, entry.get("resource"), entry.get("attribute"), entry.get("expected"), entry.get("actual")]
    elif category == "missing":
        parts = [category, entry.get("resource"), entry.get("id")]
    elif category == "unmanaged":
        parts = [category, entry.get("kind"), entry.get("id")]
    elif category == "failed":
        # A rolled-back deployment, a failed instance: new when the reason is.
        parts = [category, entry.get("resource"), entry.get("reason")]
    elif category == "unchecked":
        # The reason's wording (request ids, timings) changes from one check to the next.
        parts = [category, entry.get("resource")]
    else:
        raise ValueError(f"no fingerprint for {category!r} entries")
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def findings(document: dict) -> list[dict]:
    """Every finding of one environment's drift document, with its list and fingerprint."""
    return [{"category": c, "fingerprint": fingerprint(c, e), **e} for c in FINDINGS for e in document.get(c, [])]


def _remembered(finding: dict) -> dict:
    # The record keeps what identifies a finding, not its values: a reader of the record can tell
    # what it is; the values are in the report.
    return {k: finding[k] for k in ("fingerprint", "category", "resource", "kind", "id", "attribute") if k in finding}


def compare(previous: dict | None, document: dict, *, checked_at: str) -> tuple[list[dict], dict]:
    """The findings of ``document`` not in ``previous`` (the record the last check left), and the
    record this check leaves. A resource that could not be read this time keeps its earlier
    findings in the record, so that reading it again does not report them as new."""
    seen = {e.get("fingerprint") for e in _entries(previous)}
    current = findings(document)
    new = [f for f in current if f["fingerprint"] not in seen]
    unreadable = {e.get("resource") for e in document.get("unchecked", [])}
    keep = {f["fingerprint"] for f in current}
    carried = [e for e in _entries(previous)
               if e.get("category") != "unchecked" and e.get("resource") in unreadable and e.get("fingerprint") not in keep]
    record = {"env": document.get("env"), "region": document.get("region"), "checked_at": checked_at,
              "entries": [_remembered(f) for f in current] + carried}
    return new, record


def previous_check(previous: dict | None) -> str | None:
    """When the check that left ``previous`` ran; None for none (every finding is new)."""
    return previous.get("checked_at") if isinstance(previous, dict) else None


def _entries(record: dict | None) -> list[dict]:
    if not isinstance(record, dict) or not isinstance(record.get("entries"), list):
        return []
    return [e for e in record["entries"] if isinstance(e, dict)]

"""Rendering for people (a plan one can scan) and for machines (one JSON document)."""
from __future__ import annotations

import json
from typing import Any, Iterable

from orchestrator.reconciler import NodeResult
from orchestrator.spec import UNKNOWN
from resources.base import Change, FieldDiff

SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
CHANGING = frozenset(SYMBOLS)
# Reconcile never deletes what it did not create: an unmanaged resource stays until a person acts.
UNMANAGED_ADVICE = ("reconcile does not delete what it did not create: delete it, or add an ignore rule to the "
                    "configuration ([[defaults.drift.ignore]] with unmanaged = its id and a reason)")


def _show(value: Any) -> str:
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_show, sort_keys=True)
    return "null" if value is None else str(value)


def changes_of(results: Iterable[NodeResult]) -> list[NodeResult]:
    # An old copy a replacement left (a run killed before deleting it) is a change too.
    return [r for r in results if r.action in CHANGING or r.deposed]


def render_changes(results: Iterable[NodeResult], *, past: bool, failed: bool = False, refused: bool = False) -> str:
    """``failed``: the run did not finish; it never says the environment matches. ``refused``:
    a change AWS would refuse stopped it before anything was changed."""
    verbs = {"create": "created" if past else "create", "update": "updated" if past else "update",
             "replace": "replaced" if past else "replace", "delete": "deleted" if past else "delete"}
    lines = []
    for r in changes_of(results):
        lines += _change_lines(r, verbs, past)
    lines += _duplicate_lines(results)
    lines.append(_outcome_line(_change_summary(results, verbs, past), failed=failed, refused=refused))
    return "\n".join(lines)


def _change_lines(r: NodeResult, verbs: dict[str, str], past: bool) -> list[str]:
    """One changed resource: its headline, what changes in it, and an old copy left to delete."""
    ident = f" ({r.id})" if r.id else ""
    lines = []
    if r.action in SYMBOLS:
        lines.append(f"{SYMBOLS[r.action]} {verbs[r.action]} {r.kind} {r.name}{ident}")
    if r.action in ("update", "replace"):
        lines += _change_details(r)
    if r.deposed:
        lines.append(f"- {'deleted' if past else 'delete'} old {r.kind} {r.name}: {', '.join(r.deposed)} (replaced by {r.id})")
    return lines


def _change_details(r: NodeResult) -> list[str]:
    """An update's or a replacement's fields, how it is replaced, what goes with it and what is lost."""
    lines = [f"    {d.field}: {_show(d.actual)} → {_show(d.expected)}{_mark(d)}" for d in r.changes]
    if r.replaced_with:
        lines.append(f"    deleted and created again with {r.replaced_with}")
    elif r.replacement:
        lines.append("    " + REPLACEMENT[r.replacement])
    if r.dependents:
        lines.append(f"    depends on it (updated or replaced with it): {', '.join(r.dependents)}")
    for key, what in r.data_lost.items():
        lines.append(f"    ! data lost: {key}: {what}")
    return lines


def _duplicate_lines(results: Iterable[NodeResult]) -> list[str]:
    return [f"x removed duplicate {r.kind} {r.name}: {', '.join(r.duplicates_removed)} (kept {r.id})"
            for r in results if r.duplicates_removed]


def _change_summary(results: Iterable[NodeResult], verbs: dict[str, str], past: bool) -> str:
    """"2 to create, 1 to update" (a plan) or "2 created, 1 updated" (a run); empty for none."""
    counts = {a: sum(1 for r in results if r.action == a) for a in ("create", "update", "replace", "delete")}
    return ", ".join(f"{n} to {a}" if not past else f"{n} {verbs[a]}" for a, n in counts.items() if n)


def _outcome_line(summary: str, *, failed: bool, refused: bool) -> str:
    if refused:
        done = f"{summary.capitalize()}. " if summary else ""
        return done + "Refused: the plan holds changes that cannot be applied (errors on stderr); nothing was changed."
    if failed:
        done = f"{summary.capitalize()} before it stopped. " if summary else ""
        return done + "The run failed: the environment does not match the desired state (errors on stderr)."
    return summary.capitalize() + "." if summary else "No changes. The environment matches the desired state."


REPLACEMENT = {
    "beside": "the new one is made beside the old one, what depends on it is pointed at it, then the old one is deleted",
    "delete_first": "deleted first with everything that depends on it, then created anew",
}


def _mark(d: FieldDiff) -> str:
    if d.change is Change.IN_PLACE:
        return ""
    label = "forces replacement" if d.replace else d.change.value
    return f"  ({label}{': ' + d.why if d.why else ''})"


def change_entries(results: Iterable[NodeResult]) -> list[dict]:
    return [
        {
            "action": r.action,
            "resource": r.key,
            "kind": r.kind,
            "name": r.name,
            "id": r.id,
            "changes": [
                {"field": d.field, "old": _jsonable(d.actual), "new": _jsonable(d.expected), "replace": d.replace,
                 "change": d.change.value, **({"why": d.why} if d.why else {})}
                for d in r.changes
            ],
            "duplicates_removed": list(r.duplicates_removed),
            **({"refused": r.refusal} if r.refusal else {}),
            **({"dependents": r.dependents, "data_lost": r.data_lost, "replacement": r.replacement,
                "replaced_with": r.replaced_with} if r.action == "replace" else {}),
            **({"old_copies_deleted": list(r.deposed)} if r.deposed else {}),
        }
        for r in changes_of(results)
    ]


def duplicate_entries(results: Iterable[NodeResult]) -> list[dict]:
    """Every resource whose copies (a create retried after its answer was lost) were deleted,
    changed or not otherwise."""
    return [
        {"resource": r.key, "kind": r.kind, "name": r.name, "id": r.id, "removed": list(r.duplicates_removed)}
        for r in results
        if r.duplicates_removed
    ]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_show))


def render_outputs(outputs: dict[str, Any]) -> str:
    width = max(map(len, outputs)) if outputs else 0
    return "\n".join(f"{k.ljust(width)}  {_show(v)}" for k, v in outputs.items())


def dump(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, default=_show)


def render_drift(doc: dict) -> str:
    """One environment's drift document for people. With --new-only, what is new since the last
    check is marked "(new)"; what an ignore rule matched is listed last, with its reason;
    modifications on their way are listed, and do not make it out of sync."""
    from orchestrator.retained import describe

    kept = [describe(e) for e in doc.get("retained", [])]
    if doc["in_sync"] and (doc.get("retired") or doc.get("state") == "none"):
        return _render_torn_down(doc, kept)
    ignored = [_ignored_line(i) for i in doc.get("ignored", [])]
    waiting = _pending_lines(doc)
    if doc["in_sync"]:
        return _render_in_sync(doc, ignored, waiting, kept)
    fresh = {f["fingerprint"] for f in doc.get("new", [])}
    lines = [f"Drift in {doc['env']} ({doc['region']}):"]
    lines += _finding_lines(doc, _new_marker(doc, fresh))
    lines += waiting + ignored + [f"  = retained {k}" for k in kept]
    lines.append(_drift_summary(doc, fresh) + ".")
    return "\n".join(lines)


def _render_torn_down(doc: dict, kept: list[str]) -> str:
    # Torn down: one line, what AWS still keeps named with its date.
    when = f" on {doc['retired']['at'][:10]}" if doc.get("retired") else " (no state left)"
    return f"{doc['env']} was torn down{when}; retained: {'; '.join(kept) if kept else 'nothing'}."


def _pending_lines(doc: dict) -> list[str]:
    return [f"  … {p['kind']} {p['name']} ({p['id']}): modification pending: "
            + ", ".join(f"{k} → {_show(v)}" for k, v in p["attributes"].items()) for p in doc.get("pending", [])]


def _render_in_sync(doc: dict, ignored: list[str], waiting: list[str], kept: list[str]) -> str:
    head = f"In sync: {doc['env']} in {doc['region']} matches the desired state."
    return "\n".join([head[:-1] + f" ({len(ignored)} ignored by rule):", *ignored] if ignored else [head]) + (
        "\n" + "\n".join(waiting) if waiting else "") + "".join(f"\n  = retained {k}" for k in kept)


def _new_marker(doc: dict, fresh: set[str]):
    """``new(category, entry)``: " (new)" for a finding new since the last --new-only check;
    empty for the others, and for every finding of a check without --new-only."""
    marked = "new" in doc

    def new(category: str, entry: dict) -> str:
        from orchestrator.drift_rules import fingerprint

        return " (new)" if marked and fingerprint(category, entry) in fresh else ""

    return new


def _finding_lines(doc: dict, new) -> list[str]:
    """The findings, worst first: failed, drifted, missing, unmanaged (with the advice), unchecked."""
    lines = []
    for f in doc.get("failed", []):
        lines.append(f"  ! failed {f['kind']} {f['name']} ({f['id']}): {f['reason']}{new('failed', f)}")
    for d in doc["drifted"]:
        lines.append(f"  ~ {d['kind']} {d['name']} ({d['id']}): {d['attribute']}: {_show(d['actual'])} → expected "
                     f"{_show(d['expected'])}{new('drifted', d)}"
                     + (f" (a reconcile cannot restore it: {d['not_repairable']})" if d.get("not_repairable") else ""))
    for m in doc["missing"]:
        lines.append(f"  - missing {m['kind']} {m['name']}" + (f" (was {m['id']})" if m["id"] else "") + new("missing", m))
    for u in doc["unmanaged"]:
        lines.append(f"  ? unmanaged {u['kind']} {u['id']}{new('unmanaged', u)}")
    if doc["unmanaged"]:
        lines.append(f"  {UNMANAGED_ADVICE[0].upper()}{UNMANAGED_ADVICE[1:]}.")
    for c in doc["unchecked"]:
        lines.append(f"  ! could not check {c['resource']}: {c['reason']}{new('unchecked', c)}")
    return lines


def _drift_summary(doc: dict, fresh: set[str]) -> str:
    """"1 drifted, 2 missing", with how many are new when --new-only marked them."""
    counts = {k: len(doc.get(k, [])) for k in ("failed", "drifted", "missing", "unmanaged", "unchecked", "ignored")}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    if "new" in doc:
        summary += f"; {len(fresh)} new since the last check" if doc.get("new_since") else "; the first check: all new"
    return summary


def _ignored_line(entry: dict) -> str:
    what = {
        "drifted": lambda e: f"{e['kind']} {e['name']} ({e['id']}): {e['attribute']}: {_show(e['actual'])} → expected "
                             f"{_show(e['expected'])}",
        "missing": lambda e: f"missing {e['kind']} {e['name']}",
        "unmanaged": lambda e: f"unmanaged {e['kind']} {e['id']}",
    }[entry["category"]](entry)
    return f"  = ignored {what}: {entry['reason']}"

"""Replacements: which of a plan's replacements the apply may make, and what each takes with it
(the dependents a delete-first replacement deletes and creates anew, the data lost, a deletion
AWS would refuse). Pure: the plan's results and the graph in, refusals and blast radii out."""
from __future__ import annotations

from orchestrator import graph as graphs
from orchestrator.reconciler import NodeResult
from orchestrator.spec import Node


def blast_radius(results: list[NodeResult], graph: dict) -> None:
    """Every replacement's dependents, for the plan (a run whose plan could not judge them all)."""
    for r in results:
        if r.action == "replace":
            r.dependents = sorted(graphs.descendants(graph, r.key))


def judge_replacements(results: list[NodeResult], graph: dict, by_key: dict[str, Node], allow: frozenset[str], rec) -> None:
    """Which replacements the apply may make, and what each takes with it.

    One made beside the old one (Handler.replace_beside) re-points its dependents in the walk
    and loses only its own data; one that deletes first takes every dependent with it, deleted
    and created anew. Either is made without asking when no data is lost; otherwise only with
    ``--allow-replace KEY`` naming the node whose change forces it, the data lost spelled out.
    A deletion AWS would refuse (deletion protection on, read live) refuses the plan, which
    never promises what the apply cannot do."""
    by_result = {r.key: r for r in results}
    replacing = [r for r in results if r.replacement]
    scopes = {r.key: ({r.key} | graphs.descendants(graph, r.key)) if r.replacement == "delete_first" else {r.key}
              for r in replacing}
    inside = {k for root, keys in scopes.items() for k in keys if k != root}
    for r in replacing:
        if r.key not in inside:  # judged with the replacement that takes it
            _judge_replacement(r, scopes[r.key], graph, by_key, by_result, allow, rec)


def _judge_replacement(r: NodeResult, scope: set[str], graph: dict, by_key: dict[str, Node],
                       by_result: dict[str, NodeResult], allow: frozenset[str], rec) -> None:
    r.dependents = sorted(graphs.descendants(graph, r.key))
    r.data_lost = {k: by_key[k].handler.stateful for k in sorted(scope) if by_key[k].handler.stateful}
    for key in sorted((scope - {r.key}) & by_result.keys()):
        by_result[key].action, by_result[key].replacement, by_result[key].replaced_with = "replace", "delete_first", r.key
    protected = ([reason for key in sorted(scope) for reason in rec.protections(by_key[key])]
                 if r.replacement == "delete_first" else [])
    if protected:
        # --allow-replace alone would be refused again (AWS refuses the deletion): every step.
        consent = f" and --allow-replace {r.key}" if r.data_lost else ""
        r.refusal = (f"{_not_in_place(r)}, and its replacement would delete "
                     f"{'; '.join(protected)}: to replace it, first set deletion_protection = false with the "
                     f"previous value kept and run bin/reconcile, then run bin/reconcile with the new value{consent}; "
                     "or restore the previous value")
    elif r.data_lost and r.key not in allow:
        r.refusal = f"{_not_in_place(r)}; to replace it: --allow-replace {r.key}, or restore the previous value"


def _not_in_place(r: NodeResult) -> str:
    """The change only a replacement makes, and what the replacement takes with it."""
    shown = ", ".join(f"{d.field} {d.actual!r} → {d.expected!r}" for d in r.changes if d.replace)
    taken = f"it takes {len(r.dependents)} dependent(s) with it" if r.replacement == "delete_first" else ""
    lost = "; ".join(f"{k}: {what}" for k, what in r.data_lost.items())
    radius = "; ".join(p for p in (taken, f"data lost: {lost}" if lost else "") if p)
    return f"{r.kind} {r.name} ({r.id}) cannot change {shown} in place ({radius})"

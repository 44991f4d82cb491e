"""One reconcile step per node (controller-runtime / ACK / Terraform's provider shape).

find → absent: record intent, create with tags, record the id at once, wait ready, converge
the fields the create call cannot set → present: diff (pure) → nothing, or update in place.
A plan is the same walk with every mutating step replaced by a recorded change.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from concurrent.futures import Executor, Future
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Callable

import structlog

from orchestrator import lifecycle
from orchestrator.errors import one_line
from orchestrator.phases import Phase, Redeploy
from orchestrator.spec import UNKNOWN, Node, has_unknown, resolve, spec_hash
from orchestrator.waiting import ResourceGone, wait_for
from resources.aws import Aws
from resources.aws import retries
from resources.base import (
    Change, FieldDiff, Handler, Observed, OnFailed, Refresh, ResourceError, Status, owned_by, spec_problems,
)
from resources.aws.clock import Clock
from resources.aws.shared_reads import SharedReads, first_look, tags_read_live

# In a plan's ``settled``: the node's resource was looked for and not found.
ABSENT = "absent"
EVENTS = {"create": "resource_created", "update": "resource_updated", "replace": "resource_replaced", "unchanged": "resource_unchanged"}
TOKEN_NAMESPACE = uuid.UUID("6f1d3b52-9a51-4c5e-9f55-7c1a9e0d2b10")


@dataclass
class NodeResult:
    key: str
    kind: str
    name: str
    action: str  # create | update | replace | unchanged | delete | absent
    id: str | None = None
    changes: list[FieldDiff] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Copies of this resource made by a create whose answer was lost, found by their ownership
    # tags and deleted in this run (the kept one is ``id``).
    duplicates_removed: list[str] = field(default_factory=list)
    # Why AWS would refuse this change (an impossible change, a replacement, a failed resource
    # kept for a person): a plan exits 1 with it, an apply raises it before the node's first call.
    refusal: str | None = None
    # The reason the last run failed at this node, kept in its state entry until it converges.
    previous_failure: str | None = None
    # Still being created or changed (a plan does not wait for it; the apply does).
    pending: bool = False
    # A replacement's blast radius: every node that depends on this one, and what the stateful
    # ones among them would lose (set by the walk, which knows the graph).
    dependents: list[str] = field(default_factory=list)
    # The failure AWS reports for a resource an update repairs (a rolled-back deployment).
    failed_state: str | None = None
    # A modification AWS accepted and has not applied yet: field -> the value it will set.
    awaiting: dict[str, Any] = field(default_factory=dict)
    data_lost: dict[str, str] = field(default_factory=dict)
    # How a change AWS cannot make in place is made (Handler.replace_beside): "beside" (the new
    # one first, the old one deleted after the walk) or "delete_first" (the old one and its
    # dependents deleted, then created anew).
    replacement: str | None = None
    # The node whose replacement deletes and re-creates this one with it (delete_first).
    replaced_with: str | None = None
    # Old copies left by a replacement made beside them, deleted once the walk succeeded.
    deposed: list[str] = field(default_factory=list)
    # A plan's digest of what it read of the resource (observed_digest): a saved plan keeps it,
    # and its apply refuses when the apply's own plan reads something else (orchestrator/saved_plan.py).
    observed: str | None = None


def idempotency_token(account: str | None, region: str, env: str, key: str, attempt: int, spec: dict) -> str:
    """Deterministic: a run killed after the create call but before the id was recorded sends
    the same token again, and AWS returns the resource it already made (B-EC2-2).

    The resolved spec is part of it: after a teardown the same node is created in a new VPC or
    subnet, and EC2 remembers tokens for a while, answering IdempotentParameterMismatch to an
    old token with new parameters.
    """
    return str(uuid.uuid5(TOKEN_NAMESPACE, f"{account}/{region}/{env}/{key}/{attempt}/{spec_hash(spec)}"))


class Reconciler:
    def __init__(
        self, aws: Aws, *, env: str, state, save: Callable[[], None], clock: Clock, plan: bool = False,
        shared: SharedReads | None = None, retired_tags: frozenset[str] = frozenset(),
        phases: tuple[Phase, ...] = (Redeploy(),), replace_ok: frozenset[str] = frozenset(),
        settled_in_plan: dict[str, tuple[str, "NodeResult"]] | None = None,
    ):
        self.aws = aws
        self.env = env
        self.state = state
        self.save = save
        self.clock = clock
        self.plan = plan
        self.outputs: dict[str, dict[str, Any]] = {}
        self._handlers: dict[type, Handler] = {}
        self.shared = shared or SharedReads()
        # Tag keys an earlier configuration had the tool set and the current one does not want.
        self.retired_tags = retired_tags
        # Features that add their own change to a node's diff (orchestrator/phases.py).
        self.phases = phases
        # Nodes the plan found replaceable (stateless, or consented to with --allow-replace).
        self.replace_ok = replace_ok
        # A plan's nodes it read and found unchanged, by key: (the hash of the resolved spec it
        # compared, its result), or found absent: (ABSENT, its result). An apply walk hands the
        # former back without reading them again and creates the latter without looking again.
        self.settled: dict[str, tuple[str, NodeResult]] = {}
        self.settled_in_plan = settled_in_plan or {}
        # A plan's reads started before the walk (``read_ahead``): key -> (the spec they were
        # made for, the find's future).
        self._read_ahead: dict[str, tuple[dict, Future]] = {}
        retries.install_on(aws)

    def handler(self, node: Node) -> Handler:
        h = self._handlers.get(node.handler)
        if h is None:
            h = node.handler(self.aws, env=self.env, clock=self.clock)
            if hasattr(self.aws, "session"):
                # The service's client may predate install_on (the AZ choice made the EC2 one).
                retries.install(self.aws.client(h.service).meta.events)
            h.shared = self.shared
            # Published only once complete: other threads pick it up at once.
            h = self._handlers.setdefault(node.handler, h)
        return h

    def read_ahead(self, nodes, pool: Executor) -> None:
        """A plan's reads, all started at once before the walk: every recorded node is looked for
        with its spec resolved from the outputs the state recorded, so the reads need not wait
        for the graph's depth (a no-op reconcile or a drift check is a few waves of parallel
        reads, not one per level). The walk takes a node's read when the spec it resolves is
        the one read for (nothing changed above it), and reads again otherwise; a node never
        recorded, or left mid-create, is read by the walk as before. Reads only: a plan's
        walk makes no change, so nothing here can be older than a change of its own.

        An apply's walk reads as it goes, but every kind with a ``batch_size`` still reads its
        recorded resources in one call (SharedReads.want): a node's find comes before its own
        change, and nothing else changes its resource."""
        entries = self.state.resources  # one copy of the state's entries, not one per node
        recorded = {key: entry.get("outputs") or {} for key, entry in entries.items()}
        ahead = []
        for node in nodes:
            entry = entries.get(node.key) or {}
            if entry.get("id") and not entry.get("intent"):
                h = self.handler(node)
                spec = h.desired(resolve(node.spec, recorded))
                if not has_unknown(spec) and not spec_problems(h, spec, has_unknown):
                    if h.batch_size:
                        self.shared.want(h.batch_key, entry["id"])  # all of a kind known before the first read
                    ahead.append((node.key, h, spec, entry["id"]))
        for key, h, spec, resource_id in ahead if self.plan else ():
            # The spec itself is kept, not its hash: hashing the 65 specs here took 13 ms of the
            # no-op's CPU before the last read could start.
            self._read_ahead[key] = (spec, pool.submit(first_look, lifecycle.find, h, spec, resource_id))
            for read in filter(None, (p.read_ahead(key, h, resource_id, self.shared) for p in self.phases)):
                pool.submit(read)  # a phase's read (the rotation schedule's), ahead too

    def _find(self, node: Node, h: Handler, spec: dict, entry: dict) -> Observed | None:
        """The node's resource by its recorded id or its ownership tags, from the read made
        ahead for this very spec when there is one."""
        ahead = self._read_ahead.pop(node.key, None)
        if ahead is not None and ahead[0] == spec:
            return ahead[1].result()
        return first_look(lifecycle.find, h, spec, entry.get("id"))

    def _record(self, node: Node, **fields) -> None:
        if not self.plan:
            self.state.set_resource(node.key, kind=node.handler.kind, name=node.name, **fields)
            self.save()

    # -- reconcile ---------------------------------------------------------------------------
    def reconcile(self, node: Node) -> NodeResult:
        """One node; a failure is recorded in its state entry (reason and time) before it is
        raised, so the next run and the drift check know of it until a run converges it."""
        try:
            result = self._reconcile(node)
        except Exception as exc:
            self._record(node, failure={"reason": one_line(exc), "at": _now_iso()})
            raise
        return result

    def _reconcile(self, node: Node) -> NodeResult:
        started = time.monotonic()
        h = self.handler(node)
        log = structlog.get_logger().bind(kind=h.kind, name=node.name)
        spec = self._desired(node, h)
        digest = spec_hash(spec)
        entry = self.state.resource(node.key) or {}
        planned = self._as_planned(node, digest, entry)
        if planned is not None:
            return self._finish(node, h, spec, digest, planned, log, started)
        result = self._new_result(node, h, entry, log)
        obs = self._observe(node, h, spec, entry, log, result)
        if obs is None:
            obs = self._absent(node, h, spec, entry, log, result)
            if obs is None:  # a plan shows the create, it does not make it
                result.observed = observed_digest(None)
                return result
        elif result.refusal is None:  # a failed resource kept for a person is not diffed
            obs = self._converge(node, h, spec, obs, entry, log, result)
        result.id = obs.id
        result.outputs = h.outputs(obs)
        if self.plan and _settled(result):
            self.settled[node.key] = (digest, result)
        return self._finish(node, h, spec, digest, result, log, started, obs)

    def _finish(self, node: Node, h: Handler, spec: dict, digest: str, result: NodeResult, log, started: float,
                obs: Observed | None = None) -> NodeResult:
        """The node's outputs for its dependents, its state entry, its log line."""
        if self.plan:
            result.observed = observed_digest(obs)
        self.outputs[node.key] = self._outputs_for_dependents(h, spec, obs, result)
        self._record(node, id=result.id, spec_hash=digest, outputs=result.outputs, intent=None, failure=None)
        log.info(
            "resource_planned" if self.plan else EVENTS[result.action],
            id=result.id,
            action=result.action,
            duration_s=round(time.monotonic() - started, 3),
        )
        return result

    def _absent_in_plan(self, node: Node) -> bool:
        """The plan looked for this node's resource moments ago, by its recorded id and by its
        ownership tags (which need no reference resolved, as teardown's search), and found none;
        under the state's lock nothing has made one since (a create of this run would have
        recorded its intent first): the apply creates it without looking again."""
        known = self.settled_in_plan.get(node.key)
        return not self.plan and known is not None and known[0] == ABSENT and known[1].action == "create"

    def _as_planned(self, node: Node, digest: str, entry: dict) -> NodeResult | None:
        """The plan's result for a node it read moments ago and found unchanged, when the apply
        would compare the same thing: the same resolved spec (its dependencies' outputs are what
        the plan saw), nothing left in its entry by an earlier run, no redeploy asked for. The
        apply walk does not read it again: it works from its plan, as Terraform's apply does. (A
        node the plan's replacement judgement took into a replacement's scope no longer is.)"""
        known = self.settled_in_plan.get(node.key)
        if self.plan or known is None or any(p.asked(node.key) for p in self.phases) or known[0] != digest:
            return None
        result = known[1]
        if not _settled(result) or entry.get("intent") or entry.get("failure") or entry.get("deposed") or entry.get("id") != result.id:
            return None
        return dataclasses.replace(result)

    def _desired(self, node: Node, h: Handler) -> dict:
        """The node's spec with its references resolved, checked against the kind's typed fields
        and AWS's value rules before any call, in the kind's normal form."""
        resolved = resolve(node.spec, self.outputs)
        problems = spec_problems(h, resolved, has_unknown)
        if problems:
            raise ResourceError("; ".join(problems))
        return h.desired(resolved)

    def _new_result(self, node: Node, h: Handler, entry: dict, log) -> NodeResult:
        result = NodeResult(node.key, h.kind, node.name, "unchanged", previous_failure=(entry.get("failure") or {}).get("reason"))
        result.deposed = [i for i in entry.get("deposed", []) if i != entry.get("id")]
        if result.previous_failure:
            log.warning("previous_run_failed_here", reason=result.previous_failure)
        return result

    def _observe(self, node: Node, h: Handler, spec: dict, entry: dict, log, result: NodeResult) -> Observed | None:
        """The node's live resource, settled (pending waited for, failed handled); None: there is
        none to reconcile. After a run that stopped mid-create, every copy it may have made."""
        if entry.get("intent") and not self.plan:
            obs = self._resume(node, h, spec, entry, log, result)
        elif self._absent_in_plan(node):
            return None
        else:
            obs = self._find(node, h, spec, entry)
        if obs is None:
            return None
        result.awaiting = dict(obs.pending)
        return self._settle(node, h, spec, obs, log, result)

    def _absent(self, node: Node, h: Handler, spec: dict, entry: dict, log, result: NodeResult) -> Observed | None:
        """No live resource: the apply creates it; a plan shows the create and returns None."""
        result.action = "create" if result.action == "unchanged" else result.action
        result.changes = result.changes or [FieldDiff(k, v, None) for k, v in spec.items() if k != "name"]
        if self.plan:
            # What the create will give that the spec already says (a name-derived ARN): a
            # dependent is compared with that, and shows a change only where its value
            # really depends on what AWS assigns (an id), as "known after apply".
            self.outputs[node.key] = h.planned_outputs(spec)
            if result.action == "create":
                self.settled[node.key] = (ABSENT, result)
            return None
        obs = self._create(node, h, spec, entry, log, result)
        result.changes = []  # the create carried them
        return obs

    def _converge(self, node: Node, h: Handler, spec: dict, obs: Observed, entry: dict, log, result: NodeResult) -> Observed:
        """A live resource: diffed; what differs is changed in place or by a replacement, or
        refused (before any call) when AWS would refuse it or the plan did not allow it."""
        diffs = self._field_diffs(h, spec, obs)
        if self.shared.tags_indexed and any(d.field.startswith("tags.") for d in diffs):
            # The tag index follows changes with a delay (C-TAG-1): a tag difference it shows is
            # read again from the resource before it is reported or acted on.
            with tags_read_live():
                live = h.read(obs.id)
            if live is not None:
                obs = live
                diffs = self._field_diffs(h, spec, obs)
        diffs += [d for phase in self.phases for d in phase.changes(node.key, h, obs, self.shared)]
        if not diffs:
            return obs
        result.action = "replace" if any(d.replace for d in diffs) else "update"
        result.changes = diffs
        refused = self._refusal(node, h, obs, diffs, result)
        if refused:
            result.refusal = refused
            if not self.plan:
                raise ResourceError(refused)
        if self.plan:
            return obs
        return self._change(node, h, spec, obs, diffs, entry, log, result)

    def _field_diffs(self, h: Handler, spec: dict, obs: Observed) -> list[FieldDiff]:
        return lifecycle.diff(h, spec, obs) + retired_tag_diffs(self.retired_tags, spec, obs)

    def _refusal(self, node: Node, h: Handler, obs: Observed, diffs: list[FieldDiff], result: NodeResult) -> str | None:
        """Why this change cannot be made: AWS refuses it, or it needs a replacement the plan
        did not allow (stateless, or consented to with --allow-replace)."""
        refused = impossible(h, node, obs, diffs)
        if refused or result.action != "replace":
            return refused
        result.replacement = "beside" if h.replace_beside else "delete_first"
        # Whether a replacement may be made is the plan's to say (the graph: what goes with it,
        # what data; the consent): the apply makes only those.
        if not self.plan and node.key not in self.replace_ok:
            return not_in_place(h, node, obs, diffs)
        return None

    def _outputs_for_dependents(self, h: Handler, spec: dict, obs: Observed | None, result: NodeResult) -> dict[str, Any]:
        """What the dependents of this node resolve their references with. A plan's dependents
        see what the apply will give them: an id not known yet after a replacement or a new
        revision, an output the update changes (a REST API's deployed configuration) as it will be."""
        if not self.plan:
            return result.outputs
        new_id = result.action == "replace" or (
            result.action == "update" and h.update_makes_new_id and any(not d.field.startswith("tags.") for d in result.changes))
        if new_id:
            return {}
        if result.action == "update":
            return {**result.outputs, **h.outputs_after_update(spec, obs)}
        return result.outputs

    @staticmethod
    def _supersedes(h: Handler, spec: dict, obs: Observed) -> bool:
        """A change to make to a resource whose earlier change is still in progress, of a kind
        whose update takes that one's place (Handler.update_supersedes_pending)."""
        return h.update_supersedes_pending and bool(lifecycle.diff(h, spec, obs))

    def _settle(self, node: Node, h: Handler, spec: dict, obs: Observed, log, result: NodeResult) -> Observed | None:
        """A found resource in the state AWS reports: pending is waited for, failed follows the
        kind's ``on_failed``. None: there is no live resource to reconcile (create one)."""
        what = f"{h.kind} {node.name} ({obs.id})"
        state = h.status(obs.raw)
        result.pending = state.status is Status.PENDING
        if result.pending and not self.plan and not self._supersedes(h, spec, obs):
            # Created or changed by an earlier run that did not wait for it (C-ECS-4): attributes
            # and endpoints are final only once it is ready (an RDS instance has no Endpoint
            # while creating, A-13), and AWS refuses a modify while one is in progress.
            # A create or an update an earlier run left going: the longer of the two.
            obs = self._ready(h, obs.id, what, timeout=max(h.create_timeout, h.update_timeout))
            state = h.status(obs.raw)
        if state.status is not Status.FAILED:
            return obs
        result.failed_state = state.detail or "failed"
        reason = f"{what} is failed ({state.detail or 'no reason given'})"
        if h.on_failed == OnFailed.UPDATE:
            # A deployment that failed or was rolled back (C-ECS-1/2): never "unchanged"; the
            # update deploys the requested revision again (_redeploy adds the change).
            return obs
        if h.on_failed != OnFailed.REPLACE:
            # Listed (so teardown deletes it) but never "unchanged": a person decides.
            result.refusal = f"{reason}: tear the environment down and reconcile again"
            result.action = "replace"
            result.changes = [FieldDiff("status", "ready", f"failed: {state.detail}", Change.IMPOSSIBLE)]
            if self.plan:
                return obs
            raise ResourceError(result.refusal)
        result.action = "replace"
        result.changes = [FieldDiff("status", "ready", f"failed: {state.detail}", Change.REPLACE, "a new one replaces it")]
        if self.plan:
            return None
        log.warning("failed_resource_replaced", id=obs.id, reason=state.detail)
        self._delete_and_wait(h, obs, spec, what)
        return None

    def _change(self, node: Node, h: Handler, spec: dict, obs: Observed, diffs: list[FieldDiff], entry: dict, log,
                result: NodeResult) -> Observed:
        if not result.replacement:
            return self._update(h, spec, obs, diffs, node)
        if h.replace_beside:
            return self._replace_beside(node, h, spec, obs, entry, log, result)
        # Deleted before this walk with everything that depends on it (run.apply_stack): still
        # here means someone made it again in between.
        raise ResourceError(f"{h.kind} {node.name} ({obs.id}) was to be deleted before this walk and is still there")

    def _replace_beside(self, node: Node, h: Handler, spec: dict, old: Observed, entry: dict, log, result: NodeResult) -> Observed:
        """Create before destroy: the old one is recorded as deposed before anything is made, so
        a run killed from here on still knows it, and it stays until the walk has re-pointed
        every dependent (delete_deposed); the new one is made with a new token."""
        deposed = sorted({*entry.get("deposed", []), old.id})
        self._record(node, id=None, deposed=deposed)
        result.deposed = deposed
        obs = self._create(node, h, {**spec, "name": h.beside_name(spec, old)}, {**entry, "id": None, "intent": None}, log, result)
        log.warning("resource_replaced_beside", id=obs.id, old=old.id)
        return obs

    def delete_deposed(self, node: Node) -> list[str]:
        """Delete the old copies a replacement left beside the new one, once nothing refers to
        them any more (the walk succeeded); the ids deleted."""
        entry = self.state.resource(node.key) or {}
        old = [i for i in entry.get("deposed", []) if i != entry.get("id")]
        h = self.handler(node)
        for resource_id in old:
            obs = h.read(resource_id)
            if obs is not None:
                self._delete_and_wait(h, obs, None, f"old {h.kind} {node.name} ({resource_id})")
                structlog.get_logger().bind(kind=h.kind, name=node.name).info("deposed_deleted", id=resource_id)
        if entry.get("deposed"):
            self._record(node, deposed=None)
        return old

    def _delete_and_wait(self, h: Handler, obs: Observed, spec: dict | None, what: str) -> None:
        lifecycle.remove(h, obs, spec)
        wait_for(lambda: h.refresh(obs.id), Status.GONE, what=what,
                 timeout=h.delete_timeout, ceiling=h.poll_ceiling, clock=self.clock)

    def _resume(self, node: Node, h: Handler, spec: dict, entry: dict, log, result: NodeResult) -> Observed | None:
        """Find after a run that stopped between a create and its end (its intent is still
        recorded): that create may have left copies, so every resource carrying the node's
        ownership record is looked at. The recorded one is kept, else exactly one is adopted;
        the others are deleted."""
        recorded = h.read(entry["id"]) if entry.get("id") else None
        # The old copy of a replacement made beside it carries the same tags: not a duplicate.
        tagged = [o for o in h.list_owned(spec) if owned_by(o.tags, spec) and o.id not in entry.get("deposed", ())]
        # Any copy will do when none was recorded: all were made from this spec and token.
        kept = recorded or min(tagged, key=lambda o: o.id, default=None)
        if kept is not None and self._remove_duplicates(node, h, spec, kept.id, tagged, log, result):
            # Read again: what the kept one says of its peers (an API key's companions) must not
            # name the copies just deleted.
            kept = h.read(kept.id) or kept
        return kept

    def _remove_duplicates(
        self, node: Node, h: Handler, spec: dict, kept: str, tagged: list[Observed], log, result: NodeResult,
    ) -> bool:
        """Delete the copies; True when there were any."""
        extra = [o for o in tagged if o.id != kept and owned_by(o.tags, spec) and o.id not in result.deposed]
        for obs in extra:
            self._delete_and_wait(h, obs, spec, f"duplicate {h.kind} {node.name} ({obs.id})")
        if extra:
            result.duplicates_removed.extend(sorted(o.id for o in extra))
            log.warning("duplicate_removed", id=kept, removed=result.duplicates_removed)
        return bool(extra)

    def _adopt_after_retry(self, h: Handler, spec: dict) -> Observed | None:
        """The retry of a create was refused because its first attempt had made the resource
        (InvalidGroup.Duplicate, DBSubnetGroupAlreadyExists, ResourceAlreadyExistsException,
        EntityAlreadyExists): ours if it carries the node's ownership record."""
        tagged = [o for o in h.list_owned(spec) if owned_by(o.tags, spec)]
        return min(tagged, key=lambda o: o.id, default=None)

    def _create(self, node: Node, h: Handler, spec: dict, entry: dict, log, result: NodeResult) -> Observed:
        if has_unknown(spec):
            raise ResourceError(f"{h.kind} {node.name}: a dependency's output is missing")
        intent = entry.get("intent")
        attempt = entry.get("attempt", 0)
        if not intent:
            # A recorded intent means the last create may have happened without its answer
            # reaching us: same token again. Otherwise this is a new attempt with a new token.
            attempt += 1
            intent = {"token": idempotency_token(self.state.account, self.aws.region, self.env, node.key, attempt, spec)}
        self._record(node, intent=intent, attempt=attempt)
        with retries.watch() as retried:
            try:
                new_id = h.create(spec, intent["token"])
            except Exception:
                adopted = self._adopt_after_retry(h, spec) if retried else None
                if adopted is None:
                    raise
                log.warning("create_retry_adopted", id=adopted.id, retried=retried.describe())
                new_id = adopted.id
        self._record(node, id=new_id)
        log.info("resource_create_called", id=new_id)
        what = f"{h.kind} {node.name} ({new_id})"
        try:
            obs = self._ready(h, new_id, what, timeout=h.create_timeout)
        except ResourceError:
            # A failed resource (a NAT "failed") is not live: the next run creates a new one
            # with a new token rather than being handed the failed one again.
            self._record(node, intent=None)
            raise
        if retried:
            # A create answered after a retry may have made a second resource on the attempt
            # whose answer was lost: the ownership tags find it. Compared by the id as read
            # back, the form list_owned reports too (a create may answer a name or an ARN).
            log.warning("create_retried", id=obs.id, retried=retried.describe())
            if self._remove_duplicates(node, h, spec, obs.id, h.list_owned(spec), log, result):
                obs = h.read(obs.id) or obs  # its view of its peers without the deleted copies
        diffs = lifecycle.diff(h, spec, obs)
        return self._update(h, spec, obs, diffs, node) if diffs else obs

    def _update(self, h: Handler, spec: dict, obs: Observed, diffs: list[FieldDiff], node: Node) -> Observed:
        what = f"{h.kind} {node.name} ({obs.id})"
        lifecycle.update(h, spec, obs, diffs)
        try:
            return self._read_back(h, spec, obs.id, {d.field for d in diffs}, what)
        except ResourceError as exc:
            # A deployment rolled back, a modification that did not take: AWS's own account of
            # why (the reason on the error's line, events and stopped tasks after it).
            said = h.explain(h.read(obs.id) or obs)
            if not said:
                raise
            raise ResourceError(f"{exc}; {said[0]}", [*getattr(exc, "details", ()), *said[1:]]) from exc

    def _ready(self, h: Handler, resource_id: str, what: str, *, timeout: float) -> Observed:
        """Wait for the resource to be ready, and hand it back as the poll that found it ready
        described it: no describe of its own after the wait."""
        seen: dict[str, dict] = {}

        def poll() -> Refresh:
            refresh, seen["raw"] = h.poll(resource_id)
            return refresh

        wait_for(poll, Status.READY, what=what, timeout=timeout, ceiling=h.poll_ceiling, clock=self.clock)
        return h.observe(seen["raw"])

    def _read_back(self, h: Handler, spec: dict, resource_id: str, changed: set[str], what: str) -> Observed:
        """Wait for the resource to be ready again, then re-read and re-diff the fields just
        changed: AWS can accept a change and not apply it (a modification that fails and returns
        to "available", a value another writer puts back), and that is a failure naming the
        field, never "updated".

        A change is done when AWS says so: a field still pending (PendingModifiedValues while
        the status already reads "available", C-RDS-1) is waited for, up to the update timeout.
        Where a kind's reads may lag its writes (EC2, B-EC2-1) a field that still differs is
        given ``read_after_write_lag`` seconds to clear; where it clears at once this is the one
        read that hands back the updated resource."""
        seen: dict[str, Any] = {}
        start = self.clock.now()

        def reread() -> Refresh:
            # One describe while it is not ready (a deployment, a modification); the whole read
            # (tags too) once it is.
            refresh, raw = h.poll(resource_id)
            if refresh.status is Status.DELETING:
                return Refresh(Status.GONE)
            if refresh.status is not Status.READY:
                return refresh
            fresh = h.observe(raw)
            waiting = sorted(changed & fresh.pending.keys())
            applied = dataclasses.replace(fresh, pending={})
            left = [d for d in lifecycle.diff(h, spec, applied) + retired_tag_diffs(self.retired_tags, spec, applied)
                    if d.field in changed]
            seen.update(obs=fresh)
            if waiting:
                return Refresh(Status.PENDING, f"modification pending: {', '.join(waiting)}")
            if left and self.clock.now() - start < h.read_after_write_lag:
                return Refresh(Status.PENDING, "the change is not visible yet")
            if left:
                shown = ", ".join(f"{d.field} is {_short(d.actual)}, expected {_short(d.expected)}" for d in left)
                raise UpdateNotApplied(f"{what}: the update did not take: {shown}")
            return Refresh(Status.READY)

        try:
            wait_for(reread, Status.READY, what=what, timeout=h.update_timeout, ceiling=h.poll_ceiling, clock=self.clock)
        except ResourceGone:
            raise ResourceError(f"{what} disappeared during update") from None
        return seen["obs"]

    # -- teardown ----------------------------------------------------------------------------
    def live(self, node: Node) -> dict[str, Observed]:
        """Every live resource of this node: the recorded id and anything carrying its tags.
        Tags need no references, so this works with no state and no dependency outputs."""
        h = self.handler(node)
        entry = self.state.resource(node.key) or {}
        found: dict[str, Observed] = {}
        if entry.get("id"):
            obs = h.read(entry["id"])
            if obs is not None:
                found[obs.id] = obs
        for obs in h.list_owned(resolve(node.spec, {})):
            found.setdefault(obs.id, obs)
        return found

    def protections(self, node: Node) -> list[str]:
        """Why AWS would refuse to delete this node's resources now (deletion protection on),
        read live; only for kinds that have such a switch."""
        h = self.handler(node)
        if not h.has_protection:
            return []
        return [f"{h.kind} {node.name} ({obs.id}): {reason}"
                for obs in self.live(node).values() if (reason := h.protection(obs))]

    def teardown(self, node: Node) -> NodeResult:
        """Delete every live resource of this node: the recorded id and anything carrying its tags."""
        started = time.monotonic()
        h = self.handler(node)
        log = structlog.get_logger().bind(kind=h.kind, name=node.name)
        spec = resolve(node.spec, {})
        found = self.live(node)
        result = NodeResult(node.key, h.kind, node.name, "delete" if found else "absent")
        for obs in found.values():
            if self.plan:
                continue
            self._delete_and_wait(h, obs, spec, f"{h.kind} {node.name} ({obs.id})")
            log.info("resource_deleted", id=obs.id, action="delete", duration_s=round(time.monotonic() - started, 3))
        result.id = ", ".join(sorted(found)) or None
        if not self.plan:
            self.state.remove_resource(node.key)
            self.save()
        return result


class UpdateNotApplied(ResourceError):
    """AWS accepted an update and the resource, ready again, does not show it."""


def _settled(result: NodeResult) -> bool:
    """Read and found as asked: nothing to change, wait for or refuse."""
    return (result.action == "unchanged" and not result.pending and not result.awaiting
            and result.refusal is None and result.failed_state is None)


def observed_digest(obs: Observed | None) -> str:
    """What a plan read of a resource, as a digest: its id and the attributes and tags the diff
    compares (normalized by the handler, so two reads of an unchanged resource agree); "absent"
    when it found none. The raw answer is left out: it holds what moves by itself (counts, times)."""
    if obs is None:
        return ABSENT
    seen = json.dumps({"id": obs.id, "attrs": obs.attrs, "tags": obs.tags}, sort_keys=True, default=_canonical)
    return "sha256:" + hashlib.sha256(seen.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    # Sets have no order of their own; anything else not JSON (a datetime) by its text.
    return sorted(value, key=str) if isinstance(value, (set, frozenset)) else str(value)


def impossible(h: Handler, node: Node, obs: Observed, diffs: list[FieldDiff]) -> str | None:
    """The changes no apply can make: AWS refuses them, in place or by a replacement."""
    what = f"{h.kind} {node.name} ({obs.id})"
    refused = [d for d in diffs if d.change is Change.IMPOSSIBLE]
    if refused:
        shown = "; ".join(f"{d.field} {_short(d.actual)} → {_short(d.expected)}: {d.why or 'AWS refuses it'}" for d in refused)
        return f"{what}: impossible change: {shown}; restore the previous value"
    return None


def not_in_place(h: Handler, node: Node, obs: Observed, diffs: list[FieldDiff]) -> str:
    """A change only a replacement makes (a new resource, a new id), not consented to."""
    shown = ", ".join(f"{d.field} {d.actual!r} → {d.expected!r}" for d in diffs if d.replace)
    return f"{h.kind} {node.name} ({obs.id}) cannot change {shown} in place"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _short(value: Any, limit: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retired_tag_diffs(retired: frozenset[str], spec: dict, obs: Observed) -> list[FieldDiff]:
    """A tag the tool set earlier and no longer wants, still on the resource: to be removed
    (expected None). Keys set by anyone else are never in ``retired``."""
    return [FieldDiff(f"tags.{k}", None, obs.tags[k]) for k in sorted(retired) if k in obs.tags and k not in spec["tags"]]


__all__ = ["Reconciler", "NodeResult", "UNKNOWN", "idempotency_token"]

"""One reconcile step per node (controller-runtime / ACK / Terraform's provider shape).

find → absent: record intent, create with tags, record the id at once, wait ready, converge
the fields the create call cannot set → present: diff (pure) → nothing, or update in place.
A plan is the same walk with every mutating step replaced by a recorded change.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import structlog

from orchestrator.spec import UNKNOWN, Node, has_unknown, resolve, spec_hash
from orchestrator.waiting import wait_for
from resources.aws import Aws
from resources.base import FieldDiff, Handler, Observed, ResourceError, Status
from resources.clock import Clock

EVENTS = {"create": "resource_created", "update": "resource_updated", "unchanged": "resource_unchanged"}
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


def idempotency_token(account: str | None, region: str, env: str, key: str, attempt: int, spec: dict) -> str:
    """Deterministic: a run killed after the create call but before the id was recorded sends
    the same token again, and AWS returns the resource it already made (B-EC2-2).

    The resolved spec is part of it: after a teardown the same node is created in a new VPC or
    subnet, and EC2 remembers tokens for a while, answering IdempotentParameterMismatch to an
    old token with new parameters.
    """
    return str(uuid.uuid5(TOKEN_NAMESPACE, f"{account}/{region}/{env}/{key}/{attempt}/{spec_hash(spec)}"))


class Reconciler:
    def __init__(self, aws: Aws, *, env: str, state, save: Callable[[], None], clock: Clock, plan: bool = False):
        self.aws = aws
        self.env = env
        self.state = state
        self.save = save
        self.clock = clock
        self.plan = plan
        self.outputs: dict[str, dict[str, Any]] = {}
        self._handlers: dict[type, Handler] = {}

    def handler(self, node: Node) -> Handler:
        h = self._handlers.get(node.handler)
        if h is None:
            h = self._handlers[node.handler] = node.handler(self.aws, env=self.env, clock=self.clock)
        return h

    def _record(self, node: Node, **fields) -> None:
        if not self.plan:
            self.state.set_resource(node.key, kind=node.handler.kind, name=node.name, **fields)
            self.save()

    # -- reconcile ---------------------------------------------------------------------------
    def reconcile(self, node: Node) -> NodeResult:
        started = time.monotonic()
        h = self.handler(node)
        log = structlog.get_logger().bind(kind=h.kind, name=node.name)
        spec = h.desired(resolve(node.spec, self.outputs))
        entry = self.state.resource(node.key) or {}
        obs = h.find(spec, entry.get("id"))
        result = NodeResult(node.key, h.kind, node.name, "unchanged")
        if obs is None:
            result.action = "create"
            result.changes = [FieldDiff(k, v, None) for k, v in spec.items() if k != "name"]
            if self.plan:
                return result
            obs = self._create(node, h, spec, entry, log)
            result.changes = []  # the create carried them
        else:
            if not self.plan and h.pending(obs):
                # Created or changed by an earlier run that did not wait for it: attributes and
                # endpoints are final only once it is ready (an RDS instance has no Endpoint
                # while creating, A-13), and AWS refuses a modify while one is in progress.
                wait_for(
                    lambda: h.refresh(obs.id), Status.READY, what=f"{h.kind} {node.name} ({obs.id})",
                    timeout=h.create_timeout, ceiling=h.poll_ceiling, clock=self.clock,
                )
                obs = h.get(obs.id) or obs
            diffs = h.diff(spec, obs)
            if diffs:
                replace = [d for d in diffs if d.replace]
                result.action = "replace" if replace else "update"
                result.changes = diffs
                if replace and not self.plan:
                    shown = ", ".join(f"{d.field} {d.actual!r} → {d.expected!r}" for d in replace)
                    raise ResourceError(
                        f"{h.kind} {node.name} ({obs.id}) cannot change {shown} in place; "
                        "tear the environment down or restore the previous value"
                    )
                if not self.plan:
                    obs = self._update(h, spec, obs, diffs, node)
        result.id = obs.id
        result.outputs = h.outputs(obs)
        self.outputs[node.key] = result.outputs
        self._record(node, id=obs.id, spec_hash=spec_hash(spec), outputs=result.outputs, intent=None)
        log.info(
            "resource_planned" if self.plan else EVENTS[result.action],
            id=obs.id,
            action=result.action,
            duration_s=round(time.monotonic() - started, 3),
        )
        return result

    def _create(self, node: Node, h: Handler, spec: dict, entry: dict, log) -> Observed:
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
        new_id = h.create(spec, intent["token"])
        self._record(node, id=new_id)
        log.info("resource_create_called", id=new_id)
        what = f"{h.kind} {node.name} ({new_id})"
        try:
            wait_for(lambda: h.refresh(new_id), Status.READY, what=what, timeout=h.create_timeout, ceiling=h.poll_ceiling, clock=self.clock)
        except ResourceError:
            # A failed resource (a NAT "failed") is not live: the next run creates a new one
            # with a new token rather than being handed the failed one again.
            self._record(node, intent=None)
            raise
        obs = h.get(new_id)
        if obs is None:
            raise ResourceError(f"{what} is ready but cannot be read back")
        diffs = h.diff(spec, obs)
        return self._update(h, spec, obs, diffs, node) if diffs else obs

    def _update(self, h: Handler, spec: dict, obs: Observed, diffs: list[FieldDiff], node: Node) -> Observed:
        h.update(spec, obs, diffs)
        wait_for(
            lambda: h.refresh(obs.id), Status.READY, what=f"{h.kind} {node.name} ({obs.id})",
            timeout=h.create_timeout, ceiling=h.poll_ceiling, clock=self.clock,
        )
        fresh = h.get(obs.id)
        if fresh is None:
            raise ResourceError(f"{h.kind} {node.name} ({obs.id}) disappeared during update")
        return fresh

    # -- teardown ----------------------------------------------------------------------------
    def teardown(self, node: Node) -> NodeResult:
        """Delete every live resource of this node: the recorded id and anything carrying its tags."""
        started = time.monotonic()
        h = self.handler(node)
        log = structlog.get_logger().bind(kind=h.kind, name=node.name)
        # Tags need no references, so teardown works with no state and no dependency outputs.
        spec = resolve(node.spec, {})
        entry = self.state.resource(node.key) or {}
        found: dict[str, Observed] = {}
        if entry.get("id"):
            obs = h.get(entry["id"])
            if obs is not None:
                found[obs.id] = obs
        for obs in h.find_by_tags(spec):
            found.setdefault(obs.id, obs)
        result = NodeResult(node.key, h.kind, node.name, "delete" if found else "absent")
        for obs in found.values():
            if self.plan:
                continue
            h.delete(obs, spec)
            wait_for(
                lambda: h.refresh(obs.id), Status.GONE, what=f"{h.kind} {node.name} ({obs.id})",
                timeout=h.delete_timeout, ceiling=h.poll_ceiling, clock=self.clock,
            )
            log.info("resource_deleted", id=obs.id, action="delete", duration_s=round(time.monotonic() - started, 3))
        result.id = ", ".join(sorted(found)) or None
        if not self.plan:
            self.state.remove_resource(node.key)
            self.save()
        return result


__all__ = ["Reconciler", "NodeResult", "UNKNOWN", "idempotency_token"]

"""Features that add their own change to a node's diff during the walk, through one interface:
the reconciler asks each phase and knows no feature. Two today: a deployment made again (asked
for with --redeploy, or after the last one failed) and a secret's rotation (asked for, due by
age or in progress; its steps before and after the walk are orchestrator/rotation.py's)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from orchestrator.rotation import RotationPolicy
from resources.aws.shared_reads import SharedReads
from resources.base import Change, FieldDiff, Handler, Observed, OnFailed, Status


class Phase(Protocol):
    def asked(self, key: str) -> bool:
        """The user asked for this node's change: an apply reads the node again rather than
        take its plan's word that nothing changes."""

    def read_ahead(self, key: str, h: Handler, resource_id: str, reads: SharedReads) -> Callable[[], Any] | None:
        """A read ``changes`` will need, to start with the plan's reads ahead (None: none)."""

    def changes(self, key: str, h: Handler, obs: Observed, reads: SharedReads) -> list[FieldDiff]:
        """The phase's changes of the node, after the fields' diff."""


@dataclass(frozen=True)
class Redeploy:
    """The synthetic change ``deployment`` for a kind whose failure an update repairs (on_failed
    "update"): after a failed deployment, or when the user asks for one (``keys``: --redeploy, an
    image pushed again under the same tag). The handler's update_fields starts a new deployment."""

    keys: frozenset[str] = frozenset()

    def asked(self, key: str) -> bool:
        return key in self.keys

    def read_ahead(self, key, h, resource_id, reads):
        return None

    def changes(self, key, h, obs, reads):
        failed = h.on_failed == OnFailed.UPDATE and h.status(obs.raw).status is Status.FAILED
        if not failed and key not in self.keys:
            return []
        why = f"the last one failed: {h.status(obs.raw).detail}" if failed else "asked for with --redeploy"
        return [FieldDiff("deployment", "new deployment", "failed" if failed else "current", Change.IN_PLACE, why)]


@dataclass(frozen=True)
class Rotation:
    """The synthetic change ``rotation`` of a secret the tool rotates, in plans and drift checks
    (an apply walk leaves rotation to apply_stack, which runs its steps around the walk): one
    ListSecretVersionIds for the AUTH token, read ahead; the API key's companions came with its read."""

    policy: RotationPolicy = field(default_factory=RotationPolicy)

    def asked(self, key: str) -> bool:
        return key in self.policy.forced

    def read_ahead(self, key, h, resource_id, reads):
        return (lambda: self._versions(h, resource_id, reads)) if self.policy.reads_versions(key) else None

    def changes(self, key, h, obs, reads):
        found = self.policy.diff(key, h, obs, lambda arn: self._versions(h, arn, reads))
        return [found] if found else []

    def _versions(self, h: Handler, secret_arn: str, reads: SharedReads):
        """A secret's versions, read once a plan (ahead of the walk when its id is recorded)."""
        return reads.once(("secret_versions", secret_arn), lambda: self.policy.versions_of(h, secret_arn))

"""The one handler contract every AWS resource kind implements.

A handler is stateless policy plus AWS calls: it knows nothing of the graph or the state store.
The reconciler calls, for one node:

    find(spec)        -> Observed | None    by recorded id, else by ownership tags / unique name
    diff(spec, obs)   -> [FieldDiff]        pure: desired against observed, [] means no call
    create(spec, tok) -> id                 does not wait; tags go in the create call itself
    update(spec, obs, diffs)                in place; only the fields that differ
    delete(obs, spec)                       does not wait; not-found counts as done
    refresh(id)       -> Status             the status function the waiter polls
    outputs(obs)      -> dict               what dependents may read

``spec`` is the node's desired state with every reference already resolved: a dict with at
least ``name`` and ``tags``; every other key is compared with the same key of
``Observed.attrs`` by the default ``diff``.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

from resources.aws import Aws, error_code
from resources.clock import REAL_CLOCK, Clock
from resources.shared_reads import SharedReads

MANAGED_BY = "video-pipeline-infra"


class Status(enum.Enum):
    READY = "ready"
    PENDING = "pending"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True)
class Refresh:
    status: Status
    detail: str = ""


@dataclass
class Observed:
    id: str
    attrs: dict[str, Any]
    tags: dict[str, str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class FieldDiff:
    field: str
    expected: Any
    actual: Any
    replace: bool = False


class ResourceError(Exception):
    """A handler's one-line explanation of why a resource cannot converge."""

    @property
    def user_message(self) -> str:
        return str(self)


def ownership_tags(name: str, env: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    # User default tags first so they can never override the ownership record.
    return {**(extra or {}), "Name": name, "Environment": env, "ManagedBy": MANAGED_BY}


def tag_dict(tag_list: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def owned_by(tags: dict[str, str], spec: dict) -> bool:
    """True when the resource carries this node's ownership record (Name, Environment, ManagedBy)."""
    want = spec["tags"]
    return all(tags.get(k) == want.get(k) for k in ("Name", "Environment", "ManagedBy"))


def tags_diff(desired: dict[str, str], actual: dict[str, str]) -> list[FieldDiff]:
    # Only the keys we set are ours: tags added by people or other tools (cost allocation,
    # AWS Backup) are left alone rather than fought over on every run.
    return [
        FieldDiff(f"tags.{k}", v, actual.get(k))
        for k, v in sorted(desired.items())
        if actual.get(k) != v
    ]


class Handler:
    kind: ClassVar[str]
    service: ClassVar[str]
    # Typical seconds from create call to ready on AWS (aws-timings.md); drives longest-pole-first.
    expected_seconds: ClassVar[float] = 1.0
    # The same for a delete to gone (aws-timings §1.3): drives teardown's longest pole first.
    expected_delete_seconds: ClassVar[float] = 1.0
    create_timeout: ClassVar[float] = 5 * 60
    delete_timeout: ClassVar[float] = 5 * 60
    # First poll early, then back off up to this ceiling (about 5 % of a typical duration).
    poll_ceiling: ClassVar[float] = 15.0
    # How long a read may still show the old value after an update was accepted and the resource
    # is ready again. 0: the read after the wait is authoritative, a value not changed then was
    # not applied (an ECS deploy rolled back, a modification that returned to "available").
    read_after_write_lag: ClassVar[float] = 0.0
    # Attributes AWS cannot change in place.
    replace_fields: ClassVar[frozenset[str]] = frozenset()
    # Spec fields used when creating or deleting only (a final-snapshot choice, where to read a
    # token from, a name kept for lookups): AWS does not report them, so the diff skips them.
    create_only: ClassVar[frozenset[str]] = frozenset()
    # Set by the reconciler for one walk: lookups answered from one listing per kind.
    shared: SharedReads | None = None

    def __init__(self, aws: Aws, *, env: str, clock: Clock = REAL_CLOCK):
        self.aws = aws
        self.env = env
        self.clock = clock

    @property
    def client(self):
        return self.aws.client(self.service)

    # -- verbs -------------------------------------------------------------------------------
    def desired(self, spec: dict) -> dict:
        """The resolved spec in the same normal form as ``Observed.attrs`` (sets sorted, …)."""
        return spec

    def find(self, spec: dict, recorded_id: str | None) -> Observed | None:
        if recorded_id:
            found = self.get(recorded_id)
            if found is not None:
                return found
        return self.single(spec, self.find_by_tags(spec))

    def single(self, spec: dict, matches: list[Observed]) -> Observed | None:
        if len(matches) > 1:
            ids = ", ".join(sorted(m.id for m in matches))
            raise ResourceError(f"{self.kind} {spec['name']}: {len(matches)} live resources carry its tags ({ids})")
        return matches[0] if matches else None

    def get(self, resource_id: str) -> Observed | None:
        raise NotImplementedError

    def find_by_tags(self, spec: dict) -> list[Observed]:
        raise NotImplementedError

    def diff(self, spec: dict, obs: Observed) -> list[FieldDiff]:
        diffs = [
            FieldDiff(k, v, obs.attrs.get(k), replace=k in self.replace_fields)
            for k, v in spec.items()
            if k not in ("name", "tags") and k not in self.create_only and obs.attrs.get(k) != v
        ]
        return diffs + tags_diff(spec["tags"], obs.tags)

    def create(self, spec: dict, token: str) -> str:
        raise NotImplementedError

    def update(self, spec: dict, obs: Observed, diffs: list[FieldDiff]) -> None:
        fields = {d.field for d in diffs}
        tag_fields = {f for f in fields if f.startswith("tags.")}
        wanted = {f[5:] for f in tag_fields if f[5:] in spec["tags"]}
        if wanted:
            self.set_tags(obs, {k: spec["tags"][k] for k in wanted})
        # A tag key an earlier configuration set and the current one dropped.
        retired = sorted(f[5:] for f in tag_fields if f[5:] not in spec["tags"])
        if retired:
            self.unset_tags(obs, retired)
        rest = [d for d in diffs if d.field not in tag_fields]
        if rest:
            self.update_fields(spec, obs, rest)

    def update_fields(self, spec: dict, obs: Observed, diffs: list[FieldDiff]) -> None:
        raise ResourceError(
            f"{self.kind} {spec['name']}: cannot update {', '.join(d.field for d in diffs)} in place"
        )

    def set_tags(self, obs: Observed, tags: dict[str, str]) -> None:
        raise NotImplementedError

    def unset_tags(self, obs: Observed, keys: list[str]) -> None:
        raise NotImplementedError

    def delete(self, obs: Observed, spec: dict | None = None) -> None:
        """``spec`` has every Ref UNKNOWN (teardown needs no dependency); it carries the
        create_only choices used at delete, such as taking a final snapshot."""
        raise NotImplementedError

    def status(self, raw: dict) -> Refresh | None:
        """Pure: the lifecycle state of a described resource (``Observed.raw``), no call. None for
        a kind with no lifecycle (it exists, so it is ready)."""
        return None

    def pending(self, obs: Observed) -> bool:
        """True when ``obs`` is still being created or changed (its ``status``): the reconciler
        waits for it to be ready before diffing it, for every kind that has a lifecycle."""
        state = self.status(obs.raw)
        return state is not None and state.status is Status.PENDING

    # Kinds with a deletion-protection switch set ``has_protection`` and read it in ``protection``.
    has_protection: ClassVar[bool] = False

    def protection(self, obs: Observed) -> str | None:
        """Why AWS would refuse to delete ``obs`` now (its deletion protection is on), read from
        AWS (``obs`` or one more read), else None. Teardown asks it of every such resource before
        deleting anything, so a protected environment is refused whole, never torn down around
        its database."""
        return None

    def refresh(self, resource_id: str) -> Refresh:
        return Refresh(Status.READY if self.get(resource_id) else Status.GONE)

    def outputs(self, obs: Observed) -> dict[str, Any]:
        return {"id": obs.id}


def is_not_found(exc: BaseException, codes: set[str] | frozenset[str]) -> bool:
    return error_code(exc) in codes

"""The one handler contract every AWS resource kind implements: declarations only. The
lifecycle around it is the engine's (orchestrator/lifecycle.py, orchestrator/reconciler.py;
docs/architecture.md, "The engine owns the rest"; docs/aws-behaviours.md table C).

A handler declares, and knows nothing of the graph or the state store:

    fields                          the typed spec: every key, its type, how AWS changes it
    validate(spec)  -> [problem]    AWS's value rules, run for every node before the first call
    desired(spec)   -> spec         pure normal form (sets sorted …), the same as Observed.attrs
    not_found                       the error codes that mean "no such resource"
    describe(id)    -> raw | None   one read by id
    observe(raw)    -> Observed     attributes in the spec's terms (may read tags)
    list_owned(spec)-> [Observed]   every live resource carrying the node's ownership tags
    status(raw)     -> Refresh      pure: ready / pending / failed (why) / deleting / gone
    known_id, listed, candidates    where its resource is (optional; the engine decides)
    create(spec, token) -> id       does not wait; tags go in the create call itself
    update_fields(spec, obs, diffs) in place; only the fields that differ
    delete(obs, spec)               does not wait
    outputs(obs)    -> dict         what dependents may read
    planned_outputs(spec) -> dict   the outputs a create will give, known before it (optional)
    create_timeout, update_timeout, delete_timeout, on_failed

The read primitives here (``lookup``, ``read``, ``poll``) only compose those declarations: a
describe, its not-found codes as None, ``status``, ``observe``. The engine owns for every kind:
which reader finds a node's resource and which found one is adopted (``lifecycle.find``), the
diff and each change's class, the update's order (tags, then fields), the delete with its
protection and not-found, pending (waits), failed (``on_failed``), re-reading and re-diffing
after an update, duplicate clean-up and the failure kept in state. A handler cannot define the
engine's names (tests/unit/test_lifecycle_owned_by_engine.py).

``spec`` is the node's desired state with every reference already resolved: a dict with
``name``, ``tags`` and exactly the keys of ``fields``; each is compared with the same key of
``Observed.attrs`` by the engine's diff, except create-only fields.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Hashable

from resources.aws import Aws, error_code
from resources.aws.clock import REAL_CLOCK, Clock
from resources.aws.ownership import MANAGED_BY
from resources.aws.permissions import Grant
from resources.aws.shared_reads import SharedReads


class Status(enum.Enum):
    READY = "ready"
    PENDING = "pending"
    FAILED = "failed"
    # Still described but on its way out (an RDS instance "deleting", a NAT "deleting"): not a
    # live resource to reconcile, not yet gone for a teardown that waits for it.
    DELETING = "deleting"
    GONE = "gone"


class OnFailed(str, enum.Enum):
    """What a run does with a resource AWS reports failed (the engine's ``_settle``)."""

    # It holds data, or cannot be told apart from a half-made one: say so, keep it for a person.
    STOP = "stop"
    # Stateless, and AWS leaves failed ones behind: delete it and create a new one.
    REPLACE = "replace"
    # An update repairs it (a rolled-back ECS deployment): deploy the requested revision again.
    UPDATE = "update"


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
    # Values a modification AWS accepted will set but has not applied yet (RDS and ElastiCache
    # PendingModifiedValues, A-15, C-RDS-1): the plan counts them as converging, the read-back
    # after an update does not count them as done.
    pending: dict[str, Any] = field(default_factory=dict)


class Change(enum.Enum):
    """How AWS applies a change of one field (the plan shows it; docs/architecture.md)."""

    IN_PLACE = "in place"
    # Applied in place, with a restart, failover or reconnect (docs/aws-behaviours.md C-RDS-4, C-EC-1).
    DOWNTIME = "in place with downtime"
    # AWS has no in-place change: a new resource (and a new id) is the only way.
    REPLACE = "replacement"
    # AWS refuses it outright (a downgrade, a storage shrink, C-RDS-2/3): no plan can apply it.
    IMPOSSIBLE = "impossible"


@dataclass(frozen=True)
class Field:
    """One key of a handler's typed spec."""

    type: type | tuple[type, ...]
    change: Change = Change.IN_PLACE
    # Used when creating or deleting only (a final-snapshot choice, where to read a token from, a
    # name kept for lookups): AWS does not report it, so the diff skips it.
    create_only: bool = False
    # Why a change is not a plain in-place one, shown in the plan.
    why: str = ""
    # (desired, observed) -> in sync; None: equal. An engine version "17" is in sync with the
    # "17.4" AWS chose (rds.version_matches).
    matches: Callable[[Any, Any], bool] | None = None
    # (desired, observed) -> diffs: a structured field (a REST API's routes, a task definition's
    # containers) that differs part by part, each part a diff of its own in the plan.
    expand: Callable[[Any, Any], list["FieldDiff"]] | None = None
    # How the field is read from AWS and written to it, declared once; the reads, the pending
    # values and the parameters of the create and modify calls are derived (read_attrs,
    # read_pending, create_params, modify_params below). None: not declared (the handler does it
    # itself, or AWS has no such thing). ``True`` for pending, modify and create: the same name
    # as ``aws``.
    # The key of the described resource ("AllocatedStorage"; "A.B": the key B of the A it holds),
    # or a callable raw -> value for a read that needs logic.
    aws: str | Callable[[dict], Any] | None = None
    # The value read when the described resource lacks the key (AWS leaves a false one out).
    absent: Any = None
    # Its key in the service's pending block (PendingModifiedValues, A-15): what a modification
    # accepted but not applied yet will set.
    pending: str | bool | None = None
    # Its parameter of the modify call, given the desired value as is; or a callable
    # FieldDiff -> parameters for a change that needs logic. None: not changed in place.
    modify: str | bool | Callable[[FieldDiff], dict] | None = None
    # Its parameter of the create call, given the spec's value as is.
    create: str | bool | None = None

    def __post_init__(self):
        same = [n for n in ("pending", "modify", "create") if getattr(self, n) is True]
        if same and not (isinstance(self.aws, str) and "." not in self.aws):
            raise TypeError(f"{', '.join(same)} = True names the key of aws, which is not a plain key: {self.aws!r}")

    def named(self, declared: str | bool | None) -> str | None:
        """A pending key or a parameter name as declared, ``True`` resolved to ``aws``."""
        return self.aws if declared is True else declared


@dataclass(frozen=True)
class FieldDiff:
    field: str
    expected: Any
    actual: Any
    change: Change = Change.IN_PLACE
    why: str = ""

    @property
    def replace(self) -> bool:
        return self.change is Change.REPLACE


# -- the fields' declarations, applied (pure) ---------------------------------------------------

def read_attrs(fields: dict[str, Field], raw: dict) -> dict[str, Any]:
    """A described resource in the spec's terms: every field that declares ``aws``, in the
    order of ``fields``."""
    return {name: _read(declared, raw) for name, declared in fields.items() if declared.aws is not None}


def _read(declared: Field, raw: dict) -> Any:
    if callable(declared.aws):
        return declared.aws(raw)
    value = raw
    for key in declared.aws.split("."):
        # A key left out, or a holder that is None ("Endpoint" while creating), reads as absent.
        if not isinstance(value, dict) or key not in value:
            return declared.absent
        value = value[key]
    return value


def read_pending(fields: dict[str, Field], block: dict | None) -> dict[str, Any]:
    """What a modification AWS accepted but has not applied will set: the value of every field
    whose ``pending`` key the service's pending block lists."""
    block = block or {}
    keys = {name: declared.named(declared.pending) for name, declared in fields.items()}
    return {name: block[key] for name, key in keys.items() if key is not None and key in block}


def create_params(fields: dict[str, Field], spec: dict) -> dict[str, Any]:
    """The create call's parameters that take a spec value as is (every field declaring ``create``)."""
    return {declared.named(declared.create): spec[name] for name, declared in fields.items() if declared.create is not None}


def not_modifiable(fields: dict[str, Field], diffs: list[FieldDiff]) -> list[FieldDiff]:
    """The diffs of fields that declare no ``modify``: no call changes them in place."""
    return [d for d in diffs if d.field not in fields or fields[d.field].modify is None]


def modify_params(fields: dict[str, Field], diffs: list[FieldDiff]) -> dict[str, Any]:
    """The modify call's parameters for ``diffs`` (all modifiable): the desired value under the
    declared name, or what a callable declaration makes of the diff."""
    params: dict[str, Any] = {}
    for diff in diffs:
        declared = fields[diff.field]
        if callable(declared.modify):
            params.update(declared.modify(diff))
        else:
            params[declared.named(declared.modify)] = diff.expected
    return params


class ResourceError(Exception):
    """A handler's one-line explanation of why a resource cannot converge; ``details`` are the
    lines that follow it (a service's latest events, its stopped tasks' reasons)."""

    def __init__(self, message: str = "", details: list[str] | tuple[str, ...] = ()):
        super().__init__(message)
        self.details = list(details)

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
    # The typed spec (besides ``name`` and ``tags``): every key a node of this kind gives.
    fields: ClassVar[dict[str, Field]] = {}
    # AWS's error codes for "no such resource" on a read or delete by id of this kind.
    not_found: ClassVar[frozenset[str]] = frozenset()
    # Typical seconds from create call to ready on AWS (T-4.2); drives longest-pole-first.
    expected_seconds: ClassVar[float] = 1.0
    # The same for a delete to gone (T-1.3): drives teardown's longest pole first.
    expected_delete_seconds: ClassVar[float] = 1.0
    create_timeout: ClassVar[float] = 5 * 60
    # An update waits for the resource to be ready again (a modification, a deployment).
    update_timeout: ClassVar[float] = 5 * 60
    delete_timeout: ClassVar[float] = 5 * 60
    # First poll early, then back off up to this ceiling (about 5 % of a typical duration).
    poll_ceiling: ClassVar[float] = 15.0
    # How long a read may still show the old value after an update was accepted and the resource
    # is ready again. 0: the read after the wait is authoritative, a value not changed then was
    # not applied (an ECS deploy rolled back, a modification that returned to "available").
    read_after_write_lag: ClassVar[float] = 0.0
    # What a run does with a resource AWS reports failed (OnFailed): REPLACE for a NAT gateway
    # "failed" or a VPC link FAILED (B-EC2-3, C-VPCL-1), UPDATE for an ECS service whose
    # deployment failed, STOP for everything else.
    on_failed: ClassVar[OnFailed] = OnFailed.STOP
    # Whether a new one can exist beside the old one until the old one is gone (a NAT gateway
    # can; an NLB's or an RDS instance's name is unique, a mount target is one per AZ, a subnet's
    # CIDR cannot overlap itself). It decides how the engine replaces one:
    # - a change AWS cannot make in place (Change.REPLACE): beside, the new one is created
    #   first, the dependents are re-pointed to it in the same walk, and the old one is deleted
    #   once the walk succeeded (Terraform's create_before_destroy); otherwise the old one and
    #   everything that depends on it are deleted first and created anew;
    # - with on_failed "replace": if not beside, a failed one carrying the node's tags is
    #   adopted, so that the engine deletes it before creating.
    # False unless a kind says otherwise: deleting first is always possible.
    replace_beside: ClassVar[bool] = False
    # An update may be made while an earlier change is still in progress, and takes its place:
    # ECS's UpdateService starts a new deployment and drains the one in progress. A run that finds
    # one in progress and has a change to make makes it at once instead of waiting for the old one
    # first, which may never end by itself (a deployment whose tasks exit after RUNNING stays
    # IN_PROGRESS, docs/aws-behaviours.md D-ECS-1): a fixed image is deployed without the wait.
    update_supersedes_pending: ClassVar[bool] = False
    # An update makes a new id (a task definition's revision): a plan shows what refers to it as
    # changing too ("known after apply"), so the service roll a new revision causes is visible.
    update_makes_new_id: ClassVar[bool] = False
    # False for what AWS cannot tag (mount targets, a file-system or secret policy, a web ACL's
    # association): its ownership record lives on its parent, and the diff compares no tags.
    taggable: ClassVar[bool] = True
    # The IAM permissions of this kind's calls (resources/aws/permissions.py): ``bin/policy``
    # gathers them over the stack's nodes. ARN patterns may name the node's ``{name}``.
    iam: ClassVar[tuple[Grant, ...]] = ()
    # What is lost when a resource of this kind is replaced (the plan spells it out); empty for
    # a kind that holds no data of its own.
    stateful: ClassVar[str] = ""
    # Set by the reconciler for one walk: lookups answered from one listing per kind.
    shared: SharedReads | None = None
    # Whether ``listed`` holds every resource of ours (a gateway left detached by a killed run is
    # outside its VPC's listing): if not, a search that finds none there asks ``list_owned``.
    listing_complete: ClassVar[bool] = True
    # What a user calls it in a message ("IAM role"); the kind's words by default.
    noun: ClassVar[str] = ""
    # (operation, items key, id key, the API's largest page) of one describe listing every
    # resource of this kind in the account and region, each item as the describe by id answers
    # it. Under ``bin/drift --all`` a recorded resource's find is answered from it, one listing
    # for every environment; a single walk keeps its one describe by id (a listing of the whole
    # account could take more calls there).
    account_listing: ClassVar[tuple[str, str, str, int | None] | None] = None
    # How many resources of this kind one describe answers by id (DescribeServices 10,
    # DescribeLogGroups' logGroupIdentifiers 50, ListSecrets' name filter 10); 0: one at a time.
    # A plan's reads made ahead of its walk ask for every recorded one of the kind together
    # (``describe_many``), the few calls a kind needs instead of one per resource.
    batch_size: ClassVar[int] = 0

    def __init__(self, aws: Aws, *, env: str, clock: Clock = REAL_CLOCK):
        self.aws = aws
        self.env = env
        self.clock = clock

    @property
    def client(self):
        return self.aws.client(self.service)

    # -- the typed spec ----------------------------------------------------------------------
    def validate(self, spec: dict) -> list[str]:
        """AWS's rules for the values of a resolved spec (a value still UNKNOWN is skipped), one
        problem per line, without the "kind name: " prefix. No call."""
        return []

    def desired(self, spec: dict) -> dict:
        """The resolved spec in the same normal form as ``Observed.attrs`` (sets sorted, …). Pure."""
        return spec

    def classify(self, diff: FieldDiff, obs: Observed) -> FieldDiff:
        """The change class of one field's diff; a kind whose class depends on the values (a
        storage shrink is impossible, a growth in place) refines it here."""
        declared = self.fields.get(diff.field)
        if declared is None:
            return diff
        return FieldDiff(diff.field, diff.expected, diff.actual, declared.change, declared.why)

    # -- reads: the handler's side -----------------------------------------------------------
    def describe(self, resource_id: str) -> dict | None:
        """One read by id: the raw description, None when AWS lists nothing. A not-found error
        code of ``not_found`` may be raised: the engine's ``read`` and ``refresh`` map it."""
        raise NotImplementedError

    def observe(self, raw: dict) -> Observed:
        raise NotImplementedError

    def describe_many(self, ids: list[str]) -> dict[str, dict]:
        """Of a kind with a ``batch_size``: the raw descriptions of ``ids`` (at most that many, all
        of one ``batch_group``) by id. An id left out of the answer is read again by id."""
        raise NotImplementedError

    @property
    def batch_key(self) -> Hashable:
        """Kinds sharing one ``describe_many`` (a log group and an API's execution log group, the
        two kinds of secret) are asked for together."""
        return type(self).describe_many

    def batch_group(self, resource_id: str) -> Hashable:
        """The ids one ``describe_many`` call may mix (the services of one ECS cluster)."""
        return None

    def list_owned(self, spec: dict) -> list[Observed]:
        """Every live resource carrying this node's ownership tags (or its unique name)."""
        raise NotImplementedError

    def known_id(self, spec: dict) -> str | None:
        """The resource's id when it follows from the spec: a name that is the id (a log group, an
        IAM role), a dependency's ARN (a web ACL's logging). None: AWS assigns it, or it is not
        known yet; the engine then goes by the recorded id and the ownership tags."""
        return None

    def listed(self, spec: dict) -> dict[str, dict] | None:
        """id -> raw item of one listing the walk shares (``self.shared``) that holds this node's
        resource as the describe by id answers it (the VPC's subnets, the account's IAM roles),
        fetched once per walk; None: this kind reads by id (``describe``)."""
        return None

    def listed_tags(self, raw: dict) -> dict[str, str]:
        """The tags of a ``listed`` item, to tell which are ours before observing them."""
        return tag_dict(raw.get("Tags"))

    def candidates(self, spec: dict, owned: list[Observed]) -> list[Observed]:
        """Which of the resources carrying the node's tags (or the recorded one) may be the
        node's: an API key a rotation renamed away is not."""
        return owned

    def implied_diffs(self, spec: dict, obs: Observed) -> list[FieldDiff]:
        """Settings the spec implies but holds no field for (an NLB with security groups must not
        enforce its inbound rules on PrivateLink traffic): their diffs, after the fields'."""
        return []

    def status(self, raw: dict) -> Refresh:
        """Pure: the lifecycle state of a described resource. A kind with no lifecycle exists,
        so it is ready."""
        return Refresh(Status.READY)

    # -- reads: the engine's side ------------------------------------------------------------
    def read(self, resource_id: str) -> Observed | None:
        """The live resource with this id, else None (not found, deleting or deleted)."""
        raw = self.lookup(resource_id)
        if raw is None or self.status(raw).status in (Status.DELETING, Status.GONE):
            return None
        return self.observe(raw)

    def observe_listed_item(self, raw: dict, items: list[dict], across: SharedReads) -> Observed:
        """``observe`` of an item of the account-wide listing, or of a ``describe_many``'s answer
        (``items``): a kind whose tags or companions need a call of their own may read them from
        the listing, or for every listed item at once (``across``, for every walk)."""
        return self.observe(raw)

    def tags_for(self, arn: str, read: Callable[[], dict[str, str]]) -> dict[str, str]:
        """The tags of ``arn``: from the walk's tag index when it lists them (one GetResources
        for the whole environment, SharedReads.index_tags), else ``read()``, the kind's own call."""
        indexed = self.shared.indexed_tags(arn) if self.shared is not None else None
        return indexed if indexed is not None else read()

    def poll(self, resource_id: str) -> tuple[Refresh, dict | None]:
        """What the waiter polls: one describe, no tag read. Where the resource is (``readiness``)
        and the description it was judged on (None: gone), so that the engine reads it back from
        the poll that found it ready instead of describing it once more."""
        raw = self.lookup(resource_id)
        return (Refresh(Status.GONE), None) if raw is None else (self.readiness(raw), raw)

    def readiness(self, raw: dict) -> Refresh:
        """``status``, and for a kind whose parts become ready after the whole (a replication
        group's members), theirs: what the engine waits on after a create or an update."""
        return self.status(raw)

    def refresh(self, resource_id: str) -> Refresh:
        return self.poll(resource_id)[0]

    def lookup(self, resource_id: str) -> dict | None:
        """``describe`` with this kind's not-found codes answered None."""
        try:
            return self.describe(resource_id)
        except Exception as exc:
            if error_code(exc) in self.not_found:
                return None
            raise

    def beside_name(self, spec: dict, old: Observed) -> str:
        """The name of a new one made beside ``old`` (replace_beside): the same where AWS allows
        two of a name; a kind whose names are unique answers another one (and finds both in
        ``list_owned``)."""
        return spec["name"]

    # -- writes ------------------------------------------------------------------------------
    def create(self, spec: dict, token: str) -> str:
        raise NotImplementedError

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
        create_only choices used at delete, such as taking a final snapshot. A not-found error
        code of ``not_found`` may be raised: the engine's ``remove`` counts it as done."""
        raise NotImplementedError

    # Kinds with a deletion-protection switch set ``has_protection`` and read it in ``protection``.
    has_protection: ClassVar[bool] = False

    def protection(self, obs: Observed) -> str | None:
        """Why AWS would refuse to delete ``obs`` now (its deletion protection is on), read from
        AWS (``obs`` or one more read), else None. Teardown asks it of every such resource before
        deleting anything, so a protected environment is refused whole, never torn down around
        its database."""
        return None

    def outputs(self, obs: Observed) -> dict[str, Any]:
        return {"id": obs.id}

    def planned_outputs(self, spec: dict) -> dict[str, Any]:
        """The outputs a create of ``spec`` will give, as far as they follow from the spec alone
        (a name-derived ARN, never an id AWS assigns): a plan's dependents of a resource it will
        create compare against these, so a log group deleted behind the tool's back does not make
        the task definition and role that name it look changed. Pure but for the account id
        (asked once a run); a value of ``spec`` still UNKNOWN gives nothing. None by default."""
        return {}

    def outputs_after_update(self, spec: dict, obs: Observed) -> dict[str, Any]:
        """The outputs an update to ``spec`` changes, as they will be after it (a plan's
        dependents see the change it causes them). Pure; none by default."""
        return {}

    def explain(self, obs: Observed) -> list[str]:
        """Why an update of ``obs`` did not end as asked, as AWS tells it (may read more): the
        first line joins the error, the others follow it. Asked only after a failure."""
        return []


def spec_problems(handler: Handler, spec: dict, is_unknown) -> list[str]:
    """Every problem of a node's spec against its kind's typed spec and rules, each prefixed
    with the node: the keys (none missing, none unknown), their types, then ``validate``."""
    what = f"{handler.kind} {spec.get('name')}"
    problems = []
    given = set(spec) - {"name", "tags"}
    declared = set(handler.fields)
    problems += [f"{what}: unknown field {k!r}" for k in sorted(given - declared)]
    problems += [f"{what}: field {k!r} is missing" for k in sorted(declared - given)]
    for key in sorted(given & declared):
        value, want = spec[key], handler.fields[key].type
        # bool is an int to isinstance, never to AWS.
        wrong = not isinstance(value, want) or (isinstance(value, bool) and bool not in _types(want))
        if not is_unknown(value) and wrong:
            names = " or ".join(t.__name__ for t in _types(want))
            problems.append(f"{what}: field {key!r} must be {names}, got {type(value).__name__}")
    if not problems:
        problems += [f"{what}: {p}" for p in handler.validate(spec)]
    return problems


def _types(want: type | tuple[type, ...]) -> tuple[type, ...]:
    return want if isinstance(want, tuple) else (want,)

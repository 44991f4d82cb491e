"""The lifecycle of one resource, the same for every kind: how the engine finds a node's
resource, which found one it adopts, how it compares it with the spec, updates and removes it.

A handler only declares (resources/base.py): how to describe, observe and list what it owns,
whether its id follows from the spec (``known_id``), which walk-wide listing holds it
(``listed``), which of the resources carrying its tags may be the node's (``candidates``), its
fields, and its create / update / delete calls. Everything here is decided for every kind alike;
no handler method can change it (tests/unit/test_lifecycle_owned_by_engine.py).

Reads first: a node's resource is read by the cheapest strategy the walk offers (the reader
strategies, in this order): a walk-wide listing the handler names, the account-wide listing of
``bin/drift --all`` (``account_listing``), one ``describe_many`` of every id the walk's reads
ahead asked for (``batch_size``), one describe by id.
"""
from __future__ import annotations

from resources.aws import error_code
from resources.aws.ownership import MANAGED_BY
from resources.aws.shared_reads import chunks, describe_all
from resources.base import (
    FieldDiff, Handler, Observed, OnFailed, ResourceError, Status, owned_by, tags_diff,
)

GONE = (Status.DELETING, Status.GONE)


# -- find ----------------------------------------------------------------------------------------
def find(h: Handler, spec: dict, recorded_id: str | None) -> Observed | None:
    """The node's live resource, else None (create one).

    - Its id follows from the spec (a name that is the id, a dependency's ARN): that one, if the
      state recorded it or it carries the node's ownership tags; one of the name that is neither
      is someone else's, refused in one line (AWS would refuse the create too).
    - Else the recorded id, while it is still the node's (``candidates``).
    - Else the one live resource carrying the node's tags (a create whose answer was lost, a
      state lost or moved): adopted."""
    known = h.known_id(spec)
    if known is not None:
        return _found_by_known_id(h, spec, known, recorded=recorded_id == known)
    if recorded_id:
        found = _read(h, spec, recorded_id, recorded=True)
        if found is not None and h.candidates(spec, [found]):
            return found
    return single(h, spec, adoptable(h, h.candidates(spec, _owned(h, spec))))


def _found_by_known_id(h: Handler, spec: dict, known: str, *, recorded: bool) -> Observed | None:
    found = _read(h, spec, known, recorded=recorded)
    if found is None or recorded or not h.taggable or owned_by(found.tags, spec):
        return found
    raise ResourceError(f"{h.noun or h.kind.replace('_', ' ')} {spec['name']} exists but is not managed by {MANAGED_BY}")


def _read(h: Handler, spec: dict, resource_id: str, *, recorded: bool) -> Observed | None:
    """``resource_id``'s live resource by the cheapest reader the walk has (module doc)."""
    items = h.listed(spec) if h.shared is not None else None
    if items is None:
        return _read_account_listed(h, resource_id)
    raw = items.get(resource_id)
    if raw is None:
        # Not listed when the walk began. Recorded: deleted, or changed behind our back (its tags,
        # which the listing filters on); a describe by id says which. Never recorded: nothing of
        # the node's to read (the listing holds every one of ours).
        return h.read(resource_id) if recorded else None
    return None if h.status(raw).status in GONE else h.observe_listed_item(raw, list(items.values()), h.shared)


def _read_account_listed(h: Handler, resource_id: str) -> Observed | None:
    """``bin/drift --all``: the account-wide listing every environment's walk shares
    (``account_listing``). Only at the start of a node's step: every read after a write goes to
    AWS (shared_reads.py)."""
    across = h.shared.across if h.shared is not None else None
    if across is None or h.account_listing is None:
        return _read_batched(h, resource_id)
    operation, items_key, id_key, page_size = h.account_listing
    items = across.once((h.service, operation), lambda: describe_all(h.client, operation, items_key, page_size))
    raw = next((i for i in items if i.get(id_key) == resource_id), None)
    if raw is None:
        return h.read(resource_id)  # not listed: deleted, or made since; ask for it by id
    return None if h.status(raw).status in GONE else h.observe_listed_item(raw, items, across)


def _read_batched(h: Handler, resource_id: str) -> Observed | None:
    """One ``describe_many`` of every id of this kind the walk's reads ahead asked for
    (SharedReads.want) when this one is among them, else one describe."""
    reads = h.shared
    if reads is not None and reads.across is not None and resource_id in reads.across.wanted(h.batch_key):
        reads = reads.across  # bin/drift --all: every environment's, asked together
    wanted = reads.wanted(h.batch_key) if reads is not None and h.batch_size else []
    if resource_id not in wanted:
        return h.read(resource_id)
    group = h.batch_group(resource_id)
    ids = [i for i in wanted if h.batch_group(i) == group]
    found = reads.once((h.batch_key, group), lambda: {
        k: v for part in chunks(ids, h.batch_size) for k, v in h.describe_many(part).items()})
    raw = found.get(resource_id)
    if raw is None:
        return h.read(resource_id)  # not in the answer: gone, or going; ask for it by id
    return None if h.status(raw).status in GONE else h.observe_listed_item(raw, list(found.values()), h.shared)


def _owned(h: Handler, spec: dict) -> list[Observed]:
    """Every live resource carrying the node's ownership tags: from the walk's listing when the
    handler names one and it holds every one of ours, else the handler's own search (always for
    a kind AWS cannot tag: its ownership is its parent's, which only that search reads)."""
    items = h.listed(spec) if h.shared is not None and h.taggable else None
    if items is not None:
        listed = list(items.values())
        mine = [h.observe_listed_item(i, listed, h.shared) for i in listed
                if h.status(i).status not in GONE and owned_by(h.listed_tags(i), spec)]
        if mine or h.listing_complete:
            return mine
    return h.list_owned(spec)


def adoptable(h: Handler, owned: list[Observed]) -> list[Observed]:
    """Of a kind a run replaces when failed, a live one is adopted first. A failed one is never
    adopted where the new one can be made beside it (AWS removes a NAT "failed" itself, B-EC2-3);
    where it cannot (a unique name, one per AZ, a VPC link holding its NLB, C-VPCL-1), one failed
    one is handed over so that the engine deletes it first."""
    if h.on_failed != OnFailed.REPLACE:
        return owned
    live = [o for o in owned if h.status(o.raw).status is not Status.FAILED]
    if live or h.replace_beside:
        return live
    return sorted(owned, key=lambda o: o.id)[:1]


def single(h: Handler, spec: dict, matches: list[Observed]) -> Observed | None:
    if len(matches) > 1:
        ids = ", ".join(sorted(m.id for m in matches))
        raise ResourceError(f"{h.kind} {spec['name']}: {len(matches)} live resources carry its tags ({ids})")
    return matches[0] if matches else None


# -- diff ----------------------------------------------------------------------------------------
def diff(h: Handler, spec: dict, obs: Observed) -> list[FieldDiff]:
    """Desired against what the resource is converging to: its attributes with the values of a
    modification already pending (never asked for twice). Each declared field once: skipped when
    create-only, compared by its ``matches`` (else equality), its change class from ``classify``;
    a structured field (``expand``) gives a diff per part. Then what the spec implies beyond its
    fields (``implied_diffs``), then the tags we set."""
    current = {**obs.attrs, **obs.pending}
    diffs: list[FieldDiff] = []
    for key, desired in spec.items():
        declared = h.fields.get(key)
        if key in ("name", "tags") or (declared is not None and declared.create_only):
            continue
        actual = current.get(key)
        in_sync = declared.matches(desired, actual) if declared is not None and declared.matches else desired == actual
        if in_sync:
            continue
        if declared is not None and declared.expand is not None:
            diffs += declared.expand(desired, actual)
        else:
            diffs.append(h.classify(FieldDiff(key, desired, actual), obs))
    diffs += h.implied_diffs(spec, obs)
    return diffs + (tags_diff(spec["tags"], obs.tags) if h.taggable else [])


# -- update and remove -------------------------------------------------------------------------
def update(h: Handler, spec: dict, obs: Observed, diffs: list[FieldDiff]) -> None:
    """The tags we set and dropped, then the fields, each through the handler's calls. A kind whose
    update makes a new id (a task definition's revision) makes it with the spec's tags: no tag
    call on the old one."""
    tag_fields = {d.field for d in diffs if d.field.startswith("tags.")}
    rest = [d for d in diffs if d.field not in tag_fields]
    if rest and h.update_makes_new_id:
        h.update_fields(spec, obs, rest)
        return
    wanted = {f[5:] for f in tag_fields if f[5:] in spec["tags"]}
    if wanted:
        h.set_tags(obs, {k: spec["tags"][k] for k in wanted})
    # A tag key an earlier configuration set and the current one dropped.
    retired = sorted(f[5:] for f in tag_fields if f[5:] not in spec["tags"])
    if retired:
        h.unset_tags(obs, retired)
    if rest:
        h.update_fields(spec, obs, rest)


def remove(h: Handler, obs: Observed, spec: dict | None = None) -> None:
    """Delete; already gone counts as done. Refused while AWS would refuse it for its deletion
    protection (InvalidParameterCombination, B-RDS-6), in one line."""
    reason = h.protection(obs) if h.has_protection else None
    if reason:
        raise ResourceError(f"{h.kind} {obs.id}: {reason}: set deletion_protection = false and reconcile first")
    try:
        h.delete(obs, spec)
    except Exception as exc:
        if error_code(exc) not in h.not_found:
            raise


ENGINE_OWNED = frozenset({"find", "diff", "update", "remove", "adoptable", "single", "read_listed", "read_batched"})
"""Names a handler may not define: the engine's decisions (held by a test)."""


def owned_by_engine(cls: type) -> list[str]:
    """The engine's names ``cls`` or a class between it and Handler defines (should be none)."""
    return sorted(name for klass in cls.__mro__ if klass is not Handler and issubclass(klass, Handler)
                  for name in vars(klass) if name in ENGINE_OWNED)


"""Reads shared by the nodes of one walk: one filtered describe per kind instead of one per node.

Six subnets, five security groups and four route tables each asked DescribeX for their own id:
a no-op reconcile or a drift check spent most of its calls there. Here the first node of a kind
to look itself up fetches the whole filtered listing (the VPC's subnets, the environment's NAT
gateways) and every other node of that kind is answered from it, concurrent askers waiting for
the one fetch. The drift check's search for unmanaged VPC members reuses the same listings.

Only lookups at the start of a node's step use it: every read after a create or an update (the
waiters, the read-back) goes to AWS, so nothing acts on a listing older than its own change.
A listing lives for one walk, and a failed fetch is not kept (the next asker tries again).
``bin/drift --all`` seeds each environment's walk with its part of listings made once for all
of them (``inventory.shared_across``): the same keys, so the walk finds them as its own.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import threading
from concurrent.futures import Future
from typing import Any, Callable, Hashable, Iterable, Iterator

# EC2 caps the values of one filter at 200.
MAX_FILTER_VALUES = 200


# The environment's tagged resources as the tagging API lists them (each with ``id``, its ARN,
# and ``tags``: inventory.Found).
TAGGED = ("tagging", "environment")
# Set while a difference the tag index showed is read again from the resource itself.
_LIVE_TAGS = contextvars.ContextVar("live_tags", default=False)


# Set while the engine looks for a node's resource at the start of its step (lifecycle.find):
# the only reads a listing of the walk may answer (this module's docstring).
_FIRST_LOOK = contextvars.ContextVar("first_look", default=False)


def first_look(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` as a node's first look for its resource (on any thread)."""
    token = _FIRST_LOOK.set(True)
    try:
        return call(*args)
    finally:
        _FIRST_LOOK.reset(token)


def looking_first() -> bool:
    """True inside ``first_look``: a listing made for the walk may answer; after a write, never."""
    return _FIRST_LOOK.get()


@contextlib.contextmanager
def tags_read_live() -> Iterator[None]:
    """Every tag read in this block asks the resource itself, never the tag index."""
    token = _LIVE_TAGS.set(True)
    try:
        yield
    finally:
        _LIVE_TAGS.reset(token)


class SharedReads:
    def __init__(self, across: "SharedReads | None" = None) -> None:
        self._lock = threading.Lock()
        self._results: dict[Hashable, Future] = {}
        # ``bin/drift --all``: the reads every environment's walk shares (account-wide listings,
        # one call for all of them). None for a single environment's walk.
        self.across = across
        self._tagged: Callable[[], Iterable[Any]] | None = None
        self._tags_by_arn: dict[str, dict] | None = None
        # Per kind (Handler.batch_key), the recorded ids a plan's reads ahead look for
        # (the engine's batched reader, orchestrator/lifecycle.py).
        self._wanted: dict[Hashable, list[str]] = {}

    def want(self, kind: Hashable, resource_id: str) -> None:
        """Before the walk's reads start: ``resource_id`` of ``kind`` will be looked for, so the
        first read of the kind asks for all of them at once."""
        with self._lock:
            self._wanted.setdefault(kind, []).append(resource_id)

    def wanted(self, kind: Hashable) -> list[str]:
        return self._wanted.get(kind, [])

    # -- the tag index -------------------------------------------------------------------------
    # One GetResources (100 resources a page) lists every resource of the environment with its
    # tags; the kinds whose describe carries no tags (log groups, ElastiCache, RDS subnet groups,
    # load balancers, KMS keys) read theirs from it instead of one call each. The index follows
    # changes with a delay (docs/aws-behaviours.md C-TAG-1): the engine reads again from the
    # resource any tag difference it shows before reporting or acting on it, so a lagging index
    # can hide a change made moments ago until the next check, never invent one.

    def index_tags(self, fetch: Callable[[], Iterable[Any]]) -> None:
        """Use ``fetch`` (the environment's tagged resources) for this walk's tag reads."""
        self._tagged = fetch

    @property
    def tags_indexed(self) -> bool:
        return self._tagged is not None

    def tagged(self) -> list[Any]:
        """The environment's tagged resources, listed once for the walk (drift's search for
        unmanaged resources reads the same listing)."""
        if self._tagged is None:
            raise RuntimeError("no tag index for this walk")
        return self.once(TAGGED, lambda: list(self._tagged()))

    def indexed_tags(self, arn: str) -> dict | None:
        """The tags the index lists for ``arn``; None: no index, not listed (a resource without
        the environment's tags, or of a type the index does not cover), or a live read asked."""
        if self._tagged is None or _LIVE_TAGS.get():
            return None
        if self._tags_by_arn is None:
            by_arn = {f.id: dict(f.tags) for f in self.tagged()}
            with self._lock:
                self._tags_by_arn = by_arn
        found = self._tags_by_arn.get(arn)
        return dict(found) if found is not None else None

    def account(self, key: Hashable, fetch: Callable[[], Any]) -> Any:
        """An account-wide listing (the same for every environment): fetched once for all the
        walks of ``bin/drift --all``, else once for this walk."""
        return (self.across or self).once(key, fetch)

    def once(self, key: Hashable, fetch: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._results.get(key)
            owner = future is None
            if owner:
                future = self._results[key] = Future()
        if owner:
            try:
                future.set_result(fetch())
            except BaseException as exc:
                with self._lock:
                    del self._results[key]
                future.set_exception(exc)
        return future.result()


    def seed(self, key: Hashable, value: Any) -> None:
        """Answer ``key`` with ``value`` (read by a listing that served several walks at once)."""
        with self._lock:
            if key not in self._results:
                future: Future = Future()
                future.set_result(value)
                self._results[key] = future


def describe_all(client, operation: str, items_key: str, page_size: int | None = None, **params) -> list[dict]:
    """``page_size``: the API's largest page, for listings of a whole account (fewest calls)."""
    if client.can_paginate(operation):
        config = {"PaginationConfig": {"PageSize": page_size}} if page_size else {}
        pages = client.get_paginator(operation).paginate(**params, **config)
        return [item for page in pages for item in page[items_key]]
    return getattr(client, operation)(**params)[items_key]


def listing(shared: SharedReads | None, client, operation: str, items_key: str, filters: list[dict]) -> list[dict]:
    """Every item ``operation`` returns for ``filters``, fetched once per walk when ``shared``."""
    fetch = lambda: describe_all(client, operation, items_key, Filters=filters)  # noqa: E731
    if shared is None:
        return fetch()
    return shared.once((operation, json.dumps(filters, sort_keys=True)), fetch)


def chunks(values: list, size: int = MAX_FILTER_VALUES) -> list[list]:
    return [values[i:i + size] for i in range(0, len(values), size)]

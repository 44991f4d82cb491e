"""Which mutating calls botocore had to retry, per thread, so a lost create answer is noticed.

botocore's standard mode retries a create whose first attempt may have reached AWS while its
answer was lost (a 5xx, a dropped connection, a read timeout). For an API with an idempotency
token (ClientToken, CreationToken, ClientRequestToken) the retry returns the same resource; for
the others (CreateVpc, CreateSubnet, CreateSecurityGroup, AllocateAddress, CreateRestApi,
CreateLogGroup, CreateRole, …) the retry either makes a second resource or is answered with a
duplicate error (InvalidGroup.Duplicate, DBSubnetGroupAlreadyExists, ResourceAlreadyExistsException).

botocore writes the number of retries into every parsed answer, error answers included
(``ResponseMetadata.RetryAttempts``): one ``after-call`` hook reads it, so noticing costs no
call. The reconciler opens a scope around a create (``watch()``) and, when any mutating call in
it was retried, looks for the duplicate.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from resources.aws import is_mutating

HOOK_ID = "video-pipeline-infra-retry-watch"
_local = threading.local()


@dataclass
class Retried:
    """The mutating calls of one scope that botocore sent more than once."""

    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (service, operation, retries)

    def __bool__(self) -> bool:
        return bool(self.calls)

    def describe(self) -> str:
        return ", ".join(f"{op} ({n} retr{'y' if n == 1 else 'ies'})" for _, op, n in self.calls)


def note(service: str, operation: str, retries: int) -> None:
    """Record a retried call in the current thread's scope (none open: nothing to do)."""
    scope: Retried | None = getattr(_local, "scope", None)
    if scope is not None and retries > 0 and is_mutating(operation):
        scope.calls.append((service, operation, retries))


def _after_call(parsed=None, model=None, **_kwargs) -> None:
    if not isinstance(parsed, dict) or model is None:
        return
    retries = (parsed.get("ResponseMetadata") or {}).get("RetryAttempts") or 0
    note(model.service_model.service_name, model.name, retries)


def install(events) -> None:
    """Register the hook on a botocore event emitter (a session's or a client's), once."""
    events.register("after-call", _after_call, unique_id=HOOK_ID)


def install_on(aws, services: tuple[str, ...] = ()) -> None:
    """Watch every client of ``aws``: clients created later copy the session's handlers at
    creation, clients already created (``services``) get the hook themselves."""
    session = getattr(aws, "session", None)
    if session is not None:
        install(session.get_component("event_emitter"))
    for service in services:
        install(aws.client(service).meta.events)


@contextlib.contextmanager
def watch() -> Iterator[Retried]:
    """The retried mutating calls made by this thread inside the block."""
    outer = getattr(_local, "scope", None)
    _local.scope = scope = Retried()
    try:
        yield scope
    finally:
        _local.scope = outer
        if outer is not None:
            outer.calls.extend(scope.calls)

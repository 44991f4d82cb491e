"""One factory for every AWS client the orchestrator uses (botocore's, as boto3 makes them).

Credentials come from the standard chain only; the region from ``--region`` or the
environment; ``AWS_ENDPOINT_URL`` is honoured by botocore itself, so an emulator needs no code
here. Every client retries throttling and 5xx in botocore's ``standard`` mode (the default
``legacy`` mode does not retry ``LimitExceededException`` nor API Gateway's
``TooManyRequestsException``, see docs/aws-behaviours.md B-RETRY-1).
"""
from __future__ import annotations

import collections
import threading
from typing import Callable, Iterable
from dataclasses import dataclass, field

import botocore.config
import botocore.session
from botocore.exceptions import ClientError

from resources.aws import models

READ_PREFIXES = ("Describe", "Get", "List")

# Enough attempts to ride out a burst of RequestLimitExceeded on a busy account; standard mode
# backs off exponentially with jitter up to 20 s between attempts.
DEFAULT_MAX_ATTEMPTS = 10


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass
class CallLog:
    """Counts every API operation issued (before retries), for the run summary and tests."""

    counts: collections.Counter = field(default_factory=collections.Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.counts[(service, operation)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def mutating(self) -> int:
        return sum(n for (_, op), n in self.counts.items() if is_mutating(op))

    def summary(self) -> dict:
        return {"total": self.total, "mutating": self.mutating}


class Aws:
    """Thread-safe client cache: sessions are not thread-safe, clients are.

    A botocore session, not boto3's: boto3 adds only resources and S3 transfers, which the tool
    never uses, and importing it imports s3transfer, about 70 ms of every command's start-up.
    A boto3 session given (a test's) is used through the botocore session it wraps."""

    def __init__(self, region: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, session=None):
        self.region = region
        self.session = getattr(session, "_session", session) or botocore.session.get_session()
        # As boto3 does: the credential providers and an assumed role's STS client see it too.
        self.session.set_config_variable("region", region)
        models.install(self.session)  # start-up: the data files parsed 4x faster
        self.config = botocore.config.Config(
            region_name=region,
            # total_max_attempts counts the first attempt; botocore's max_attempts does not.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            user_agent_appid="video-pipeline-infra",
        )
        self.calls = CallLog()
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self._account: str | None = None

    def client(self, service: str):
        # Cached clients are handed out without the lock: building one takes a tenth of a
        # second, and every other thread would queue behind it.
        client = self._clients.get(service)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self.session.create_client(service, region_name=self.region, config=self.config)
                client.meta.events.register("before-call", self._count)
                self._clients[service] = client
            return client

    def prewarm(self, services: Iterable[str], then: Callable[[], None] | None = None) -> threading.Thread:
        """Build these clients on a background thread, in order, while the caller waits on the
        network: each takes 5-100 ms of CPU, which would otherwise land on the walk's path
        when the first node of a service starts. ``then`` is called on that thread once they
        are built."""

        def build() -> None:
            try:
                for service in services:
                    self.client(service)
            finally:
                if then is not None:
                    then()

        thread = threading.Thread(target=build, name="clients", daemon=True)
        thread.start()
        return thread

    def _count(self, model, **_kwargs) -> None:
        self.calls.record(model.service_model.service_name, model.name)

    def account_id(self) -> str:
        # Asked once per run (the CLI proves the credentials with it; the KMS key policy names
        # the account): the answer cannot change for a client's credentials.
        if self._account is None:
            identity = self.client("sts").get_caller_identity()
            self._account = identity["Account"]
        return self._account


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def ignore_codes(codes: set[str] | frozenset[str], fn, *args, **kwargs):
    """Call fn; an error whose code is in ``codes`` (a not-found on delete) counts as done."""
    try:
        return fn(*args, **kwargs)
    except ClientError as exc:
        if error_code(exc) in codes:
            return None
        raise


def done_if_landed(codes: set[str] | frozenset[str], landed: Callable[[], bool], fn, *args, **kwargs):
    """A call botocore may have retried after its answer was lost: the first attempt landed, so
    AWS answers the retry "already exists / already associated". That error counts as done when
    ``landed()`` reads the wanted state back; anything else is raised as it came."""
    try:
        return fn(*args, **kwargs)
    except ClientError as exc:
        if error_code(exc) in codes and landed():
            return None
        raise


def describe_one(call: Callable[..., dict], key: str, not_found: str, **kwargs) -> dict | None:
    """A describe by id or name that maps AWS's not-found error (and an empty answer) to None."""
    try:
        items = call(**kwargs)[key]
    except ClientError as exc:
        if error_code(exc) == not_found:
            return None
        raise
    return items[0] if items else None

"""State in S3 for a team or CI: `s3://BUCKET/PREFIX/ENV.REGION.json`, locked by a leased
`ENV.REGION.lock` object. Same interface as the local backend; knows nothing of the engine.

The lock is an object created with `If-None-Match: *` (S3 conditional writes: the PUT fails with
412 PreconditionFailed when the key exists, and 409 ConditionalRequestConflict when a concurrent
conditional write on the key is in flight: a 409 says nothing about who won, so every write that
gets one reads the object again and retries while it is still ours or unchanged). Its body names
the holder and a lease; the run renews the lease (a PUT with `If-Match` on the lock's own ETag) every lease/3 while it works and deletes
the lock at the end (a DELETE with `If-Match`: never someone else's lock). A lock whose lease has
run out belongs to a run that is gone (killed, its runner lost): the next run takes it over with
a PUT `If-Match` on that lock's ETag, so of two runs taking over at once only one wins.

State writes are compare-and-swap: `If-Match` on the ETag this run read or last wrote
(`If-None-Match: *` when there was no state), so a run that lost its lock, or anything else
writing behind its back, can never overwrite a newer state: S3 answers 412 and nothing is
written. The bucket's versioning keeps every earlier version (the S3 counterpart of `.bak`).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar
from datetime import datetime, timezone

from .document import StateDocument, corrupt
from .errors import LockHeldError, StateError
from .local import _NAME, _pid_alive

T = TypeVar("T")

LEASE_SECONDS = 120
# Renewed three times per lease: two renewals can fail (a network blip) before it runs out.
HEARTBEAT_DIVISOR = 3

# S3's answers to a conditional request that does not hold.
PRECONDITION_FAILED = "PreconditionFailed"        # 412: If-None-Match found the key / If-Match another ETag
CONDITIONAL_CONFLICT = "ConditionalRequestConflict"  # 409: a concurrent conditional write on the key
NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
# D-S3-1: AWS's guidance on 409 is to read the object again and retry. A few attempts, a short
# back-off doubled each time: the write in flight ends within a request's time.
CONFLICT_ATTEMPTS = 3
CONFLICT_BACKOFF_SECONDS = 0.25
KEPT_CONFLICTING = "S3 kept answering ConditionalRequestConflict (another write to it was in flight)"
ACCESS_DENIED = "AccessDenied"


class StateConflictError(StateError):
    """The state object changed since this run read it; nothing was written."""


class LockLostError(StateError):
    """This run no longer holds its lock (its lease ran out and another run took it over)."""


class BucketRequirementsError(StateError):
    """The state bucket misses requirements: one line each (`lines`, printed by the CLI)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None


def _is_client_error(exc: BaseException) -> bool:
    return _code(exc) is not None


def _delete_denied(what: str, then: str) -> StateError:
    """D-S3-2: S3 authorises a DeleteObject with If-Match only when the caller has both
    s3:DeleteObject and s3:GetObject; its AccessDenied does not say which one is missing."""
    return StateError(f"S3 denied deleting {what}: a conditional delete (If-Match) needs both s3:DeleteObject "
                      f"and s3:GetObject on the state bucket's objects; {then}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return str(os.getuid())


def _ci_run() -> str | None:
    """The CI run holding the lock, when there is one: the first thing a team wants to open."""
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or None


def expect_bucket_owner(s3, account: str) -> None:
    """Make every call of this S3 client name the account that must own the bucket
    (ExpectedBucketOwner): S3 answers 403 AccessDenied when another account owns it, so a state
    bucket deleted and its name taken by someone else is never read nor written. The client is
    the state backend's own (a factory of its own), so no other call carries it."""
    def add(params: dict, model, **_kwargs) -> None:
        if "ExpectedBucketOwner" in model.input_shape.members:
            params.setdefault("ExpectedBucketOwner", account)

    s3.meta.events.register("provide-client-params.s3", add)


def check_bucket(s3, bucket: str, prefix: str = "") -> None:
    """Raise BucketRequirementsError naming every requirement the bucket does not meet:
    versioning (every earlier state version kept), all public access blocked, default
    encryption. Three reads, no write."""
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    fix = f"bin/state init {url}"
    problems: list[str] = []
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception as exc:
        if _code(exc) == "NoSuchBucket":
            raise BucketRequirementsError([f"state bucket {bucket} does not exist: create it with {fix}"]) from None
        if not _is_client_error(exc):
            raise
        problems.append(f"state bucket {bucket}: cannot read its versioning ({_code(exc)})")
        versioning = "?"
    if versioning not in ("Enabled", "?"):
        problems.append(f"state bucket {bucket}: versioning is not enabled (it keeps every earlier state version); "
                        f"fix with {fix}")
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        open_settings = [k for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
                         if not block.get(k)]
    except Exception as exc:
        if _code(exc) != "NoSuchPublicAccessBlockConfiguration":
            if not _is_client_error(exc):
                raise
            problems.append(f"state bucket {bucket}: cannot read its public access block ({_code(exc)})")
            open_settings = None
        else:
            open_settings = ["all four settings"]
    if open_settings:
        problems.append(f"state bucket {bucket}: public access is not blocked ({', '.join(open_settings)} off); "
                        f"fix with {fix}")
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"].get("Rules", [])
        encrypted = any(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules)
    except Exception as exc:
        if _code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            if not _is_client_error(exc):
                raise
            problems.append(f"state bucket {bucket}: cannot read its default encryption ({_code(exc)})")
            encrypted = True
        else:
            encrypted = False
    if not encrypted:
        problems.append(f"state bucket {bucket}: no default encryption is configured; fix with {fix}")
    if problems:
        raise BucketRequirementsError(problems)


def iam_grants(bucket: str, prefix: str, env: str, region: str) -> tuple:
    """The permissions of this backend's calls for one environment's objects (``env`` "*": every
    environment's), for bin/policy: the bucket's three checks, the state, its lock and the drift
    record. Drift reads the state and writes only its own record (--new-only)."""
    from resources.aws.permissions import reads, writes

    bucket_arn = f"arn:{{partition}}:s3:::{bucket}"
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    objects = f"{bucket_arn}/{base}{env}.{region}"
    return (
        reads("s3:GetBucketVersioning", "s3:GetBucketPublicAccessBlock", "s3:GetEncryptionConfiguration", arns=(bucket_arn,)),
        reads("s3:GetObject", arns=(f"{objects}.json", f"{objects}.drift.json")),
        reads("s3:PutObject", arns=(f"{objects}.drift.json",)),
        # No call lists the bucket, but without s3:ListBucket S3 answers a missing state (a new
        # environment) AccessDenied instead of NoSuchKey. That check of a GetObject carries no
        # s3:prefix (it is no listing): IfExists lets it pass, a listing must name the prefix.
        reads("s3:ListBucket", arns=(bucket_arn,),
              condition={"StringLikeIfExists": {"s3:prefix": f"{base}{env}.{region}.*"}},
              implied_by="GetObject of a state that does not exist yet"),
        # The lock and the state are written and deleted conditionally (If-Match on the ETag read):
        # a conditional delete needs s3:GetObject as well as s3:DeleteObject.
        writes("s3:GetObject", "s3:PutObject", "s3:DeleteObject", arns=(f"{objects}.*",)),
    )


class S3StateBackend:
    """State in `s3://{bucket}/{prefix}/{env}.{region}.json` under a leased lock object."""

    def __init__(self, s3, bucket: str, prefix: str, env: str, region: str, account: str | None = None, *,
                 now: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 lease_seconds: float = LEASE_SECONDS,
                 heartbeat: bool = True, command: str | None = None, host: str | None = None,
                 pid: int | None = None) -> None:
        for what, name in (("env", env), ("region", region)):
            if not _NAME.fullmatch(name):
                raise ValueError(f"invalid {what} name {name!r}")
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.strip("/")
        self.env, self.region, self.account = env, region, account
        base = f"{self.prefix}/" if self.prefix else ""
        self.key = f"{base}{env}.{region}.json"
        self.lock_key = f"{base}{env}.{region}.lock"
        # The last drift check's findings (bin/drift --new-only): an object beside the state.
        self.drift_key = f"{base}{env}.{region}.drift.json"
        self.drift_record_unreadable = False
        self.location = f"s3://{bucket}/{self.key}"
        self.lock_location = f"s3://{bucket}/{self.lock_key}"
        self.now = now
        self.sleep = sleep  # only between retries of a write S3 answered 409
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = lease_seconds / HEARTBEAT_DIVISOR
        self.heartbeat = heartbeat
        self.command = command if command is not None else " ".join(sys.argv)
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.previous_holder: dict | None = None  # the flock's notion; an S3 lock never outlives its lease silently
        self.broken_holder: dict | None = None    # taken over with --break-lock
        self.expired_holder: dict | None = None   # taken over because its lease ran out
        self.lost: dict | None = None             # set when a renewal finds the lock is no longer ours
        self._holder: dict | None = None
        self._lock_etag: str | None = None
        self._renewed_at: float | None = None
        self._etag: str | None = None        # of the state object as last read or written
        self._bytes: bytes | None = None
        self._save_lock = threading.Lock()
        self._renew_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- locking --------------------------------------------------------------

    @property
    def is_locked(self) -> bool:
        return self._lock_etag is not None

    @property
    def exists(self) -> bool:
        """Whether the state object existed when last loaded (or has been written since)."""
        return self._etag is not None

    @property
    def holder_id(self) -> str | None:
        return None if self._holder is None else self._holder["id"]

    def _body(self, renewed_at: float) -> bytes:
        holder = {**self._holder, "renewed_at": _iso(renewed_at), "expires_at": _iso(renewed_at + self.lease_seconds)}
        return json.dumps(holder, sort_keys=True).encode()

    def lock(self, *, break_lock: str | None = None) -> None:
        """Take the lock, or raise LockHeldError naming its holder.

        A lock whose lease has run out is taken over (`expired_holder`). ``break_lock`` (None:
        never) takes over a lock whose lease still runs: a dead pid on this host (any value, ""
        included), or exactly the holder named ``PID@HOST``; a live pid on this host never.
        """
        if self._lock_etag is not None:
            raise StateError(f"state lock {self.lock_location} is already held by this backend")
        started = self.now()
        self._holder = {"id": str(uuid.uuid4()), "pid": self.pid, "host": self.host, "user": _user(),
                        "command": self.command, "started_at": _iso(started), "lease_seconds": self.lease_seconds}
        if run := _ci_run():
            self._holder["ci_run"] = run
        self.previous_holder = self.broken_holder = self.expired_holder = self.lost = None
        body = self._body(started)
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                answer = self.s3.put_object(Bucket=self.bucket, Key=self.lock_key, Body=body,
                                            ContentType="application/json", IfNoneMatch="*")
            except Exception as exc:
                code = _code(exc)
                if code not in (PRECONDITION_FAILED, CONDITIONAL_CONFLICT):
                    raise
            else:
                return self._locked(answer["ETag"], started)
            current = self._read_lock()
            if current is None:
                # 412: released between our PUT and our GET. 409 ConditionalRequestConflict
                # (D-S3-1): another write to the key was in flight and none has landed. Either
                # way the lock is free: try again, after a 409 a little later (AWS's guidance).
                if code == CONDITIONAL_CONFLICT:
                    self._retry_after_conflict(attempt)
                continue
            etag, raw, holder = current
            if holder is not None and holder.get("id") == self.holder_id:
                # Our own PUT landed and its answer was lost; botocore's retry met our lock.
                return self._locked(etag, started)
            self._take_over(etag, raw, holder, body, started, break_lock)
            return None
        raise LockHeldError(self._held_message(None, "the lock keeps changing hands; try again"))

    def _locked(self, etag: str, renewed_at: float) -> None:
        self._lock_etag, self._renewed_at = etag, renewed_at
        if self.heartbeat:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="state-lock-heartbeat", daemon=True)
            self._thread.start()

    def _read_lock(self) -> tuple[str, bytes, dict | None] | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.lock_key)
        except Exception as exc:
            if _code(exc) in NOT_FOUND:
                return None
            raise
        raw = answer["Body"].read()
        try:
            holder = json.loads(raw.decode())
        except ValueError:
            holder = None
        if not isinstance(holder, dict):
            # Not a lock this tool wrote: its lease is counted from when it was written.
            modified = answer.get("LastModified")
            holder = None if modified is None else {
                "expires_at": _iso(modified.timestamp() + self.lease_seconds), "unreadable": True}
        return answer["ETag"], raw, holder

    def _take_over(self, etag: str, raw: bytes, holder: dict | None, body: bytes, started: float,
                   break_lock: str | None) -> None:
        expires = _parse_time((holder or {}).get("expires_at"))
        expired = expires is not None and self.now() >= expires
        if not expired:
            refusal = self._refuse_break(holder, break_lock)
            if refusal is not None:
                raise LockHeldError(self._held_message(holder, refusal), holder)
        new_etag = self._replace_lock(etag, holder, body)
        if expired:
            self.expired_holder = holder or {}
        else:
            self.broken_holder = holder or {}
        self._locked(new_etag, started)

    def _replace_lock(self, etag: str, holder: dict | None, body: bytes) -> str:
        """Put our lock over the one with ``etag`` (held by ``holder``): its new ETag, or
        LockHeldError naming whoever holds the lock now."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                # If-Match on the lock we judged: of two runs taking it over at once, one wins.
                return self.s3.put_object(Bucket=self.bucket, Key=self.lock_key, Body=body,
                                          ContentType="application/json", IfMatch=etag)["ETag"]
            except Exception as exc:
                code = _code(exc)
                if code not in (PRECONDITION_FAILED, CONDITIONAL_CONFLICT) and code not in NOT_FOUND:
                    raise
            if code != CONDITIONAL_CONFLICT:
                break
            # 409 ConditionalRequestConflict (D-S3-1): a write to the lock was in flight, and it
            # need not have landed. Read it again: our own (our PUT landed) is taken; the lock we
            # judged, unchanged, is tried again; anything else is another run's, named below.
            current = self._read_lock()
            if self._is_ours(current):
                return current[0]
            if current is None or current[0] != etag:
                holder = current[2] if current else None
                break
            if not self._retry_after_conflict(attempt):
                raise LockHeldError(self._held_message(holder, f"{KEPT_CONFLICTING}; try again"), holder)
        raise LockHeldError(self._held_message(holder, "another run took the lock over first"), holder)

    def _is_ours(self, current: tuple[str, bytes, dict | None] | None) -> bool:
        """Whether the lock as read names this run: its holder id is unique to the run, so no
        other run writes it, whatever ETag our own earlier writes left on the object."""
        return current is not None and current[2] is not None and current[2].get("id") == self.holder_id

    def _retry_after_conflict(self, attempt: int) -> bool:
        """Wait before the next attempt of a write S3 answered 409; False when none is left."""
        if attempt + 1 >= CONFLICT_ATTEMPTS:
            return False
        self.sleep(CONFLICT_BACKOFF_SECONDS * 2 ** attempt)
        return True

    def _refuse_break(self, holder: dict | None, break_lock: str | None) -> str | None:
        """None when the unexpired lock may be broken, else why not (the end of the message)."""
        if holder is None or holder.get("unreadable"):
            expires = (holder or {}).get("expires_at", "?")
            return f"the lock object names no holder; it is taken over when its lease ends at {expires}"
        pid, host = holder.get("pid"), holder.get("host")
        if host == self.host:
            if _pid_alive(pid):
                return "another run is in progress" if break_lock is None else (
                    f"another run is in progress; pid {pid} is alive on this host, so its lock is not broken")
            if break_lock is None:
                return (f"pid {pid} is no longer running: rerun with --break-lock to take the lock over "
                        "(or wait until its lease ends)")
            return None
        if break_lock == f"{pid}@{host}":
            return None
        if break_lock is None:
            return (f"another run is in progress; if it is gone, its lock is taken over when its lease ends, "
                    f"or rerun with --break-lock {pid}@{host}")
        return (f"another run may be in progress; pid {pid} runs on another host and cannot be checked "
                f"from here: if that run is gone, rerun with --break-lock {pid}@{host}")

    def _held_message(self, holder: dict | None, why: str) -> str:
        where = f"state for env {self.env!r} in {self.region!r} ({self.lock_location})"
        if holder is None or holder.get("unreadable"):
            return f"{where} is locked; {why}"
        who = f"{holder.get('user', '?')}, pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
        ci = f" ({holder['ci_run']})" if holder.get("ci_run") else ""
        return (f"{where} is locked by {who}{ci} running {holder.get('command', '?')!r} "
                f"since {holder.get('started_at', '?')}, lease until {holder.get('expires_at', '?')}; {why}")

    def renew(self) -> bool:
        """Extend the lease (one heartbeat); False when the lock is no longer ours (`lost`)."""
        with self._renew_lock:
            if self._lock_etag is None or self.lost is not None:
                return False
            renewed_at = self.now()
            body = self._body(renewed_at)
            for attempt in range(CONFLICT_ATTEMPTS):
                try:
                    answer = self.s3.put_object(Bucket=self.bucket, Key=self.lock_key, Body=body,
                                                ContentType="application/json", IfMatch=self._lock_etag)
                except Exception as exc:
                    code = _code(exc)
                    if code not in (PRECONDITION_FAILED, CONDITIONAL_CONFLICT) and code not in NOT_FOUND:
                        raise
                    current = self._read_lock()
                    if current is not None and current[1] == body:
                        self._lock_etag, self._renewed_at = current[0], renewed_at  # our retried PUT had landed
                        return True
                    if code == CONDITIONAL_CONFLICT and self._is_ours(current):
                        # 409 ConditionalRequestConflict (D-S3-1): a write to the lock was in
                        # flight; the lock still names this run, so it is ours: renew it again on
                        # the ETag it has now. Only another holder, or no lock, means lost.
                        self._lock_etag = current[0]
                        if self._retry_after_conflict(attempt):
                            continue
                        break
                    self.lost = (current[2] if current else None) or {}
                    return False
                self._lock_etag, self._renewed_at = answer["ETag"], renewed_at
                return True
            # Still ours, out of attempts: a blip for the heartbeat, whose next beat tries again.
            raise StateError(f"{KEPT_CONFLICTING} when this run renewed its state lock {self.lock_location}")

    def _beat(self) -> None:
        import structlog

        log = structlog.get_logger()
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                if not self.renew():
                    log.error("state_lock_lost", location=self.lock_location, holder=self.lost,
                              detail="another run took the lock over; this run writes no more state")
                    return
            except Exception as exc:  # noqa: BLE001 - a blip: the next beat tries again, saves check the lease
                log.warning("state_lock_renewal_failed", location=self.lock_location, error=str(exc)[:200])

    def unlock(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        with self._renew_lock:
            etag, self._lock_etag = self._lock_etag, None
            if etag is None or self.lost is not None:
                return  # never delete a lock that is someone else's now
            for attempt in range(CONFLICT_ATTEMPTS):
                try:
                    # If-Match: a lock that changed hands since our last renewal is not ours to delete.
                    self.s3.delete_object(Bucket=self.bucket, Key=self.lock_key, IfMatch=etag)
                    return
                except Exception as exc:
                    code = _code(exc)
                    if code == ACCESS_DENIED:
                        raise _delete_denied(f"the state lock {self.lock_location}",
                                             "the lock stays until its lease ends") from None
                    if code not in (PRECONDITION_FAILED, CONDITIONAL_CONFLICT) and code not in NOT_FOUND:
                        raise
                if code != CONDITIONAL_CONFLICT:
                    return
                # 409 ConditionalRequestConflict (D-S3-1): a write to the lock was in flight and
                # nothing was deleted. Read it again: gone, or another run's, is not ours to
                # delete; still naming this run, it is deleted on the ETag it has now.
                current = self._read_lock()
                if not self._is_ours(current):
                    return
                etag = current[0]
                if not self._retry_after_conflict(attempt):
                    break
            # Never left behind silently: say how the next run gets past it.
            raise StateError(
                f"this run could not remove its state lock {self.lock_location}: {KEPT_CONFLICTING}; "
                f"the next run takes it over when its lease ends at {current[2].get('expires_at', '?')}, "
                f"or rerun with --break-lock {self.pid}@{self.host}")

    @contextlib.contextmanager
    def locked(self, *, break_lock: str | None = None) -> Iterator[S3StateBackend]:
        self.lock(break_lock=break_lock)
        try:
            yield self
        finally:
            self.unlock()

    def _check_still_ours(self) -> None:
        if self._lock_etag is None:
            raise StateError(f"refusing to write {self.location} without holding its lock")
        if self.lost is not None:
            raise LockLostError(
                f"this run lost the state lock {self.lock_location} (another run took it over); "
                f"nothing was written to {self.location}")
        if self._renewed_at is not None and self.now() >= self._renewed_at + self.lease_seconds:
            raise LockLostError(
                f"this run's lease on {self.lock_location} ran out at {_iso(self._renewed_at + self.lease_seconds)} "
                f"without being renewed; nothing was written to {self.location}")

    # -- reading and writing --------------------------------------------------

    def load(self) -> StateDocument:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if _code(exc) in NOT_FOUND:
                self._etag, self._bytes = None, None
                return StateDocument.new(self.env, self.region, account=self.account)
            raise
        raw = answer["Body"].read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise corrupt("not UTF-8 text", self.location) from None
        doc = StateDocument.from_json(text, env=self.env, region=self.region, account=self.account,
                                      source=self.location)
        self._etag, self._bytes = answer["ETag"], raw
        return doc

    def save(self, doc: StateDocument) -> bool:
        """Write `doc` if it differs from what this run read or last wrote; True if written.
        Compare-and-swap: refused (StateConflictError) when the object changed meanwhile."""
        if (doc.env, doc.region) != (self.env, self.region):
            raise StateError(f"cannot save state of env {doc.env!r} in {doc.region!r} to {self.location}")
        with self._save_lock:
            new = doc.to_json().encode()
            if new == self._bytes:
                return False
            for attempt in range(CONFLICT_ATTEMPTS):
                self._check_still_ours()
                condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
                try:
                    answer = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=new,
                                                ContentType="application/json", **condition)
                except Exception as exc:
                    # 412 PreconditionFailed: another writer; NoSuchKey: If-Match on an object
                    # deleted since. Unless it holds exactly what we wrote (our PUT landed, its
                    # answer was lost and botocore retried it), nothing is overwritten.
                    code = _code(exc)
                    if code not in (PRECONDITION_FAILED, CONDITIONAL_CONFLICT) and code not in NOT_FOUND:
                        raise
                    current = self._current()
                    if current is not None and current[1] == new:
                        self._etag, self._bytes = current
                        return True
                    if code == CONDITIONAL_CONFLICT and (current[0] if current else None) == self._etag:
                        # 409 ConditionalRequestConflict (D-S3-1): a write was in flight, but the
                        # object is still the one this run read or wrote (or still absent): write
                        # again. Only a changed ETag means someone else wrote it.
                        if self._retry_after_conflict(attempt):
                            continue
                        break
                    raise StateConflictError(
                        f"the state of env {self.env!r} in {self.region!r} changed since this run read it "
                        f"({self.location}: S3 answered {code}); nothing was overwritten") from None
                self._etag, self._bytes = answer["ETag"], new
                return True
            raise StateError(f"{KEPT_CONFLICTING} when this run wrote {self.location}; nothing was written")

    def _current(self) -> tuple[str, bytes] | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if _code(exc) in NOT_FOUND:
                return None
            raise
        return answer["ETag"], answer["Body"].read()

    def retire(self) -> None:
        """Remove the state after it was moved elsewhere (under the lock). A delete in a versioned
        bucket leaves a delete marker: the document stays readable as a noncurrent version."""
        self._check_still_ours()
        if self._etag is None:
            return
        changed = f"the state at {self.location} changed since it was read; it was not removed"
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self._etag)
                break
            except Exception as exc:
                code = _code(exc)
                if code in NOT_FOUND:
                    break
                if code == ACCESS_DENIED:
                    raise _delete_denied(self.location, "it was not removed") from None
                if code == PRECONDITION_FAILED:
                    raise StateConflictError(changed) from None
                if code != CONDITIONAL_CONFLICT:
                    raise
            # 409 ConditionalRequestConflict (D-S3-1): a write was in flight and nothing was
            # deleted. Read it again: gone is done, unchanged is deleted again, changed is a conflict.
            current = self._current()
            if current is None:
                break
            if current[0] != self._etag:
                raise StateConflictError(changed)
            if not self._retry_after_conflict(attempt):
                raise StateError(f"{KEPT_CONFLICTING} when this run removed {self.location}; it was not removed")
        self._etag, self._bytes = None, None

    def update_drift_record(self, update: Callable[[dict | None], tuple[dict, T]], *, attempts: int = 5) -> T:
        """Read the last drift check's record (None: none yet, or unreadable:
        ``drift_record_unreadable``), write the one ``update(previous)`` returns, and return its
        result. An object beside the state, never the state document: no state lock is taken and
        the state's ETag never moves, so a drift check never stands in a reconcile's way. The
        write is compare-and-swap on the record's own ETag: a check that lost the race to
        another reads the winner's record and compares again, so a finding is new for one of
        them only."""
        for _ in range(attempts):
            try:
                answer = self.s3.get_object(Bucket=self.bucket, Key=self.drift_key)
            except Exception as exc:
                if _code(exc) not in NOT_FOUND:
                    raise
                etag, previous = None, None
                self.drift_record_unreadable = False
            else:
                etag, previous = answer["ETag"], self._parse_drift_record(answer["Body"].read())
            record, result = update(previous)
            body = (json.dumps(record, sort_keys=True, indent=2) + "\n").encode()
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                self.s3.put_object(Bucket=self.bucket, Key=self.drift_key, Body=body,
                                   ContentType="application/json", **condition)
            except Exception as exc:
                if _code(exc) not in (PRECONDITION_FAILED, CONDITIONAL_CONFLICT) and _code(exc) not in NOT_FOUND:
                    raise
                try:
                    landed = self.s3.get_object(Bucket=self.bucket, Key=self.drift_key)["Body"].read() == body
                except Exception as again:
                    if _code(again) not in NOT_FOUND:
                        raise
                    landed = False
                if landed:
                    return result  # our PUT landed, its answer was lost and botocore's retry met it
                continue  # another check wrote first: compare with its record
            return result
        raise StateConflictError(f"s3://{self.bucket}/{self.drift_key} kept changing while this drift check "
                                 "wrote it; nothing was overwritten")

    def _parse_drift_record(self, raw: bytes) -> dict | None:
        try:
            record = json.loads(raw.decode("utf-8"))
        except ValueError:
            record = None
        self.drift_record_unreadable = not isinstance(record, dict)
        return record if isinstance(record, dict) else None

    def read_lock_holder(self) -> dict | None:
        """The current lock holder (for `bin/state show` / `list`), None when unlocked."""
        current = self._read_lock()
        return None if current is None else (current[2] or {})

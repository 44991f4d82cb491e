"""The S3 state backend on moto's S3 (which enforces If-None-Match and If-Match on PutObject and
DeleteObject, answering 412 PreconditionFailed as S3 does), with an injected clock."""
import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from resources.aws.clock import Clock, FakeClock
from state import (
    LEASE_SECONDS, BucketRequirementsError, CorruptStateError, ForeignStateError, LockHeldError, LockLostError,
    S3StateBackend, SchemaVersionError, StateBackend, StateConflictError, StateDocument, StateError, check_bucket,
)

BUCKET, PREFIX, REGION = "team-state", "video/pipeline", "us-east-1"
KEY, LOCK = f"{PREFIX}/dev.{REGION}.json", f"{PREFIX}/dev.{REGION}.lock"
ACCOUNT = "123456789012"
T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def _moto():
    # One moto for the module, emptied per test: starting one (or resetting every backend) per
    # test reloads IAM's managed policies, most of a second each.
    mock = mock_aws()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture
def s3(_moto):
    client = boto3.client("s3", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    for bucket in client.list_buckets()["Buckets"]:
        listing = client.list_object_versions(Bucket=bucket["Name"])
        for version in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            client.delete_object(Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"])
        client.delete_bucket(Bucket=bucket["Name"])
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def wall():
    return FakeClock(T0)


def make(s3, wall, *, host="runner-a", pid=None, env="dev", command="bin/reconcile --env dev"):
    # heartbeat=False: the tests drive renew() themselves, no thread waits on wall time.
    return S3StateBackend(s3, BUCKET, PREFIX, env, REGION, ACCOUNT, now=wall.now, heartbeat=False,
                          command=command, host=host, pid=pid or os.getpid())


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def lock_body(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=LOCK)["Body"].read())


def _doc(**resources):
    doc = StateDocument.new("dev", REGION, account=ACCOUNT)
    for key, fields in resources.items():
        doc.set_resource(key, **fields)
    return doc


def test_is_a_state_backend_with_the_documented_keys(s3, wall):
    b = make(s3, wall)
    assert isinstance(b, StateBackend)
    assert (b.key, b.lock_key) == (KEY, LOCK)
    assert b.location == f"s3://{BUCKET}/{KEY}"


def test_lock_names_who_where_when_which_command_and_its_lease(s3, wall):
    b = make(s3, wall)
    b.lock()
    holder = lock_body(s3)
    assert holder["pid"] == os.getpid() and holder["host"] == "runner-a" and holder["user"]
    assert holder["command"] == "bin/reconcile --env dev"
    assert holder["started_at"] == holder["renewed_at"] == "2027-01-15T08:00:00+00:00"
    assert holder["lease_seconds"] == LEASE_SECONDS == 120
    assert holder["expires_at"] == "2027-01-15T08:02:00+00:00"
    assert holder["id"] == b.holder_id
    b.unlock()
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=LOCK)
    b.unlock()  # idempotent


def test_a_second_run_is_refused_naming_the_holder(s3, wall):
    first = make(s3, wall, host="runner-a", pid=4242)
    first.lock()
    second = make(s3, wall, host="runner-b")
    with pytest.raises(LockHeldError) as info:
        second.lock()
    message = str(info.value)
    assert "pid 4242 on host runner-a" in message and "'bin/reconcile --env dev'" in message
    assert "lease until 2027-01-15T08:02:00+00:00" in message and "--break-lock 4242@runner-a" in message
    assert info.value.holder["id"] == first.holder_id
    assert lock_body(s3)["id"] == first.holder_id  # untouched
    first.unlock()
    with second.locked():
        assert second.expired_holder is None and second.broken_holder is None


def test_an_expired_lease_is_taken_over_and_named(s3, wall):
    killed = make(s3, wall, host="runner-a", pid=4242)
    killed.lock()  # never unlocked: the run was SIGKILLed, its runner gone
    wall.t += LEASE_SECONDS - 1
    with pytest.raises(LockHeldError):
        make(s3, wall, host="runner-b").lock()
    wall.t += 1
    taker = make(s3, wall, host="runner-b")
    taker.lock()
    assert taker.expired_holder["id"] == killed.holder_id
    assert (taker.expired_holder["pid"], taker.expired_holder["host"]) == (4242, "runner-a")
    assert lock_body(s3)["id"] == taker.holder_id
    # The killed run, were it to come back, may write nothing.
    with pytest.raises(LockLostError):
        killed.renew() or killed.save(_doc(vpc={"id": "vpc-stale"}))
    assert not killed.renew() and killed.lost["id"] == taker.holder_id


def test_two_takers_of_one_expired_lock_one_wins(s3, wall):
    make(s3, wall, host="runner-a", pid=4242).lock()
    wall.t += LEASE_SECONDS
    a, b = make(s3, wall, host="runner-b"), make(s3, wall, host="runner-c")
    # Both judged the same expired lock: the second takeover's If-Match meets the first's ETag.
    etag = s3.head_object(Bucket=BUCKET, Key=LOCK)["ETag"]
    a.lock()
    b._holder = {"id": "b", "pid": 1, "host": "runner-c", "command": "x", "started_at": "t", "lease_seconds": 120}
    with pytest.raises(LockHeldError, match="another run took the lock over first"):
        b._take_over(etag, b"", {"pid": 4242, "host": "runner-a", "expires_at": "2027-01-15T08:02:00+00:00"},
                     b._body(wall.now()), wall.now(), None)
    assert lock_body(s3)["id"] == a.holder_id


def test_heartbeat_renews_the_lease(s3, wall):
    b = make(s3, wall)
    b.lock()
    assert b.heartbeat_seconds == LEASE_SECONDS / 3 == 40
    for _ in range(5):  # 200 s of work, renewed every 40 s: the lease never runs out
        wall.t += b.heartbeat_seconds
        assert b.renew() is True
        assert b.save(_doc(vpc={"id": f"vpc-{wall.t}"})) is True
    holder = lock_body(s3)
    assert holder["expires_at"] == "2027-01-15T08:05:20+00:00" and holder["started_at"] == "2027-01-15T08:00:00+00:00"
    with pytest.raises(LockHeldError):
        make(s3, wall, host="runner-b").lock()


def test_a_run_whose_lease_lapsed_writes_nothing(s3, wall):
    b = make(s3, wall)
    b.lock()
    b.save(_doc(vpc={"id": "vpc-1"}))
    wall.t += LEASE_SECONDS  # renewals failed all along (a network cut)
    with pytest.raises(LockLostError, match="ran out"):
        b.save(_doc(vpc={"id": "vpc-2"}))
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())["resources"]["vpc"]["id"] == "vpc-1"


def test_break_lock_of_a_dead_pid_on_this_host(s3, wall):
    pid = dead_pid()
    make(s3, wall, host="this-host", pid=pid).lock()
    with pytest.raises(LockHeldError, match=f"pid {pid} is no longer running: rerun with --break-lock"):
        make(s3, wall, host="this-host").lock()
    b = make(s3, wall, host="this-host")
    b.lock(break_lock="")
    assert b.broken_holder["pid"] == pid and lock_body(s3)["id"] == b.holder_id


def test_break_lock_never_breaks_a_live_pid_on_this_host(s3, wall):
    live = make(s3, wall, host="this-host", pid=os.getpid())
    live.lock()
    for value in ("", f"{os.getpid()}@this-host"):
        with pytest.raises(LockHeldError, match="is alive on this host, so its lock is not broken"):
            make(s3, wall, host="this-host").lock(break_lock=value)
    assert lock_body(s3)["id"] == live.holder_id


def test_a_holder_on_another_host_is_broken_only_when_named_exactly(s3, wall):
    other = make(s3, wall, host="runner-a", pid=4242)
    other.lock()
    for wrong in ("", "4242@runner-b", "4243@runner-a"):
        with pytest.raises(LockHeldError, match="--break-lock 4242@runner-a"):
            make(s3, wall, host="runner-b").lock(break_lock=wrong)
    b = make(s3, wall, host="runner-b")
    b.lock(break_lock="4242@runner-a")
    assert b.broken_holder["id"] == other.holder_id
    assert not other.renew() and other.lost["id"] == b.holder_id
    other.unlock()  # a lock that changed hands is not deleted
    assert lock_body(s3)["id"] == b.holder_id


class LandedThenPreconditionFailed:
    """The first PutObject lands in S3, its answer is lost, and botocore's retry of it meets
    S3's 412 PreconditionFailed: the key now exists (If-None-Match) or has a new ETag (If-Match)."""

    def __init__(self, s3):
        self.s3, self.armed = s3, True

    def __getattr__(self, name):
        return getattr(self.s3, name)

    def put_object(self, **kwargs):
        answer = self.s3.put_object(**kwargs)
        if self.armed:
            self.armed = False
            raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": "At least one of the "
                               "pre-conditions you specified did not hold"}}, "PutObject")
        return answer


def test_a_lock_put_whose_answer_was_lost_is_our_own_lock(s3, wall):
    b = make(LandedThenPreconditionFailed(s3), wall)
    b.lock()
    assert b.broken_holder is None and b.expired_holder is None and b.is_locked
    assert lock_body(s3)["id"] == b.holder_id
    b.s3.armed = True
    assert b.renew() is True and b.lost is None  # a renewal likewise
    b.unlock()
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=LOCK)


def test_cas_save_refuses_a_stale_etag(s3, wall):
    b = make(s3, wall)
    b.lock()
    assert b.save(_doc(vpc={"id": "vpc-1"})) is True
    assert b.save(_doc(vpc={"id": "vpc-1"})) is False  # unchanged: no call
    newer = _doc(vpc={"id": "vpc-newer"}).to_json().encode()
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=newer)  # written behind this run's back
    with pytest.raises(StateConflictError, match="changed since this run read it .*PreconditionFailed.*nothing was overwritten"):
        b.save(_doc(vpc={"id": "vpc-2"}))
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == newer


def test_cas_save_refuses_when_a_state_appeared_meanwhile(s3, wall):
    b = make(s3, wall)
    b.lock()
    assert b.load().resources == {}
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"{}")
    with pytest.raises(StateConflictError):
        b.save(_doc(vpc={"id": "vpc-1"}))  # If-None-Match: * on a key that now exists
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"{}"


def test_a_save_whose_answer_was_lost_is_recognised(s3, wall):
    b = make(s3, wall)
    b.lock()
    b.save(_doc(vpc={"id": "vpc-1"}))
    b.s3 = LandedThenPreconditionFailed(s3)
    assert b.save(_doc(vpc={"id": "vpc-2"})) is True  # 412, but the object holds exactly what we wrote
    assert b.save(_doc(vpc={"id": "vpc-3"})) is True  # and the ETag it holds now is the one we know
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())["resources"]["vpc"]["id"] == "vpc-3"


def test_save_then_load_round_trip_keeps_versions(s3, wall):
    b = make(s3, wall)
    with b.locked():
        b.save(_doc(vpc={"id": "vpc-1"}))
        b.save(_doc(vpc={"id": "vpc-2"}))
    fresh = make(s3, wall)
    assert fresh.load().resource("vpc") == {"id": "vpc-2"}
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=KEY)["Versions"]
    assert len(versions) == 2  # the earlier state is kept, as local state keeps .bak


def test_save_without_lock_raises(s3, wall):
    with pytest.raises(StateError, match="without holding its lock"):
        make(s3, wall).save(_doc())
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=KEY)


@pytest.mark.parametrize("content, error", [
    (b"\xff\xfe", CorruptStateError),
    (b"{not json", CorruptStateError),
    (json.dumps({"schema_version": 99}).encode(), SchemaVersionError),
    (StateDocument.new("prod", REGION).to_json().encode(), ForeignStateError),
    (StateDocument.new("dev", REGION, account="999999999999").to_json().encode(), ForeignStateError),
])
def test_bad_objects_are_refused_and_left_untouched(s3, wall, content, error):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=content)
    b = make(s3, wall)
    with b.locked():
        with pytest.raises(error) as info:
            b.load()
        with pytest.raises(StateError):
            b.save(_doc())  # never loaded: If-None-Match: * refuses to replace it
    assert "\n" not in str(info.value)
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == content


def test_retire_deletes_only_the_version_read(s3, wall):
    b = make(s3, wall)
    with b.locked():
        b.save(_doc(vpc={"id": "vpc-1"}))
        b.retire()
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=KEY)
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=KEY)["Versions"]) == 1  # still recoverable


def test_no_secret_in_any_object(s3, wall, monkeypatch):
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_REPOSITORY", "streamtech/video-pipeline-infra")
    b = make(s3, wall)
    with b.locked():
        doc = _doc(vpc={"id": "vpc-1"})
        with pytest.raises(ValueError):
            doc.set_resource("redis", auth_token="s3cr3t-token-value")
        b.save(doc)
        assert lock_body(s3)["ci_run"] == "https://github.com/streamtech/video-pipeline-infra/actions/runs/77"
    for version in s3.list_object_versions(Bucket=BUCKET)["Versions"]:
        body = s3.get_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        assert b"s3cr3t" not in body and b"testing" not in body  # nor the credentials


def _bucket(s3, name, *, versioning=True, block=True, encryption=True):
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if block:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    if encryption:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})


def test_bucket_check_one_line_per_unmet_requirement(s3):
    _bucket(s3, "good-bucket")
    check_bucket(s3, "good-bucket", "p")
    _bucket(s3, "bare-bucket", versioning=False, block=False, encryption=False)
    with pytest.raises(BucketRequirementsError) as info:
        check_bucket(s3, "bare-bucket", "p")
    lines = info.value.lines
    assert len(lines) == 3
    assert "versioning is not enabled" in lines[0] and "public access is not blocked" in lines[1]
    assert "no default encryption" in lines[2]
    assert all("bin/state init s3://bare-bucket/p" in line for line in lines)
    _bucket(s3, "half-bucket", block=False)
    s3.put_public_access_block(Bucket="half-bucket", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    with pytest.raises(BucketRequirementsError) as info:
        check_bucket(s3, "half-bucket")
    assert info.value.lines == ["state bucket half-bucket: public access is not blocked (BlockPublicPolicy off); "
                                "fix with bin/state init s3://half-bucket"]
    with pytest.raises(BucketRequirementsError, match="does not exist: create it with bin/state init s3://no-such-bucket"):
        check_bucket(s3, "no-such-bucket")


def test_locked_runs_the_heartbeat_thread_and_stops_it(s3, wall):
    b = S3StateBackend(s3, BUCKET, PREFIX, "dev", REGION, ACCOUNT, now=wall.now, host="runner-a")
    with b.locked():
        assert b._thread is not None and b._thread.is_alive() and b._thread.daemon
    # unlock wakes the thread (no wait of 40 s) and joins it before deleting the lock
    assert b._thread is None
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=LOCK)


def test_a_lock_object_naming_no_holder_waits_out_a_lease_from_its_last_write(s3):
    import time

    s3.put_object(Bucket=BUCKET, Key=LOCK, Body=b"not a holder")
    wall = FakeClock(time.time())
    with pytest.raises(LockHeldError, match="names no holder; it is taken over when its lease ends at "):
        make(s3, wall).lock(break_lock="")
    wall.t += LEASE_SECONDS + 1
    b = make(s3, wall)
    b.lock()
    assert b.expired_holder == {"expires_at": b.expired_holder["expires_at"], "unreadable": True}


# -- --lock-timeout (orchestrator/lock_wait.py) on S3 state: the backend's clock is the waiter's --
def test_a_lock_timeout_waits_for_another_runner_to_release_the_lock(s3, wall):
    from orchestrator.lock_wait import locked

    first = make(s3, wall, host="runner-a", pid=4242)
    first.lock()
    second = make(s3, wall, host="runner-b")
    told = []

    def sleep(seconds):
        wall.sleep(seconds)
        if wall.t - T0 >= 10:
            first.unlock()  # the first run ends ten seconds in

    clock = Clock(now=wall.now, sleep=sleep)
    with locked(second, timeout=60, clock=clock, on_wait=lambda exc, t: told.append(str(exc))):
        assert lock_body(s3)["id"] == second.holder_id
    [message] = told
    assert "pid 4242 on host runner-a" in message
    assert 10 <= wall.t - T0 < 20 and second.expired_holder is None


def test_a_lock_timeout_longer_than_the_lease_takes_over_a_gone_runners_lock(s3, wall):
    from orchestrator.lock_wait import locked

    gone = make(s3, wall, host="runner-a", pid=4242)
    gone.lock()  # never renewed nor released: its runner is gone
    second = make(s3, wall, host="runner-b")
    with locked(second, timeout=300, clock=wall.as_clock(), on_wait=lambda *a: None):
        assert lock_body(s3)["id"] == second.holder_id
    assert second.expired_holder["pid"] == 4242
    assert LEASE_SECONDS <= wall.t - T0 < LEASE_SECONDS + 30


def test_a_lock_timeout_shorter_than_the_lease_is_refused_saying_it_waited(s3, wall):
    from orchestrator.lock_wait import locked

    first = make(s3, wall, host="runner-a", pid=4242)
    first.lock()
    second = make(s3, wall, host="runner-b")
    with pytest.raises(LockHeldError) as info:
        with locked(second, timeout=30, clock=wall.as_clock(), on_wait=lambda *a: None):
            pass
    assert "pid 4242 on host runner-a" in str(info.value) and str(info.value).endswith("(waited 30s for it)")
    assert wall.t - T0 == 30 and lock_body(s3)["id"] == first.holder_id

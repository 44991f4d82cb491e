"""The S3 state backend when S3 answers 409 ConditionalRequestConflict to a conditional write
(another write to the same key in flight): the object is read again, and the write is retried
while it is still ours or unchanged; only a real change by someone else is a loss or a conflict.

The 409 is injected into the real code path: a botocore `before-call` handler on the client
answers it instead of sending the request (so nothing is written), on moto's S3 otherwise."""
import json
import os

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from resources.aws.clock import FakeClock
from state import LEASE_SECONDS, LockHeldError, LockLostError, S3StateBackend, StateConflictError, StateDocument, StateError

BUCKET, PREFIX, REGION = "team-state", "video/pipeline", "us-east-1"
KEY, LOCK = f"{PREFIX}/dev.{REGION}.json", f"{PREFIX}/dev.{REGION}.lock"
ACCOUNT = "123456789012"
T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def _moto():
    mock = mock_aws()
    mock.start()
    yield mock
    mock.stop()


def _client():
    return boto3.client("s3", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def s3(_moto):
    client = _client()
    for bucket in client.list_buckets()["Buckets"]:
        listing = client.list_object_versions(Bucket=bucket["Name"])
        for version in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            client.delete_object(Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"])
        client.delete_bucket(Bucket=bucket["Name"])
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def other(s3):
    """Another run's client on the same S3: its requests never meet the injected 409s."""
    return _client()


@pytest.fixture
def wall():
    return FakeClock(T0)


def make(s3, wall, *, host="runner-a", pid=4242):
    return S3StateBackend(s3, BUCKET, PREFIX, "dev", REGION, ACCOUNT, now=wall.now, sleep=wall.sleep,
                          heartbeat=False, command="bin/reconcile --env dev", host=host, pid=pid)


class Conflicts:
    """Answers S3's 409 ConditionalRequestConflict to the next `times` conditional `operation`s
    on `key` (only those with `header`, when given). `meanwhile` runs at each: the other write
    in flight, landing (None: it does not land)."""

    def __init__(self, s3, operation, key, *, times=1, header=None, meanwhile=None):
        self.key, self.left, self.header, self.meanwhile = key, times, header, meanwhile
        self.answered = 0
        s3.meta.events.register(f"before-call.s3.{operation}", self._answer)

    def _answer(self, params, **_):
        headers = params["headers"]
        wanted = [self.header] if self.header else ["If-Match", "If-None-Match"]
        if self.left == 0 or not any(h in headers for h in wanted) or not params["url_path"].endswith(f"/{self.key}"):
            return None
        self.left -= 1
        self.answered += 1
        if self.meanwhile is not None:
            self.meanwhile()
        error = {"Code": "ConditionalRequestConflict",
                 "Message": "A conflicting conditional operation is currently in progress against this resource."}
        return AWSResponse(params["url"], 409, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 409}}


def lock_body(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=LOCK)["Body"].read())


def lock_exists(s3) -> bool:
    return "Contents" in s3.list_objects_v2(Bucket=BUCKET, Prefix=LOCK)


def state_vpc(s3) -> str:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())["resources"]["vpc"]["id"]


def _doc(vpc):
    doc = StateDocument.new("dev", REGION, account=ACCOUNT)
    doc.set_resource("vpc", id=vpc)
    return doc


# -- lock renewal -------------------------------------------------------------


def test_a_renewal_answered_409_keeps_the_lock_and_the_run_writes_on(s3, wall):
    b = make(s3, wall)
    b.lock()
    b.save(_doc("vpc-1"))
    conflicts = Conflicts(s3, "PutObject", LOCK)
    wall.t += b.heartbeat_seconds
    assert b.renew() is True and b.lost is None
    assert conflicts.answered == 1 and wall.sleeps == [0.25]
    holder = lock_body(s3)
    assert holder["id"] == b.holder_id and holder["renewed_at"] == "2027-01-15T08:00:40+00:00"
    assert b.save(_doc("vpc-2")) is True and state_vpc(s3) == "vpc-2"
    wall.t += b.heartbeat_seconds
    assert b.renew() is True  # the ETag it renews on is the lock's current one
    b.unlock()
    assert not lock_exists(s3)


def test_a_renewal_answered_409_while_another_run_took_the_lock_names_that_run(s3, other, wall):
    b = make(s3, wall, pid=4242)
    b.lock()
    taker = make(other, wall, host="runner-b", pid=7)
    Conflicts(s3, "PutObject", LOCK, meanwhile=lambda: taker.lock(break_lock="4242@runner-a"))
    assert b.renew() is False
    assert b.lost["id"] == taker.holder_id and (b.lost["pid"], b.lost["host"]) == (7, "runner-b")
    with pytest.raises(LockLostError, match="another run took it over"):
        b.save(_doc("vpc-1"))
    b.unlock()
    assert lock_body(s3)["id"] == taker.holder_id  # not ours: left alone


def test_a_renewal_that_keeps_getting_409_is_a_blip_not_a_loss(s3, wall):
    b = make(s3, wall)
    b.lock()
    Conflicts(s3, "PutObject", LOCK, times=3)
    wall.t += b.heartbeat_seconds
    with pytest.raises(StateError, match="kept answering ConditionalRequestConflict"):
        b.renew()
    assert b.lost is None and wall.sleeps == [0.25, 0.5]  # bounded: three attempts
    wall.t += b.heartbeat_seconds
    assert b.renew() is True  # the heartbeat's next beat
    assert b.save(_doc("vpc-1")) is True


# -- state write --------------------------------------------------------------


@pytest.mark.parametrize("first", [True, False], ids=["first-write", "later-write"])
def test_a_state_write_answered_409_is_written_again(s3, wall, first):
    b = make(s3, wall)
    b.lock()
    if not first:
        b.save(_doc("vpc-1"))
    conflicts = Conflicts(s3, "PutObject", KEY)  # If-None-Match on the first write, If-Match after
    assert b.save(_doc("vpc-2")) is True
    assert conflicts.answered == 1 and state_vpc(s3) == "vpc-2"
    assert b.save(_doc("vpc-3")) is True and state_vpc(s3) == "vpc-3"
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=KEY)["Versions"]
    assert len(versions) == (2 if first else 3)  # nothing written twice, nothing skipped


def test_a_state_write_answered_409_after_another_write_is_a_conflict(s3, other, wall):
    b = make(s3, wall)
    b.lock()
    b.save(_doc("vpc-1"))
    behind = _doc("vpc-behind").to_json().encode()
    Conflicts(s3, "PutObject", KEY, meanwhile=lambda: other.put_object(Bucket=BUCKET, Key=KEY, Body=behind))
    with pytest.raises(StateConflictError, match="changed since this run read it .*nothing was overwritten"):
        b.save(_doc("vpc-2"))
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == behind


def test_a_state_write_that_keeps_getting_409_writes_nothing_and_says_why(s3, wall):
    b = make(s3, wall)
    b.lock()
    b.save(_doc("vpc-1"))
    Conflicts(s3, "PutObject", KEY, times=3)
    with pytest.raises(StateError) as info:
        b.save(_doc("vpc-2"))
    assert not isinstance(info.value, StateConflictError)  # the state did not change
    assert "kept answering ConditionalRequestConflict" in str(info.value) and "nothing was written" in str(info.value)
    assert state_vpc(s3) == "vpc-1" and wall.sleeps == [0.25, 0.5]


# -- lock release -------------------------------------------------------------


def test_unlock_answered_409_removes_our_lock(s3, wall):
    b = make(s3, wall)
    b.lock()
    conflicts = Conflicts(s3, "DeleteObject", LOCK)
    b.unlock()
    assert conflicts.answered == 1 and not lock_exists(s3)
    nxt = make(s3, wall, host="runner-b")
    nxt.lock()  # the next run is not blocked for a lease
    assert nxt.expired_holder is None and nxt.broken_holder is None


def test_unlock_answered_409_leaves_a_lock_another_run_took(s3, other, wall):
    b = make(s3, wall, pid=4242)
    b.lock()
    taker = make(other, wall, host="runner-b", pid=7)
    Conflicts(s3, "DeleteObject", LOCK, meanwhile=lambda: taker.lock(break_lock="4242@runner-a"))
    b.unlock()
    assert lock_body(s3)["id"] == taker.holder_id


def test_unlock_that_keeps_getting_409_says_how_the_next_run_gets_past_it(s3, wall):
    b = make(s3, wall, pid=4242)
    b.lock()
    Conflicts(s3, "DeleteObject", LOCK, times=3)
    with pytest.raises(StateError) as info:
        b.unlock()
    message = str(info.value)
    assert "could not remove its state lock" in message and "kept answering ConditionalRequestConflict" in message
    assert "lease ends at 2027-01-15T08:02:00+00:00" in message and "--break-lock 4242@runner-a" in message
    assert "\n" not in message


# -- taking the lock ----------------------------------------------------------


def test_a_first_take_answered_409_tries_again_after_a_back_off(s3, wall):
    b = make(s3, wall)
    conflicts = Conflicts(s3, "PutObject", LOCK, header="If-None-Match")
    b.lock()
    assert conflicts.answered == 1 and wall.sleeps == [0.25]
    assert b.is_locked and lock_body(s3)["id"] == b.holder_id
    assert b.expired_holder is None and b.broken_holder is None


def test_a_first_take_answered_409_while_another_run_took_the_lock_names_it(s3, other, wall):
    first = make(other, wall, host="runner-b", pid=7)
    Conflicts(s3, "PutObject", LOCK, header="If-None-Match", meanwhile=first.lock)
    with pytest.raises(LockHeldError, match="locked by .*pid 7 on host runner-b") as info:
        make(s3, wall).lock()
    assert info.value.holder["id"] == first.holder_id and lock_body(s3)["id"] == first.holder_id


def test_a_takeover_answered_409_on_the_unchanged_expired_lock_takes_it(s3, other, wall):
    killed = make(other, wall, host="runner-b", pid=7)
    killed.lock()  # never unlocked
    wall.t += LEASE_SECONDS
    taker = make(s3, wall)
    conflicts = Conflicts(s3, "PutObject", LOCK, header="If-Match")
    taker.lock()
    assert conflicts.answered == 1
    assert taker.expired_holder["id"] == killed.holder_id and lock_body(s3)["id"] == taker.holder_id


def test_a_takeover_answered_409_when_another_run_took_it_first_names_that_run(s3, other, wall):
    make(other, wall, host="runner-b", pid=7).lock()
    wall.t += LEASE_SECONDS
    rival = make(other, wall, host="runner-c", pid=8)
    Conflicts(s3, "PutObject", LOCK, header="If-Match", meanwhile=rival.lock)
    with pytest.raises(LockHeldError, match="pid 8 on host runner-c.*another run took the lock over first") as info:
        make(s3, wall).lock()
    assert info.value.holder["id"] == rival.holder_id  # the winner, not the expired holder


# -- removing a moved state ---------------------------------------------------


def test_retire_answered_409_removes_the_state(s3, wall):
    b = make(s3, wall)
    b.lock()
    b.save(_doc("vpc-1"))
    conflicts = Conflicts(s3, "DeleteObject", KEY)
    b.retire()
    assert conflicts.answered == 1 and "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=KEY)


def test_a_renewal_answered_409_as_an_earlier_renewal_of_ours_lands_is_still_ours(s3, other, wall):
    # An earlier renewal timed out after S3 had written it: the lock has a new ETag, but it still
    # names this run (its holder id is this run's alone), so it is renewed, not reported lost.
    b = make(s3, wall)
    b.lock()
    earlier = b._body(wall.now() + 1)
    Conflicts(s3, "PutObject", LOCK, meanwhile=lambda: other.put_object(Bucket=BUCKET, Key=LOCK, Body=earlier))
    wall.t += b.heartbeat_seconds
    assert b.renew() is True and b.lost is None
    assert lock_body(s3)["renewed_at"] == "2027-01-15T08:00:40+00:00"
    b.unlock()
    assert not lock_exists(s3)

"""The record of the last drift check's findings (bin/drift --new-only), beside the state: local
file under an flock of its own, S3 object written compare-and-swap. Neither takes nor waits for
the state's lock, and neither touches the state document."""
import fcntl
import json
import os

import boto3
import pytest
from moto import mock_aws

from state import LocalStateBackend, S3StateBackend, StateDocument

BUCKET, PREFIX, REGION = "team-state", "envs", "us-east-1"


def counting(result="r"):
    seen = []

    def update(previous):
        seen.append(previous)
        return {"entries": [{"fingerprint": f"f{len(seen)}"}], "checked_at": f"t{len(seen)}"}, result

    return update, seen


# -- local ----------------------------------------------------------------------------------------

def test_local_record_is_a_file_beside_the_state_read_back_by_the_next_check(tmp_path):
    backend = LocalStateBackend(tmp_path / "state", "dev", REGION)
    update, seen = counting()
    assert backend.update_drift_record(update) == "r"
    assert seen == [None]
    path = tmp_path / "state" / f"dev.{REGION}.drift.json"
    assert json.loads(path.read_text())["checked_at"] == "t1"
    assert not (tmp_path / "state" / f"dev.{REGION}.json").exists(), "the state document is not written"
    again = LocalStateBackend(tmp_path / "state", "dev", REGION)
    again.update_drift_record(update)
    assert seen[1]["checked_at"] == "t1"


def test_local_record_needs_no_state_lock_while_a_reconcile_holds_it(tmp_path):
    reconcile = LocalStateBackend(tmp_path, "dev", REGION)
    with reconcile.locked():
        reconcile.save(StateDocument.new("dev", REGION))
        before = (tmp_path / f"dev.{REGION}.json").read_bytes()
        update, _ = counting()
        LocalStateBackend(tmp_path, "dev", REGION).update_drift_record(update)
        assert reconcile.is_locked
    assert (tmp_path / f"dev.{REGION}.json").read_bytes() == before


def test_local_record_is_read_and_written_under_its_own_flock(tmp_path):
    backend = LocalStateBackend(tmp_path, "dev", REGION)
    held = []

    def update(previous):
        # A second check arriving now would wait: the record's flock is taken.
        fd = os.open(backend.drift_lock_path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)
        return {"entries": []}, None

    backend.update_drift_record(update)
    assert held == [True]
    fd = os.open(backend.drift_lock_path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released afterwards: this does not raise
    os.close(fd)


def test_an_unreadable_local_record_counts_as_none_and_is_said(tmp_path):
    backend = LocalStateBackend(tmp_path, "dev", REGION)
    backend.drift_path.write_bytes(b"\xff not json")
    update, seen = counting()
    backend.update_drift_record(update)
    assert seen == [None] and backend.drift_record_unreadable
    backend.update_drift_record(update)
    assert seen[1]["checked_at"] == "t1" and not backend.drift_record_unreadable


# -- S3 -------------------------------------------------------------------------------------------

@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def make(s3):
    return S3StateBackend(s3, BUCKET, PREFIX, "dev", REGION, heartbeat=False)


def test_s3_record_is_an_object_beside_the_state_and_leaves_the_state_and_its_lock_alone(s3):
    reconcile = make(s3)
    reconcile.lock()
    reconcile.load()
    reconcile.save(StateDocument.new("dev", REGION))
    state_etag = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/dev.{REGION}.json")["ETag"]
    update, seen = counting()
    assert make(s3).update_drift_record(update) == "r"
    make(s3).update_drift_record(update)
    assert seen[0] is None and seen[1]["checked_at"] == "t1"
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/dev.{REGION}.drift.json")["Body"].read()
    assert json.loads(body)["checked_at"] == "t2"
    assert s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/dev.{REGION}.json")["ETag"] == state_etag
    # The reconcile's lock is still its own: it saves again without a conflict.
    doc = StateDocument.new("dev", REGION)
    doc.azs = ["a", "b"]
    assert reconcile.save(doc)
    reconcile.unlock()


def test_s3_a_check_that_loses_the_race_compares_with_the_winners_record(s3):
    other = make(s3)
    calls = []

    def update(previous):
        calls.append(previous)
        if len(calls) == 1:
            # Another check writes between this one's read and its write.
            other.update_drift_record(lambda _: ({"entries": [{"fingerprint": "theirs"}], "checked_at": "other"}, None))
        return {"entries": [{"fingerprint": "mine"}], "checked_at": "mine"}, len(calls)

    assert make(s3).update_drift_record(update) == 2
    assert calls[0] is None and calls[1]["checked_at"] == "other"
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/dev.{REGION}.drift.json")["Body"].read()
    assert json.loads(body)["checked_at"] == "mine"

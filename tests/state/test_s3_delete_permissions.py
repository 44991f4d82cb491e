"""The S3 state backend's conditional deletes (docs/aws-behaviours.md D-S3-2): the lock and a retired
state are deleted with If-Match, which S3 allows only with both s3:DeleteObject and s3:GetObject.
Its AccessDenied does not say which is missing: the backend's one line names both.

The lock is taken and the state written on moto; then a botocore Stubber on the same client
answers the DeleteObject (checking that it carries If-Match) with AccessDenied."""
import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from resources.aws.clock import FakeClock
from state import S3StateBackend, StateDocument, StateError

BUCKET, PREFIX, REGION = "team-state", "video/pipeline", "us-east-1"
KEY, LOCK = f"{PREFIX}/dev.{REGION}.json", f"{PREFIX}/dev.{REGION}.lock"
ACCOUNT = "123456789012"
BOTH = "a conditional delete (If-Match) needs both s3:DeleteObject and s3:GetObject on the state bucket's objects"


@pytest.fixture
def backend():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        wall = FakeClock(1_800_000_000.0)
        yield S3StateBackend(s3, BUCKET, PREFIX, "dev", REGION, ACCOUNT, now=wall.now, sleep=wall.sleep,
                             heartbeat=False, command="bin/reconcile --env dev", host="runner-a", pid=4242)


def denied(backend, key: str, etag: str) -> Stubber:
    stubber = Stubber(backend.s3)
    stubber.add_client_error("delete_object", service_error_code="AccessDenied", service_message="Access Denied",
                             http_status_code=403, expected_params={"Bucket": BUCKET, "Key": key, "IfMatch": etag})
    return stubber


def one_line(caught: pytest.ExceptionInfo) -> str:
    message = caught.value.user_message
    assert "\n" not in message and type(caught.value) is StateError
    return message


def test_unlock_denied_names_both_permissions_and_that_the_lock_stays(backend):
    backend.lock()
    etag = backend.s3.head_object(Bucket=BUCKET, Key=LOCK)["ETag"]
    with denied(backend, LOCK, etag) as stubber, pytest.raises(StateError) as caught:
        backend.unlock()
    stubber.assert_no_pending_responses()
    assert one_line(caught) == (f"S3 denied deleting the state lock s3://{BUCKET}/{LOCK}: {BOTH}; "
                                "the lock stays until its lease ends")


def test_retire_denied_names_both_permissions_and_that_the_state_stays(backend):
    backend.lock()
    backend.load()
    assert backend.save(StateDocument.new("dev", REGION, ACCOUNT))
    etag = backend.s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    with denied(backend, KEY, etag) as stubber, pytest.raises(StateError) as caught:
        backend.retire()
    stubber.assert_no_pending_responses()
    assert one_line(caught) == f"S3 denied deleting s3://{BUCKET}/{KEY}: {BOTH}; it was not removed"
    # Nothing was forgotten: the state is still there and still this run's.
    assert backend.exists and backend.s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == etag

"""The S3 fidelity patches: ExpectedBucketOwner answered as AWS does (docs/aws-behaviours.md
B-S3-1), and a TLS-only bucket policy read as AWS reads it for requests over HTTPS (A-47)."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION

OWNER, OTHER = "123456789012", "999999999999"  # moto's account, and one that owns nothing
BUCKET = "owned-bucket"


@pytest.fixture
def s3(moto_aws):
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="k", Body=b"v")
    return client


def calls(s3, owner: str):
    """A bucket request and object requests (read, write, delete), each naming ``owner``."""
    return [
        lambda: s3.get_bucket_versioning(Bucket=BUCKET, ExpectedBucketOwner=owner),
        lambda: s3.head_bucket(Bucket=BUCKET, ExpectedBucketOwner=owner),
        lambda: s3.list_objects_v2(Bucket=BUCKET, ExpectedBucketOwner=owner),
        lambda: s3.get_object(Bucket=BUCKET, Key="k", ExpectedBucketOwner=owner),
        lambda: s3.put_object(Bucket=BUCKET, Key="k2", Body=b"x", ExpectedBucketOwner=owner),
        lambda: s3.delete_object(Bucket=BUCKET, Key="k2", ExpectedBucketOwner=owner),
    ]


def test_a_request_naming_another_owner_is_denied_and_changes_nothing(s3):
    for call in calls(s3, OTHER):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert err.value.response["Error"]["Code"] in ("AccessDenied", "403")  # HEAD answers carry no body
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["k"]


def test_a_request_naming_the_owner_or_none_is_answered(s3):
    for call in calls(s3, OWNER):
        call()
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"v"


def test_a_tls_only_policy_refuses_nothing_over_https_and_is_kept_whole(s3):
    tls_only = {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    policy = {"Version": "2012-10-17", "Statement": [tls_only]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"v"
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"w")
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == policy
    # A Deny without that condition still refuses, as moto had it.
    deny_all = {**tls_only, "Sid": "DenyPut", "Action": "s3:PutObject"}
    del deny_all["Condition"]
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({**policy, "Statement": [tls_only, deny_all]}))
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_owner_check_is_live_on_the_server(server):
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=server.endpoint, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=BUCKET)
    s3.get_bucket_versioning(Bucket=BUCKET, ExpectedBucketOwner=OWNER)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_versioning(Bucket=BUCKET, ExpectedBucketOwner=OTHER)
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_a_bucket_of_another_account_is_denied_to_a_request_naming_ours(s3):
    # Bucket names are global: the name freed and taken in another account is the case the
    # header exists for (docs/aws-behaviours.md B-S3-1).
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{OTHER}:role/someone", RoleSessionName="other")["Credentials"]
    theirs = boto3.client("s3", region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    theirs.create_bucket(Bucket="taken-elsewhere")
    with pytest.raises(ClientError) as err:
        s3.get_bucket_versioning(Bucket="taken-elsewhere", ExpectedBucketOwner=OWNER)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    theirs.get_bucket_versioning(Bucket="taken-elsewhere", ExpectedBucketOwner=OTHER)

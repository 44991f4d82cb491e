"""bin/state init never weakens a team's bucket: SSE-KMS kept, lifecycle rules merged by ID,
versioning and the public access block only switched on, a TLS-only statement merged into the
bucket policy; a lifecycle rule that would lose the state refused with nothing changed. And every
S3 call of the state backend names the bucket's expected owner (ExpectedBucketOwner)."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from orchestrator import state_cli
from state import S3StateBackend, StateDocument, check_bucket, expect_bucket_owner
from state.bucket import LIFECYCLE_ID, TLS_SID, denies_plain_http, prepare_bucket

BUCKET, REGION, ACCOUNT = "team-state", "us-east-1", "123456789012"
URL = f"s3://{BUCKET}/envs"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1e8a52-5b5c-4a1f-9a8b-2c7e4f6d1a00"
TEAM_RULE = {"ID": "team-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}
TEAM_STATEMENT = {"Sid": "AuditRead", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                  "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}


@pytest.fixture
def s3(moto_aws):
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def init(capsys, url: str = URL) -> tuple[int, str, str]:
    code = state_cli.main(["init", url, "--region", REGION])
    out, err = capsys.readouterr()
    return code, out, err


def settings(s3) -> dict:
    def read(call, key):
        try:
            return call(Bucket=BUCKET).get(key)
        except ClientError:
            return None
    return {"versioning": read(s3.get_bucket_versioning, "Status"),
            "block": read(s3.get_public_access_block, "PublicAccessBlockConfiguration"),
            "encryption": read(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration"),
            "lifecycle": read(s3.get_bucket_lifecycle_configuration, "Rules"),
            "policy": read(s3.get_bucket_policy, "Policy")}


@pytest.fixture
def put_calls(s3, monkeypatch):
    """The Put calls bin/state init makes from now on, seen on the state's own client."""
    from orchestrator import commands

    seen: list[str] = []
    made = commands.state_s3

    def recorded(*args, **kwargs):
        client = made(*args, **kwargs)
        client.meta.events.register("before-call.s3", lambda model, **_: seen.append(model.name))
        return client

    monkeypatch.setattr(commands, "state_s3", recorded)
    return lambda: [name for name in seen if name.startswith("Put")]


def test_a_new_bucket_gets_every_setting(s3, capsys):
    code, out, err = init(capsys, "s3://fresh-bucket/envs")
    assert (code, err) == (0, ""), err
    assert "created" in out and "SSE-S3" in out and "TLS-only" in out
    s3.head_bucket(Bucket="fresh-bucket")
    check_bucket(s3, "fresh-bucket", "envs")
    policy = json.loads(s3.get_bucket_policy(Bucket="fresh-bucket")["Policy"])
    assert [denies_plain_http(st, "fresh-bucket") for st in policy["Statement"]] == [True]
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket="fresh-bucket")["Rules"]
    assert rule["ID"] == f"{LIFECYCLE_ID}:envs" and rule["Filter"] == {"Prefix": "envs/"}


def test_a_team_bucket_keeps_kms_its_rules_and_its_policy(s3, capsys, put_calls):
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY},
         "BucketKeyEnabled": True}]})
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [TEAM_RULE]})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [TEAM_STATEMENT]}))
    encryption_before = settings(s3)["encryption"]
    code, out, err = init(capsys)
    assert (code, err) == (0, ""), err
    assert "SSE-KMS, kept" in out
    after = settings(s3)
    assert after["encryption"] == encryption_before  # SSE-KMS with the team's key, untouched
    assert "PutBucketEncryption" not in put_calls()
    rules = {r["ID"]: r for r in after["lifecycle"]}
    assert set(rules) == {"team-logs", f"{LIFECYCLE_ID}:envs"}
    assert rules["team-logs"]["Expiration"] == {"Days": 30} and rules["team-logs"]["Filter"] == {"Prefix": "logs/"}
    statements = json.loads(after["policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["AuditRead", TLS_SID] and statements[0] == TEAM_STATEMENT
    assert after["versioning"] == "Enabled" and all(after["block"].values())

    # A second init finds everything in place: it writes nothing but the lifecycle rules (moto
    # drops NewerNoncurrentVersions from what it reports, so ours always reads as changed there).
    already = len(put_calls())
    assert init(capsys)[0] == 0
    assert put_calls()[already:] == ["PutBucketLifecycleConfiguration"] and settings(s3) == after


def test_versioning_and_public_access_block_are_only_switched_on(s3, capsys, put_calls):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    assert init(capsys)[0] == 0
    after = settings(s3)
    assert after["versioning"] == "Enabled" and after["block"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def test_an_existing_tls_only_statement_of_the_team_is_enough(s3, capsys, put_calls):
    theirs = {"Sid": "EnforceTLS", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["s3:*"],
              "Resource": [f"arn:aws:s3:::{BUCKET}/*", f"arn:aws:s3:::{BUCKET}"],
              "Condition": {"Bool": {"aws:SecureTransport": False}}}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]}))
    assert init(capsys)[0] == 0
    assert "PutBucketPolicy" not in put_calls()
    assert json.loads(settings(s3)["policy"])["Statement"] == [theirs]


@pytest.mark.parametrize("rule, refused", [
    ({"ID": "expire-all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 365}}, "expires current objects"),
    ({"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "envs/dev"}, "Expiration": {"Days": 30}},
     "expires current objects"),
    ({"ID": "archive", "Status": "Enabled", "Filter": {"And": {"Prefix": "env", "ObjectSizeGreaterThan": 1}},
      "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}, "moves current objects to GLACIER"),
    ({"ID": "elsewhere", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}}, None),
    ({"ID": "tagged", "Status": "Enabled", "Filter": {"Tag": {"Key": "tmp", "Value": "1"}},
      "Expiration": {"Days": 1}}, None),
    ({"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}}, None),
    ({"ID": "cheaper", "Status": "Enabled", "Filter": {}, "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}],
      "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}, None),
], ids=lambda v: v["ID"] if isinstance(v, dict) else ("refused" if v else "kept"))
def test_a_rule_that_would_lose_the_state_is_refused_and_nothing_changes(s3, capsys, rule, refused):
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [rule]})
    before = settings(s3)
    code, out, err = init(capsys)
    if refused is None:
        assert (code, err) == (0, "")
        assert [r["ID"] for r in settings(s3)["lifecycle"]] == [rule["ID"], f"{LIFECYCLE_ID}:envs"]
        return
    assert (code, out) == (1, "")
    assert err == (f"error: state bucket {BUCKET}: lifecycle rule {rule['ID']!r} {refused}"
                   + err.split(refused, 1)[1])
    assert err.count("\n") == 1 and "nothing was changed" in err and "'envs/'" in err
    assert settings(s3) == before  # not even versioning was switched on


def test_every_s3_call_of_the_state_names_the_expected_owner(s3):
    sent: list[tuple[str, dict]] = []
    state = boto3.client("s3", region_name=REGION)
    expect_bucket_owner(state, ACCOUNT)
    state.meta.events.register("before-parameter-build.s3", lambda params, model, **_: sent.append((model.name, dict(params))))
    prepare_bucket(state, BUCKET, "envs")
    check_bucket(state, BUCKET, "envs")
    backend = S3StateBackend(state, BUCKET, "envs", "dev", REGION, ACCOUNT, heartbeat=False)
    with backend.locked():
        doc = backend.load()
        doc.set_resource("vpc", id="vpc-1")
        backend.save(doc)
        backend.renew()
        backend.read_lock_holder()
        backend.update_drift_record(lambda previous: ({"drifted": []}, None))
        backend.retire()
    names = {name for name, _ in sent}
    assert {"PutObject", "GetObject", "DeleteObject", "GetBucketVersioning", "PutBucketPolicy"} <= names
    assert [name for name, params in sent if params.get("ExpectedBucketOwner") != ACCOUNT] == []


def test_a_bucket_of_another_account_is_never_read_nor_written(s3):
    state = boto3.client("s3", region_name=REGION)
    expect_bucket_owner(state, "999999999999")
    backend = S3StateBackend(state, BUCKET, "envs", "dev", REGION, ACCOUNT, heartbeat=False)
    for action in (backend.lock, backend.load, lambda: check_bucket(state, BUCKET, "envs")):
        with pytest.raises(Exception) as err:
            action()
        assert "AccessDenied" in str(err.value) or "403" in str(err.value)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_init_of_a_bucket_of_another_account_is_one_line_and_changes_nothing(s3, capsys, monkeypatch):
    from resources.aws import Aws

    monkeypatch.setattr(Aws, "account_id", lambda self: "999999999999")  # the credentials' account
    before = settings(s3)
    code, out, err = init(capsys)
    assert (code, out) == (1, "")
    assert err == (f"error: state bucket {BUCKET} answered AccessDenied: it belongs to another account than these "
                   "credentials', or they may not read it (s3:ListBucket); nothing was changed\n")
    assert settings(s3) == before


def test_a_team_bucket_named_without_a_prefix_gets_no_lifecycle_rule_of_ours(s3, capsys):
    # Without a prefix the state's rule would expire old versions of every object of the team's
    # bucket: on a bucket that was there already it is not added, and the line says so.
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [TEAM_RULE]})
    code, out, _ = init(capsys, f"s3://{BUCKET}")
    assert code == 0 and "the bucket's own rules" in out
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]] == ["team-logs"]

"""The fidelity patches of issue 15: CloudWatch Logs AssociateKmsKey / DisassociateKmsKey, and the
default security group's inbound rule from itself; the key a log group may use
(docs/aws-behaviours.md D-LOG-1)."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.fidelity import logs_kms
from tests.conftest import REGION

KEY = "arn:aws:kms:us-east-1:123456789012:key/0b1e8a52-5b5c-4a1f-9a8b-2c7e4f6d1a00"


@pytest.fixture
def logs(moto_aws):
    return boto3.client("logs", region_name=REGION)


def kms_key_of(logs, name):
    [group] = [g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name]
    return group.get("kmsKeyId")


def test_associate_then_disassociate_changes_what_describe_reports(logs):
    logs.create_log_group(logGroupName="/x/app")
    assert kms_key_of(logs, "/x/app") is None
    logs.associate_kms_key(logGroupName="/x/app", kmsKeyId=KEY)
    assert kms_key_of(logs, "/x/app") == KEY
    logs.disassociate_kms_key(logGroupName="/x/app")
    assert kms_key_of(logs, "/x/app") is None  # left out, as AWS does


def test_an_unknown_log_group_is_not_found(logs):
    for call, kwargs in ((logs.associate_kms_key, {"kmsKeyId": KEY}), (logs.disassociate_kms_key, {})):
        with pytest.raises(ClientError) as err:
            call(logGroupName="/nope", **kwargs)
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_new_vpc_default_security_group_admits_traffic_from_itself(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    [group] = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                    {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    [inbound] = group["IpPermissions"]
    assert inbound["IpProtocol"] == "-1"
    assert [p["GroupId"] for p in inbound["UserIdGroupPairs"]] == [group["GroupId"]]
    assert [r["CidrIp"] for p in group["IpPermissionsEgress"] for r in p["IpRanges"]] == ["0.0.0.0/0"]


# -- D-LOG-1: the key a log group may be encrypted with (sandbox/fidelity/logs_kms.py) ----------

ACCOUNT_ID = "123456789012"
ROOT = {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
        "Action": "kms:*", "Resource": "*"}


def logs_statement(context_arn: str = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:*") -> dict:
    """The statement of the CloudWatch Logs user guide, "Encrypt log data ... using AWS KMS"."""
    return {"Effect": "Allow", "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*", "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": context_arn}}}


def key_with(*statements) -> str:
    kms = boto3.client("kms", region_name=REGION)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [ROOT, *statements]})
    return kms.create_key(Policy=policy)["KeyMetadata"]["Arn"]


def create(logs, name: str, key: str) -> str | None:
    """The error code CreateLogGroup answers, None when the group was made."""
    try:
        logs.create_log_group(logGroupName=name, kmsKeyId=key)
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


@pytest.fixture
def checked():
    with logs_kms.key_policy_checked():
        yield


def test_a_key_whose_policy_does_not_name_cloudwatch_logs_is_refused(logs, checked):
    key = key_with()  # the account administers it: not CloudWatch Logs
    with pytest.raises(ClientError) as refused:
        logs.create_log_group(logGroupName="/x/app", kmsKeyId=key)
    assert refused.value.response["Error"] == {
        "Code": "AccessDeniedException",
        "Message": f"The specified KMS key does not exist or is not allowed to be used with Arn "
                   f"'arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/x/app'"}
    assert logs.describe_log_groups(logGroupNamePrefix="/x/app")["logGroups"] == []
    logs.create_log_group(logGroupName="/x/app")
    with pytest.raises(ClientError) as refused:
        logs.associate_kms_key(logGroupName="/x/app", kmsKeyId=key)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert kms_key_of(logs, "/x/app") is None


def test_the_user_guide_statement_lets_the_groups_it_names_use_the_key(logs, checked):
    key = key_with(logs_statement())
    assert create(logs, "/x/app", key) is None and kms_key_of(logs, "/x/app") == key
    logs.create_log_group(logGroupName="/x/other")
    logs.associate_kms_key(logGroupName="/x/other", kmsKeyId=key)
    assert kms_key_of(logs, "/x/other") == key


def test_the_encryption_context_condition_must_admit_the_group(logs, checked):
    key = key_with(logs_statement(f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/x/*"))
    assert create(logs, "/x/app", key) is None
    assert create(logs, "/y/app", key) == "AccessDeniedException"


def test_a_disabled_key_or_one_pending_deletion_is_refused(logs, checked):
    kms = boto3.client("kms", region_name=REGION)
    disabled, leaving = key_with(logs_statement()), key_with(logs_statement())
    kms.disable_key(KeyId=disabled.split("/")[-1])  # moto 5.2.5 takes the key id only here
    kms.schedule_key_deletion(KeyId=leaving.split("/")[-1], PendingWindowInDays=7)
    assert create(logs, "/x/a", disabled) == "AccessDeniedException"
    assert create(logs, "/x/b", leaving) == "AccessDeniedException"
    assert create(logs, "/x/c", f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/00000000-0000-0000-0000-000000000000") \
        == "AccessDeniedException"  # no such key


def test_off_by_default_moto_takes_any_key(logs):
    assert create(logs, "/x/app", key_with()) is None

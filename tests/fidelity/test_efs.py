"""EFS backup and file-system policies (sandbox/fidelity/efs.py): docs/aws-behaviours.md A-21 and the
missing DeleteFileSystemPolicy, in-process under mock_aws."""
from __future__ import annotations

import json

import boto3
import botocore.exceptions
import pytest

REGION = "us-east-1"
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


@pytest.fixture
def efs(moto_aws):
    return boto3.client("efs", region_name=REGION)


def code(call, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def test_put_backup_policy_turns_backups_off_and_on_and_describe_reports_it(efs):
    fs = efs.create_file_system(CreationToken="backed-up", Backup=True)["FileSystemId"]
    assert efs.describe_backup_policy(FileSystemId=fs)["BackupPolicy"] == {"Status": "ENABLED"}
    assert efs.put_backup_policy(FileSystemId=fs, BackupPolicy={"Status": "DISABLED"})["BackupPolicy"] == {"Status": "DISABLED"}
    # A policy set to DISABLED is reported as such, not as "no policy".
    assert efs.describe_backup_policy(FileSystemId=fs)["BackupPolicy"] == {"Status": "DISABLED"}
    efs.put_backup_policy(FileSystemId=fs, BackupPolicy={"Status": "ENABLED"})
    assert efs.describe_backup_policy(FileSystemId=fs)["BackupPolicy"] == {"Status": "ENABLED"}


def test_a_file_system_never_given_a_backup_policy_has_none(efs):
    fs = efs.create_file_system(CreationToken="plain")["FileSystemId"]
    assert code(efs.describe_backup_policy, FileSystemId=fs) == "PolicyNotFound"


def test_delete_file_system_policy_brings_back_the_default_policy(efs):
    fs = efs.create_file_system(CreationToken="guarded")["FileSystemId"]
    efs.put_file_system_policy(FileSystemId=fs, Policy=json.dumps(POLICY))
    assert json.loads(efs.describe_file_system_policy(FileSystemId=fs)["Policy"]) == POLICY
    efs.delete_file_system_policy(FileSystemId=fs)
    assert code(efs.describe_file_system_policy, FileSystemId=fs) == "PolicyNotFound"


@pytest.mark.parametrize("call, extra", [
    ("describe_backup_policy", {}), ("put_backup_policy", {"BackupPolicy": {"Status": "ENABLED"}}),
    ("describe_file_system_policy", {}), ("put_file_system_policy", {"Policy": json.dumps(POLICY)}),
    ("delete_file_system_policy", {}),
])
def test_a_file_system_that_does_not_exist_is_file_system_not_found(efs, call, extra):
    # moto alone fails with a KeyError (HTTP 500, retried by botocore); AWS answers 404.
    assert code(getattr(efs, call), FileSystemId="fs-0123456789abcdef0", **extra) == "FileSystemNotFound"

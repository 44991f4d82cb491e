"""The fidelity patches of issue 15: CloudWatch Logs AssociateKmsKey / DisassociateKmsKey, and the
default security group's inbound rule from itself."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

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

"""DescribeLogGroups by logGroupIdentifiers (sandbox/fidelity/logs_listing.py): docs/aws-behaviours.md
A-48, in-process under mock_aws."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"


@pytest.fixture
def logs(moto_aws):
    client = boto3.client("logs", region_name=REGION)
    for name in ("/a/one", "/a/two", "/b/three"):
        client.create_log_group(logGroupName=name)
    return client


def test_only_the_named_groups_are_answered_by_name_or_arn(logs):
    arn = next(g["arn"] for g in logs.describe_log_groups()["logGroups"] if g["logGroupName"] == "/b/three")
    answer = logs.describe_log_groups(logGroupIdentifiers=["/a/two", arn, "/missing"])
    assert [g["logGroupName"] for g in answer["logGroups"]] == ["/a/two", "/b/three"]


def test_a_prefix_beside_the_names_is_refused(logs):
    with pytest.raises(ClientError) as refused:
        logs.describe_log_groups(logGroupIdentifiers=["/a/two"], logGroupNamePrefix="/a")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

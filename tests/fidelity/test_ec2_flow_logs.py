"""CreateFlowLogs honours its ClientToken (sandbox/fidelity/ec2_flow_logs.py; docs/aws-behaviours.md
B-EC2-2): seen through plain boto3 on moto in-process, the layer applied by conftest."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/flow-logs"


@pytest.fixture
def create(moto_aws):
    """CreateFlowLogs of one VPC to a log group; keyword arguments override the defaults."""
    ec2 = boto3.client("ec2", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    for group in ("flow", "other"):
        logs.create_log_group(logGroupName=group)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

    def call(**changes):
        return ec2.create_flow_logs(**{
            "ResourceType": "VPC", "ResourceIds": [vpc], "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": "flow", "DeliverLogsPermissionArn": ROLE, **changes})

    call.ec2 = ec2
    return call


def flow_log_ids(ec2) -> list[str]:
    return sorted(f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"])


def code(caught) -> str:
    return caught.value.response["Error"]["Code"]


def test_the_same_token_and_parameters_answer_the_first_flow_log_and_make_none(create):
    first = create(ClientToken="token-1")
    assert first["ClientToken"] == "token-1" and len(first["FlowLogIds"]) == 1
    again = create(ClientToken="token-1")
    assert again["FlowLogIds"] == first["FlowLogIds"] and again["ClientToken"] == "token-1"
    assert again["Unsuccessful"] == []
    assert flow_log_ids(create.ec2) == first["FlowLogIds"]


def test_the_same_token_with_other_parameters_is_idempotent_parameter_mismatch(create):
    first = create(ClientToken="token-1")
    for changes in ({"TrafficType": "REJECT"}, {"LogGroupName": "other"}, {"MaxAggregationInterval": 60}):
        with pytest.raises(ClientError) as caught:
            create(ClientToken="token-1", **changes)
        assert code(caught) == "IdempotentParameterMismatch"
    assert flow_log_ids(create.ec2) == first["FlowLogIds"]


def test_without_a_token_or_with_another_one_moto_answers_as_before(create):
    create(ClientToken="token-1")
    # The same flow log again without the token, or with a new one: moto's duplicate check.
    for changes in ({}, {"ClientToken": "token-2"}):
        with pytest.raises(ClientError) as caught:
            create(**changes)
        assert code(caught) == "FlowLogAlreadyExists"
    assert len(create(ClientToken="token-2", LogGroupName="other")["FlowLogIds"]) == 1
    assert len(flow_log_ids(create.ec2)) == 2


def test_a_token_whose_flow_log_was_deleted_makes_a_new_one(create):
    [gone] = create(ClientToken="token-1")["FlowLogIds"]
    create.ec2.delete_flow_logs(FlowLogIds=[gone])
    [made] = create(ClientToken="token-1")["FlowLogIds"]
    assert made != gone and flow_log_ids(create.ec2) == [made]

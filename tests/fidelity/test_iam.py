"""The AWS managed policies the stack attaches (sandbox/fidelity/iam.py), in-process under
mock_aws with moto's managed policies off, as in the tests and the e2e server."""
from __future__ import annotations

import boto3
import pytest

from orchestrator.stack.data import RDS_MONITORING_POLICY
from resources.shared.apigateway_account import PUSH_TO_CLOUDWATCH_POLICY

REGION = "us-east-1"


@pytest.fixture
def iam(moto_aws):
    return boto3.client("iam", region_name=REGION)


def test_the_rds_monitoring_policy_exists_and_attaches_without_the_others(iam):
    policy = iam.get_policy(PolicyArn=RDS_MONITORING_POLICY)["Policy"]
    assert (policy["PolicyName"], policy["Path"]) == ("AmazonRDSEnhancedMonitoringRole", "/service-role/")
    document = iam.get_policy_version(PolicyArn=RDS_MONITORING_POLICY, VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]
    assert {a for s in document["Statement"] for a in s["Action"]} >= {"logs:CreateLogGroup", "logs:PutLogEvents"}
    iam.create_role(RoleName="monitoring", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(RoleName="monitoring", PolicyArn=RDS_MONITORING_POLICY)
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="monitoring")["AttachedPolicies"]] == [RDS_MONITORING_POLICY]
    # Only the stack's: the others stay off (moto builds all ~1,400 only when asked).
    assert sorted(p["Arn"] for p in iam.list_policies(Scope="AWS")["Policies"]) == [PUSH_TO_CLOUDWATCH_POLICY, RDS_MONITORING_POLICY]


def test_the_api_gateway_logging_policy_exists_and_attaches(iam):
    policy = iam.get_policy(PolicyArn=PUSH_TO_CLOUDWATCH_POLICY)["Policy"]
    assert (policy["PolicyName"], policy["Path"]) == ("AmazonAPIGatewayPushToCloudWatchLogs", "/service-role/")
    document = iam.get_policy_version(PolicyArn=PUSH_TO_CLOUDWATCH_POLICY, VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]
    assert {a for s in document["Statement"] for a in s["Action"]} >= {"logs:CreateLogStream", "logs:PutLogEvents"}
    iam.create_role(RoleName="apigw", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(RoleName="apigw", PolicyArn=PUSH_TO_CLOUDWATCH_POLICY)
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="apigw")["AttachedPolicies"]] == [PUSH_TO_CLOUDWATCH_POLICY]


@pytest.mark.aws_managed_policies
def test_with_every_managed_policy_loaded_it_is_there_once(iam):
    arns = [p["Arn"] for page in iam.get_paginator("list_policies").paginate(Scope="AWS") for p in page["Policies"]]
    assert arns.count(RDS_MONITORING_POLICY) == 1 and arns.count(PUSH_TO_CLOUDWATCH_POLICY) == 1 and len(arns) > 1000

"""WAFv2 and API Gateway logging as AWS documents them (sandbox/fidelity/wafv2.py, apigateway.py 3)."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
VIS = {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "m"}


@pytest.fixture
def stage_arn(moto_aws):
    apigw = boto3.client("apigateway", region_name=REGION)
    api = apigw.create_rest_api(name="a")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_stage(restApiId=api, stageName="dev", deploymentId=apigw.create_deployment(restApiId=api)["id"])
    return api, f"arn:aws:apigateway:{REGION}::/restapis/{api}/stages/dev"


def acl(wafv2, name):
    return wafv2.create_web_acl(Name=name, Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig=VIS)["Summary"]


def test_an_associated_web_acl_cannot_be_deleted_until_disassociated(stage_arn):
    wafv2 = boto3.client("wafv2", region_name=REGION)
    a = acl(wafv2, "a")
    wafv2.associate_web_acl(WebACLArn=a["ARN"], ResourceArn=stage_arn[1])
    with pytest.raises(ClientError) as refused:
        wafv2.delete_web_acl(Name="a", Scope="REGIONAL", Id=a["Id"], LockToken=a["LockToken"])
    assert refused.value.response["Error"]["Code"] == "WAFAssociatedItemException"
    wafv2.disassociate_web_acl(ResourceArn=stage_arn[1])
    wafv2.delete_web_acl(Name="a", Scope="REGIONAL", Id=a["Id"], LockToken=a["LockToken"])
    assert wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] == []


def test_associating_another_web_acl_replaces_the_first(stage_arn):
    wafv2 = boto3.client("wafv2", region_name=REGION)
    a, b = acl(wafv2, "a"), acl(wafv2, "b")
    wafv2.associate_web_acl(WebACLArn=a["ARN"], ResourceArn=stage_arn[1])
    wafv2.associate_web_acl(WebACLArn=b["ARN"], ResourceArn=stage_arn[1])
    assert wafv2.get_web_acl_for_resource(ResourceArn=stage_arn[1])["WebACL"]["ARN"] == b["ARN"]
    # a is free again: it can be deleted.
    wafv2.delete_web_acl(Name="a", Scope="REGIONAL", Id=a["Id"], LockToken=a["LockToken"])


def test_stage_logging_needs_the_account_cloudwatch_role(stage_arn):
    apigw = boto3.client("apigateway", region_name=REGION)
    api = stage_arn[0]
    on = [{"op": "replace", "path": "/*/*/logging/loglevel", "value": "ERROR"}]
    with pytest.raises(ClientError) as refused:
        apigw.update_stage(restApiId=api, stageName="dev", patchOperations=on)
    assert "CloudWatch Logs role ARN must be set" in refused.value.response["Error"]["Message"]
    # Metrics and tracing need no role.
    apigw.update_stage(restApiId=api, stageName="dev", patchOperations=[{"op": "replace", "path": "/tracingEnabled", "value": "true"}])
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/r"}])
    apigw.update_stage(restApiId=api, stageName="dev", patchOperations=on)
    assert apigw.get_stage(restApiId=api, stageName="dev")["methodSettings"]["*/*"]["loggingLevel"] == "ERROR"

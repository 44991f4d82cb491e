"""WAFv2 and API Gateway logging as AWS documents them (sandbox/fidelity/wafv2.py, apigateway.py 3;
docs/aws-behaviours.md D-WAF-1)."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.fidelity import clock as layer_clock
from sandbox.fidelity import wafv2 as wafv2_layer

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


# -- D-WAF-1: a web ACL just created cannot be associated yet (sandbox/fidelity/wafv2.py 3) -------

NEW_ENTITY = layer_clock.DURATIONS["wafv2.new_entity"]


def associate(wafv2, acl_arn, stage) -> str | None:
    """The error code AssociateWebACL answers, None when it associated."""
    try:
        wafv2.associate_web_acl(WebACLArn=acl_arn, ResourceArn=stage)
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


@pytest.fixture
def lagging(on_the_clock):
    layer_clock.switch(wafv2_layer.NEW_ENTITY_LAG, True)
    return on_the_clock


def test_a_new_web_acl_answers_unavailable_until_the_window_is_over(stage_arn, lagging):
    wafv2 = boto3.client("wafv2", region_name=REGION)
    a = acl(wafv2, "a")
    with pytest.raises(ClientError) as refused:
        wafv2.associate_web_acl(WebACLArn=a["ARN"], ResourceArn=stage_arn[1])
    assert refused.value.response["Error"]["Code"] == "WAFUnavailableEntityException"
    assert "you might just need to wait a few minutes" in refused.value.response["Error"]["Message"]
    assert "WebACL" not in wafv2.get_web_acl_for_resource(ResourceArn=stage_arn[1])  # refused: nothing changed
    lagging.sleep(NEW_ENTITY - 1)
    assert associate(wafv2, a["ARN"], stage_arn[1]) == "WAFUnavailableEntityException"
    lagging.sleep(1)
    assert associate(wafv2, a["ARN"], stage_arn[1]) is None
    assert wafv2.get_web_acl_for_resource(ResourceArn=stage_arn[1])["WebACL"]["ARN"] == a["ARN"]


def test_a_web_acl_made_before_the_switch_and_the_default_are_associated_at_once(stage_arn, on_the_clock):
    wafv2 = boto3.client("wafv2", region_name=REGION)
    a = acl(wafv2, "a")  # off by default, also on a controlled clock
    layer_clock.switch(wafv2_layer.NEW_ENTITY_LAG, True)
    assert associate(wafv2, a["ARN"], stage_arn[1]) is None
    layer_clock.reset()
    b = acl(wafv2, "b")  # a reset turns it off
    assert associate(wafv2, b["ARN"], stage_arn[1]) is None


# -- B-WAF-1: WAF logs only to a log group named aws-waf-logs-… (sandbox/fidelity/wafv2.py 4.) --

def test_logging_to_a_log_group_without_the_waf_prefix_is_refused_and_with_it_stored(moto_aws):
    wafv2 = boto3.client("wafv2", region_name=REGION)
    a = acl(wafv2, "a")
    group = f"arn:aws:logs:{REGION}:123456789012:log-group:"
    with pytest.raises(ClientError) as refused:
        wafv2.put_logging_configuration(LoggingConfiguration={"ResourceArn": a["ARN"], "LogDestinationConfigs": [group + "/waf/a"]})
    error = refused.value.response["Error"]
    assert error["Code"] == "WAFInvalidParameterException" and "field: LOG_DESTINATION" in error["Message"]
    with pytest.raises(ClientError):
        wafv2.get_logging_configuration(ResourceArn=a["ARN"])
    wafv2.put_logging_configuration(LoggingConfiguration={"ResourceArn": a["ARN"], "LogDestinationConfigs": [group + "aws-waf-logs-a"]})
    stored = wafv2.get_logging_configuration(ResourceArn=a["ARN"])["LoggingConfiguration"]
    assert stored["LogDestinationConfigs"] == [group + "aws-waf-logs-a"]

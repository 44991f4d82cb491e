"""The API Gateway fidelity patch: a private integration's connectionId is stored and returned."""
from __future__ import annotations

import boto3


def test_put_integration_keeps_the_vpc_link_id(moto_aws):
    client = boto3.client("apigateway", region_name="us-east-1")
    api = client.create_rest_api(name="probe")
    resource = client.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="videos")
    client.put_method(restApiId=api["id"], resourceId=resource["id"], httpMethod="GET", authorizationType="NONE")
    answer = client.put_integration(
        restApiId=api["id"], resourceId=resource["id"], httpMethod="GET", type="HTTP_PROXY",
        integrationHttpMethod="GET", uri="http://nlb.internal:80/videos", connectionType="VPC_LINK", connectionId="abc123",
    )
    assert answer["connectionId"] == "abc123"
    got = client.get_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod="GET")
    assert (got["connectionType"], got["connectionId"]) == ("VPC_LINK", "abc123")
    [videos] = [r for r in client.get_resources(restApiId=api["id"], embed=["methods"])["items"] if r["path"] == "/videos"]
    assert videos["resourceMethods"]["GET"]["methodIntegration"]["connectionId"] == "abc123"


def test_every_taggable_resource_can_be_tagged_and_untagged_by_arn(moto_aws):
    client = boto3.client("apigateway", region_name="us-east-1")
    api = client.create_rest_api(name="probe", tags={"Team": "media", "Keep": "1"})
    key = client.create_api_key(name="probe-key", tags={"Team": "media", "Keep": "1"})
    plan = client.create_usage_plan(name="probe-plan", tags={"Team": "media", "Keep": "1"})
    link = client.create_vpc_link(name="probe-link", targetArns=["arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/1"],
                                  tags={"Team": "media", "Keep": "1"})
    arns = [f"arn:aws:apigateway:us-east-1::/{kind}/{rid}" for kind, rid in
            (("restapis", api["id"]), ("apikeys", key["id"]), ("usageplans", plan["id"]), ("vpclinks", link["id"]))]
    for arn in arns:
        client.untag_resource(resourceArn=arn, tagKeys=["Team"])
        client.tag_resource(resourceArn=arn, tags={"CostCenter": "video"})
        assert client.get_tags(resourceArn=arn)["tags"] == {"Keep": "1", "CostCenter": "video"}, arn
    assert client.get_rest_api(restApiId=api["id"])["tags"] == {"Keep": "1", "CostCenter": "video"}
    assert client.get_api_key(apiKey=key["id"])["tags"] == {"Keep": "1", "CostCenter": "video"}


def test_tagging_an_unknown_resource_is_not_found(moto_aws):
    client = boto3.client("apigateway", region_name="us-east-1")
    try:
        client.untag_resource(resourceArn="arn:aws:apigateway:us-east-1::/apikeys/nope", tagKeys=["Team"])
    except client.exceptions.NotFoundException:
        return
    raise AssertionError("UntagResource of an unknown API key succeeded")

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

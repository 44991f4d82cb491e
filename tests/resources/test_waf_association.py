"""The web ACL's association with the stage (resources/api/waf.py WebAclAssociation) against a web ACL
AWS is still propagating: docs/aws-behaviours.md D-WAF-1, reproduced by sandbox/fidelity/wafv2.py
on the layer's clock, in-process under mock_aws."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from orchestrator.reconciler import Reconciler
from orchestrator.spec import Node
from resources.api.waf import NEW_ENTITY, WebAclAssociation, WebAclLogging
from resources.aws.clock import FakeClock
from resources.base import ResourceError
from sandbox.fidelity import clock as layer_clock
from sandbox.fidelity import wafv2 as wafv2_layer
from tests.conftest import REGION
from tests.support.memory_state import MemoryState

VIS = {"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "m"}
WINDOW = layer_clock.DURATIONS["wafv2.new_entity"]


def stage_arn() -> str:
    apigw = boto3.client("apigateway", region_name=REGION)
    api = apigw.create_rest_api(name="a")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_stage(restApiId=api, stageName="dev", deploymentId=apigw.create_deployment(restApiId=api)["id"])
    return f"arn:aws:apigateway:{REGION}::/restapis/{api}/stages/dev"


def spec(acl_arn: str, stage: str) -> dict:
    return {"web_acl_arn": acl_arn, "resource_arn": stage, "web_acl_name": "waf", "rest_api_name": "a",
            "stage_name": "dev", "tags": {}}


@pytest.fixture
def just_created(aws, clock):
    """A stage, then a web ACL created at the layer's "now", AssociateWebACL refusing it for WINDOW."""
    with layer_clock.use(clock, durations={"wafv2.new_entity": WINDOW}) as lagging:
        layer_clock.switch(wafv2_layer.NEW_ENTITY_LAG, True)
        stage = stage_arn()
        wafv2 = boto3.client("wafv2", region_name=REGION)
        acl = wafv2.create_web_acl(Name="waf", Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig=VIS)["Summary"]
        yield wafv2, acl["ARN"], stage, lagging


def test_the_association_waits_until_aws_can_see_the_new_web_acl(aws, clock, just_created):
    wafv2, acl, stage, _ = just_created
    started = clock.now()
    WebAclAssociation(aws, env="dev", clock=clock.as_clock()).create(spec(acl, stage), None)
    assert wafv2.get_web_acl_for_resource(ResourceArn=stage)["WebACL"]["ARN"] == acl
    assert WINDOW <= clock.now() - started <= WINDOW + NEW_ENTITY.max_delay  # refused at first, then associated


def test_a_web_acl_aws_never_sees_within_the_bound_fails_with_aws_error(aws, clock, just_created):
    wafv2, acl, stage, _ = just_created
    layer_clock.set_source(clock, {"wafv2.new_entity": 2 * NEW_ENTITY.timeout})
    started = clock.now()
    with pytest.raises(ClientError) as failed:
        WebAclAssociation(aws, env="dev", clock=clock.as_clock()).create(spec(acl, stage), None)
    assert failed.value.response["Error"]["Code"] == "WAFUnavailableEntityException"
    assert NEW_ENTITY.timeout <= clock.now() - started <= NEW_ENTITY.timeout + NEW_ENTITY.max_delay
    assert "WebACL" not in wafv2.get_web_acl_for_resource(ResourceArn=stage)


def test_waf_logging_to_a_group_without_the_waf_prefix_is_refused_before_any_call(aws):
    """B-WAF-1: WAF logs only to aws-waf-logs-…; another name is refused before any call."""
    state = MemoryState()
    node = Node("waf.logging", WebAclLogging, {
        "name": "video-metadata-api-waf-dev-logging", "tags": {}, "web_acl_name": "video-metadata-api-waf-dev",
        "web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/video-metadata-api-waf-dev/1",
        "log_destination": "arn:aws:logs:us-east-1:123456789012:log-group:/waf/video-metadata-api-dev"})
    engine = Reconciler(aws, env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock())
    before = aws.calls.total
    with pytest.raises(ResourceError, match="must start with aws-waf-logs-"):
        engine.reconcile(node)
    assert aws.calls.total == before


def test_a_teardown_without_state_leaves_the_logging_of_a_namesake_web_acl_alone(aws):
    # The web ACL's ARN unknown (no state): one of that name is the environment's only when it
    # carries the environment's ownership tags.
    wafv2 = boto3.client("wafv2", region_name=REGION)
    theirs = wafv2.create_web_acl(Name="video-metadata-api-waf-dev", Scope="REGIONAL", DefaultAction={"Allow": {}},
                                  VisibilityConfig=VIS, Tags=[{"Key": "Team", "Value": "other"}])["Summary"]["ARN"]
    destination = f"arn:aws:logs:{REGION}:123456789012:log-group:aws-waf-logs-theirs"
    wafv2.put_logging_configuration(LoggingConfiguration={"ResourceArn": theirs, "LogDestinationConfigs": [destination]})
    handler = WebAclLogging(aws, env="dev")
    spec = {"name": "video-metadata-api-waf-dev-logging", "tags": {}, "web_acl_name": "video-metadata-api-waf-dev",
            "web_acl_arn": None, "log_destination": None}
    assert handler.list_owned(spec) == []
    wafv2.tag_resource(ResourceARN=theirs, Tags=[{"Key": "Environment", "Value": "dev"},
                                                 {"Key": "ManagedBy", "Value": "video-pipeline-infra"}])
    assert [o.id for o in handler.list_owned(spec)] == [theirs]

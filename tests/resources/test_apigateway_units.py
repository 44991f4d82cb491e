"""API Gateway behaviour moto cannot show: VPC link states, retried conflicts, call order, pacing.

moto makes a VPC link AVAILABLE at once, never answers a concurrent-modification conflict and
lets a usage plan go while stages are bound to it, so these run against a botocore Stubber on
the handler's own client, with a FakeClock. Pure normal-form functions are checked directly.
"""
from __future__ import annotations

import threading

import pytest

from orchestrator.spec import has_unknown
from orchestrator.waiting import wait_for
from orchestrator.stack.api import ACCESS_LOG_FORMAT
from resources.api.apigateway import Stage, UsagePlan, VpcLink
from resources.api.common import patch_value
from resources.aws.pacing import Pace
from resources.api.rest_api import RouteConverger, normal_routes, observe_routes
from resources.base import Change, Observed, Status, spec_problems
from resources.aws.clock import FakeClock
from tests.support.stubs import stubbed_aws
from orchestrator import lifecycle

LINK_ID = "abc123"
OURS = {"Name": "vpc-link-dev", "Environment": "dev", "ManagedBy": "video-pipeline-infra"}
SPEC_METHOD = {
    "authorization_type": "NONE",
    "api_key_required": True,
    "request_parameters": {"method.request.path.id": True},
    "integration": {
        "type": "HTTP_PROXY", "http_method": "GET", "uri": "http://nlb.internal:80/videos/{id}",
        "connection_type": "VPC_LINK", "connection_id": LINK_ID,
        "request_parameters": {"integration.request.path.id": "method.request.path.id"},
    },
}


@pytest.fixture
def stubbed():
    yield from stubbed_aws("apigateway")


def link_answer(status: str, **extra) -> dict:
    return {"id": LINK_ID, "name": "vpc-link-dev", "targetArns": ["arn:nlb"], "status": status, "tags": OURS, **extra}


# -- VPC link states ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "expected"),
    [("PENDING", Status.PENDING), ("AVAILABLE", Status.READY), ("DELETING", Status.DELETING)],
)
def test_vpc_link_status_maps_each_aws_status(stubbed, status, expected):
    aws, stubber = stubbed
    stubber.add_response("get_vpc_link", link_answer(status), {"vpcLinkId": LINK_ID})
    assert VpcLink(aws, env="dev").refresh(LINK_ID).status is expected


def test_failed_vpc_link_is_failed_with_its_status_message_and_read_for_the_engine_to_replace(stubbed):
    # C-VPCL-1: the failed link still exists and holds its NLB. It is read (not hidden as
    # before) so that the engine's on_failed = "replace" deletes it and creates a new one
    # (tests/resources/test_apigateway.py shows the whole replacement on moto).
    aws, stubber = stubbed
    message = "NLB arn:nlb is not in the active state"
    stubber.add_response("get_vpc_link", link_answer("FAILED", statusMessage=message), {"vpcLinkId": LINK_ID})
    stubber.add_response("get_vpc_link", link_answer("FAILED", statusMessage=message), {"vpcLinkId": LINK_ID})
    handler = VpcLink(aws, env="dev")
    refresh = handler.refresh(LINK_ID)
    assert (refresh.status, refresh.detail) == (Status.FAILED, message)
    assert handler.read(LINK_ID).id == LINK_ID and VpcLink.on_failed == "replace"


def test_a_failed_vpc_link_is_adopted_only_when_no_live_link_of_ours_exists():
    handler = VpcLink(None, env="dev")
    failed = Observed("b-failed", {}, OURS, link_answer("FAILED"))
    older_failed = Observed("a-failed", {}, OURS, link_answer("FAILED"))
    live = Observed("c-live", {}, OURS, link_answer("AVAILABLE"))
    assert lifecycle.adoptable(handler, [failed, live]) == [live]
    # The state was lost: the engine gets one failed link to replace, not a second link beside it.
    assert lifecycle.adoptable(handler, [failed, older_failed]) == [older_failed]
    assert lifecycle.adoptable(handler, []) == []


def test_vpc_link_gone_once_not_found(stubbed):
    aws, stubber = stubbed
    stubber.add_client_error(
        "get_vpc_link", "NotFoundException", http_status_code=404, expected_params={"vpcLinkId": LINK_ID}
    )
    stubber.add_client_error(
        "get_vpc_link", "NotFoundException", http_status_code=404, expected_params={"vpcLinkId": LINK_ID}
    )
    stubber.add_client_error(
        "delete_vpc_link", "NotFoundException", http_status_code=404, expected_params={"vpcLinkId": LINK_ID}
    )
    handler = VpcLink(aws, env="dev")
    assert handler.refresh(LINK_ID).status is Status.GONE
    assert handler.read(LINK_ID) is None
    lifecycle.remove(handler, Observed(LINK_ID, {}, OURS))  # already gone counts as done


def test_vpc_link_pending_for_minutes_is_waited_for_with_polls_up_to_the_ceiling(stubbed, fake):
    aws, stubber = stubbed
    for status in ["PENDING"] * 12 + ["AVAILABLE"]:
        stubber.add_response("get_vpc_link", link_answer(status), {"vpcLinkId": LINK_ID})
    handler = VpcLink(aws, env="dev", clock=fake.as_clock())
    result = wait_for(lambda: handler.refresh(LINK_ID), Status.READY, what="vpc link", timeout=VpcLink.create_timeout,
                      ceiling=VpcLink.poll_ceiling, clock=fake.as_clock())
    assert result.status is Status.READY
    assert max(fake.sleeps) <= VpcLink.poll_ceiling and fake.now() < VpcLink.create_timeout


def test_vpc_link_description_is_patched_in_place(stubbed):
    aws, stubber = stubbed
    stubber.add_response(
        "update_vpc_link", {},
        {"vpcLinkId": LINK_ID, "patchOperations": [{"op": "replace", "path": "/description", "value": "new"}]},
    )
    handler = VpcLink(aws, env="dev")
    obs = Observed(LINK_ID, {"description": "old", "target_arns": ["arn:nlb"]}, OURS)
    spec = {"name": "vpc-link-dev", "tags": OURS, "description": "new", "target_arns": ["arn:nlb"]}
    lifecycle.update(handler, spec, obs, lifecycle.diff(handler, spec, obs))


def test_vpc_link_target_change_needs_a_replacement():
    obs = Observed(LINK_ID, {"description": "d", "target_arns": ["arn:old"]}, OURS)
    spec = {"name": "vpc-link-dev", "tags": OURS, "description": "d", "target_arns": ["arn:new"]}
    [d] = lifecycle.diff(VpcLink(None, env="dev"), spec, obs)
    assert (d.field, d.replace, d.change) == ("target_arns", True, Change.REPLACE)


# -- REST API routes ---------------------------------------------------------------------------

def test_routes_read_back_drop_what_aws_adds_and_match_the_spec_normal_form():
    aws_answer = [
        {"id": "root", "path": "/"},
        {"id": "r1", "parentId": "root", "pathPart": "videos", "path": "/videos"},
        {"id": "r2", "parentId": "r1", "pathPart": "{id}", "path": "/videos/{id}", "resourceMethods": {"GET": {
            "httpMethod": "GET", "authorizationType": "NONE", "apiKeyRequired": True,
            "requestParameters": {"method.request.path.id": True}, "methodResponses": {},
            "methodIntegration": {
                "type": "HTTP_PROXY", "httpMethod": "GET", "uri": "http://nlb.internal:80/videos/{id}",
                "connectionType": "VPC_LINK", "connectionId": LINK_ID,
                "requestParameters": {"integration.request.path.id": "method.request.path.id"},
                "passthroughBehavior": "WHEN_NO_MATCH", "timeoutInMillis": 29000, "cacheNamespace": "r2",
                "cacheKeyParameters": [],
            },
        }}},
    ]
    # "/videos" is implied by "/videos/{id}": desired with no methods, as AWS shows it.
    assert observe_routes(aws_answer) == normal_routes({"/videos/{id}": {"get": SPEC_METHOD}})
    assert list(normal_routes({"/videos/{id}": {"GET": SPEC_METHOD}})) == ["/videos", "/videos/{id}"]


def test_missing_routes_are_created_parent_first_under_verified_ids_retrying_a_concurrent_modification(stubbed, fake):
    aws, stubber = stubbed
    conflict = "Unable to complete operation due to concurrent modification. Please try again later."
    stubber.add_client_error("create_resource", "ConflictException", conflict, 409,
                             expected_params={"restApiId": "api", "parentId": "root", "pathPart": "videos"})
    stubber.add_response("create_resource", {"id": "r1", "path": "/videos"},
                         {"restApiId": "api", "parentId": "root", "pathPart": "videos"})
    stubber.add_response("create_resource", {"id": "r2", "path": "/videos/{id}"},
                         {"restApiId": "api", "parentId": "r1", "pathPart": "{id}"})
    stubber.add_response("put_method", {}, {
        "restApiId": "api", "resourceId": "r2", "httpMethod": "GET", "authorizationType": "NONE",
        "apiKeyRequired": True, "requestParameters": {"method.request.path.id": True},
    })
    stubber.add_response("put_integration", {}, {
        "restApiId": "api", "resourceId": "r2", "httpMethod": "GET", "type": "HTTP_PROXY",
        "integrationHttpMethod": "GET", "uri": "http://nlb.internal:80/videos/{id}", "connectionType": "VPC_LINK",
        "connectionId": LINK_ID, "requestParameters": {"integration.request.path.id": "method.request.path.id"},
    })
    obs = Observed("api", {"routes": {}}, {}, {"resources": [{"id": "root", "path": "/"}]})
    converger = RouteConverger(aws.client("apigateway"), fake.as_clock(), obs)
    converger.converge(normal_routes({"/videos/{id}": {"GET": SPEC_METHOD}}))
    assert fake.sleeps == [1.0]


# -- stage -------------------------------------------------------------------------------------

def stage_spec(stage_name) -> dict:
    return {"name": "api-stage-dev", "tags": {}, "rest_api_id": "api", "stage_name": stage_name,
            "rest_api_name": "video-metadata-api-dev", "deployed_config": "0123abcd",
            "log_level": "ERROR", "metrics_enabled": True, "data_trace": False, "tracing_enabled": True,
            "access_log_destination": "arn:aws:logs:us-east-1:123456789012:log-group:/a", "access_log_format": ACCESS_LOG_FORMAT}


@pytest.mark.parametrize("name", ["bad name", "prod!", "v1.0", "x" * 129, ""])
def test_stage_names_aws_refuses_are_refused_before_any_call(name):
    [problem] = spec_problems(Stage(None, env="dev"), stage_spec(name), has_unknown)
    assert problem.startswith(f"api_stage api-stage-dev: stage name {name!r}")


@pytest.mark.parametrize("changes, problem", [
    ({"log_level": "OFF"}, "log_level 'OFF': one of ERROR, INFO (FSBP APIGateway.1)"),
    ({"access_log_format": '{"ip":"$context.identity.sourceIp"}'}, "access_log_format must contain $context.requestId or $context.extendedRequestId"),
])
def test_stage_logging_settings_aws_or_fsbp_refuse_are_refused_before_any_call(changes, problem):
    assert spec_problems(Stage(None, env="dev"), {**stage_spec("dev"), **changes}, has_unknown) == [f"api_stage api-stage-dev: {problem}"]


def test_stage_name_of_letters_digits_hyphens_and_underscores_is_accepted():
    spec = stage_spec("dev_2-" + "x" * 122)
    assert spec_problems(Stage(None, env="dev"), spec, has_unknown) == []
    assert Stage(None, env="dev").desired(spec) == spec


# -- usage plan --------------------------------------------------------------------------------

def test_usage_plan_delete_unlinks_keys_then_unbinds_stages_in_one_update_then_deletes(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_response("delete_usage_plan_key", {}, {"usagePlanId": "plan", "keyId": "key1"})
    stubber.add_response("update_usage_plan", {}, {"usagePlanId": "plan", "patchOperations": [
        {"op": "remove", "path": "/apiStages", "value": "api1:dev"},
        {"op": "remove", "path": "/apiStages", "value": "api2:dev"},
    ]})
    stubber.add_response("delete_usage_plan", {}, {"usagePlanId": "plan"})
    attrs = {"api_key_ids": ["key1"], "api_stages": [{"apiId": "api1", "stage": "dev"}, {"apiId": "api2", "stage": "dev"}]}
    UsagePlan(aws, env="dev", clock=fake.as_clock()).delete(Observed("plan", attrs, {}))


def test_usage_plan_throttle_normal_form_and_patch_values():
    throttle = {"rateLimit": 100, "burstLimit": 200.0}
    spec = {"name": "p", "tags": {}, "throttle": throttle, "api_stages": [], "api_key_ids": []}
    assert UsagePlan(None, env="dev").desired(spec)["throttle"] == {"rateLimit": 100.0, "burstLimit": 200}
    assert [patch_value(v) for v in (100.0, 2.5, 200, True, False)] == ["100", "2.5", "200", "true", "false"]


# -- pacing ------------------------------------------------------------------------------------

def test_pace_spaces_calls_by_its_interval_and_forgets_another_clocks_past(fake):
    pace = Pace("CreateDeployment", 5.0)
    clock = fake.as_clock()
    pace.wait(clock)
    pace.wait(clock)
    assert fake.sleeps == [5.0]
    fake.t += 7
    pace.wait(clock)
    assert fake.sleeps == [5.0]
    pace.wait(FakeClock().as_clock())  # a new clock reads 0: nothing to wait for
    assert fake.sleeps == [5.0]


def test_pace_is_shared_by_threads(fake):
    pace = Pace("CreateRestApi", 3.0)
    clock = fake.as_clock()
    threads = [threading.Thread(target=pace.wait, args=(clock,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Five calls at once: the first goes, each of the others waits its full turn.
    assert fake.sleeps == [3.0] * 4 and fake.now() == 12.0


def test_pace_allows_its_burst_then_refills_at_its_rate(fake):
    # ECS RegisterTaskDefinition: a bucket of 20 refilled at one per second (T-2).
    pace = Pace("RegisterTaskDefinition", 1.0, burst=3)
    clock = fake.as_clock()
    for _ in range(3):
        pace.wait(clock)
    assert fake.sleeps == []
    pace.wait(clock)
    assert fake.sleeps == [1.0]
    fake.t += 2.5  # two and a half tokens back
    pace.wait(clock)
    pace.wait(clock)
    assert fake.sleeps == [1.0]
    pace.wait(clock)
    assert fake.sleeps == [1.0, 0.5]


def test_drift_all_paces_every_api_gateway_call_to_the_accounts_rate(stubbed, fake):
    """T-2: 10 management calls a second in bursts of 40, GetResources 5 every 2 seconds. A check
    of many environments at once waits its turn instead of meeting TooManyRequestsException after
    botocore's shared retry quota is spent."""
    from resources.aws.pacing import pace_apigateway

    aws, stubber = stubbed
    client = aws.client("apigateway")
    pace_apigateway(client, fake.as_clock())
    for _ in range(42):
        stubber.add_response("get_account", {})
    for _ in range(42):
        client.get_account()
    assert fake.sleeps == [0.1, 0.1]  # the burst of 40, then one every tenth of a second
    for _ in range(6):
        stubber.add_response("get_resources", {"items": []}, {"restApiId": "a1"})
    for _ in range(6):
        client.get_resources(restApiId="a1")
    # Its own bucket (5, then one every 0.4 s) and the account's (one every 0.1 s).
    assert sum(fake.sleeps[2:]) == pytest.approx(6 * 0.1 + 0.4 - 0.1 * 5, abs=0.11) and max(fake.sleeps) <= 0.4

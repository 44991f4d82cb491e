"""API Gateway handlers on moto: the standard case list, read back with the test's own client.

VPC link, REST API (resources, methods, private integrations), stage, API key and usage plan
are converged together, as the stack does; the NLB they point at is the test's own.
"""
from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from structlog.testing import capture_logs

from orchestrator.run import reconcile_stack
from orchestrator.spec import resolve
from resources.api.apigateway import ApiKey, RestApi, UsagePlan
from resources.api.rest_api import config_hash
from tests.resources.apigateway_support import (
    KEYS, REGION, api_actions, api_key, api_outputs, changed_fields, make_nlb, network_nodes, nodes, ownership,
    resources_by_path, rest_api, stage_deployment, usage_plan, vpc_link,
)
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy
from sandbox.fidelity import clock as layer_clock

ROUTES = {"/videos": {"GET", "POST"}, "/videos/{id}": {"GET"}}


@pytest.fixture
def apigw(moto_aws):
    return boto3.client("apigateway", region_name=REGION)


@pytest.fixture
def nlb(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=network_nodes(), clock=clock)
    return make_nlb(state)


@pytest.fixture
def built(aws, nlb, clock):
    """The five nodes converged once: (state, first run)."""
    state = MemoryState()
    run = converge(aws, state, nodes=nodes(nlb), clock=clock)
    return state, run


def point_stage_at(apigw, api_id: str, deployment_id: str) -> None:
    apigw.update_stage(
        restApiId=api_id, stageName="dev", patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment_id}]
    )


def api_id_of(state) -> str:
    return state.doc.resource("apigw.rest_api")["id"]


def test_create_builds_the_private_api_bound_to_key_and_plan_then_second_run_changes_nothing(aws, apigw, nlb, clock, built):
    state, run = built
    assert api_actions(run) == dict.fromkeys(KEYS, "create")

    link = vpc_link(apigw)
    assert link["targetArns"] == [nlb.arn] and link["status"] == "AVAILABLE"
    assert link["tags"] == ownership("vpc-link-dev")

    api = rest_api(apigw)
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"] and api["apiKeySource"] == "HEADER"
    assert api["tags"] == ownership("video-metadata-api-dev")
    resources = resources_by_path(apigw, api["id"])
    assert set(resources) == {"/", "/videos", "/videos/{id}"}
    for path, verbs in ROUTES.items():
        assert set(resources[path]["resourceMethods"]) == verbs
        for verb in verbs:
            method = apigw.get_method(restApiId=api["id"], resourceId=resources[path]["id"], httpMethod=verb)
            assert method["apiKeyRequired"] is True
            integration = method["methodIntegration"]
            assert integration["type"] == "HTTP_PROXY" and integration["httpMethod"] == verb
            assert (integration["connectionType"], integration["connectionId"]) == ("VPC_LINK", link["id"])
            assert integration["uri"] == f"http://{nlb.dns_name}:80{path}"
    by_id = apigw.get_integration(restApiId=api["id"], resourceId=resources["/videos/{id}"]["id"], httpMethod="GET")
    assert by_id["requestParameters"] == {"integration.request.path.id": "method.request.path.id"}

    stage = apigw.get_stage(restApiId=api["id"], stageName="dev")
    assert stage["tags"] == ownership("api-stage-dev")
    outputs = api_outputs(run)
    config = outputs["apigw.rest_api"]["config_hash"]
    assert stage_deployment(apigw, api["id"])["description"] == f"video-pipeline-infra {config}"
    assert outputs["apigw.stage"]["invoke_url"] == f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/dev"

    key = api_key(apigw)
    assert key["enabled"] is True and key["tags"] == ownership("api-key-dev")
    plan = usage_plan(apigw)
    assert plan["throttle"] == {"rateLimit": 100.0, "burstLimit": 200}
    assert plan["apiStages"] == [{"apiId": api["id"], "stage": "dev"}]
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    assert plan["tags"] == ownership("usage-plan-dev")

    before = aws.calls.mutating
    again = converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert set(api_actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_plan_before_the_first_apply_lists_every_creation_without_a_mutating_call(aws, nlb, clock):
    # The stage's REST API id is not known yet: its lookup goes by the REST API's name.
    before = aws.calls.mutating
    plan = converge(aws, MemoryState(), nodes=nodes(nlb), plan=True, clock=clock)
    assert api_actions(plan) == dict.fromkeys(KEYS, "create")
    assert aws.calls.mutating == before


def test_method_deleted_by_hand_and_deployed_is_restored_and_redeployed(aws, apigw, nlb, clock, built):
    state, _ = built
    api_id = api_id_of(state)
    by_id = resources_by_path(apigw, api_id)["/videos/{id}"]["id"]
    apigw.delete_method(restApiId=api_id, resourceId=by_id, httpMethod="GET")
    # "Deploy API" by hand: the stage now serves the API without the method. (Deploy, then
    # re-point: moto's CreateDeployment(stageName=…) replaces the stage and drops its tags.)
    manual = apigw.create_deployment(restApiId=api_id)["id"]
    point_stage_at(apigw, api_id, manual)

    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan) == {"apigw.rest_api": {"routes./videos/{id}.GET"}, "apigw.stage": {"deployed_config"}}
    run = converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert api_actions(run)["apigw.rest_api"] == "update" and api_actions(run)["apigw.stage"] == "update"

    method = apigw.get_method(restApiId=api_id, resourceId=by_id, httpMethod="GET")
    assert method["apiKeyRequired"] is True and method["methodIntegration"]["connectionType"] == "VPC_LINK"
    deployment = stage_deployment(apigw, api_id)
    assert deployment["id"] != manual
    assert deployment["description"] == f"video-pipeline-infra {api_outputs(run)['apigw.rest_api']['config_hash']}"


def test_method_deleted_by_hand_but_never_deployed_is_restored_without_a_new_deployment(aws, apigw, nlb, clock, built):
    state, _ = built
    api_id = api_id_of(state)
    served = stage_deployment(apigw, api_id)["id"]
    videos = resources_by_path(apigw, api_id)["/videos"]["id"]
    apigw.delete_method(restApiId=api_id, resourceId=videos, httpMethod="POST")

    run = converge(aws, state, nodes=nodes(nlb), clock=clock)
    # The stage serves an immutable snapshot that still has POST: the same config, no redeploy.
    assert api_actions(run)["apigw.rest_api"] == "update" and api_actions(run)["apigw.stage"] == "unchanged"
    assert set(resources_by_path(apigw, api_id)["/videos"]["resourceMethods"]) == {"GET", "POST"}
    assert stage_deployment(apigw, api_id)["id"] == served


def test_key_requirement_dropped_by_hand_is_restored(aws, apigw, nlb, clock, built):
    state, _ = built
    api_id = api_id_of(state)
    videos = resources_by_path(apigw, api_id)["/videos"]["id"]
    # moto lets a method be put over an existing one; this one needs no API key.
    apigw.put_method(restApiId=api_id, resourceId=videos, httpMethod="GET", authorizationType="NONE", apiKeyRequired=False)

    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan)["apigw.rest_api"] == {"routes./videos.GET"}
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    method = apigw.get_method(restApiId=api_id, resourceId=videos, httpMethod="GET")
    assert method["apiKeyRequired"] is True and method["methodIntegration"]["uri"] == f"http://{nlb.dns_name}:80/videos"


def test_stray_resource_added_by_hand_is_removed(aws, apigw, nlb, clock, built):
    state, _ = built
    api_id = api_id_of(state)
    videos = resources_by_path(apigw, api_id)["/videos"]["id"]
    stray = apigw.create_resource(restApiId=api_id, parentId=videos, pathPart="debug")["id"]
    apigw.put_method(restApiId=api_id, resourceId=stray, httpMethod="DELETE", authorizationType="NONE")
    apigw.create_resource(restApiId=api_id, parentId=stray, pathPart="deeper")

    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan)["apigw.rest_api"] == {"routes./videos/debug", "routes./videos/debug/deeper"}
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert set(resources_by_path(apigw, api_id)) == {"/", "/videos", "/videos/{id}"}


def test_description_changed_by_hand_is_restored(aws, apigw, nlb, clock, built):
    state, _ = built
    api_id = api_id_of(state)
    apigw.update_rest_api(restApiId=api_id, patchOperations=[{"op": "replace", "path": "/description", "value": "mine"}])
    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan) == {"apigw.rest_api": {"description"}}
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert apigw.get_rest_api(restApiId=api_id)["description"] == "Video metadata API of the StreamTech video pipeline"


def test_stage_pointing_at_an_old_deployment_is_redeployed(aws, apigw, nlb, clock, built):
    state, run = built
    api_id = api_id_of(state)
    old = apigw.create_deployment(restApiId=api_id, description="video-pipeline-infra 0123abcd")["id"]
    point_stage_at(apigw, api_id, old)

    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan) == {"apigw.stage": {"deployed_config"}}
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    deployment = stage_deployment(apigw, api_id)
    assert deployment["id"] != old
    assert deployment["description"] == f"video-pipeline-infra {api_outputs(run)['apigw.rest_api']['config_hash']}"


def test_stage_tag_removed_by_hand_is_restored(aws, apigw, nlb, clock, built):
    state, _ = built
    api_id = api_id_of(state)
    arn = f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/dev"
    apigw.untag_resource(resourceArn=arn, tagKeys=["Environment"])
    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan) == {"apigw.stage": {"tags.Environment"}}
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert apigw.get_tags(resourceArn=arn)["tags"] == ownership("api-stage-dev")


def test_usage_plan_throttle_changed_by_hand_is_restored(aws, apigw, nlb, clock, built):
    state, _ = built
    plan_id = usage_plan(apigw)["id"]
    apigw.update_usage_plan(
        usagePlanId=plan_id, patchOperations=[{"op": "replace", "path": "/throttle/rateLimit", "value": "5"}]
    )
    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan) == {"apigw.usage_plan": {"throttle"}}
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert apigw.get_usage_plan(usagePlanId=plan_id)["throttle"] == {"rateLimit": 100.0, "burstLimit": 200}


def test_usage_plan_key_removed_by_hand_is_linked_again_once(aws, apigw, nlb, clock, built):
    state, _ = built
    plan_id, key_id = usage_plan(apigw)["id"], api_key(apigw)["id"]
    apigw.delete_usage_plan_key(usagePlanId=plan_id, keyId=key_id)
    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    assert changed_fields(plan) == {"apigw.usage_plan": {"api_key_ids"}}
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan_id)["items"]] == [key_id]


def test_rest_api_deleted_behind_our_back_is_recreated_with_its_stage_and_plan_binding(aws, apigw, nlb, clock, built):
    state, _ = built
    old = api_id_of(state)
    apigw.delete_rest_api(restApiId=old)

    run = converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert api_actions(run) == {
        "apigw.vpc_link": "unchanged", "apigw.rest_api": "create", "apigw.stage": "create",
        "apigw.api_key": "unchanged", "apigw.usage_plan": "update",
    }
    new = rest_api(apigw)["id"]
    assert new != old and api_id_of(state) == new
    assert set(resources_by_path(apigw, new)) == {"/", "/videos", "/videos/{id}"}
    assert apigw.get_stage(restApiId=new, stageName="dev")["tags"] == ownership("api-stage-dev")
    assert usage_plan(apigw)["apiStages"] == [{"apiId": new, "stage": "dev"}]


def test_api_key_deleted_behind_our_back_is_recreated_and_linked(aws, apigw, nlb, clock, built):
    state, _ = built
    old = api_key(apigw)["id"]
    apigw.delete_api_key(apiKey=old)
    run = converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert api_actions(run)["apigw.api_key"] == "create"
    new = api_key(apigw)["id"]
    assert new != old
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=usage_plan(apigw)["id"])["items"]] == [new]


def test_a_namesake_rest_api_without_our_tags_is_neither_adopted_nor_touched(aws, apigw, nlb, clock):
    theirs = apigw.create_rest_api(name="video-metadata-api-dev", description="someone else's")["id"]
    state = MemoryState()
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert api_id_of(state) != theirs
    assert set(resources_by_path(apigw, theirs)) == {"/"}
    destroy(aws, state, nodes=nodes(nlb), clock=clock)
    assert [a["id"] for a in apigw.get_rest_apis()["items"]] == [theirs]


def test_api_key_value_never_reaches_logs_attrs_outputs_or_state(aws, apigw, nlb, clock):
    state = MemoryState()
    with capture_logs() as logs:
        run = converge(aws, state, nodes=nodes(nlb), clock=clock)
        state.lose()
        converge(aws, state, nodes=nodes(nlb), clock=clock)
    key_id = api_key(apigw)["id"]
    value = apigw.get_api_key(apiKey=key_id, includeValue=True)["value"]
    assert len(value) >= 20

    assert logs and value not in json.dumps(logs, default=repr)
    assert value not in json.dumps([r.outputs for r in run.results], default=repr)
    assert all(value not in saved for saved in state.saves)
    for handler, resource_id in ((ApiKey, key_id), (UsagePlan, usage_plan(apigw)["id"])):
        obs = handler(aws, env="dev", clock=clock.as_clock()).read(resource_id)
        assert value not in json.dumps([obs.attrs, obs.raw], default=repr)


def test_destroy_without_state_finds_everything_by_name_and_tags(aws, apigw, nlb, clock, built):
    state, _ = built
    state.lose()
    run = destroy(aws, state, nodes=nodes(nlb), clock=clock)
    assert api_actions(run) == dict.fromkeys(KEYS, "delete")
    assert apigw.get_rest_apis()["items"] == [] and apigw.get_usage_plans()["items"] == []


def test_routes_are_read_back_in_the_spec_shape_with_one_get_resources_per_read(aws, nlb, clock, built):
    state, run = built
    outputs = {r.key: r.outputs for r in run.results}
    handler = RestApi(aws, env="dev", clock=clock.as_clock())
    [node] = [n for n in nodes(nlb) if n.key == "apigw.rest_api"]
    before = aws.calls.counts.copy()
    obs = handler.read(api_id_of(state))
    reads = aws.calls.counts - before
    assert reads == Counter({("apigateway", "GetRestApi"): 1, ("apigateway", "GetResources"): 1})
    # AWS-added keys (timeoutInMillis, cacheNamespace, …) are gone: the spec's own normal form.
    assert obs.attrs["routes"] == handler.desired(resolve(node.spec, outputs))["routes"]
    assert outputs["apigw.rest_api"]["config_hash"] == config_hash(obs.attrs["routes"])


def test_deployments_are_at_least_five_seconds_apart_on_the_injected_clock(aws, apigw, nlb, clock):
    # CreateDeployment is capped at 1 per 5 s per account (B-AG-2).
    deployed_at = []
    aws.client("apigateway").meta.events.register(
        "before-call.apigateway.CreateDeployment", lambda **_: deployed_at.append(clock.now())
    )
    state = MemoryState()
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    api_id = api_id_of(state)
    old = apigw.create_deployment(restApiId=api_id, description="by hand")["id"]
    point_stage_at(apigw, api_id, old)
    converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert len(deployed_at) == 2
    assert deployed_at[1] - deployed_at[0] >= 5


# -- a VPC link that ends FAILED (docs/aws-behaviours.md C-VPCL-1, on the fidelity layer's clock) --------------
LINK_FAILURE = "NLB is not in a valid state"


def run_with_a_failing_link(aws, state, nlb, clock):
    """The first run: the link is PENDING for minutes on the layer's clock, then FAILED."""
    with layer_clock.use(clock):
        layer_clock.fail("vpc-link", "vpc-link-dev", LINK_FAILURE)
        return reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=nodes(nlb))


@pytest.mark.parametrize("state_lost", [False, True], ids=["recorded", "found-by-tags"])
def test_a_failed_vpc_link_is_deleted_and_a_new_one_created_by_the_next_run(aws, apigw, nlb, clock, state_lost, monkeypatch):
    state = MemoryState()
    first = run_with_a_failing_link(aws, state, nlb, clock)
    reason = first.failures["apigw.vpc_link"].reason
    assert "vpc-link-dev" in reason and LINK_FAILURE in reason, reason
    assert clock.now() >= layer_clock.DURATIONS["apigateway.vpc_link"]  # waited for it on the clock
    failed = vpc_link(apigw)
    # AWS keeps the failed link, holding its NLB; the run recorded it (and why it failed).
    assert (failed["status"], failed["targetArns"]) == ("FAILED", [nlb.arn])
    assert state.doc.resource("apigw.vpc_link")["id"] == failed["id"]
    if state_lost:
        state.lose()

    plan = converge(aws, state, nodes=nodes(nlb), plan=True, clock=clock)
    [planned] = [r for r in plan.results if r.key == "apigw.vpc_link"]
    assert planned.action == "replace" and [d.field for d in planned.changes] == ["status"]
    assert LINK_FAILURE in planned.changes[0].actual

    # The mark is gone (the layer's clock was given back): the new link becomes AVAILABLE.
    run = converge(aws, state, nodes=nodes(nlb), clock=clock)
    # The API key needs no link: the first run made it.
    assert api_actions(run) == {**dict.fromkeys(KEYS, "create"), "apigw.vpc_link": "replace", "apigw.api_key": "unchanged"}
    [link] = apigw.get_vpc_links()["items"]
    assert link["id"] != failed["id"] and link["status"] == "AVAILABLE" and link["targetArns"] == [nlb.arn]
    assert state.doc.resource("apigw.vpc_link")["id"] == link["id"]
    assert "failure" not in state.doc.resource("apigw.vpc_link")
    api_id = api_id_of(state)
    videos = resources_by_path(apigw, api_id)["/videos"]["id"]
    assert apigw.get_integration(restApiId=api_id, resourceId=videos, httpMethod="GET")["connectionId"] == link["id"]

    again = converge(aws, state, nodes=nodes(nlb), clock=clock)
    assert set(api_actions(again).values()) == {"unchanged"}


def test_teardown_deletes_a_failed_vpc_link_found_by_its_tags(aws, apigw, nlb, clock):
    state = MemoryState()
    run_with_a_failing_link(aws, state, nlb, clock)
    assert vpc_link(apigw)["status"] == "FAILED"
    state.lose()
    run = destroy(aws, state, nodes=nodes(nlb), clock=clock)
    assert actions(run)["apigw.vpc_link"] == "delete"
    assert apigw.get_vpc_links()["items"] == []

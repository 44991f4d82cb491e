"""GetResources as AWS answers it (sandbox/fidelity/tagging.py, docs/aws-behaviours.md C-TAG-1, B-TAG-1):
children carrying the stack's tags and resources deleted a while ago, only when a test switches
it on; moto's own answer otherwise."""
from __future__ import annotations

import boto3
import pytest

from sandbox.fidelity import clock, tagging
from tests.fidelity.test_clock_control import post
from tests.fidelity.test_ecs import BREAKER_ON, fargate_service
from tests.fidelity.test_elasticache import create_group

REGION = "us-east-1"
STACK = {"stack": "video"}
LISTED = clock.DURATIONS["tagging.deleted_listed"]


def listed(tagging_client, **extra) -> dict[str, dict[str, str]]:
    """ARN -> tags of what GetResources answers for the stack's tag."""
    pages = tagging_client.get_paginator("get_resources").paginate(TagFilters=[{"Key": "stack", "Values": ["video"]}], **extra)
    return {m["ResourceARN"]: {t["Key"]: t["Value"] for t in m["Tags"]} for page in pages for m in page["ResourceTagMappingList"]}


def staged_api(apigateway, stage_tags: dict[str, str] | None = STACK) -> str:
    """A REST API deployed to stage ``prod`` (tagged with ``stage_tags``) and ``test`` (untagged)."""
    api = apigateway.create_rest_api(name="api", tags=STACK)["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    apigateway.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apigateway.create_deployment(restApiId=api)["id"]
    apigateway.create_stage(restApiId=api, stageName="prod", deploymentId=deployment, **({"tags": stage_tags} if stage_tags else {}))
    apigateway.create_stage(restApiId=api, stageName="test", deploymentId=deployment)
    return api


def stage_arn(api: str, name: str = "prod") -> str:
    return f"arn:aws:apigateway:{REGION}::/restapis/{api}/stages/{name}"


def member_arns(elasticache) -> list[str]:
    return sorted(c["ARN"] for c in elasticache.describe_cache_clusters()["CacheClusters"] if c.get("ReplicationGroupId") == "cache-a")


@pytest.fixture
def clients(moto_aws):
    return {name: boto3.client(name, region_name=REGION)
            for name in ("resourcegroupstaggingapi", "apigateway", "elasticache", "secretsmanager", "ecs", "ec2")}


def test_by_default_get_resources_answers_as_moto_did(clients):
    """Off, nothing changes: no stage, no untagged member, no deleted resource, whatever the clock."""
    tg, ec, sm = clients["resourcegroupstaggingapi"], clients["elasticache"], clients["secretsmanager"]
    api = staged_api(clients["apigateway"])
    group = create_group(ec, clusters=2, subnet_group=None, Tags=[{"Key": "stack", "Value": "video"}])
    secret = sm.create_secret(Name="s", SecretString="x", Tags=[{"Key": "stack", "Value": "video"}])["ARN"]
    assert not tagging.on()
    assert set(listed(tg)) == {group["ARN"], secret}
    with clock.use():
        sm.delete_secret(SecretId="s", ForceDeleteWithoutRecovery=True)
        assert set(listed(tg)) == {group["ARN"]} and stage_arn(api) not in listed(tg)


def test_a_stage_with_tags_is_listed(clients):
    tg = clients["resourcegroupstaggingapi"]
    api = staged_api(clients["apigateway"])
    with tagging.faithful():
        assert listed(tg) == {stage_arn(api): STACK}  # "test" has no tag: not listed
        assert set(listed(tg, ResourceTypeFilters=["apigateway"])) == {stage_arn(api)}
        assert listed(tg, ResourceTypeFilters=["ecs"]) == {}
    assert listed(tg) == {}


def test_member_clusters_carry_their_groups_tags_on_the_instant_clock(clients):
    """C-EC-2: elasticache_modify tags the members only on a controlled clock; the index has them."""
    tg, ec = clients["resourcegroupstaggingapi"], clients["elasticache"]
    group = create_group(ec, clusters=2, subnet_group=None, Tags=[{"Key": "stack", "Value": "video"}])
    with tagging.faithful():
        assert listed(tg) == {group["ARN"]: STACK, **dict.fromkeys(member_arns(ec), STACK)}
        assert len(member_arns(ec)) == 2 and all(":cluster:cache-a-00" in arn for arn in member_arns(ec))
        ec.add_tags_to_resource(ResourceName=group["ARN"], Tags=[{"Key": "owner", "Value": "ops"}])
        assert listed(tg) == dict.fromkeys([group["ARN"], *member_arns(ec)], {**STACK, "owner": "ops"})


def test_tasks_stopped_with_the_services_propagated_tags_are_listed(clients, on_the_clock):
    """Already so in moto once ecs_deployments stops the tasks: pinned here as part of C-TAG-1."""
    tg, ecs = clients["resourcegroupstaggingapi"], clients["ecs"]
    clock.fail("ecs-image", "nginx:1")
    with tagging.faithful():
        fargate_service(ecs, clients["ec2"], desired=2, deploymentConfiguration=BREAKER_ON, propagateTags="SERVICE",
                        tags=[{"key": "stack", "value": "video"}])
        on_the_clock.sleep(clock.duration("ecs.deployment"))
        stopped = ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]
        tasks = {arn for arn in listed(tg) if ":task/" in arn}
        assert len(stopped) == 3 and tasks == set(stopped)
        assert all(arn.startswith(f"arn:aws:ecs:{REGION}:123456789012:task/c/") for arn in tasks)


def test_a_deleted_resource_stays_listed_for_a_while_on_the_clock(clients, on_the_clock):
    """Deleted after the switch, created before it: the group, its members and the secret are
    listed with the tags they had until ``tagging.deleted_listed`` has gone by."""
    tg, ec, sm = clients["resourcegroupstaggingapi"], clients["elasticache"], clients["secretsmanager"]
    group = create_group(ec, clusters=2, subnet_group=None, Tags=[{"Key": "stack", "Value": "video"}])
    secret = sm.create_secret(Name="s", SecretString="x", Tags=[{"Key": "stack", "Value": "video"}])["ARN"]
    members = member_arns(ec)
    with tagging.faithful():
        sm.delete_secret(SecretId="s", ForceDeleteWithoutRecovery=True)
        on_the_clock.sleep(60)
        ec.delete_replication_group(ReplicationGroupId="cache-a")
        ec.describe_replication_groups()
        assert ec.describe_cache_clusters()["CacheClusters"] == []
        assert listed(tg) == dict.fromkeys([group["ARN"], secret, *members], STACK)
        on_the_clock.sleep(LISTED - 60)  # the secret's time is up, not the group's
        assert set(listed(tg)) == {group["ARN"], *members}
        on_the_clock.sleep(60)
        assert listed(tg) == {}


def test_a_deleted_resource_is_gone_at_once_on_the_instant_clock(clients):
    tg, sm = clients["resourcegroupstaggingapi"], clients["secretsmanager"]
    with tagging.faithful():
        sm.create_secret(Name="s", SecretString="x", Tags=[{"Key": "stack", "Value": "video"}])
        sm.delete_secret(SecretId="s", ForceDeleteWithoutRecovery=True)
        assert listed(tg) == {}


def test_the_clocks_reset_switches_it_off(moto_aws):
    try:
        tagging.switch(True)
        assert tagging.on()
    finally:
        clock.reset()
    assert not tagging.on()


@pytest.mark.server
def test_the_server_answers_faithfully_by_default_and_after_motos_reset(server):
    """The drift check recognises children (issue 14): the test server answers as AWS does from
    the start; switched off, it is on again after moto's reset (every end-to-end test starts with one)."""
    kwargs = {"region_name": REGION, "endpoint_url": server.endpoint}
    tg, apigateway = boto3.client("resourcegroupstaggingapi", **kwargs), boto3.client("apigateway", **kwargs)
    assert post(server, "/fidelity/tagging") == {"faithful": True}
    api = staged_api(apigateway)
    assert listed(tg) == {stage_arn(api): STACK}
    assert post(server, "/fidelity/tagging", {"faithful": False}) == {"faithful": False}
    assert listed(tg) == {}
    server.reset()
    assert post(server, "/fidelity/tagging") == {"faithful": True}


def test_a_servers_default_survives_the_clocks_reset_and_is_given_back(moto_aws):
    try:
        tagging.on_by_default()
        clock.reset()
        assert tagging.on()
    finally:
        tagging.on_by_default(False)
    assert not tagging.on()
    clock.reset()
    assert not tagging.on()

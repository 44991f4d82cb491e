"""The ECS fidelity patches, with plain boto3: in-process under mock_aws, and once over HTTP
against the moto server subprocess the end-to-end tests use (``python -m sandbox.serve``).

Without the patches moto leaves a Fargate service at runningCount 0 with its deployment
IN_PROGRESS and answers deploymentConfiguration null (docs/aws-behaviours.md A-28).
"""
from __future__ import annotations

import boto3
import pytest


REGION = "us-east-1"
BREAKER_ON = {
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


def fargate_service(ecs, ec2, *, desired: int = 2, **extra) -> tuple[str, list[str]]:
    """A cluster, two revisions of a Fargate task definition and a service on the first one."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(VpcId=vpc, GroupName="tasks", Description="tasks")["GroupId"]
    ecs.create_cluster(clusterName="c")
    revisions = [
        ecs.register_task_definition(
            family="app", cpu="256", memory="512", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            containerDefinitions=[{"name": "app", "image": image}],
        )["taskDefinition"]["taskDefinitionArn"]
        for image in ("nginx:1", "nginx:2")
    ]
    ecs.create_service(
        cluster="c", serviceName="app", taskDefinition=revisions[0], desiredCount=desired, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "DISABLED"}},
        **extra,
    )
    return "app", revisions


def describe(ecs, name: str = "app") -> dict:
    [service] = ecs.describe_services(cluster="c", services=[name])["services"]
    return service


@pytest.fixture
def clients(moto_aws):
    return boto3.client("ecs", region_name=REGION), boto3.client("ec2", region_name=REGION)


def test_a_new_service_runs_its_desired_tasks_and_its_deployment_is_completed(clients):
    ecs, ec2 = clients
    fargate_service(ecs, ec2, desired=2)
    service = describe(ecs)
    assert (service["runningCount"], service["pendingCount"], service["desiredCount"]) == (2, 0, 2)
    [primary] = service["deployments"]
    assert primary["status"] == "PRIMARY" and primary["rolloutState"] == "COMPLETED"
    assert (primary["runningCount"], primary["pendingCount"]) == (2, 0)
    # The stock waiter's rule (one deployment, running == desired) now holds on the first poll.
    ecs.get_waiter("services_stable").wait(cluster="c", services=["app"], WaiterConfig={"Delay": 1, "MaxAttempts": 1})


def test_a_new_desired_count_is_reached_by_the_same_deployment(clients):
    ecs, ec2 = clients
    fargate_service(ecs, ec2, desired=2)
    before = describe(ecs)["deployments"][0]["id"]
    ecs.update_service(cluster="c", service="app", desiredCount=5)
    service = describe(ecs)
    assert (service["runningCount"], service["desiredCount"]) == (5, 5)
    [primary] = service["deployments"]
    assert primary["id"] == before and primary["rolloutState"] == "COMPLETED" and primary["runningCount"] == 5


def test_a_new_task_definition_becomes_the_one_completed_primary_deployment(clients):
    ecs, ec2 = clients
    _, revisions = fargate_service(ecs, ec2, desired=2)
    before = describe(ecs)["deployments"][0]["id"]
    ecs.update_service(cluster="c", service="app", taskDefinition=revisions[1])
    service = describe(ecs)
    assert service["taskDefinition"] == revisions[1] and service["runningCount"] == 2
    [primary] = service["deployments"]
    assert primary["id"] != before and primary["taskDefinition"] == revisions[1]
    assert primary["status"] == "PRIMARY" and primary["rolloutState"] == "COMPLETED"


def test_the_deployment_configuration_of_create_is_kept_and_aws_defaults_fill_the_rest(clients):
    ecs, ec2 = clients
    fargate_service(ecs, ec2, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    assert describe(ecs)["deploymentConfiguration"] == BREAKER_ON
    ecs.create_service(cluster="c", serviceName="plain", taskDefinition="app:1", desiredCount=0, launchType="FARGATE",
                       networkConfiguration=describe(ecs)["networkConfiguration"])
    assert describe(ecs, "plain")["deploymentConfiguration"] == {
        **BREAKER_ON, "deploymentCircuitBreaker": {"enable": False, "rollback": False}}


def test_the_deployment_configuration_of_update_is_kept(clients):
    ecs, ec2 = clients
    fargate_service(ecs, ec2, deploymentConfiguration=BREAKER_ON)
    off = {**BREAKER_ON, "deploymentCircuitBreaker": {"enable": False, "rollback": False}}
    ecs.update_service(cluster="c", service="app", deploymentConfiguration=off)
    assert describe(ecs)["deploymentConfiguration"] == off


@pytest.mark.server
def test_the_moto_server_of_the_end_to_end_tests_applies_the_ecs_patches(server):
    kwargs = {"region_name": REGION, "endpoint_url": server.endpoint}
    ecs, ec2 = boto3.client("ecs", **kwargs), boto3.client("ec2", **kwargs)
    fargate_service(ecs, ec2, desired=3, deploymentConfiguration=BREAKER_ON)
    service = describe(ecs)
    assert (service["runningCount"], service["desiredCount"]) == (3, 3)
    assert [d["rolloutState"] for d in service["deployments"]] == ["COMPLETED"]
    assert service["deploymentConfiguration"] == BREAKER_ON

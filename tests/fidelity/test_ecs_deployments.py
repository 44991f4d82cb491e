"""ECS deployments on the layer's clock (sandbox/fidelity/ecs_deployments.py): docs/aws-behaviours.md C-ECS-1,
C-ECS-2, C-ECS-4 and A-28's deployment, in-process under mock_aws."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock, ecs_deployments
from tests.fidelity.test_ecs import BREAKER_ON, REGION, describe, fargate_service

DEPLOY = clock.DURATIONS["ecs.deployment"]


@pytest.fixture
def clients(moto_aws):
    return boto3.client("ecs", region_name=REGION), boto3.client("ec2", region_name=REGION)


def stable_at_once(ecs) -> bool:
    try:
        ecs.get_waiter("services_stable").wait(cluster="c", services=["app"], WaiterConfig={"Delay": 0, "MaxAttempts": 1})
        return True
    except botocore.exceptions.WaiterError:
        return False


def test_a_new_revision_is_a_deployment_in_progress_until_its_time_has_gone_by(clients, on_the_clock):
    ecs, ec2 = clients
    _, revisions = fargate_service(ecs, ec2, desired=4, deploymentConfiguration=BREAKER_ON)
    on_the_clock.sleep(DEPLOY)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "COMPLETED"
    ecs.update_service(cluster="c", service="app", taskDefinition=revisions[1])
    on_the_clock.sleep(DEPLOY / 2)
    service = describe(ecs)
    new, old = service["deployments"]
    assert (new["status"], new["rolloutState"], new["taskDefinition"]) == ("PRIMARY", "IN_PROGRESS", revisions[1])
    assert (new["runningCount"], new["pendingCount"]) == (2, 2)
    assert (old["status"], old["taskDefinition"], old["runningCount"]) == ("ACTIVE", revisions[0], 4)
    assert not stable_at_once(ecs)
    on_the_clock.sleep(DEPLOY / 2)
    service = describe(ecs)
    [primary] = service["deployments"]
    assert (primary["id"], primary["rolloutState"], primary["runningCount"]) == (new["id"], "COMPLETED", 4)
    assert service["events"][0]["message"] == "(service app) has reached a steady state."
    assert stable_at_once(ecs)


def test_a_deployment_goes_on_when_the_client_that_started_it_is_gone(clients, on_the_clock):
    """C-ECS-4: the deployment lives in ECS, not in the run that started it."""
    ecs, ec2 = clients
    fargate_service(ecs, ec2, desired=2)
    ecs.update_service(cluster="c", service="app", forceNewDeployment=True)
    on_the_clock.sleep(DEPLOY - 1)
    later_run = boto3.client("ecs", region_name=REGION)
    assert [d["rolloutState"] for d in describe(later_run)["deployments"]] == ["IN_PROGRESS", "IN_PROGRESS"]
    on_the_clock.sleep(1)
    assert [d["rolloutState"] for d in describe(later_run)["deployments"]] == ["COMPLETED"]


def test_a_failing_revision_trips_the_breaker_and_rolls_back_to_the_previous_one(clients, on_the_clock):
    """C-ECS-1: FAILED with its reason, a PRIMARY rollback of the previous revision that completes,
    service events and stopped tasks that say why."""
    ecs, ec2 = clients
    _, revisions = fargate_service(ecs, ec2, desired=2, deploymentConfiguration=BREAKER_ON,
                                   propagateTags="SERVICE", tags=[{"key": "stack", "value": "video"}])
    on_the_clock.sleep(DEPLOY)
    clock.fail("ecs-image", "nginx:2")
    ecs.update_service(cluster="c", service="app", taskDefinition=revisions[1])
    on_the_clock.sleep(DEPLOY)
    service = describe(ecs)
    back, failed, old = service["deployments"]
    assert (old["status"], old["rolloutState"], old["runningCount"]) == ("ACTIVE", "COMPLETED", 2)
    assert (failed["status"], failed["rolloutState"], failed["taskDefinition"]) == ("ACTIVE", "FAILED", revisions[1])
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["failedTasks"] == 3  # max(3, min(200, desired / 2))
    assert (back["status"], back["rolloutState"], back["taskDefinition"]) == ("PRIMARY", "IN_PROGRESS", revisions[0])
    assert service["taskDefinition"] == revisions[0]
    messages = [e["message"] for e in service["events"]]
    assert f"(service app) (deployment {failed['id']}) deployment failed: tasks failed to start." in messages
    assert f"(service app) (deployment {failed['id']}) rolling back to {revisions[0]}." in messages
    stopped = ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]
    assert len(stopped) == 3
    tasks = ecs.describe_tasks(cluster="c", tasks=stopped, include=["TAGS"])["tasks"]
    assert {(t["stoppedReason"], t["stopCode"]) for t in tasks} == {(
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref nginx:2: not found",
        "TaskFailedToStart")}
    assert {t["startedBy"] for t in tasks} == {failed["id"]}
    assert all(t["tags"] == [{"key": "stack", "value": "video"}] for t in tasks)
    on_the_clock.sleep(DEPLOY)
    [primary] = describe(ecs)["deployments"]
    assert (primary["id"], primary["rolloutState"], primary["runningCount"]) == (back["id"], "COMPLETED", 2)
    assert stable_at_once(ecs)  # the stock waiter calls a rolled-back service stable (C-ECS-1)


def test_a_first_deployment_that_fails_has_nothing_to_roll_back_to_and_stays_failed(clients, on_the_clock):
    """C-ECS-2."""
    ecs, ec2 = clients
    clock.fail("ecs-task-definition", "app:1", "Essential container in task exited")
    fargate_service(ecs, ec2, desired=2, deploymentConfiguration=BREAKER_ON)
    on_the_clock.sleep(DEPLOY * 10)
    service = describe(ecs)
    [primary] = service["deployments"]
    assert (primary["rolloutState"], primary["runningCount"], service["runningCount"]) == ("FAILED", 0, 0)
    tasks = ecs.describe_tasks(cluster="c", tasks=ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"])["tasks"]
    # It had started: AWS's stop code for an essential container that exited (Task.stopCode).
    assert {(t["lastStatus"], t["stoppedReason"], t["stopCode"]) for t in tasks} == {
        ("STOPPED", "Essential container in task exited", "EssentialContainerExited")}
    on_the_clock.sleep(DEPLOY * 10)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "FAILED"


def test_the_instant_clock_completes_a_failing_deployment_and_its_rollback_at_once(clients):
    """Without a controlled clock a marked failure still shows, its whole story already told."""
    ecs, ec2 = clients
    _, revisions = fargate_service(ecs, ec2, desired=2, deploymentConfiguration=BREAKER_ON)
    try:
        clock.fail("ecs-image", "nginx:2")
        ecs.update_service(cluster="c", service="app", taskDefinition=revisions[1])
        [primary] = describe(ecs)["deployments"]
        assert (primary["taskDefinition"], primary["rolloutState"]) == (revisions[0], "COMPLETED")
    finally:
        clock.reset()


# -- C-ECS-3: the breaker's threshold, one batch of failed tasks per task-start period ---------

TASK_START = clock.DURATIONS["ecs.task_start"]
BREAKER_NO_ROLLBACK = {**BREAKER_ON, "deploymentCircuitBreaker": {"enable": True, "rollback": False}}


@pytest.mark.parametrize(("desired", "threshold", "periods"), [(1, 3, 3), (2, 3, 2), (10, 5, 1), (400, 200, 1)])
def test_the_breaker_trips_when_failed_tasks_reach_max_3_min_200_half_the_desired_count(clients, on_the_clock, desired,
                                                                                        threshold, periods):
    """C-ECS-3 (ECS API reference, ServiceDeploymentCircuitBreaker.threshold: minimum 3, maximum
    200, 0.5 * desired task count). A first deployment launches all its desired tasks at once
    (maximumPercent 200, nothing running yet), one batch per task-start period."""
    ecs, ec2 = clients
    clock.fail("ecs-image", "nginx:1")
    fargate_service(ecs, ec2, desired=desired, deploymentConfiguration=BREAKER_NO_ROLLBACK)
    for period in range(periods):
        [primary] = describe(ecs)["deployments"]
        assert primary["rolloutState"] == "IN_PROGRESS"
        assert (primary["failedTasks"], primary["runningCount"], primary["pendingCount"]) == (period * desired, 0, desired)
        on_the_clock.sleep(TASK_START)
    service = describe(ecs)
    [primary] = service["deployments"]
    assert (primary["rolloutState"], primary["failedTasks"], primary["runningCount"]) == ("FAILED", threshold, 0)
    assert (service["runningCount"], service["pendingCount"]) == (0, 0)
    stopped = [e for e in service["events"] if "has stopped 1 running tasks" in e["message"]]
    assert len(stopped) == min(threshold, 100)  # one event per stored failed task


def test_a_small_service_fails_later_than_a_large_one(clients, on_the_clock):
    """C-ECS-3 "can take many minutes": desired 1 needs three failed launches in a row, desired 10
    has its threshold (5) in its first batch."""
    ecs, ec2 = clients
    clock.fail("ecs-image", "nginx:1")
    fargate_service(ecs, ec2, desired=1, deploymentConfiguration=BREAKER_NO_ROLLBACK)
    ecs.create_service(cluster="c", serviceName="big", taskDefinition="app:1", desiredCount=10, launchType="FARGATE",
                       networkConfiguration=describe(ecs)["networkConfiguration"], deploymentConfiguration=BREAKER_NO_ROLLBACK)
    on_the_clock.sleep(TASK_START)
    assert describe(ecs, "big")["deployments"][0]["rolloutState"] == "FAILED"
    assert describe(ecs)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    on_the_clock.sleep(2 * TASK_START)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "FAILED"


def test_a_rolling_update_launches_what_maximum_percent_leaves_room_for(clients, on_the_clock):
    """maximumPercent 150 beside 4 running tasks leaves room for 2 new ones a batch (ECS guide,
    "Rolling update deployments"): the threshold 3 is reached in the second period, and the old
    deployment keeps running meanwhile."""
    ecs, ec2 = clients
    config = {**BREAKER_ON, "maximumPercent": 150}
    _, revisions = fargate_service(ecs, ec2, desired=4, deploymentConfiguration=config)
    on_the_clock.sleep(DEPLOY)
    clock.fail("ecs-image", "nginx:2", "CannotPullContainerError: pull access denied")
    ecs.update_service(cluster="c", service="app", taskDefinition=revisions[1])
    on_the_clock.sleep(TASK_START)
    new, old = describe(ecs)["deployments"]
    assert (new["rolloutState"], new["failedTasks"], new["pendingCount"], new["runningCount"]) == ("IN_PROGRESS", 2, 2, 0)
    assert (old["status"], old["runningCount"]) == ("ACTIVE", 4)
    on_the_clock.sleep(TASK_START)
    back, failed, old = describe(ecs)["deployments"]
    assert (failed["rolloutState"], failed["failedTasks"]) == ("FAILED", 3)
    assert back["taskDefinition"] == revisions[0] and back["rolloutState"] == "IN_PROGRESS"
    tasks = ecs.describe_tasks(cluster="c", tasks=ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"])["tasks"]
    assert [t["stoppedReason"] for t in tasks] == ["CannotPullContainerError: pull access denied"] * 3
    started = [e["message"] for e in describe(ecs)["events"] if "has started" in e["message"]]
    assert [m.split(" tasks:")[0] for m in started] == ["(service app) has started 1", "(service app) has started 2"]


def test_without_the_breaker_failed_tasks_keep_counting_and_the_deployment_never_ends(clients, on_the_clock):
    ecs, ec2 = clients
    clock.fail("ecs-image", "nginx:1")
    fargate_service(ecs, ec2, desired=2)  # AWS's default: the breaker off
    on_the_clock.sleep(10 * TASK_START)
    [primary] = describe(ecs)["deployments"]
    assert (primary["rolloutState"], primary["failedTasks"], primary["pendingCount"]) == ("IN_PROGRESS", 20, 2)
    on_the_clock.sleep(TASK_START)
    assert describe(ecs)["deployments"][0]["failedTasks"] == 22


# -- D-ECS-1: a task that exited after RUNNING, in a service nothing health-checks ---------------

CRASH = "Essential container in task exited"


def crashing_revision(ecs, **container) -> str:
    """A revision whose essential container starts, then exits (``clock.fail`` by image)."""
    clock.fail("ecs-image", "worker:crash", CRASH)
    return ecs.register_task_definition(
        family="app", cpu="256", memory="512", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        containerDefinitions=[{"name": "app", "image": "worker:crash", **container}],
    )["taskDefinition"]["taskDefinitionArn"]


def stopped_tasks(ecs) -> list[dict]:
    return ecs.describe_tasks(cluster="c", tasks=ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"])["tasks"]


def test_tasks_that_exit_after_running_are_not_counted_by_the_breaker_and_the_deployment_stays_in_progress(
        clients, on_the_clock):
    """D-ECS-1, switched on: no load balancer, no health check: the breaker never trips, failedTasks stays 0,
    the old revision keeps running beside the deployment that goes on, and the tasks' stop code is
    EssentialContainerExited."""
    ecs, ec2 = clients
    clock.switch(ecs_deployments.EXITED_UNCOUNTED, True)
    _, revisions = fargate_service(ecs, ec2, desired=2, deploymentConfiguration=BREAKER_ON)
    on_the_clock.sleep(DEPLOY)
    crashing = crashing_revision(ecs)
    ecs.update_service(cluster="c", service="app", taskDefinition=crashing)
    on_the_clock.sleep(TASK_START * 10)
    new, old = describe(ecs)["deployments"]
    assert (new["taskDefinition"], new["rolloutState"], new["failedTasks"], new["runningCount"]) == (crashing, "IN_PROGRESS", 0, 0)
    assert (old["taskDefinition"], old["runningCount"]) == (revisions[0], 2)
    tasks = stopped_tasks(ecs)
    assert len(tasks) == 20  # two a period (maximumPercent 200 beside 2 running), ten periods
    assert {(t["stoppedReason"], t["stopCode"]) for t in tasks} == {(CRASH, "EssentialContainerExited")}
    assert not any("deployment failed" in e["message"] for e in describe(ecs)["events"])


def test_tasks_that_exit_after_running_count_where_a_health_check_watches_them(clients, on_the_clock):
    """D-ECS-1, switched on: with a container health check the breaker's second stage counts them: FAILED,
    rolled back."""
    ecs, ec2 = clients
    clock.switch(ecs_deployments.EXITED_UNCOUNTED, True)
    _, revisions = fargate_service(ecs, ec2, desired=2, deploymentConfiguration=BREAKER_ON)
    on_the_clock.sleep(DEPLOY)
    checked = crashing_revision(ecs, healthCheck={"command": ["CMD-SHELL", "true"], "interval": 10})
    ecs.update_service(cluster="c", service="app", taskDefinition=checked)
    on_the_clock.sleep(TASK_START * 2)
    failed = next(d for d in describe(ecs)["deployments"] if d["taskDefinition"] == checked)
    assert (failed["rolloutState"], failed["failedTasks"]) == ("FAILED", 3)
    assert describe(ecs)["taskDefinition"] == revisions[0]


def test_tasks_that_exit_after_running_count_while_the_switch_is_off(clients, on_the_clock):
    """Off by default: the breaker counts them (AWS's other answer, "might not activate")."""
    ecs, ec2 = clients
    fargate_service(ecs, ec2, desired=2, deploymentConfiguration=BREAKER_ON)
    on_the_clock.sleep(DEPLOY)
    crashing = crashing_revision(ecs)
    ecs.update_service(cluster="c", service="app", taskDefinition=crashing)
    on_the_clock.sleep(TASK_START * 2)
    failed = next(d for d in describe(ecs)["deployments"] if d["taskDefinition"] == crashing)
    assert failed["rolloutState"] == "FAILED"
    assert {t["stopCode"] for t in stopped_tasks(ecs)} == {"EssentialContainerExited"}

"""ECS deployments on the layer's clock: IN_PROGRESS, COMPLETED, FAILED and rolled back.

Reproduces aws-notes C-ECS-1, C-ECS-2, C-ECS-4 and the deployment part of A-28:

- C-ECS-1: "A deploy (UpdateService with a new revision) is a deployment IN_PROGRESS ->
  COMPLETED. With the circuit breaker and rollback on, a failing deployment ends FAILED and ECS
  starts a new PRIMARY deployment of the previous revision, which completes." ECS developer
  guide, "deployment failure detection": "The rollback method requires a previous deployment in
  COMPLETED state."
- C-ECS-2: "A first deployment that fails has nothing to roll back to: rolloutState FAILED,
  running 0, and it stays so."
- C-ECS-4: "A run killed during a deploy leaves the deployment going": the deployment lives on
  the clock, not in the client that started it.

A deployment takes ``clock.duration("ecs.deployment")`` (aws-timings.md: steady state +60-120 s).
Its tasks start in proportion to the time gone by (running/pending move). A deployment whose
task definition (``ecs-task-definition`` / ``family:revision``) or one of whose images
(``ecs-image`` / image) is marked failing (``clock.fail``) starts tasks that stop; after the
same duration the circuit breaker trips, having counted max(3, min(200, desired/2)) failed tasks
(C-ECS-3's threshold, ECS guide "deployment circuit breaker"). Those tasks are listed by
ListTasks(desiredStatus=STOPPED) with their ``stoppedReason`` and the service's tags when
``propagateTags`` is SERVICE. The service's ``events`` say what happened, newest first.

Without the breaker AWS keeps launching tasks that fail: the deployment stays IN_PROGRESS.

With the instant clock and nothing marked failing, ``ecs.py``'s immediate COMPLETED is used
unchanged. Running tasks are not modelled (ListTasks of a healthy service stays empty, as moto).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from moto.core.utils import utcnow
from moto.ecs import models
from moto.moto_api._internal import mock_random

from sandbox.fidelity import clock

DEFAULT_REASONS = {
    "ecs-image": "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: not found",
    "ecs-task-definition": "Essential container in task exited",
}


@dataclass
class Rollout:
    started: float
    failure: str | None  # the stoppedReason of its tasks, None when they start
    previous: str | None  # task definition of the last COMPLETED deployment
    settled: bool = False


def modelled() -> bool:
    """Whether deployments go through the clock: a test took the clock or marked a failure."""
    return clock.controlled() or clock.any_failure()


def _rollouts(service: Any) -> dict[str, Rollout]:
    if not hasattr(service, "_fidelity_rollouts"):
        service._fidelity_rollouts = {}
    return service._fidelity_rollouts


def _failure(backend: Any, task_definition_arn: str) -> str | None:
    definition = backend.describe_task_definition(task_definition_arn)
    marked, reason = clock.failing("ecs-task-definition", f"{definition.family}:{definition.revision}")
    if marked:
        return reason or DEFAULT_REASONS["ecs-task-definition"]
    for container in definition.container_definitions:
        image = container.get("image", "")
        marked, reason = clock.failing("ecs-image", image)
        if marked:
            return reason or DEFAULT_REASONS["ecs-image"].format(image=image)
    return None


def _event(service: Any, message: str) -> None:
    # DescribeServices lists a service's events newest first.
    service.events.insert(0, {"id": str(mock_random.uuid4()), "createdAt": utcnow(), "message": f"(service {service.name}) {message}"})


def start(backend: Any, service: Any, previous: str | None) -> None:
    """A new PRIMARY deployment (already ``service.deployments[0]``) starts now."""
    primary = service.deployments[0]
    definition = backend.describe_task_definition(service.task_definition)
    service.task_definition = definition.arn  # AWS answers the ARN, whatever form was given
    primary.update(taskDefinition=definition.arn, rolloutState="IN_PROGRESS", runningCount=0,
                   pendingCount=service.desired_count, desiredCount=service.desired_count, failedTasks=0,
                   rolloutStateReason=f"ECS deployment {primary['id']} in progress.")
    _rollouts(service)[primary["id"]] = Rollout(clock.now(), _failure(backend, definition.arn), previous)


def new_deployment(service: Any) -> None:
    """UpdateService with a new task definition (or forceNewDeployment): the old PRIMARY becomes
    ACTIVE, keeping its tasks until the new one has replaced them (rolling update)."""
    old = service.deployments[0] if service.deployments else None
    previous = None
    if old is not None:
        old["status"] = "ACTIVE"
        rollout = _rollouts(service).get(old["id"])
        completed = old.get("rolloutState") == "COMPLETED"
        previous = old["taskDefinition"] if completed else (rollout.previous if rollout else None)
    now = utcnow()
    fresh = {**(old or {}), "id": f"ecs-svc/{mock_random.randint(0, 32**12)}", "status": "PRIMARY", "createdAt": now,
             "updatedAt": now, "networkConfiguration": service.network_configuration or None}
    service.deployments = [fresh, *[d for d in service.deployments if d.get("rolloutState") != "FAILED"]]
    start(service._backend, service, previous)
    advance(service._backend, service)


def advance(backend: Any, service: Any) -> None:
    """Move the service's deployments to what AWS shows at the layer's "now"."""
    while service.deployments:
        primary = service.deployments[0]
        rollout = _rollouts(service).get(primary["id"])
        if rollout is None or rollout.settled or primary.get("rolloutState") != "IN_PROGRESS":
            break
        took = clock.duration("ecs.deployment")
        gone = clock.elapsed(rollout.started)
        desired = primary["desiredCount"]
        if gone < took:
            running = 0 if rollout.failure else math.floor(desired * gone / took)
            primary.update(runningCount=running, pendingCount=desired - running, updatedAt=utcnow())
            break
        if rollout.failure is None:
            _completed(service, primary)
        else:
            _tripped(backend, service, primary, rollout, at=rollout.started + took)
    service.running_count = sum(d.get("runningCount", 0) for d in service.deployments)
    service.pending_count = sum(d.get("pendingCount", 0) for d in service.deployments)


def _completed(service: Any, primary: dict) -> None:
    # ECS API reference, Deployment.rolloutState: COMPLETED "when the service reaches a steady
    # state"; the older deployments are drained and gone.
    desired = primary["desiredCount"]
    primary.update(runningCount=desired, pendingCount=0, rolloutState="COMPLETED", updatedAt=utcnow(),
                   rolloutStateReason=f"ECS deployment {primary['id']} completed.")
    service.deployments = [primary]
    _event(service, f"(deployment {primary['id']}) deployment completed.")
    _event(service, "has reached a steady state.")


def _tripped(backend: Any, service: Any, primary: dict, rollout: Rollout, at: float) -> None:
    desired = primary["desiredCount"]
    threshold = max(3, min(200, math.ceil(desired / 2)))
    stopped = _stopped_tasks(backend, service, primary, threshold, rollout.failure)
    _event(service, "has started {} tasks: {}.".format(len(stopped), " ".join(f"(task {t.id})" for t in stopped)))
    for task in stopped:
        _event(service, f"has stopped 1 running tasks: (task {task.id}).")
    breaker = (getattr(service, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
    if not breaker.get("enable"):
        # No breaker: ECS keeps replacing the failed tasks; the deployment never ends.
        primary.update(failedTasks=threshold, runningCount=0, pendingCount=desired, updatedAt=utcnow())
        rollout.settled = True
        return
    primary.update(rolloutState="FAILED", failedTasks=threshold, runningCount=0, pendingCount=0, updatedAt=utcnow(),
                   rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.")
    _event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
    if not (breaker.get("rollback") and rollout.previous):
        return  # C-ECS-2: FAILED, and it stays so.
    # C-ECS-1: a new PRIMARY deployment of the last completed revision.
    primary["status"] = "ACTIVE"
    now = utcnow()
    back = {**primary, "id": f"ecs-svc/{mock_random.randint(0, 32**12)}", "status": "PRIMARY", "createdAt": now, "updatedAt": now,
            "taskDefinition": rollout.previous, "rolloutState": "IN_PROGRESS", "failedTasks": 0, "runningCount": 0,
            "pendingCount": desired, "rolloutStateReason": f"ECS deployment circuit breaker: rolling back to deploymentId {primary['id']}."}
    service.deployments = [back, *service.deployments]
    service.task_definition = rollout.previous
    _event(service, f"(deployment {primary['id']}) rolling back to {rollout.previous}.")
    _rollouts(service)[back["id"]] = Rollout(at, _failure(backend, rollout.previous), None)


def _stopped_tasks(backend: Any, service: Any, primary: dict, count: int, reason: str) -> list:
    """The tasks the breaker counted: started, then stopped with ``reason`` (DescribeTasks,
    ListTasks desiredStatus=STOPPED)."""
    cluster = backend.clusters[service.cluster_name]
    definition = backend.describe_task_definition(primary["taskDefinition"])
    tags = service.tags if service.propagate_tags == "SERVICE" else []
    # moto's Task cannot create an awsvpc task's ENI (its NetworkInterface has no
    # private_dns_name): build it as a task without networking, then record the attachment a
    # stopped Fargate task keeps, its ENI already released ("DELETED").
    bare = copy.copy(definition)
    bare.network_mode = "bridge"
    subnets = ((service.network_configuration or {}).get("awsvpcConfiguration") or {}).get("subnets") or []
    tasks = []
    for _ in range(count):
        task = models.Task(cluster, bare, None, None, backend=backend, group=f"service:{service.name}",
                           launch_type=service.launch_type or "", started_by=primary["id"], tags=list(tags),
                           platform_version=service.platform_version)
        if definition.network_mode == "awsvpc":
            task.attachments = [{"id": str(mock_random.uuid4()), "type": "ElasticNetworkInterface", "status": "DELETED",
                                 "details": [{"name": "subnetId", "value": subnets[0]}] if subnets else []}]
        task.desired_status = "STOPPED"
        task.last_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = "TaskFailedToStart"
        task.stopped_at = utcnow()
        backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        tasks.append(task)
    return tasks


def _patch_describe_services(original):
    def describe_services(self, cluster_str, service_names_or_arns):
        """Lazily on read: the services answered are moved to "now" first."""
        found, failures = original(self, cluster_str, service_names_or_arns)
        for service in found:
            advance(self, service)
        return found, failures

    describe_services.fidelity = True
    return describe_services


def _patch_list_tasks(original):
    def list_tasks(self, *args, **kwargs):
        """Tasks stopped by a deployment exist once that deployment has been advanced."""
        for service in list(self.services.values()):
            advance(self, service)
        return original(self, *args, **kwargs)

    list_tasks.fidelity = True
    return list_tasks


def apply() -> None:
    backend = models.EC2ContainerServiceBackend
    if getattr(backend.describe_services, "fidelity", False):
        return
    backend.describe_services = _patch_describe_services(backend.describe_services)
    backend.list_tasks = _patch_list_tasks(backend.list_tasks)

"""ECS deployments on the layer's clock: IN_PROGRESS, COMPLETED, FAILED and rolled back.

Reproduces docs/aws-behaviours.md C-ECS-1, C-ECS-2, C-ECS-4 and the deployment part of A-28:

- C-ECS-1: "A deploy (UpdateService with a new revision) is a deployment IN_PROGRESS ->
  COMPLETED. With the circuit breaker and rollback on, a failing deployment ends FAILED and ECS
  starts a new PRIMARY deployment of the previous revision, which completes." ECS developer
  guide, "deployment failure detection": "The rollback method requires a previous deployment in
  COMPLETED state."
- C-ECS-2: "A first deployment that fails has nothing to roll back to: rolloutState FAILED,
  running 0, and it stays so."
- C-ECS-4: "A run killed during a deploy leaves the deployment going": the deployment lives on
  the clock, not in the client that started it.

A deployment takes ``clock.duration("ecs.deployment")`` (T-1.1: steady state +60-120 s).
Its tasks start in proportion to the time gone by (running/pending move). A deployment whose
task definition (``ecs-task-definition`` / ``family:revision``) or one of whose images
(``ecs-image`` / image) is marked failing (``clock.fail``) starts tasks that stop:

- C-ECS-3: "The breaker trips after max(3, min(200, desired/2)) failed tasks, which can take many
  minutes". ECS API reference, ServiceDeploymentCircuitBreaker.threshold: "The deployment circuit
  breaker has a minimum threshold of 3 and a maximum threshold of 200. and uses the values in the
  following formula to determine the deployment failure. 0.5 * desired task count" (rounded up
  here: the reference does not say how a half is rounded). The scheduler launches a batch of
  tasks per ``clock.duration("ecs.task_start")`` (T-1.2: "new task start (~1 min)"):
  as many as ``maximumPercent`` leaves room for beside the tasks still running, at least one.
  Each batch's tasks fail at the end of its period; ``failedTasks`` counts them up and the
  deployment turns FAILED only when the count reaches the threshold. So a service of desired 1
  (threshold 3, one task a batch) fails after three periods, one of desired 10 (threshold 5, ten
  tasks a batch) after the first; while a batch is starting its tasks are ``pendingCount``, never
  ``runningCount``.
- The failed tasks are listed by ListTasks(desiredStatus=STOPPED) with their ``stoppedReason``,
  ``stopCode`` and the service's tags when ``propagateTags`` is SERVICE; the service's ``events``
  say "has started N tasks" per batch and "has stopped 1 running tasks" per failure, newest
  first. The stop code is AWS's (API reference, Task.stopCode; ECS guide, "Stopped tasks error
  codes"): ``EssentialContainerExited`` for a task whose essential container exited ("Essential
  container in task exited": it had started), ``TaskFailedToStart`` for one that never started
  (CannotPullContainerError, ResourceInitializationError, ...).
- D-ECS-1 (off by default; ``clock.switch(EXITED_UNCOUNTED, True)`` turns it on): a task that
  reached RUNNING and then stopped with EssentialContainerExited, in a service with no load
  balancer, no service registry and no container health check, is not a failure the breaker
  counts. ECS API reference, Deployment.failedTasks: "A task is considered a failure if the
  service scheduler can't launch the task, the task doesn't transition to a RUNNING state, or if it
  fails any of its defined health checks and is stopped"; ECS guide, "How the Amazon ECS
  deployment circuit breaker detects failures": stage 1 watches tasks reach RUNNING, stage 2 the
  health checks; AWS re:Post "ecs-deployment-roll-back-failure": "If a task successfully starts,
  passes the dependent health checks, but then stops, then the circuit breaker might not
  activate." So ``failedTasks`` stays 0, the breaker never trips and the deployment stays
  IN_PROGRESS while the scheduler keeps replacing the tasks. Off, such tasks count as they did
  (the other answer AWS gives: "might").

Without the breaker AWS keeps launching tasks that fail: the deployment stays IN_PROGRESS and
``failedTasks`` keeps counting (the stopped tasks kept for ListTasks are capped, see
``MAX_STOPPED_TASKS``).

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


# D-ECS-1: the switch that stops counting tasks that exited after RUNNING (see the docstring).
EXITED_UNCOUNTED = "ecs-exited-after-running-uncounted"
EXITED = "EssentialContainerExited"
NEVER_STARTED = "TaskFailedToStart"


def stop_code(reason: str) -> str:
    """AWS's stopCode for a task that stopped with ``reason``: an essential container that exited
    had started; anything else the layer fails a task with is a task that never started."""
    return EXITED if reason.startswith("Essential container in task exited") else NEVER_STARTED


# ECS keeps a stopped task listed "for at least one hour" (ECS guide); a deployment failing
# without the breaker for hours would otherwise pile up thousands of task objects in moto.
MAX_STOPPED_TASKS = 100


@dataclass
class Rollout:
    started: float
    failure: str | None  # the stoppedReason of its tasks, None when they start
    previous: str | None  # task definition of the last COMPLETED deployment
    settled: bool = False
    batch: int = 1  # tasks launched per task-start period (C-ECS-3)
    batches: int = 0  # batches launched so far
    failed: int = 0  # failedTasks so far
    stopped: int = 0  # tasks stopped so far, counted by the breaker or not (D-ECS-1)


def threshold(desired: int) -> int:
    """C-ECS-3: max(3, min(200, 0.5 * desired)); ECS API reference,
    ServiceDeploymentCircuitBreaker.threshold."""
    return max(3, min(200, math.ceil(desired / 2)))


def batch_size(service: Any, desired: int, still_running: int) -> int:
    """Tasks the scheduler launches at once for a new deployment: ``maximumPercent`` of desired,
    less the tasks of older deployments still running (ECS guide, "Rolling update
    deployments"), at least one, at most desired."""
    maximum = (getattr(service, "deployment_configuration", None) or {}).get("maximumPercent") or 200
    room = math.floor(desired * maximum / 100) - still_running
    return max(1, min(desired, room))


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


def _health_checked(backend: Any, service: Any, task_definition_arn: str) -> bool:
    """A load balancer, a service registry or a container health check: stage 2 of the breaker
    watches the task after RUNNING."""
    if service.load_balancers or getattr(service, "service_registries", None):
        return True
    definition = backend.describe_task_definition(task_definition_arn)
    return any(c.get("healthCheck") for c in definition.container_definitions)


def counted(backend: Any, service: Any, primary: dict, reason: str) -> bool:
    """Whether the breaker counts a task stopped with ``reason`` (D-ECS-1, with its switch on:
    not one that exited after RUNNING in a service nothing health-checks)."""
    if stop_code(reason) != EXITED or not clock.switched(EXITED_UNCOUNTED):
        return True
    return _health_checked(backend, service, primary["taskDefinition"])


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
    still_running = sum(d.get("runningCount", 0) for d in service.deployments[1:])
    _rollouts(service)[primary["id"]] = Rollout(clock.now(), _failure(backend, definition.arn), previous,
                                                batch=batch_size(service, service.desired_count, still_running))


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
        if rollout.failure is not None:
            if not _failing(backend, service, primary, rollout):
                break
            continue  # tripped: the rollback deployment (if any) is now PRIMARY
        took = clock.duration("ecs.deployment")
        gone = clock.elapsed(rollout.started)
        desired = primary["desiredCount"]
        if gone < took:
            running = math.floor(desired * gone / took)
            primary.update(runningCount=running, pendingCount=desired - running, updatedAt=utcnow())
            break
        _completed(service, primary)
    service.running_count = sum(d.get("runningCount", 0) for d in service.deployments)
    service.pending_count = sum(d.get("pendingCount", 0) for d in service.deployments)


def _failing(backend: Any, service: Any, primary: dict, rollout: Rollout) -> bool:
    """C-ECS-3: a batch of tasks fails per task-start period until the breaker's threshold is
    reached. Returns True when the deployment tripped (FAILED) on the clock's "now"."""
    desired = primary["desiredCount"]
    limit = threshold(desired)
    breaker = (getattr(service, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
    counts = counted(backend, service, primary, rollout.failure)
    trips = breaker.get("enable") and counts
    period = clock.duration("ecs.task_start")
    gone = clock.elapsed(rollout.started)
    if math.isinf(gone):
        # Instant clock: the whole story is told at once; without the breaker (or with tasks it
        # does not count, D-ECS-1) it is told up to the threshold, then the deployment is left going.
        ended = math.ceil(limit / rollout.batch)
    else:
        ended = int(gone // period)
    while rollout.batches < ended:
        rollout.batches += 1
        # A batch's tasks start one after another; the breaker trips on the threshold-th failure
        # and no further task of that batch is launched.
        stopped = min(rollout.batch, limit - rollout.failed) if trips else rollout.batch
        launched = _stopped_tasks(backend, service, primary, stopped, rollout.failure,
                                  keep=max(0, MAX_STOPPED_TASKS - rollout.stopped))
        listed = "".join(f" (task {t.id})" for t in launched)
        _event(service, f"has started {stopped} tasks:{listed}.")
        for task in launched:
            _event(service, f"has stopped 1 running tasks: (task {task.id}).")
        rollout.stopped += stopped
        rollout.failed += stopped if counts else 0
        if trips and rollout.failed >= limit:
            _tripped(backend, service, primary, rollout, at=rollout.started + rollout.batches * period)
            return True
    if math.isinf(gone) and not trips:
        rollout.settled = True
    # The batch being started: its tasks are PROVISIONING/PENDING, none RUNNING.
    primary.update(failedTasks=rollout.failed, runningCount=0, pendingCount=min(desired, rollout.batch), updatedAt=utcnow())
    return False


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
    breaker = (getattr(service, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
    primary.update(rolloutState="FAILED", failedTasks=rollout.failed, runningCount=0, pendingCount=0, updatedAt=utcnow(),
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
    still_running = sum(d.get("runningCount", 0) for d in service.deployments[1:])
    _rollouts(service)[back["id"]] = Rollout(at, _failure(backend, rollout.previous), None,
                                             batch=batch_size(service, desired, still_running))


def _stopped_tasks(backend: Any, service: Any, primary: dict, count: int, reason: str, keep: int) -> list:
    """One batch of tasks: started, then stopped with ``reason`` (DescribeTasks, ListTasks
    desiredStatus=STOPPED). Only the first ``keep`` are stored (``MAX_STOPPED_TASKS``)."""
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
    for _ in range(min(count, keep)):
        task = models.Task(cluster, bare, None, None, backend=backend, group=f"service:{service.name}",
                           launch_type=service.launch_type or "", started_by=primary["id"], tags=list(tags),
                           platform_version=service.platform_version)
        if definition.network_mode == "awsvpc":
            task.attachments = [{"id": str(mock_random.uuid4()), "type": "ElasticNetworkInterface", "status": "DELETED",
                                 "details": [{"name": "subnetId", "value": subnets[0]}] if subnets else []}]
        task.desired_status = "STOPPED"
        task.last_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = stop_code(reason)
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

"""ECS services that start their tasks and keep their deployment configuration, as on AWS.

moto 5.2.5 never starts a service's tasks: ``runningCount`` stays 0 and the PRIMARY deployment
``IN_PROGRESS`` unless ``MOTO_ECS_SERVICE_RUNNING`` was set when the service was created, and an
``UpdateService`` leaves the deployment as it was (docs/aws-behaviours.md A-28), so a service never reaches
the steady state that ``services_stable`` and the orchestrator wait for. It also answers
``deploymentConfiguration: null`` for a service created with one, so the circuit breaker the
stack turns on can never be read back.

These patches reproduce the end state AWS reaches when the tasks start (image pulled, container
healthy). The minutes it takes and failing tasks are ``ecs_deployments.py``'s, on the layer's
clock, once a test takes the clock or marks something failing.
"""
from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow
from moto.ecs import models, responses
from moto.moto_api._internal import mock_random

from sandbox.fidelity import ecs_deployments

# DescribeServices on AWS for a REPLICA service created without a deploymentConfiguration.
AWS_DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


def tasks_started(service: Any) -> None:
    """AWS: the service scheduler starts tasks until ``runningCount == desiredCount``.

    Once every task of the PRIMARY deployment runs, the deployment's ``rolloutState`` becomes
    ``COMPLETED`` (ECS API Reference, Deployment.rolloutState: "COMPLETED when the service
    reaches a steady state"), and the older deployments are gone.
    """
    service.running_count = service.desired_count
    service.pending_count = 0
    if not service.deployments:
        return
    primary = service.deployments[0]
    primary.update(
        desiredCount=service.desired_count,
        runningCount=service.desired_count,
        pendingCount=0,
        rolloutState="COMPLETED",
        rolloutStateReason=f"ECS deployment {primary['id']} completed.",
        updatedAt=utcnow(),
    )
    service.deployments = [primary]


def _patch_service_init(original):
    def __init__(self, *args, **kwargs):
        """AWS: a new service's tasks start (CreateService); see ``tasks_started``."""
        original(self, *args, **kwargs)
        if ecs_deployments.modelled() and self.deployments and self.task_definition:
            ecs_deployments.start(self._backend, self, previous=None)
        else:
            tasks_started(self)

    __init__.fidelity = True
    return __init__


def _patch_update_service(original):
    def update_service(self, service_properties: dict[str, Any]):
        """AWS: UpdateService with a new task definition or network configuration starts a new
        PRIMARY deployment, which replaces the old one once its tasks run; a new desired count
        is reached by the same deployment (ECS Developer Guide, "Rolling update deployments").
        """
        forced = bool(service_properties.get("force_new_deployment"))
        if ecs_deployments.modelled():
            # The deployments as they are "now" are what this update replaces.
            try:
                current = self._get_service(service_properties.get("cluster", "default"), service_properties["service"].split("/")[-1])
            except Exception:  # moto's own call below answers the error
                current = None
            if current is not None:
                ecs_deployments.advance(self, current)
        service = original(self, service_properties)
        if ecs_deployments.modelled() and service.deployments:
            return _update_on_the_clock(self, service, forced)
        if service.deployments:
            primary = service.deployments[0]
            network = service.network_configuration or None
            moved = primary.get("taskDefinition") != service.task_definition
            if moved or (primary.get("networkConfiguration") or None) != network:
                primary.update(
                    id=f"ecs-svc/{mock_random.randint(0, 32**12)}",
                    createdAt=utcnow(),
                    taskDefinition=service.task_definition,
                    networkConfiguration=network,
                )
        tasks_started(service)
        return service

    update_service.fidelity = True
    return update_service


def _update_on_the_clock(backend, service, forced: bool):
    primary = service.deployments[0]
    definition = backend.describe_task_definition(service.task_definition).arn
    network = service.network_configuration or None
    if forced or primary.get("taskDefinition") != definition or (primary.get("networkConfiguration") or None) != network:
        ecs_deployments.new_deployment(service)
        return service
    # A new desired count only: the same deployment reaches it (at once when it had completed).
    primary["desiredCount"] = service.desired_count
    if primary.get("rolloutState") == "COMPLETED":
        tasks_started(service)
    ecs_deployments.advance(backend, service)
    return service


def _patch_create_service_response(original):
    def create_service(self):
        """AWS: the service keeps the ``deploymentConfiguration`` it was created with, AWS's
        defaults filling what was not given (DescribeServices; moto answers null, A-28).
        UpdateService already keeps the one it is given in moto.
        """
        result = original(self)
        given = self._get_param("deploymentConfiguration") or {}
        result.result["service"].deployment_configuration = {**AWS_DEFAULT_DEPLOYMENT_CONFIGURATION, **given}
        return result

    create_service.fidelity = True
    return create_service


def apply() -> None:
    if getattr(models.Service.__init__, "fidelity", False):
        return
    models.Service.__init__ = _patch_service_init(models.Service.__init__)
    backend = models.EC2ContainerServiceBackend
    backend.update_service = _patch_update_service(backend.update_service)
    response = responses.EC2ContainerServiceResponse
    response.create_service = _patch_create_service_response(response.create_service)

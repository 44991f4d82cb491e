"""ECS services that start their tasks and keep their deployment configuration, as on AWS.

moto 5.2.5 never starts a service's tasks: ``runningCount`` stays 0 and the PRIMARY deployment
``IN_PROGRESS`` unless ``MOTO_ECS_SERVICE_RUNNING`` was set when the service was created, and an
``UpdateService`` leaves the deployment as it was (aws-notes A-28), so a service never reaches
the steady state that ``services_stable`` and the orchestrator wait for. It also answers
``deploymentConfiguration: null`` for a service created with one, so the circuit breaker the
stack turns on can never be read back.

These patches reproduce the end state AWS reaches when the tasks start (image pulled, container
healthy); they do not model the minutes it takes or a failing task.
"""
from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow
from moto.ecs import models, responses
from moto.moto_api._internal import mock_random

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
        tasks_started(self)

    __init__.fidelity = True
    return __init__


def _patch_update_service(original):
    def update_service(self, service_properties: dict[str, Any]):
        """AWS: UpdateService with a new task definition or network configuration starts a new
        PRIMARY deployment, which replaces the old one once its tasks run; a new desired count
        is reached by the same deployment (ECS Developer Guide, "Rolling update deployments").
        """
        service = original(self, service_properties)
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

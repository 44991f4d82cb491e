"""Fargate service: private subnets, no public IP, circuit breaker, steady state waited for."""
from __future__ import annotations

import collections
from typing import Any

import structlog
from botocore.exceptions import ClientError

from resources.aws import error_code
from resources.aws.permissions import arn, reads, service_linked_role, writes
from resources.base import Change, Field, Observed, OnFailed, Refresh, ResourceError, Status, owned_by
from resources.compute.ecs_common import (
    CLUSTER_ARN,
    EcsHandler,
    IAM_NOT_READY,
    IAM_PROPAGATION,
    NOT_IDEMPOTENT,
    ROLE_NOT_ASSUMABLE,
    SERVICE_GONE,
    SERVICE_LINKED_ROLE_MISSING,
    ecs_tag_dict,
    ecs_tagging,
    ecs_tags,
    error_message,
)

log = structlog.get_logger()


def service_location(service_arn: str) -> tuple[str, str]:
    """(cluster, service) from a long-format ARN: arn:aws:ecs:region:account:service/cluster/name."""
    parts = service_arn.split(":", 5)[-1].split("/")
    if len(parts) != 3:
        raise ResourceError(f"ECS service ARN {service_arn} is not in the long format (service/cluster/name)")
    return parts[1], parts[2]


def status_of(service: dict) -> Refresh:
    """Pending while a deployment runs (docs/aws-behaviours.md C-ECS-4: a run killed during a deploy leaves it
    going, and the next one waits for it); failed once the circuit breaker stopped one (C-ECS-1,
    C-ECS-2), with AWS's reason."""
    status = service["status"]
    if status == "INACTIVE":
        return Refresh(Status.GONE, status)
    if status == "DRAINING":
        # B-ECS-3: deleted, its tasks stopping; the name cannot be created again until INACTIVE.
        return Refresh(Status.DELETING, "draining")
    if status != "ACTIVE":
        return Refresh(Status.PENDING, status.lower())
    deployments = service.get("deployments") or []
    failed = [d for d in deployments if d.get("rolloutState") == "FAILED"]
    if failed:
        # The deployment circuit breaker stopped the rollout (and rolls back when configured).
        return Refresh(Status.FAILED, failed[0].get("rolloutStateReason") or "deployment failed")
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    # The services_stable rule: one deployment left and every desired task running.
    if len(deployments) == 1 and deployments[0].get("status") == "PRIMARY" and running == desired:
        return Refresh(Status.READY, "steady")
    return Refresh(Status.PENDING, f"{running}/{desired} tasks running, {len(deployments)} deployments")


def deployment_counts(deployment: dict) -> str:
    """"deployment IN_PROGRESS: desired 1, running 0, failed 0" (failed: what the breaker counts)."""
    return (f"deployment {deployment.get('rolloutState', '?')}: desired {deployment.get('desiredCount', 0)}, "
            f"running {deployment.get('runningCount', 0)}, failed {deployment.get('failedTasks', 0)}")


def stop_summary(tasks: list[dict]) -> str:
    """The stopped tasks by stop code and reason, most frequent first: "3 EssentialContainerExited
    (Essential container in task exited)"."""
    seen = collections.Counter((t.get("stopCode", "no stop code"), t.get("stoppedReason", "no reason given")) for t in tasks)
    return "; ".join(f"{n} {code} ({reason})" for (code, reason), n in seen.most_common()) or "none stopped"


# What UpdateService can change in place (loadBalancers and propagateTags included nowadays).
UPDATABLE = frozenset({
    "task_definition", "desired_count", "subnet_ids", "security_group_ids", "assign_public_ip",
    "circuit_breaker", "load_balancers", "propagate_tags",
    # The engine's synthetic change after a failed deployment or --redeploy: deploy again.
    "deployment",
})
LOAD_BALANCER_KEYS = ("targetGroupArn", "loadBalancerName", "containerName", "containerPort")


def normal_load_balancers(lbs: list[dict] | None) -> list[dict]:
    kept = [{k: lb[k] for k in LOAD_BALANCER_KEYS if lb.get(k) is not None} for lb in lbs or []]
    return sorted(kept, key=lambda lb: [str(lb.get(k)) for k in LOAD_BALANCER_KEYS])


def observe_service(service: dict) -> Observed:
    vpc = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    attrs = {
        "cluster": service["clusterArn"],
        "task_definition": service.get("taskDefinition"),
        "desired_count": service.get("desiredCount"),
        "launch_type": service.get("launchType"),
        "subnet_ids": sorted(vpc.get("subnets") or []),
        "security_group_ids": sorted(vpc.get("securityGroups") or []),
        "assign_public_ip": vpc.get("assignPublicIp", "DISABLED"),
        "load_balancers": normal_load_balancers(service.get("loadBalancers")),
        "circuit_breaker": {"enable": bool(breaker.get("enable")), "rollback": bool(breaker.get("rollback"))},
        "propagate_tags": service.get("propagateTags") or "NONE",
    }
    return Observed(service["serviceArn"], attrs, ecs_tag_dict(service.get("tags")), service)


SERVICE_ARN = arn("ecs", "service/video-processing-{env}/{name}")


class Service(EcsHandler):
    kind = "ecs_service"
    iam = (
        reads("ecs:DescribeServices", arns=(SERVICE_ARN,)),
        reads("ecs:ListTasks", arns=(arn("ecs", "container-instance/video-processing-{env}/*"),),
              condition={"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}),
        reads("ecs:DescribeTasks", arns=(arn("ecs", "task/video-processing-{env}/*"),)),
        writes("ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", arns=(SERVICE_ARN,)),
        ecs_tagging(SERVICE_ARN),
        service_linked_role("ecs.amazonaws.com", ""),
    )
    expected_seconds = 75
    expected_delete_seconds = 90  # drain to INACTIVE, 1-2 min (est.), T-1.3
    create_timeout = 20 * 60  # Terraform's default; steady state typically 60-120 s
    # A deployment (UpdateService with a new revision, rolling): 2-6 min (est.), longer with a
    # load balancer's deregistration delay; Terraform's default is 20 min (T-1.2).
    # Also how long a run waits for a deployment an earlier run left going (C-ECS-4). The
    # update's own deadline: a deployment whose tasks exit after RUNNING may never be FAILED by
    # the breaker (D-ECS-1), so this, not ECS, ends the wait (explain names why).
    update_timeout = 20 * 60
    delete_timeout = 20 * 60  # DRAINING has been seen to last more than 5 minutes
    poll_ceiling = 10
    not_found = SERVICE_GONE
    # A deployment that failed or was rolled back (C-ECS-1/2) is repaired by deploying again:
    # the next run never calls it unchanged, and a fixed image needs no teardown.
    on_failed = OnFailed.UPDATE
    # UpdateService during a deployment starts a new one; the one in progress drains (D-ECS-1).
    update_supersedes_pending = True
    fields = {
        "cluster": Field(str, Change.REPLACE, why="a service never moves to another cluster"),
        # A literal, for lookups where the cluster ARN is unknown (teardown without state).
        "cluster_name": Field(str, create_only=True),
        # A new deployment, rolling (minimumHealthyPercent 100): no downtime.
        "task_definition": Field(str),
        "desired_count": Field(int),
        "launch_type": Field(str, Change.REPLACE, why="UpdateService has no launchType"),
        "subnet_ids": Field(list),
        "security_group_ids": Field(list),
        "assign_public_ip": Field(str),
        "load_balancers": Field(list),
        "circuit_breaker": Field(dict),
        "propagate_tags": Field(str),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._progress: dict[str, dict] = {}  # the last deployment counts logged, per service

    def desired(self, spec):
        breaker = spec["circuit_breaker"]
        return {
            **spec,
            "subnet_ids": sorted(spec["subnet_ids"], key=str),
            "security_group_ids": sorted(spec["security_group_ids"], key=str),
            "load_balancers": normal_load_balancers(spec["load_balancers"]),
            "circuit_breaker": {"enable": bool(breaker["enable"]), "rollback": bool(breaker["rollback"])},
        }

    def _describe_in(self, cluster: str, name_or_arn: str) -> dict | None:
        """The service in any status (ACTIVE, DRAINING, INACTIVE), None when MISSING."""
        answer = self.client.describe_services(cluster=cluster, services=[name_or_arn], include=["TAGS"])
        return answer["services"][0] if answer["services"] else None

    def describe(self, resource_id):
        return self._describe_in(service_location(resource_id)[0], resource_id)

    # DescribeServices takes up to 10 services of one cluster.
    batch_size = 10

    def batch_group(self, resource_id):
        return service_location(resource_id)[0]

    def describe_many(self, ids):
        answer = self.client.describe_services(cluster=self.batch_group(ids[0]), services=ids, include=["TAGS"])
        return {s["serviceArn"]: s for s in answer["services"]}

    def observe(self, raw):
        return observe_service(raw)

    def explain(self, obs):
        """A deploy that did not end as asked (C-ECS-1/2): the revision running and the breaker's
        reason, then the latest service events and why the last tasks stopped. One the deadline
        ended while it was still in progress (D-ECS-1: tasks that exit after RUNNING, which the
        breaker may never count): its counts and its tasks' stop codes and reasons."""
        service = obs.raw
        deployments = service.get("deployments") or []
        running = self._running_revision(service, deployments)
        failed = next((d for d in deployments if d.get("rolloutState") == "FAILED"), None)
        events = [e.get("message", "") for e in (service.get("events") or [])[:5]]
        reason = self._failure_reason(failed, events)
        tasks = self._stopped_tasks(obs.id)
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        if failed is None and primary.get("rolloutState") == "IN_PROGRESS":
            deploying = (primary.get("taskDefinition") or "?").rsplit("/", 1)[-1]
            return [f"{deploying} never reached a steady state: {deployment_counts(primary)}; "
                    f"the last stopped tasks: {stop_summary(tasks)}", *(f"event: {e}" for e in events)]
        # C-ECS-1: the requested revision too. The failed deployment still names it while ECS
        # lists it beside the rollback; once it is gone the read-back's diff names it instead.
        requested = ((failed or {}).get("taskDefinition") or "").rsplit("/", 1)[-1]
        instead = f", not the requested {requested}" if requested and requested != running else ""
        return [
            f"running {running}{instead}: {reason}",
            *(f"event: {e}" for e in events),
            *(f"stopped task {t['taskArn'].rsplit('/', 1)[-1]}: {t.get('stoppedReason', 'no reason given')}" for t in tasks),
        ]

    @staticmethod
    def _running_revision(service: dict, deployments: list[dict]) -> str:
        """The task definition revision (family:N) of the primary deployment, else the service's."""
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        return (primary.get("taskDefinition") or service.get("taskDefinition") or "?").rsplit("/", 1)[-1]

    @staticmethod
    def _failure_reason(failed: dict | None, events: list[str]) -> str:
        """The failed deployment's own reason, else the first event that tells of the failure."""
        said = [e for marker in ("deployment failed", "circuit breaker", "rolling back") for e in events if marker in e]
        return (failed or {}).get("rolloutStateReason") or (said[0].split(") ", 1)[-1] if said else "no reason given")

    def _stopped_tasks(self, service_id: str) -> list[dict]:
        """The service's last five stopped tasks, described (each with why it stopped)."""
        cluster, name = service_location(service_id)
        stopped = self.client.list_tasks(cluster=cluster, serviceName=name, desiredStatus="STOPPED")["taskArns"][:5]
        return self.client.describe_tasks(cluster=cluster, tasks=stopped)["tasks"] if stopped else []

    def status(self, raw):
        return status_of(raw)

    def readiness(self, raw):
        """``status``; while a deployment is in progress, its counts are logged as they change: the
        progress of a wait that may end at the update's deadline rather than by ECS (D-ECS-1)."""
        refresh = status_of(raw)
        primary = next((d for d in raw.get("deployments") or [] if d.get("status") == "PRIMARY"), {})
        if refresh.status is Status.PENDING and primary.get("rolloutState") == "IN_PROGRESS":
            counts = {k: primary.get(k, 0) for k in ("desiredCount", "runningCount", "pendingCount", "failedTasks")}
            if self._progress.get(raw["serviceArn"]) != counts:
                self._progress[raw["serviceArn"]] = counts
                log.info("ecs_deployment_progress", service=raw.get("serviceName"), deployment=primary.get("id"),
                         desired=counts["desiredCount"], running=counts["runningCount"],
                         pending=counts["pendingCount"], failed=counts["failedTasks"])
        return refresh

    def list_owned(self, spec):
        # cluster_name is a literal, so this works in teardown where the cluster ARN is unknown.
        # Service names are unique in their cluster: the name is the lookup.
        try:
            raw = self._describe_in(spec["cluster_name"], spec["name"])
        except ClientError as exc:
            # ClusterNotFoundException: a cluster that is gone holds no service.
            if error_code(exc) in self.not_found:
                return []
            raise
        # B-ECS-3: DRAINING and INACTIVE services are on their way out, not live.
        if raw is None or self.status(raw).status in (Status.DELETING, Status.GONE):
            return []
        found = self.observe(raw)
        return [found] if owned_by(found.tags, spec) else []

    @staticmethod
    def _network(spec: dict) -> dict:
        # Always with securityGroups: without them the VPC's default group applies (and moto
        # crashes, A-28).
        return {"awsvpcConfiguration": {
            "subnets": spec["subnet_ids"],
            "securityGroups": spec["security_group_ids"],
            "assignPublicIp": spec["assign_public_ip"],
        }}

    @staticmethod
    def _deployment(spec: dict) -> dict:
        return {
            "deploymentCircuitBreaker": dict(spec["circuit_breaker"]),
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }

    def create(self, spec, token):
        try:
            answer = self._call_when_roles_ready(
                self.client.create_service,
                cluster=spec["cluster"],
                serviceName=spec["name"],
                taskDefinition=spec["task_definition"],
                desiredCount=spec["desired_count"],
                launchType=spec["launch_type"],
                # B-ECS-5: the same token after a lost answer returns the same service.
                clientToken=token,
                networkConfiguration=self._network(spec),
                deploymentConfiguration=self._deployment(spec),
                loadBalancers=spec["load_balancers"],
                tags=ecs_tags(spec["tags"]),
                propagateTags=spec["propagate_tags"],
                enableECSManagedTags=True,
            )
        except ClientError as exc:
            if NOT_IDEMPOTENT not in error_message(exc).lower():
                raise
            # B-ECS-3: the name is taken by a live service; if it is ours, carry on with it.
            found = self.list_owned(spec)
            if not found:
                raise ResourceError(
                    f"ECS service {spec['name']}: the name is taken by a service that is not ours or still DRAINING "
                    f"({error_message(exc)}); retry once it is INACTIVE"
                ) from exc
            return found[0].id
        return answer["service"]["serviceArn"]

    def update_fields(self, spec, obs, diffs):
        fields = {d.field for d in diffs}
        if fields - UPDATABLE:
            super().update_fields(spec, obs, [d for d in diffs if d.field not in UPDATABLE])
        kwargs: dict[str, Any] = {}
        if "task_definition" in fields:
            kwargs["taskDefinition"] = spec["task_definition"]
        if "desired_count" in fields:
            kwargs["desiredCount"] = spec["desired_count"]
        if fields & {"subnet_ids", "security_group_ids", "assign_public_ip"}:
            kwargs["networkConfiguration"] = self._network(spec)
        if "circuit_breaker" in fields:
            kwargs["deploymentConfiguration"] = self._deployment(spec)
        if "load_balancers" in fields:
            kwargs["loadBalancers"] = spec["load_balancers"]
        if "propagate_tags" in fields:
            kwargs["propagateTags"] = spec["propagate_tags"]
        if "deployment" in fields:
            # The same revision again: new tasks pull the image tag anew (a mutable tag pushed
            # again), and a deployment that failed (C-ECS-2) is tried once more.
            kwargs["forceNewDeployment"] = True
        cluster = service_location(obs.id)[0]
        self._call_when_roles_ready(self.client.update_service, cluster=cluster, service=obs.id, **kwargs)

    def _call_when_roles_ready(self, fn, **kwargs):
        """Call CreateService / UpdateService, waiting out IAM propagation (B-IAM-2, B-IAM-3)."""
        linked_role = {"created": False}

        def attempt():
            try:
                return fn(**kwargs)
            except ClientError as exc:
                message = error_message(exc).lower()
                if error_code(exc) != "InvalidParameterException" or not any(p in message for p in IAM_NOT_READY):
                    raise
                if SERVICE_LINKED_ROLE_MISSING in message and not linked_role["created"]:
                    self._create_service_linked_role()
                    linked_role["created"] = True
                raise ClientError(
                    {"Error": {"Code": ROLE_NOT_ASSUMABLE, "Message": error_message(exc)}}, exc.operation_name
                ) from exc

        try:
            return IAM_PROPAGATION.call(self.clock, attempt)
        except ClientError as exc:
            if error_code(exc) == ROLE_NOT_ASSUMABLE and isinstance(exc.__cause__, ClientError):
                raise exc.__cause__ from None
            raise

    def _create_service_linked_role(self) -> None:
        # B-IAM-3: a fresh account has no AWSServiceRoleForECS until something creates it.
        try:
            self.aws.client("iam").create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
        except ClientError as exc:
            if not (error_code(exc) == "InvalidInput" and "has been taken" in error_message(exc)):
                raise

    def delete(self, obs, spec=None):
        cluster = service_location(obs.id)[0]
        # B-ECS-3: scale to zero first so the tasks stop, then delete (force covers a service
        # whose scale-down has not been processed yet). A service already gone or DRAINING
        # (ServiceNotFoundException, ServiceNotActiveException) is done: the engine's ``remove``.
        self.client.update_service(cluster=cluster, service=obs.id, desiredCount=0)
        self.client.delete_service(cluster=cluster, service=obs.id, force=True)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw["serviceName"]}

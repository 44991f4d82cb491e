"""ECS: the cluster (Container Insights), Fargate task definitions (revisions), Fargate services.

A task definition is a family of immutable revisions: registering one makes a new revision
(aws-notes A-27), so the desired definition is compared with the family's latest ACTIVE revision
and a new revision is registered only when they differ. Older revisions stay ACTIVE, as CDK
leaves them, so a circuit-breaker rollback always has the previous revision to return to;
teardown deregisters and deletes them all.
"""
from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from resources.aws import error_code, ignore_codes
from resources.base import (
    FieldDiff,
    Handler,
    Observed,
    Refresh,
    ResourceError,
    Status,
    owned_by,
    tags_diff,
)
from resources.pacing import REGISTER_TASK_DEFINITION
from resources.consistency import consistency

# B-ECS-1 (cluster) and the RegisterTaskDefinition family rule: letters, digits, - and _.
ECS_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
CLUSTER_NOT_FOUND = "ClusterNotFoundException"
SERVICE_GONE = frozenset({"ServiceNotFoundException", "ServiceNotActiveException", CLUSTER_NOT_FOUND})
# DescribeTaskDefinition answers ClientException "Unable to describe task definition." for a
# family with no ACTIVE revision (and for an unknown revision).
TASK_DEFINITION_NOT_FOUND = "ClientException"

# B-ECS-4: DeleteCluster answers ClusterContainsServicesException / ClusterContainsTasksException
# while services are still DRAINING (reported for 5-20 minutes, aws-timings 1.3).
CLUSTER_DRAIN = consistency(
    "ecs-cluster-services-drain",
    {"ClusterContainsServicesException", "ClusterContainsTasksException"},
    timeout=20 * 60,
    first_delay=2.0,
    max_delay=30.0,
)

# B-IAM-2 / B-IAM-3: right after the roles are created, CreateService / UpdateService answer
# InvalidParameterException "Unable to assume role ..." or "Unable to assume the service linked
# role. Please verify that the ECS service linked role exists." The code alone also means real
# mistakes (a bad subnet), so only those messages are retried, under a name of our own.
ROLE_NOT_ASSUMABLE = "EcsRoleNotAssumableYet"
IAM_NOT_READY = ("unable to assume role", "service linked role")
SERVICE_LINKED_ROLE_MISSING = "verify that the ecs service linked role exists"
IAM_PROPAGATION = consistency("ecs-iam-role-propagation", {ROLE_NOT_ASSUMABLE}, timeout=120)
# B-ECS-3: a service name that is still ACTIVE or DRAINING cannot be created again.
NOT_IDEMPOTENT = "creation of service was not idempotent"

# B-ECS-2: the memory sizes (MiB) Fargate accepts for each task CPU size (units).
_GIB = 1024
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1 * _GIB, 4 * _GIB + 1, _GIB)),
    1024: tuple(range(2 * _GIB, 8 * _GIB + 1, _GIB)),
    2048: tuple(range(4 * _GIB, 16 * _GIB + 1, _GIB)),
    4096: tuple(range(8 * _GIB, 30 * _GIB + 1, _GIB)),
    8192: tuple(range(16 * _GIB, 60 * _GIB + 1, 4 * _GIB)),
    16384: tuple(range(32 * _GIB, 120 * _GIB + 1, 8 * _GIB)),
}


def fargate_memory_choices(cpu: int) -> tuple[int, ...]:
    """B-ECS-2: the memory sizes (MiB) Fargate accepts for a task's CPU units."""
    return FARGATE_MEMORY.get(cpu, ())


# -- helpers shared by the three kinds ---------------------------------------------------------
def ecs_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def ecs_tag_dict(tags: list[dict] | None) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags or []}


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Message", "")
    return ""


def check_name(kind: str, name: str) -> None:
    if not ECS_NAME.fullmatch(name):
        raise ResourceError(f"{kind} name {name!r} must be 1-255 letters, digits, hyphens or underscores")


class EcsHandler(Handler):
    service = "ecs"

    def set_tags(self, obs: Observed, tags: dict[str, str]) -> None:
        self.client.tag_resource(resourceArn=obs.id, tags=ecs_tags(tags))


# -- cluster -----------------------------------------------------------------------------------
def find_cluster(ecs, name_or_arn: str) -> dict | None:
    """The cluster in any status (ACTIVE, PROVISIONING, INACTIVE, ...), or None when MISSING."""
    answer = ecs.describe_clusters(clusters=[name_or_arn], include=["SETTINGS", "TAGS"])
    return answer["clusters"][0] if answer["clusters"] else None


def cluster_status(ecs, arn: str) -> Refresh:
    cluster = find_cluster(ecs, arn)
    status = cluster["status"] if cluster else "MISSING"
    # B-ECS-4: a deleted cluster stays discoverable as INACTIVE for a while.
    if status in ("MISSING", "INACTIVE"):
        return Refresh(Status.GONE, status)
    if status == "ACTIVE":
        return Refresh(Status.READY, status)
    if status == "FAILED":
        return Refresh(Status.FAILED, cluster.get("statusReason") or status)
    return Refresh(Status.PENDING, status)


def observe_cluster(cluster: dict) -> Observed:
    settings = {s["name"]: s["value"] for s in cluster.get("settings") or []}
    attrs = {"container_insights": settings.get("containerInsights", "disabled")}
    return Observed(cluster["clusterArn"], attrs, ecs_tag_dict(cluster.get("tags")), cluster)


class Cluster(EcsHandler):
    kind = "ecs_cluster"
    expected_seconds = 1
    poll_ceiling = 2
    delete_timeout = 20 * 60  # waits for the services to drain (CLUSTER_DRAIN)

    def desired(self, spec):
        check_name("ECS cluster", spec["name"])
        return spec

    def _live(self, name_or_arn: str) -> Observed | None:
        cluster = find_cluster(self.client, name_or_arn)
        return observe_cluster(cluster) if cluster and cluster["status"] == "ACTIVE" else None

    def get(self, resource_id):
        return self._live(resource_id)

    def find_by_tags(self, spec):
        found = self._live(spec["name"])
        return [found] if found and owned_by(found.tags, spec) else []

    def create(self, spec, token):
        # CreateCluster on an existing name is not a no-op: moto resets its settings and drops
        # its tags. The reconciler only gets here when no cluster of ours exists, so an
        # ACTIVE cluster with this name belongs to someone else.
        if self._live(spec["name"]) is not None:
            raise ResourceError(f"ECS cluster {spec['name']} exists without this environment's tags; not adopting it")
        cluster = self.client.create_cluster(
            clusterName=spec["name"],
            settings=[{"name": "containerInsights", "value": spec["container_insights"]}],
            tags=ecs_tags(spec["tags"]),
        )
        return cluster["cluster"]["clusterArn"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "container_insights":
                # UpdateCluster, not UpdateClusterSettings: the latter is missing from moto
                # and UpdateCluster takes the same settings list.
                self.client.update_cluster(
                    cluster=obs.id, settings=[{"name": "containerInsights", "value": d.expected}]
                )
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        CLUSTER_DRAIN.call(self.clock, ignore_codes, {CLUSTER_NOT_FOUND}, self.client.delete_cluster, cluster=obs.id)

    def refresh(self, resource_id):
        return cluster_status(self.client, resource_id)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw["clusterName"]}


# -- task definition ---------------------------------------------------------------------------
# spec key -> RegisterTaskDefinition / TaskDefinition key
TASK_DEFINITION_FIELDS = {
    "cpu": "cpu",
    "memory": "memory",
    "network_mode": "networkMode",
    "requires_compatibilities": "requiresCompatibilities",
    "execution_role_arn": "executionRoleArn",
    "task_role_arn": "taskRoleArn",
    "container_definitions": "containerDefinitions",
    "volumes": "volumes",
}


def _is_empty(value: Any) -> bool:
    if isinstance(value, (list, dict, str)):
        return not value
    return value is None or value is False or value == 0


def subset_equal(desired: Any, actual: Any) -> bool:
    """True when ``actual`` holds everything ``desired`` sets.

    AWS fills defaults into what it stores (``cpu: 0``, empty ``volumesFrom``, ``hostPort`` equal
    to ``containerPort`` under awsvpc, ``rootDirectory: "/"``, new log driver options) and may
    reorder name-keyed lists (environment, secrets): only the keys the desired value sets are
    compared, lists of named items are matched by name, other lists in order. A desired empty
    value (None, "", [], {}, False, 0) equals a missing one.
    """
    if isinstance(desired, dict):
        if actual is None:
            return all(_is_empty(v) for v in desired.values())
        return isinstance(actual, dict) and all(subset_equal(v, actual.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        actual = [] if actual is None else actual
        if not isinstance(actual, list) or len(desired) != len(actual):
            return False
        if desired and all(isinstance(item, dict) and "name" in item for item in desired + actual):
            by_name = {item["name"]: item for item in actual}
            return len(by_name) == len(actual) and all(
                d["name"] in by_name and subset_equal(d, by_name[d["name"]]) for d in desired
            )
        return all(subset_equal(d, a) for d, a in zip(desired, actual))
    if actual is None:
        return _is_empty(desired)
    return desired == actual


def family_of(task_definition_arn: str) -> str:
    # arn:aws:ecs:region:account:task-definition/family:revision
    return task_definition_arn.rsplit("/", 1)[-1].split(":")[0]


def find_latest_task_definition(ecs, family: str) -> dict | None:
    """The family's latest ACTIVE revision with its tags, or None."""
    try:
        answer = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    except ClientError as exc:
        if error_code(exc) == TASK_DEFINITION_NOT_FOUND:
            return None
        raise
    definition = answer["taskDefinition"]
    if definition.get("status") != "ACTIVE":
        return None
    return {**definition, "tags": answer.get("tags") or []}


def active_revisions(ecs, family: str) -> list[str]:
    pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE")
    # The filter is named a prefix: keep exactly this family (video-worker-dev, not video-worker-dev2).
    return [arn for page in pages for arn in page["taskDefinitionArns"] if family_of(arn) == family]


def observe_task_definition(definition: dict) -> Observed:
    attrs = {key: definition.get(api_key) for key, api_key in TASK_DEFINITION_FIELDS.items()}
    return Observed(definition["taskDefinitionArn"], attrs, ecs_tag_dict(definition.get("tags")), definition)


def efs_volume_problem(volume: dict) -> str | None:
    """B-EFS-4: an access point or IAM authorization needs transit encryption and the root dir '/'."""
    config = volume.get("efsVolumeConfiguration")
    if not config:
        return None
    auth = config.get("authorizationConfig") or {}
    if (auth.get("accessPointId") or auth.get("iam") == "ENABLED") and config.get("transitEncryption") != "ENABLED":
        return "transitEncryption must be ENABLED with an access point or IAM authorization"
    if auth.get("accessPointId") and config.get("rootDirectory") not in (None, "/"):
        return "rootDirectory must be omitted or '/' when an access point is used"
    return None


class TaskDefinition(EcsHandler):
    kind = "ecs_task_definition"
    expected_seconds = 1
    poll_ceiling = 2

    def desired(self, spec):
        name = spec["name"]
        check_name("ECS task definition family", name)
        if "FARGATE" in spec["requires_compatibilities"]:
            if spec["network_mode"] != "awsvpc":
                raise ResourceError(f"task definition {name}: FARGATE requires network_mode awsvpc")
            cpu, memory = spec["cpu"], spec["memory"]
            if not (cpu.isdigit() and memory.isdigit() and int(memory) in fargate_memory_choices(int(cpu))):
                allowed = ", ".join(f"{c}: {min(m)}-{max(m)}" for c, m in FARGATE_MEMORY.items())
                raise ResourceError(
                    f"task definition {name}: Fargate does not offer cpu {cpu} with memory {memory} (allowed: {allowed})"
                )
        for volume in spec["volumes"]:
            problem = efs_volume_problem(volume)
            if problem:
                raise ResourceError(f"task definition {name}: volume {volume.get('name')}: {problem}")
        return spec

    def get(self, resource_id):
        # The resource is the family; the id is its latest ACTIVE revision. After an update
        # registered a new revision, the old id leads to the new one.
        definition = find_latest_task_definition(self.client, family_of(resource_id))
        return observe_task_definition(definition) if definition else None

    def find_by_tags(self, spec):
        definition = find_latest_task_definition(self.client, spec["name"])
        if definition is None:
            return []
        found = observe_task_definition(definition)
        return [found] if owned_by(found.tags, spec) else []

    def diff(self, spec, obs):
        diffs = [
            FieldDiff(key, spec[key], obs.attrs.get(key))
            for key in TASK_DEFINITION_FIELDS
            if key in spec and not subset_equal(spec[key], obs.attrs.get(key))
        ]
        return diffs + tags_diff(spec["tags"], obs.tags)

    def create(self, spec, token):
        # RegisterTaskDefinition has no idempotency token: a repeated call adds a revision,
        # which the next run's diff against the latest revision absorbs.
        return self._register(spec)

    def _register(self, spec: dict) -> str:
        kwargs = {api_key: spec[key] for key, api_key in TASK_DEFINITION_FIELDS.items() if spec.get(key) is not None}
        REGISTER_TASK_DEFINITION.wait(self.clock)
        answer = self.client.register_task_definition(family=spec["name"], tags=ecs_tags(spec["tags"]), **kwargs)
        return answer["taskDefinition"]["taskDefinitionArn"]

    def update(self, spec, obs, diffs):
        # A revision is immutable: any field difference is a new revision, which carries the
        # tags too; only a tags-only difference tags the current revision.
        if any(not d.field.startswith("tags.") for d in diffs):
            self._register(spec)
        else:
            super().update(spec, obs, diffs)

    def delete(self, obs, spec=None):
        revisions = active_revisions(self.client, family_of(obs.id))
        for arn in revisions:
            ignore_codes({TASK_DEFINITION_NOT_FOUND}, self.client.deregister_task_definition, taskDefinition=arn)
        # DeleteTaskDefinitions removes the deregistered revisions for good (10 per call).
        for i in range(0, len(revisions), 10):
            self.client.delete_task_definitions(taskDefinitions=revisions[i : i + 10])

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "family": obs.raw["family"], "revision": obs.raw["revision"]}


# -- service -----------------------------------------------------------------------------------
def service_location(service_arn: str) -> tuple[str, str]:
    """(cluster, service) from a long-format ARN: arn:aws:ecs:region:account:service/cluster/name."""
    parts = service_arn.split(":", 5)[-1].split("/")
    if len(parts) != 3:
        raise ResourceError(f"ECS service ARN {service_arn} is not in the long format (service/cluster/name)")
    return parts[1], parts[2]


def find_service(ecs, cluster: str, name_or_arn: str) -> dict | None:
    """The service in any status (ACTIVE, DRAINING, INACTIVE), or None when missing."""
    try:
        answer = ecs.describe_services(cluster=cluster, services=[name_or_arn], include=["TAGS"])
    except ClientError as exc:
        if error_code(exc) == CLUSTER_NOT_FOUND:
            return None
        raise
    return answer["services"][0] if answer["services"] else None


def service_status(ecs, service_arn: str) -> Refresh:
    service = find_service(ecs, *service_location(service_arn))
    status = service["status"] if service else "MISSING"
    if status in ("MISSING", "INACTIVE"):
        return Refresh(Status.GONE, status)
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


# What UpdateService can change in place (loadBalancers and propagateTags included nowadays).
UPDATABLE = frozenset({
    "task_definition", "desired_count", "subnet_ids", "security_group_ids", "assign_public_ip",
    "circuit_breaker", "load_balancers", "propagate_tags",
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


class Service(EcsHandler):
    kind = "ecs_service"
    expected_seconds = 75
    create_timeout = 20 * 60  # Terraform's default; steady state typically 60-120 s
    delete_timeout = 20 * 60  # DRAINING has been seen to last more than 5 minutes
    poll_ceiling = 10
    replace_fields = frozenset({"cluster", "launch_type"})
    create_only = frozenset({"cluster_name"})

    def desired(self, spec):
        breaker = spec["circuit_breaker"]
        return {
            **spec,
            "subnet_ids": sorted(spec["subnet_ids"], key=str),
            "security_group_ids": sorted(spec["security_group_ids"], key=str),
            "load_balancers": normal_load_balancers(spec["load_balancers"]),
            "circuit_breaker": {"enable": bool(breaker["enable"]), "rollback": bool(breaker["rollback"])},
        }

    def _live(self, cluster: str, name_or_arn: str) -> Observed | None:
        # B-ECS-3: DRAINING and INACTIVE services are on their way out, not live.
        service = find_service(self.client, cluster, name_or_arn)
        return observe_service(service) if service and service["status"] == "ACTIVE" else None

    def get(self, resource_id):
        return self._live(service_location(resource_id)[0], resource_id)

    def find_by_tags(self, spec):
        # cluster_name is a literal, so this works in teardown where the cluster ARN is unknown.
        found = self._live(spec["cluster_name"], spec["name"])
        return [found] if found and owned_by(found.tags, spec) else []

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
            found = self.find_by_tags(spec)
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
        # whose scale-down has not been processed yet).
        ignore_codes(SERVICE_GONE, self.client.update_service, cluster=cluster, service=obs.id, desiredCount=0)
        ignore_codes(SERVICE_GONE, self.client.delete_service, cluster=cluster, service=obs.id, force=True)

    def refresh(self, resource_id):
        return service_status(self.client, resource_id)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw["serviceName"]}

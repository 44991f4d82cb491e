"""What the ECS handlers share: names, tags, the Fargate sizes table, retries for IAM propagation."""
from __future__ import annotations

import re

from botocore.exceptions import ClientError

from resources.base import Handler, Observed
from resources.aws.consistency import consistency
from resources.aws.permissions import Grant, arn, writes

# B-ECS-1 (cluster) and the RegisterTaskDefinition family rule: letters, digits, - and _.
ECS_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
CLUSTER_NOT_FOUND = "ClusterNotFoundException"
# DeleteService / UpdateService on a service that is gone (or DRAINING, B-ECS-3), or in a cluster
# that is gone; DescribeServices answers ClusterNotFoundException for a missing cluster.
SERVICE_GONE = frozenset({"ServiceNotFoundException", "ServiceNotActiveException", CLUSTER_NOT_FOUND})
# DescribeTaskDefinition answers ClientException "Unable to describe task definition." for a
# family with no ACTIVE revision (and for an unknown revision).
TASK_DEFINITION_NOT_FOUND = "ClientException"

# B-ECS-4: DeleteCluster answers ClusterContainsServicesException / ClusterContainsTasksException
# while services are still DRAINING (reported for 5-20 minutes, T-1.3).
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


def name_problem(kind: str, name: str) -> str | None:
    """B-ECS-1 (and the family rule): the problem with ``name``, or None."""
    if isinstance(name, str) and ECS_NAME.fullmatch(name):
        return None
    return f"{kind} name {name!r} must be 1-255 letters, digits, hyphens or underscores"


CLUSTER_ARN = arn("ecs", "cluster/video-processing-{env}")


def ecs_tagging(*arns: str) -> Grant:
    """Tags, set in the create calls and changed later, through EcsHandler's one call pair."""
    return writes("ecs:TagResource", "ecs:UntagResource", arns=arns)


class EcsHandler(Handler):
    service = "ecs"

    def set_tags(self, obs: Observed, tags: dict[str, str]) -> None:
        self.client.tag_resource(resourceArn=obs.id, tags=ecs_tags(tags))

    def unset_tags(self, obs: Observed, keys: list[str]) -> None:
        self.client.untag_resource(resourceArn=obs.id, tagKeys=keys)

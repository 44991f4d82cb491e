"""A task definition is a family of immutable revisions: registering one makes a new revision
(aws-notes A-27), so the desired definition is compared with the family's latest ACTIVE revision
and a new revision is registered only when they differ. Older revisions stay ACTIVE, as CDK
leaves them, so a circuit-breaker rollback always has the previous revision to return to;
teardown deregisters and deletes them all."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from resources.aws import error_code, ignore_codes
from resources.base import (
    FieldDiff,
    Observed,
    ResourceError,
    owned_by,
    tags_diff,
)
from resources.pacing import REGISTER_TASK_DEFINITION
from resources.ecs_common import (
    FARGATE_MEMORY,
    EcsHandler,
    TASK_DEFINITION_NOT_FOUND,
    check_name,
    ecs_tag_dict,
    ecs_tags,
    fargate_memory_choices,
)


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
        kept = answer["taskDefinition"]
        retries = answer.get("ResponseMetadata", {}).get("RetryAttempts") or 0
        if retries:
            self._deregister_lost_copies(spec, kept, retries)
        return kept["taskDefinitionArn"]

    def _deregister_lost_copies(self, spec: dict, kept: dict, retries: int) -> None:
        """botocore retried the registration (a 5xx, a dropped connection): an attempt whose
        answer was lost may have registered the same revision already, and RegisterTaskDefinition
        has no idempotency token. Such copies are the revisions just below the answered one with
        the very same content; they are deregistered so the family keeps one ACTIVE copy."""
        family, revision = kept["family"], kept["revision"]
        for arn in active_revisions(self.client, family):
            number = int(arn.rsplit(":", 1)[-1])
            if not revision - retries <= number < revision:
                continue
            copy = self.client.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            if all(subset_equal(spec[key], copy.get(api_key)) for key, api_key in TASK_DEFINITION_FIELDS.items() if key in spec):
                ignore_codes({TASK_DEFINITION_NOT_FOUND}, self.client.deregister_task_definition, taskDefinition=arn)

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



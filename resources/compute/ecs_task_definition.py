"""A task definition is a family of immutable revisions: registering one makes a new revision
(docs/aws-behaviours.md A-27), so the desired definition is compared with the family's latest ACTIVE revision
and a new revision is registered only when they differ. Older revisions stay ACTIVE, as CDK
leaves them, so a circuit-breaker rollback always has the previous revision to return to;
teardown deregisters and deletes them all."""
from __future__ import annotations

import re
from typing import Any

from resources.aws import ignore_codes
from resources.aws.permissions import arn, pass_role, reads, writes
from resources.base import Field, FieldDiff, Observed, Refresh, Status, owned_by, tags_diff
from resources.aws.pacing import REGISTER_TASK_DEFINITION
from resources.compute.ecs_common import (
    EcsHandler,
    FARGATE_MEMORY,
    TASK_DEFINITION_NOT_FOUND,
    ecs_tag_dict,
    ecs_tagging,
    ecs_tags,
    fargate_memory_choices,
    name_problem,
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


def container_diffs(desired: list[dict], actual: list[dict]) -> list[FieldDiff]:
    """Only what changes, container by container (``container_definitions[api].image``): AWS
    fills in a dozen defaults per container, and a whole list in the plan hides the one change."""
    have = {c.get("name"): c for c in actual}
    want = {c.get("name"): c for c in desired}
    diffs = []
    for name, container in want.items():
        where = f"container_definitions[{name}]"
        if name not in have:
            diffs.append(FieldDiff(where, container, None))
            continue
        diffs += [FieldDiff(f"{where}.{key}", value, have[name].get(key))
                  for key, value in container.items() if not subset_equal(value, have[name].get(key))]
    diffs += [FieldDiff(f"container_definitions[{name}]", None, have[name]) for name in have if name not in want]
    # Same containers, same values, another order: the list itself.
    return diffs or [FieldDiff("container_definitions", desired, actual)]


def family_of(task_definition_arn: str) -> str:
    # arn:aws:ecs:region:account:task-definition/family:revision
    return task_definition_arn.rsplit("/", 1)[-1].split(":")[0]


def status_of(definition: dict) -> Refresh:
    status = definition.get("status")
    if status == "ACTIVE":
        return Refresh(Status.READY, status)
    if status == "DELETE_IN_PROGRESS":
        return Refresh(Status.DELETING, status)
    return Refresh(Status.GONE, status or "INACTIVE")  # INACTIVE: deregistered


def active_revisions(ecs, family: str) -> list[str]:
    pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE")
    # The filter is named a prefix: keep exactly this family (video-worker-dev, not video-worker-dev2).
    return [arn for page in pages for arn in page["taskDefinitionArns"] if family_of(arn) == family]


def observe_task_definition(definition: dict) -> Observed:
    attrs = {key: definition.get(api_key) for key, api_key in TASK_DEFINITION_FIELDS.items()}
    return Observed(definition["taskDefinitionArn"], attrs, ecs_tag_dict(definition.get("tags")), definition)


# FSBP ECS.8: secrets go in "secrets" (valueFrom, resolved by ECS at start), never in plain
# "environment", where DescribeTaskDefinition shows them to anyone who may read the definition.
SECRET_LIKE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL", re.IGNORECASE)


def container_problems(container: dict) -> list[str]:
    """The docs/configuration.md ECS row's rules a container definition must keep (FSBP ECS.4, ECS.8)."""
    if not isinstance(container, dict):
        return []
    name = container.get("name")
    problems = []
    if container.get("privileged") is True:
        problems.append(f"container {name}: privileged containers are not allowed (FSBP ECS.4)")
    for variable in container.get("environment") or []:
        if isinstance(variable, dict) and isinstance(variable.get("name"), str) and SECRET_LIKE.search(variable["name"]):
            problems.append(f"container {name}: environment variable {variable['name']} looks like a secret: "
                            "pass it in secrets (valueFrom) instead (FSBP ECS.8)")
    return problems


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


TASK_DEFINITION_ARN = arn("ecs", "task-definition/{name}:*")


class TaskDefinition(EcsHandler):
    kind = "ecs_task_definition"
    iam = (
        # ECS authorizes describes and deregisters of task definitions on no resource.
        reads("ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"),
        writes("ecs:DeregisterTaskDefinition"),
        writes("ecs:RegisterTaskDefinition", "ecs:DeleteTaskDefinitions", arns=(TASK_DEFINITION_ARN,)),
        ecs_tagging(TASK_DEFINITION_ARN),
        pass_role("ecs-task-execution-role-{env}", "ecs-tasks.amazonaws.com", "RegisterTaskDefinition with executionRoleArn"),
        pass_role("ecs-task-role-{env}", "ecs-tasks.amazonaws.com", "RegisterTaskDefinition with taskRoleArn"),
    )
    expected_seconds = 1
    poll_ceiling = 2
    # DescribeTaskDefinition answers ClientException "Unable to describe task definition." for a
    # family with no ACTIVE revision left. The code is broad, but a family it refuses to
    # describe is one to register, and RegisterTaskDefinition then says what is wrong.
    not_found = frozenset({TASK_DEFINITION_NOT_FOUND})
    update_makes_new_id = True
    # Any change registers a new revision (the family, the resource, is changed in place), and
    # the service that runs it deploys it.
    # Compared as subsets of what ECS stores (it fills in defaults, subset_equal); the containers
    # one by one (container_definitions[api].image in the plan).
    fields = {
        "cpu": Field(str, matches=subset_equal),
        "memory": Field(str, matches=subset_equal),
        "network_mode": Field(str, matches=subset_equal),
        "requires_compatibilities": Field(list, matches=subset_equal),
        "execution_role_arn": Field(str, matches=subset_equal),
        "task_role_arn": Field(str, matches=subset_equal),
        "container_definitions": Field(list, matches=subset_equal, expand=lambda want, have: container_diffs(want, have or [])),
        "volumes": Field(list, matches=subset_equal),
    }

    def validate(self, spec):
        problems = []
        name_error = name_problem("ECS task definition family", spec["name"])
        if name_error:
            problems.append(name_error)
        # A value still UNKNOWN (a Ref before the walk) is checked once it is known.
        known = lambda key, kind: isinstance(spec[key], kind)  # noqa: E731
        if known("requires_compatibilities", list) and "FARGATE" in spec["requires_compatibilities"]:
            if known("network_mode", str) and spec["network_mode"] != "awsvpc":
                problems.append("FARGATE requires network_mode awsvpc")
            cpu, memory = spec["cpu"], spec["memory"]
            sizes = known("cpu", str) and known("memory", str)
            if sizes and not (cpu.isdigit() and memory.isdigit() and int(memory) in fargate_memory_choices(int(cpu))):
                allowed = ", ".join(f"{c}: {min(m)}-{max(m)}" for c, m in FARGATE_MEMORY.items())
                problems.append(f"Fargate does not offer cpu {cpu} with memory {memory} (allowed: {allowed})")
        for container in spec["container_definitions"] if known("container_definitions", list) else []:
            problems += container_problems(container)
        for volume in spec["volumes"] if known("volumes", list) else []:
            problem = efs_volume_problem(volume)
            if problem:
                problems.append(f"volume {volume.get('name')}: {problem}")
        return problems

    def describe(self, resource_id):
        # The resource is the family; the id is its latest ACTIVE revision. After an update
        # registered a new revision, the old id leads to the new one.
        answer = self.client.describe_task_definition(taskDefinition=family_of(resource_id), include=["TAGS"])
        return {**answer["taskDefinition"], "tags": answer.get("tags") or []}

    def observe(self, raw):
        return observe_task_definition(raw)

    def status(self, raw):
        return status_of(raw)

    def list_owned(self, spec):
        # The family name is the lookup; its latest ACTIVE revision carries the tags.
        found = self.read(spec["name"])
        return [found] if found and owned_by(found.tags, spec) else []

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
            if all(subset_equal(spec[key], copy.get(api_key)) for key, api_key in TASK_DEFINITION_FIELDS.items()):
                # A copy already gone (deregistered by someone else) is what this wanted.
                ignore_codes({TASK_DEFINITION_NOT_FOUND}, self.client.deregister_task_definition, taskDefinition=arn)

    def update_fields(self, spec, obs, diffs):
        # A revision is immutable: any field difference is a new revision, which carries the
        # tags too (update_makes_new_id: the engine makes no tag call on the old one).
        self._register(spec)

    def delete(self, obs, spec=None):
        revisions = active_revisions(self.client, family_of(obs.id))
        for arn in revisions:
            # One revision at a time: one deregistered meanwhile must not stop the others.
            ignore_codes({TASK_DEFINITION_NOT_FOUND}, self.client.deregister_task_definition, taskDefinition=arn)
        # DeleteTaskDefinitions removes the deregistered revisions for good (10 per call).
        for i in range(0, len(revisions), 10):
            self.client.delete_task_definitions(taskDefinitions=revisions[i : i + 10])

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "family": obs.raw["family"], "revision": obs.raw["revision"]}



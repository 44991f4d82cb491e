"""A resource deleted behind the tool's back: bin/drift names it once, as missing, and nothing that
depends on it with a value nobody knows yet; bin/reconcile --plan promises exactly the changes the
apply then makes.

A log group's name and ARN follow from its spec, so the task definition, the execution role's
policy and the service that name it are not changed by its re-creation. A security group's id is
AWS's to assign, so what names it (the mount targets) really changes, and the plan says so.

One environment is reconciled for the module; each test deletes one resource with the test's own
client, and its apply puts it back.
"""
from __future__ import annotations

import pytest

ENV = "exact"


@pytest.fixture(scope="module")
def stack(moto_server, cli_factory):
    moto_server.reset()
    cli = cli_factory(moto_server)
    created = cli("reconcile", "--env", ENV)
    assert created.code == 0, created.stderr
    return cli


@pytest.fixture
def aws(stack, moto_server, reader_factory):
    yield reader_factory(moto_server)
    # A test that failed before its apply leaves the next one the environment it found.
    restored = stack("reconcile", "--env", ENV)
    assert restored.code == 0, restored.stderr


def nulls(value, path="expected") -> list[str]:
    """Where ``value`` holds a null, at any depth."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


def changes(result) -> list[tuple[str, str]]:
    return sorted((c["action"], c["resource"]) for c in result.json["changes"])


def check_exact(stack, missing_key: str) -> list[tuple[str, str]]:
    """Drift: the one missing entry and no expected value unknown; the plan's changes are the
    apply's; a drift check after the apply is clean. The plan's changes."""
    found = stack("drift", "--env", ENV, "--json")
    assert found.code == 2, found.stderr
    doc = found.json
    assert [m["resource"] for m in doc["missing"]] == [missing_key], doc["missing"]
    unknown = [(d["resource"], d["attribute"], p) for d in doc["drifted"] for p in nulls(d["expected"])]
    assert unknown == [], unknown
    assert doc["drifted"] == doc["unchecked"] == doc["failed"] == [], doc

    plan = stack("reconcile", "--env", ENV, "--plan", "--json")
    assert plan.code == 2, plan.stderr
    applied = stack("reconcile", "--env", ENV, "--json")
    assert applied.code == 0, applied.stderr
    assert changes(plan) == changes(applied)

    again = stack("drift", "--env", ENV, "--json")
    assert again.code == 0, again.stdout
    return changes(plan)


@pytest.mark.parametrize("key, name", [
    ("logs.api", f"/ecs/video-processing-{ENV}/metadata-api"),
    ("logs.worker", f"/ecs/video-processing-{ENV}/video-worker"),
])
def test_a_deleted_log_group_is_one_missing_entry_and_one_create(stack, aws, key, name):
    aws("logs").delete_log_group(logGroupName=name)
    # Its name and ARN are its spec's: the role's policy, the task definition's log
    # configuration and the service stay as they are.
    assert check_exact(stack, key) == [("create", key)]


def test_a_deleted_security_group_changes_what_names_its_new_id_in_the_plan_and_the_apply(stack, aws):
    ec2 = aws("ec2")
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"efs-sg-{ENV}"]}])["SecurityGroups"][0]
    ec2.delete_security_group(GroupId=group["GroupId"])
    # Drift leaves the mount targets' groups unjudged (the new id is not known); the plan shows
    # them changing to it, and the apply changes them.
    assert check_exact(stack, "sg.efs") == [("create", "sg.efs"), ("update", "efs.mount_targets")]

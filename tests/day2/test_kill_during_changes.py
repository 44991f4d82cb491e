"""A day-2 change killed right after one of its mutating calls, then a plain run (no --config, no
flag): the environment converges to the configuration the killed run was asked for, with one of
everything, nothing left behind and nothing lost.

The kill is the in-process twin of SIGKILL (tests/day2/environment.py ``Killed``: the call was made,
its answer never arrives, nothing after it runs) and the state is put back to what was last saved,
as a process that dies keeps only what it wrote. It runs on the fidelity layer's clock, where a
modification is ``modifying`` for minutes and a deployment takes its time, as on AWS: a real
process could not be killed half way through those on moto, which makes every change at once.

Each change of the issue's list, in turn on one environment, each starting from where the one
before left it: a deploy (a new task definition revision), a replica change, a storage change, a
class change, an engine upgrade, a stateless replacement made beside (a target group's new port) and
a consented stateful one made by deleting first (the VPC's CIDR, with a final snapshot of the
database). The first apply of each, not killed, counts its mutating calls; the change is then made
again (to another value, the same calls) once per k, killed after its k-th call. The two
replacements are killed after a sample of their calls instead (``kill_at``, each said where it is
declared): every kind of call they make, and every step of the replacement itself.

The killed runs use parallelism 1 so that k names the same call on every run.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import boto3
import pytest

from orchestrator.config import ChosenConfig, EnvConfig, remember_config, retired_tag_keys
from orchestrator.run import apply_stack
from state import StateDocument
from tests.conftest import REGION
from tests.day2.environment import ENV, Day2Env, Killed, changes, killed_after, running_environment
from tests.faults.harness import account_counts

SERVICES = ("ec2", "rds", "elasticache", "ecs", "elbv2", "apigateway", "efs", "logs", "iam", "kms", "secretsmanager",
            "wafv2")
STORAGE_OPTIMIZATION = 6 * 3600 + 60
IMAGES = ("public.ecr.aws/docker/library/nginx:1.27-alpine", "public.ecr.aws/docker/library/nginx:stable-alpine")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory, EnvConfig(db_final_snapshot=True, db_engine_version="17.4")) as running:
        yield running


def reader(service: str):
    return boto3.client(service, region_name=REGION)


def killed_apply(env: Day2Env, wanted: EnvConfig, k: int | str, allow_replace: frozenset[str] = frozenset()) -> str:
    """bin/reconcile --config FILE [--allow-replace ...], killed right after its k-th mutating call:
    the configuration it was asked for is recorded before its first call (as the CLI does), and
    the state is what it last saved. Returns the call it was killed after."""
    chosen = ChosenConfig(wanted, "file", "day2.toml")

    def before_changes():
        remember_config(env.doc, chosen, succeeded=False, consented=allow_replace)
        env.state.save()

    with killed_after(env, k, SERVICES), pytest.raises(Killed) as died:
        apply_stack(env.aws, env=ENV, doc=env.doc, save=env.state.save, cfg=wanted, clock=env.clock.as_clock(),
                    retired_tags=retired_tag_keys(env.doc, wanted), allow_replace=allow_replace,
                    before_changes=before_changes, parallelism=1)
    env.state.doc = StateDocument.from_json(env.state.saves[-1], env=ENV, region=REGION)
    return str(died.value)


def resume(env: Day2Env, wanted: EnvConfig, where: str) -> None:
    """The next plain run converges to ``wanted``: one of everything, nothing else, drift clean."""
    run = env.apply_remembered()
    assert run.ok and not run.refused, (where, run.failures, [r.refusal for r in run.refused])
    assert env.cfg == wanted, where
    assert changes(env.plan()) == {}, where
    assert stack_counts() == BASELINE[0], where


def stack_counts() -> dict[str, int]:
    """account_counts but for task definitions: a family keeps its earlier revisions ACTIVE on
    purpose (resources/compute/ecs_task_definition.py), counted apart (``revisions``)."""
    counts = account_counts(reader)
    del counts["task_definition"]
    return counts


def revisions() -> int:
    return len(reader("ecs").list_task_definitions(status="ACTIVE")["taskDefinitionArns"])


BASELINE: list[dict[str, int]] = []


@dataclasses.dataclass(frozen=True)
class Change:
    label: str
    # k (0 for the first, unkilled apply) -> the configuration asked for, from the current one.
    wanted: Callable[[EnvConfig, int], EnvConfig]
    # The mutating calls of one apply, measured by the first one (a change of these calls means
    # the sample moved: say so rather than kill at the wrong place).
    calls: int
    # What the apply made is read back with the test's own client.
    check: Callable[[EnvConfig], Any]
    allow_replace: frozenset[str] = frozenset()
    # Task definition revisions one apply registers (a killed one must not leave two); None: the
    # families are made anew with one revision each (the cluster is replaced with the VPC).
    new_revisions: int | None = 0
    # Clock time AWS needs between two such changes (RDS's storage optimisation).
    settle: float = 0.0
    # Instead of every k: killed after the first call of each of these operations, one run each.
    kill_at: tuple[str, ...] = ()


def db() -> dict:
    return reader("rds").describe_db_instances(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBInstances"][0]


def check_image(cfg: EnvConfig) -> None:
    ecs = reader("ecs")
    [service] = ecs.describe_services(cluster=f"video-processing-{ENV}", services=[f"metadata-api-{ENV}"])["services"]
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert task["containerDefinitions"][0]["image"] == cfg.api_image
    assert [d["status"] for d in service["deployments"]] == ["PRIMARY"]


def check_replicas(cfg: EnvConfig) -> None:
    [group] = reader("elasticache").describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"]
    assert len(group["MemberClusters"]) == cfg.redis_num_nodes


def check_port(cfg: EnvConfig) -> None:
    groups = reader("elbv2").describe_target_groups()["TargetGroups"]
    assert [g["Port"] for g in groups] == [cfg.api_port]


def check_vpc(cfg: EnvConfig) -> None:
    vpcs = [v for v in reader("ec2").describe_vpcs()["Vpcs"] if not v["IsDefault"]]
    assert [v["CidrBlock"] for v in vpcs] == [cfg.vpc_cidr]
    assert db()["DBSubnetGroup"]["VpcId"] == vpcs[0]["VpcId"]


CHANGES = [
    Change("deploy", lambda c, k: dataclasses.replace(c, api_image=IMAGES[k % 2]), 2, check_image, new_revisions=1),
    Change("replica change", lambda c, k: dataclasses.replace(c, redis_num_nodes=3 if k % 2 == 0 else 2), 1,
           check_replicas),
    Change("storage change", lambda c, k: dataclasses.replace(c, db_allocated_storage=30 + 10 * k), 1,
           lambda c: db()["AllocatedStorage"] == c.db_allocated_storage, settle=STORAGE_OPTIMIZATION),
    Change("class change", lambda c, k: dataclasses.replace(c, db_instance_class=("db.t3.large", "db.t3.medium")[k % 2]), 1,
           lambda c: db()["DBInstanceClass"] == c.db_instance_class),
    Change("engine upgrade", lambda c, k: dataclasses.replace(c, db_engine_version=("17.7", "18")[k]), 1,
           lambda c: db()["EngineVersion"].startswith(c.db_engine_version)),
    # 17 calls of 13 operations (the port is in the security groups' rules, the listener, the
    # task definition and the API's integrations too): killed after the replacement's own steps
    # (the new group made, the listener moved, the service moved, the old group deleted) and
    # after the first call of each kind (verb) of the others (RegisterTaskDefinition, and the
    # API's CreateDeployment and UpdateStage, are the deploy's and a first create's kinds, killed
    # call by call by the deploy above and tests/faults/test_kill_at_every_call.py).
    Change("stateless replacement", lambda c, k: dataclasses.replace(c, api_port=(8080, 8081)[k % 2]), 17, check_port,
           new_revisions=1, kill_at=("elbv2 CreateTargetGroup", "elbv2 DeleteListener", "elbv2 CreateListener",
                                     "ecs UpdateService", "elbv2 DeleteTargetGroup", "ec2 AuthorizeSecurityGroupIngress",
                                     "ec2 RevokeSecurityGroupIngress", "apigateway PutIntegration")),
    # About 200 calls, each run a whole stack deleted and made again: killed after the call that
    # deletes the database (its final snapshot must exist before it goes), after the old VPC's
    # deletion (nothing of the environment left but what is outside the VPC), and after the new
    # database's creation (its answer lost: one database, not two). Its second half is a create
    # of what the VPC held, killed after each of its calls by tests/faults/test_kill_at_every_call.py.
    Change("stateful replacement", lambda c, k: dataclasses.replace(c, vpc_cidr=("10.0.0.0/16", "10.1.0.0/16")[k % 2]),
           0, check_vpc, allow_replace=frozenset({"vpc"}), new_revisions=None,
           kill_at=("rds DeleteDBInstance", "ec2 DeleteVpc", "rds CreateDBInstance")),
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.label)
def test_a_day2_change_killed_after_each_of_its_calls_is_finished_by_the_next_plain_run(env: Day2Env, change: Change):
    if not BASELINE:
        BASELINE.append(stack_counts())
    if change.kill_at:
        ks: list[int | str] = list(change.kill_at)
    else:
        first = change.wanted(env.cfg, 0)
        applied = env.apply(first, allow_replace=change.allow_replace, parallelism=1)
        assert applied.ok and not applied.refused, applied.failures
        change.check(first)
        assert sum(env.last_calls.values()) == change.calls, env.last_calls
        ks = list(range(1, change.calls + 1))
    for n, k in enumerate(ks, start=1):
        env.clock.sleep(change.settle)
        wanted = change.wanted(env.cfg, n)
        before, snapshots = revisions(), final_snapshots()
        where = f"{change.label}, k={k} (killed right after {killed_apply(env, wanted, k, change.allow_replace)})"
        if k == "rds DeleteDBInstance":
            # Nothing lost: the final snapshot is there before the database goes.
            assert len(final_snapshots()) == len(snapshots) + 1, where
        resume(env, wanted, where)
        assert revisions() == (2 if change.new_revisions is None else before + change.new_revisions), where
        change.check(wanted)


def final_snapshots() -> list[str]:
    found = reader("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return [s["DBSnapshotIdentifier"] for s in found if "-final-" in s["DBSnapshotIdentifier"]]

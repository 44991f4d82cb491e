"""Day-2 changes that must not be trusted blindly (issue 13), on the fidelity layer's clock, in
process: each refused before any mutating call, waited for as AWS takes it, or reported as the
failure it is, and never called converged by the next reconcile or drift check.

- an engine downgrade, a storage shrink, an increase under 10 %, a storage change while the last
  one is optimized: refused by the plan and the apply, no mutating call (C-RDS-2, C-RDS-3);
- a storage increase: modifying, then ``storage-optimization`` for hours, fully usable: the apply
  ends there and the next run neither waits for it nor calls anything (C-RDS-2);
- a class change: pending while "available" (C-RDS-1), and the apply waits until it is applied;
- a modification RDS accepts and then drops (back to "available" unchanged): the apply fails
  naming the field, "the update did not take";
- a deploy the circuit breaker rolls back (C-ECS-1): the run fails naming the service, the
  revision that runs and the reason; the next plan shows the service changing, drift lists it
  under "failed"; the next reconcile fails again rather than calling it converged.

One environment for the module (tests run in file order; each leaves it converged), the
orchestrator's injected FakeClock driving the layer: no wall time passes.
"""
from __future__ import annotations

import dataclasses

import boto3
import pytest

from orchestrator.config import EnvConfig
from sandbox.fidelity import clock as layer_clock
from tests.conftest import REGION
from tests.day2.environment import ENV, Day2Env, changes, running_environment
from tests.support.row_ids import ROW_ID

DB = f"rds-postgresql-{ENV}"
PENDING, MODIFY, OPTIMIZE = (layer_clock.DURATIONS[k] for k in ("rds.modify_pending", "rds.modify", "rds.storage_optimization"))
BROKEN_IMAGE = "public.ecr.aws/docker/library/nginx:does-not-start"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory) as running:
        yield running


@pytest.fixture
def rds():
    return boto3.client("rds", region_name=REGION)


def instance(rds) -> dict:
    return rds.describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]


def assert_refused(env: Day2Env, cfg: EnvConfig, field: str, why: str) -> None:
    """Refused by the plan (a refusal the CLI exits 1 with) and by the apply before any mutating
    call; nothing remembered; the environment still in sync with what it was."""
    recorded = env.doc.config
    plan = env.plan(cfg)
    assert changes(plan) == {"rds.instance": {field: "IMPOSSIBLE"}}
    [refused] = plan.refused
    assert refused.key == "rds.instance" and why in refused.refusal and "restore the previous value" in refused.refusal
    assert not ROW_ID.search(refused.refusal), refused.refusal
    run = env.apply(cfg)
    assert [r.key for r in run.refused] == ["rds.instance"]
    assert env.last_calls == {}
    assert env.doc.config == recorded and env.doc.pending_config is None
    assert env.drift().in_sync


def test_an_engine_downgrade_is_refused_by_the_plan_and_the_apply_with_no_mutating_call(env, rds):
    """C-RDS-3: PostgreSQL is never downgraded in place."""
    assert_refused(env, dataclasses.replace(env.cfg, db_engine_version="16"), "engine_version", "cannot downgrade PostgreSQL 17")
    assert instance(rds)["EngineVersion"].split(".")[0] == "17"


def test_a_class_change_is_pending_while_available_and_the_apply_waits_until_it_is_applied(env, rds):
    """C-RDS-1: ModifyDBInstance answers "available" with the class in PendingModifiedValues, and
    the instance reads so for seconds; the apply is done only when the class is the new one."""
    seen: list[tuple[str, str, dict]] = []

    def record(parsed, **_):
        for db in parsed.get("DBInstances") or [parsed.get("DBInstance")]:
            if db and db["DBInstanceIdentifier"] == DB:
                seen.append((db["DBInstanceStatus"], db["DBInstanceClass"], db.get("PendingModifiedValues") or {}))

    events = env.aws.client("rds").meta.events
    events.register("after-call.rds.ModifyDBInstance", record)
    events.register("after-call.rds.DescribeDBInstances", record)
    try:
        started = env.clock.now()
        run = env.apply(dataclasses.replace(env.cfg, db_instance_class="db.t3.large"))
    finally:
        events.unregister("after-call.rds.ModifyDBInstance", record)
        events.unregister("after-call.rds.DescribeDBInstances", record)
    assert run.ok and env.last_calls == {"rds ModifyDBInstance": 1}
    assert env.clock.now() - started >= PENDING + MODIFY
    after_modify = seen[[i for i, s in enumerate(seen) if s[2]][0]:]
    # The answer and the first reads: available, the old class, the new one pending.
    assert after_modify[0] == ("available", "db.t3.medium", {"DBInstanceClass": "db.t3.large"})
    assert ("modifying", "db.t3.medium", {"DBInstanceClass": "db.t3.large"}) in after_modify
    # The apply's last read is the applied change; nothing it read in between counted as done.
    assert after_modify[-1] == ("available", "db.t3.large", {})
    assert [s for s in after_modify[:-1] if s[2] == {}] == []
    assert (instance(rds)["DBInstanceClass"], instance(rds)["PendingModifiedValues"]) == ("db.t3.large", {})
    assert env.drift().in_sync


def test_a_modification_that_returns_to_available_unapplied_fails_naming_the_field(env, rds):
    """A modification RDS accepts and drops (sandbox/fidelity/rds_modify.py, "rds-modification"):
    back to "available" with nothing pending meets C-RDS-1's condition of done; the read-back
    compares the value too, and the run fails naming it."""
    before = env.cfg
    wanted = dataclasses.replace(before, db_instance_class="db.t3.xlarge")
    layer_clock.fail("rds-modification", DB)
    try:
        run = env.apply(wanted)
    finally:
        layer_clock.unfail("rds-modification", DB)
    assert not run.ok and env.last_calls == {"rds ModifyDBInstance": 1}
    reason = run.failures["rds.instance"].reason
    assert f"db_instance {DB}" in reason and "the update did not take: instance_class is 'db.t3.large', expected 'db.t3.xlarge'" in reason
    assert instance(rds)["DBInstanceStatus"] == "available" and instance(rds)["DBInstanceClass"] == "db.t3.large"

    # Not converged for the next plan or the drift check.
    assert changes(env.plan(wanted)) == {"rds.instance": {"instance_class": "DOWNTIME"}}
    report = env.drift(wanted)
    assert not report.in_sync
    assert [(f["resource"], "the update did not take" in f["reason"]) for f in report.failed] == [("rds.instance", True)]
    # The failed configuration is kept as pending; the next run (no --config) applies it again,
    # and this time RDS applies it.
    assert env.doc.pending_config["values"]["db_instance_class"] == "db.t3.xlarge"
    again = env.apply_remembered()
    assert again.ok and env.last_calls == {"rds ModifyDBInstance": 1}
    assert instance(rds)["DBInstanceClass"] == "db.t3.xlarge" and env.doc.pending_config is None
    assert env.drift().in_sync


def test_a_storage_increase_goes_through_storage_optimization_and_the_next_run_does_not_wait(env, rds):
    """C-RDS-2: after the change the instance is "storage-optimization" for hours, usable: the
    apply ends there, the next run is a no-op without a wait, drift is clean."""
    started = env.clock.now()
    run = env.apply(dataclasses.replace(env.cfg, db_allocated_storage=30))
    assert run.ok and env.last_calls == {"rds ModifyDBInstance": 1}
    waited = env.clock.now() - started
    assert PENDING + MODIFY <= waited < PENDING + MODIFY + OPTIMIZE
    db = instance(rds)
    assert (db["DBInstanceStatus"], db["AllocatedStorage"], db["PendingModifiedValues"]) == ("storage-optimization", 30, {})

    moment = env.clock.now()
    again = env.apply()
    assert again.ok and env.last_calls == {} and env.clock.now() == moment
    assert [r for r in again.results if r.action != "unchanged" or r.pending] == []
    report = env.drift()
    assert report.in_sync and report.pending == []
    assert instance(rds)["DBInstanceStatus"] == "storage-optimization"


@pytest.mark.parametrize("size, why", [
    (25, "RDS storage can only grow"),
    (32, "an increase must be at least 10 % (33 GiB); AWS would round it up"),
    # A valid increase, but the last storage change is still being optimized.
    (40, "the last storage change is still being optimized; AWS refuses another until it ends"),
], ids=["shrink", "under-10-percent", "while-optimizing"])
def test_a_storage_change_aws_refuses_is_refused_by_the_plan_and_the_apply(env, rds, size, why):
    assert instance(rds)["DBInstanceStatus"] == "storage-optimization", "runs after the storage increase"
    assert_refused(env, dataclasses.replace(env.cfg, db_allocated_storage=size), "allocated_storage", why)
    assert instance(rds)["AllocatedStorage"] == 30


def test_a_deploy_the_circuit_breaker_rolls_back_is_a_failure_until_it_is_fixed(env):
    """C-ECS-1: ECS rolls the failing revision back and the service ends steady on the old one."""
    ecs = boto3.client("ecs", region_name=REGION)
    cluster, service = f"video-processing-{ENV}", f"metadata-api-{ENV}"
    running = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"].rsplit("/", 1)[1]
    good = env.cfg
    broken = dataclasses.replace(good, api_image=BROKEN_IMAGE)
    layer_clock.fail("ecs-image", BROKEN_IMAGE)

    run = env.apply(broken)
    assert not run.ok
    assert env.last_calls == {"ecs RegisterTaskDefinition": 1, "ecs UpdateService": 1}
    reason = run.failures["ecs.service.api"].reason
    # The service, the field, the revision that runs, and the breaker's own words.
    requested = f"{service}:{int(running.rsplit(':', 1)[1]) + 1}"
    # The service, the revision that runs and the one asked for (C-ECS-1), and the breaker's
    # reason. (Caught while ECS still lists the FAILED deployment beside the rollback; once it is
    # gone the read-back names the field instead: tests/e2e/test_rolled_back_deploy.py.)
    assert reason.startswith(f"ecs_service {service} (")
    assert f"running {running}, not the requested {requested}: ECS deployment circuit breaker: tasks failed to start" in reason
    assert ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"].endswith(running)

    # Never "unchanged" to the next plan; drift says it failed, not only that a field differs.
    plan = env.plan(broken)
    assert changes(plan)["ecs.service.api"].get("task_definition") == "IN_PLACE"
    report = env.drift(broken)
    assert not report.in_sync
    assert [f["resource"] for f in report.failed] == ["ecs.service.api"]
    assert ("ecs.service.api", "task_definition") in [(d["resource"], d["attribute"]) for d in report.drifted]

    # The next reconcile without --config continues the failed configuration: fails again.
    assert env.doc.pending_config["values"]["api_image"] == BROKEN_IMAGE
    again = env.apply_remembered()
    assert not again.ok and "ecs.service.api" in again.failures
    assert env.last_calls == {"ecs UpdateService": 1}

    # Fixed by going back to the image that works: converged, nothing failed any more.
    layer_clock.unfail("ecs-image", BROKEN_IMAGE)
    fixed = env.apply(good)
    assert fixed.ok, fixed.failures
    assert env.doc.pending_config is None
    report = env.drift()
    assert report.in_sync and report.failed == []
    env.apply()
    assert env.last_calls == {}

"""RDS handlers: the DB subnet group and the PostgreSQL instance.

On moto, the standard case list read back with the test's own clients; the security group is
made by hand (another helper owns it). What moto cannot show (every instance is "available" in
the create response, modifications apply at once, A-13/A-15) runs against a botocore Stubber on
the handler's own client, with a FakeClock.
"""
from __future__ import annotations

import dataclasses
import re

import boto3
import pytest
from botocore.stub import ANY, Stubber

from orchestrator.config import EnvConfig
from orchestrator.run import TeardownRefused, apply_stack, reconcile_stack
from orchestrator.stack.data import rds_nodes
from orchestrator.waiting import wait_for
from resources.aws import Aws
from resources.base import Change, FieldDiff, Observed, Refresh, ResourceError, Status
from resources.data.rds import DbInstance, DbSubnetGroup
from tests.resources.data_stack import NETWORK, converge_network, network, ownership, tags, with_spec
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy
from orchestrator import lifecycle

REGION = "us-east-1"
NAME = "rds-postgresql-dev"
GROUP = "rds-subnet-group-dev"
RDS_KEYS = ("rds.subnet_group", "rds.instance", "iam.rds_monitoring_role")
MONITORING_ROLE = "rds-monitoring-role-dev"
MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


@pytest.fixture
def rds(moto_aws):
    return boto3.client("rds", region_name=REGION)


@pytest.fixture
def stack(aws, ec2, clock):
    """The network converged and a security group for RDS: (state, nodes builder)."""
    state = MemoryState()
    sg_id = converge_network(aws, ec2, state, clock, sg_name="rds-sg-dev")
    # The environment's key and the export log groups are other nodes' (their tests:
    # tests/resources/test_security_data.py): a key made by hand, the groups left out.
    key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]

    def nodes(cfg: EnvConfig = EnvConfig(), **instance):
        group, db, role, *_ = rds_nodes("dev", cfg, 2)
        db = dataclasses.replace(db, after=())
        return [*network(), group, with_spec(db, security_group_ids=[sg_id], master_user_secret_kms_key_id=key_arn, **instance),
                role]

    nodes.sg_id = sg_id
    return state, nodes


def instance(rds) -> dict:
    [db] = rds.describe_db_instances(DBInstanceIdentifier=NAME)["DBInstances"]
    return db


def rds_actions(run) -> dict[str, str]:
    return {k: a for k, a in actions(run).items() if k not in NETWORK}


# -- moto: the standard case list --------------------------------------------------------------

def test_create_reads_back_as_the_stack_requires_then_second_run_changes_nothing(aws, rds, stack, clock):
    state, nodes = stack
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert rds_actions(run) == dict.fromkeys(RDS_KEYS, "create")

    [group] = rds.describe_db_subnet_groups(DBSubnetGroupName=GROUP)["DBSubnetGroups"]
    isolated = {state.doc.resource(f"subnet.isolated.{i}")["id"] for i in (1, 2)}
    assert {s["SubnetIdentifier"] for s in group["Subnets"]} == isolated
    assert {s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]} == {"us-east-1a", "us-east-1b"}
    assert tags(rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"]) == ownership(GROUP)

    db = instance(rds)
    # A major only ("17") runs RDS's default minor of it (sandbox/fidelity/rds_versions.py).
    assert (db["Engine"], db["EngineVersion"], db["DBInstanceClass"]) == ("postgres", "17.6", "db.t3.medium")
    assert db["MultiAZ"] is True and db["StorageEncrypted"] is True and db["PubliclyAccessible"] is False
    assert (db["AllocatedStorage"], db["StorageType"], db["BackupRetentionPeriod"]) == (20, "gp3", 7)
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == GROUP
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [nodes.sg_id]
    assert (db["DBName"], db["MasterUsername"], db["Endpoint"]["Port"]) == ("videometadata", "videoadmin", 5432)
    assert db["DeletionProtection"] is False
    assert tags(db["TagList"]) == ownership(NAME)
    # RDS owns the password: only the secret's ARN is an output, in the state file.
    recorded = state.doc.resource("rds.instance")
    assert recorded["id"] == NAME
    assert recorded["outputs"] == {
        "id": NAME, "address": db["Endpoint"]["Address"], "port": 5432, "secret_arn": db["MasterUserSecret"]["SecretArn"],
    }
    assert state.doc.resource("rds.subnet_group")["outputs"] == {"id": GROUP, "name": GROUP}

    before = aws.calls.mutating
    again = converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_changes_behind_our_back_are_planned_then_put_back(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    # moto 5.2.5's ModifyDBSubnetGroup drops the group from its backend, so the subnet group's
    # drift here is a tag; its modify call is checked with a Stubber below.
    group_arn = rds.describe_db_subnet_groups(DBSubnetGroupName=GROUP)["DBSubnetGroups"][0]["DBSubnetGroupArn"]
    rds.remove_tags_from_resource(ResourceName=group_arn, TagKeys=["Name"])
    rds.modify_db_instance(DBInstanceIdentifier=NAME, BackupRetentionPeriod=1, ApplyImmediately=True)
    rds.remove_tags_from_resource(ResourceName=instance(rds)["DBInstanceArn"], TagKeys=["Environment"])

    plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    changed = {r.key: {d.field for d in r.changes} for r in plan.results if r.action != "unchanged"}
    assert changed == {"rds.subnet_group": {"tags.Name"}, "rds.instance": {"backup_retention_days", "tags.Environment"}}

    converge(aws, state, nodes=nodes(), clock=clock)
    assert tags(rds.list_tags_for_resource(ResourceName=group_arn)["TagList"]) == ownership(GROUP)
    db = instance(rds)
    assert db["BackupRetentionPeriod"] == 7
    assert tags(db["TagList"])["Environment"] == "dev"


def test_an_update_modifies_only_the_changed_field_and_applies_it_immediately(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    sent = []
    aws.client("rds").meta.events.register("provide-client-params.rds.ModifyDBInstance", lambda params, **_: sent.append(params))

    converge(aws, state, nodes=nodes(EnvConfig(db_instance_class="db.t3.large")), clock=clock)
    assert sent == [{"DBInstanceIdentifier": NAME, "ApplyImmediately": True, "DBInstanceClass": "db.t3.large"}]
    assert instance(rds)["DBInstanceClass"] == "db.t3.large"


def test_deleted_behind_our_back_is_recreated(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    rds.delete_db_instance(DBInstanceIdentifier=NAME, SkipFinalSnapshot=True)
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert rds_actions(run) == {"rds.subnet_group": "unchanged", "rds.instance": "create", "iam.rds_monitoring_role": "unchanged"}
    assert instance(rds)["DBInstanceStatus"] == "available"


def test_an_instance_with_our_name_but_not_our_tags_is_not_adopted(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    rds.remove_tags_from_resource(ResourceName=instance(rds)["DBInstanceArn"], TagKeys=["ManagedBy"])
    state.lose()
    run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=nodes())
    reason = run.failures["rds.instance"].reason
    assert NAME in reason and "ownership tags" in reason


def test_an_impossible_storage_change_is_refused_by_the_plan_and_the_apply_makes_no_mutating_call(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(EnvConfig(db_allocated_storage=50)), clock=clock)
    planned = converge(aws, state, nodes=nodes(EnvConfig(db_allocated_storage=40), instance_class="db.t3.large"),
                       plan=True, clock=clock)
    [refused] = planned.refused
    assert refused.key == "rds.instance" and "impossible change: allocated_storage 50 → 40" in refused.refusal
    before = aws.calls.mutating
    applied = apply_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(),
                          nodes=nodes(EnvConfig(db_allocated_storage=40), instance_class="db.t3.large"))
    assert [r.key for r in applied.refused] == ["rds.instance"]
    assert aws.calls.mutating == before
    # The class change beside it was not made either: the apply never started.
    assert instance(rds)["AllocatedStorage"] == 50 and instance(rds)["DBInstanceClass"] == "db.t3.medium"


def test_a_replacement_is_refused_naming_the_data_it_would_lose(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    planned = converge(aws, state, nodes=nodes(db_name="othername"), plan=True, clock=clock)
    [refused] = planned.refused
    assert refused.action == "replace" and refused.changes[0].change is Change.REPLACE
    assert refused.data_lost == {"rds.instance": DbInstance.stateful}
    assert "data lost: rds.instance: every row of the database" in refused.refusal
    # The subnet group under it is replaced with nothing: it is not stateful and has no data.
    assert "rds.subnet_group" not in refused.data_lost


def test_a_second_apply_with_nothing_to_do_reads_once(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    aws.calls.counts.clear()
    run = apply_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=nodes())
    assert set(actions(run).values()) == {"unchanged"} and aws.calls.mutating == 0
    assert aws.calls.counts[("rds", "DescribeDBInstances")] == 1


def test_deletion_protection_refuses_teardown_before_anything_is_deleted(aws, rds, stack, clock):
    state, nodes = stack
    protected = EnvConfig(deletion_protection=True)
    converge(aws, state, nodes=nodes(protected), clock=clock)
    assert instance(rds)["DeletionProtection"] is True
    with pytest.raises(TeardownRefused) as caught:
        destroy(aws, state, nodes=nodes(protected), clock=clock)
    assert NAME in str(caught.value)
    # The engine's delete refuses too, from what AWS says, whatever the configuration says now.
    handler = DbInstance(aws, env="dev", clock=clock.as_clock())
    with pytest.raises(ResourceError, match="deletion protection"):
        lifecycle.remove(handler, handler.read(NAME), {"final_snapshot": False})
    assert instance(rds)["DBInstanceStatus"] == "available"


def test_final_snapshot_is_taken_only_when_configured(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    handler = DbInstance(aws, env="dev", clock=clock.as_clock())
    handler.delete(handler.read(NAME), {"final_snapshot": True})
    [snapshot] = rds.describe_db_snapshots(DBInstanceIdentifier=NAME)["DBSnapshots"]
    assert re.fullmatch(rf"{NAME}-final-\d{{8}}-\d{{6}}", snapshot["DBSnapshotIdentifier"])
    assert handler.refresh(NAME).status is Status.GONE

    converge(aws, state, nodes=nodes(), clock=clock)
    handler.delete(handler.read(NAME), {"final_snapshot": False})
    assert len(rds.describe_db_snapshots(DBInstanceIdentifier=NAME)["DBSnapshots"]) == 1


def test_teardown_honours_the_configured_final_snapshot_choice(aws, rds, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    destroy(aws, state, nodes=nodes(), clock=clock)
    assert rds.describe_db_snapshots(DBInstanceIdentifier=NAME)["DBSnapshots"] == []


def test_subnets_in_one_az_are_refused_before_any_call(aws, rds, stack, clock):
    state, _ = stack
    handler = DbSubnetGroup(aws, env="dev", clock=clock.as_clock())
    spec = {"name": GROUP, "tags": ownership(GROUP), "description": "d", "subnet_ids": [state.doc.resource("subnet.isolated.1")["id"]]}
    with pytest.raises(ResourceError, match="DBSubnetGroupDoesNotCoverEnoughAZs") as caught:
        handler.create(spec, "token")
    assert "us-east-1a" in str(caught.value)
    assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == []


def test_enhanced_monitoring_asks_for_the_monitoring_role_and_an_interval_rds_accepts():
    aws = Aws(REGION)
    handler = DbInstance(aws, env="dev")
    [problem] = handler.validate(spec(monitoring_interval=60, monitoring_role_arn=None))
    assert "needs monitoring_role_arn" in problem
    [problem] = handler.validate(spec(monitoring_interval=7, monitoring_role_arn=ROLE_ARN))
    assert "one of 0, 1, 5, 10, 15, 30, 60" in problem
    assert handler.validate(spec(monitoring_interval=0, monitoring_role_arn=None)) == []
    assert handler.validate(spec(monitoring_interval=60, monitoring_role_arn=ROLE_ARN)) == []


# -- Stubber: what moto cannot show -------------------------------------------------------------

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0a-AbCdEf"


def db_answer(status: str, *, endpoint: bool = True, **extra) -> dict:
    answer = {
        "DBInstanceIdentifier": NAME, "DBInstanceStatus": status, "Engine": "postgres", "EngineVersion": "17.4",
        "DBInstanceClass": "db.t3.medium", "AllocatedStorage": 20, "StorageType": "gp3", "StorageEncrypted": True,
        "MultiAZ": True, "PubliclyAccessible": False, "DBName": "videometadata", "MasterUsername": "videoadmin",
        "MasterUserSecret": {"SecretArn": SECRET_ARN, "SecretStatus": "active", "KmsKeyId": KEY_ARN}, "BackupRetentionPeriod": 7,
        "DeletionProtection": False, "MonitoringInterval": 60, "MonitoringRoleArn": ROLE_ARN,
        "IAMDatabaseAuthenticationEnabled": True, "EnabledCloudwatchLogsExports": ["postgresql", "upgrade"],
        "AutoMinorVersionUpgrade": True, "DBSubnetGroup": {"DBSubnetGroupName": GROUP},
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0a", "Status": "active"}],
        "DBInstanceArn": f"arn:aws:rds:us-east-1:123456789012:db:{NAME}", "TagList": [
            {"Key": k, "Value": v} for k, v in ownership(NAME).items()],
        **extra,
    }
    if endpoint:
        answer["Endpoint"] = {"Address": f"{NAME}.c0a.us-east-1.rds.amazonaws.com", "Port": 5432}
    return answer


ROLE_ARN = f"arn:aws:iam::123456789012:role/{MONITORING_ROLE}"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def spec(**changes) -> dict:
    _, db, *_ = rds_nodes("dev", EnvConfig(), 2)
    return {**db.spec, "subnet_group": GROUP, "security_group_ids": ["sg-0a"], "monitoring_role_arn": ROLE_ARN,
            "master_user_secret_kms_key_id": KEY_ARN, **changes}


@pytest.fixture
def stubbed(clock):
    aws = Aws(REGION)
    stubber = Stubber(aws.client("rds"))
    with stubber:
        yield DbInstance(aws, env="dev", clock=clock.as_clock()), stubber
    stubber.assert_no_pending_responses()


def describe(stubber: Stubber, *answers: dict) -> None:
    for answer in answers:
        stubber.add_response("describe_db_instances", {"DBInstances": [answer]}, {"DBInstanceIdentifier": NAME})


def wait_ready(handler: DbInstance, clock):
    return wait_for(lambda: handler.refresh(NAME), Status.READY, what=f"db_instance {NAME}",
                    timeout=DbInstance.create_timeout, ceiling=DbInstance.poll_ceiling, clock=clock.as_clock())


def test_creating_then_backing_up_then_available_and_no_address_before(stubbed, clock):
    handler, stubber = stubbed
    describe(stubber, db_answer("creating", endpoint=False))
    creating = handler.read(NAME)
    assert "address" not in handler.outputs(creating) and creating.attrs["port"] is None

    describe(stubber, db_answer("creating", endpoint=False), db_answer("backing-up", endpoint=False), db_answer("available"))
    assert wait_ready(handler, clock).status is Status.READY
    assert clock.sleeps == [1.0, 1.5]

    describe(stubber, db_answer("available"))
    outputs = handler.outputs(handler.read(NAME))
    assert outputs == {"id": NAME, "address": f"{NAME}.c0a.us-east-1.rds.amazonaws.com", "port": 5432, "secret_arn": SECRET_ARN}


def test_failed_instance_fails_the_wait_and_is_not_reconciled(stubbed, clock):
    handler, stubber = stubbed
    describe(stubber, db_answer("creating", endpoint=False), db_answer("failed", endpoint=False))
    with pytest.raises(ResourceError, match="failed"):
        wait_ready(handler, clock)
    assert clock.now() < 10  # failed is final: no polling until the 40 min timeout

    # Found (so teardown deletes it), reported failed: the engine's "stop" policy refuses it.
    describe(stubber, db_answer("failed", endpoint=False))
    found = lifecycle.find(handler, spec(), NAME)
    assert handler.status(found.raw) == Refresh(Status.FAILED, "failed") and handler.on_failed == "stop"


def test_deleting_is_pending_then_not_found_is_gone(stubbed, clock):
    handler, stubber = stubbed
    describe(stubber, db_answer("deleting"))
    stubber.add_client_error("describe_db_instances", "DBInstanceNotFound", http_status_code=404,
                             expected_params={"DBInstanceIdentifier": NAME})
    result = wait_for(lambda: handler.refresh(NAME), Status.GONE, what=NAME, timeout=DbInstance.delete_timeout,
                      ceiling=DbInstance.poll_ceiling, clock=clock.as_clock())
    assert result.status is Status.GONE


def test_a_modification_already_pending_with_the_desired_value_is_not_a_diff(stubbed):
    handler, stubber = stubbed
    describe(stubber, db_answer("modifying", DBInstanceClass="db.t3.small", PendingModifiedValues={"DBInstanceClass": "db.t3.medium"}))
    obs = handler.read(NAME)
    assert lifecycle.diff(handler, handler.desired(spec()), obs) == []

    describe(stubber, db_answer("modifying", PendingModifiedValues={"DBInstanceClass": "db.t3.small"}))
    [d] = lifecycle.diff(handler, handler.desired(spec()), handler.read(NAME))
    assert (d.field, d.expected, d.actual) == ("instance_class", "db.t3.medium", "db.t3.small")


def test_a_major_version_in_the_spec_matches_the_minor_rds_chose(stubbed):
    handler, stubber = stubbed
    describe(stubber, db_answer("available"), db_answer("available"))
    assert lifecycle.diff(handler, handler.desired(spec(engine_version="17")), handler.read(NAME)) == []
    engine_versions(stubber, "17.5")
    [d] = lifecycle.diff(handler, handler.desired(spec(engine_version="17.5")), handler.read(NAME))
    assert (d.field, d.expected, d.actual) == ("engine_version", "17.5", "17.4")


def targets(*versions: str) -> dict:
    """A DescribeDBEngineVersions answer for 17.4 offering ``versions``."""
    return {"DBEngineVersions": [{"Engine": "postgres", "EngineVersion": "17.4", "ValidUpgradeTarget": [
        {"Engine": "postgres", "EngineVersion": v, "IsMajorVersionUpgrade": not v.startswith("17.")} for v in versions]}]}


def engine_versions(stubber, *versions: str) -> None:
    stubber.add_response("describe_db_engine_versions", targets(*versions), {"Engine": "postgres", "EngineVersion": "17.4"})


def test_a_major_upgrade_allows_it_and_a_downgrade_is_refused_without_a_read(stubbed):
    handler, stubber = stubbed
    obs = Observed(NAME, {"engine_version": "16.4", "allocated_storage": 20}, {})
    stubber.add_response("modify_db_instance", {"DBInstance": db_answer("modifying")}, {
        "DBInstanceIdentifier": NAME, "ApplyImmediately": True, "EngineVersion": "17", "AllowMajorVersionUpgrade": True})
    handler.update_fields(spec(), obs, [FieldDiff("engine_version", "17", "16.4")])
    newer = Observed(NAME, {"engine_version": "18.1", "allocated_storage": 20}, {})
    downgrade = handler.classify(FieldDiff("engine_version", "17", "18.1"), newer)
    assert downgrade.change is Change.IMPOSSIBLE and "cannot downgrade PostgreSQL 18.1" in downgrade.why
    minor_down = handler.classify(FieldDiff("engine_version", "17.2", "17.4"), Observed(NAME, {"engine_version": "17.4"}, {}))
    assert minor_down.change is Change.IMPOSSIBLE and "cannot downgrade" in minor_down.why
    stubber.assert_no_pending_responses()  # a downgrade is refused without asking RDS


def test_a_version_change_is_checked_against_the_upgrade_targets_rds_offers(stubbed):
    """C-RDS-5: one DescribeDBEngineVersions of the running version per differing diff."""
    handler, stubber = stubbed
    obs = Observed(NAME, {"engine": "postgres", "engine_version": "17.4"}, {},
                   db_answer("available", DBParameterGroups=[{"DBParameterGroupName": "default.postgres17"}]))
    engine_versions(stubber, "17.5", "17.6", "18.1")
    assert handler.classify(FieldDiff("engine_version", "17.6", "17.4"), obs).change is Change.IN_PLACE
    engine_versions(stubber, "17.5", "17.6", "18.1")
    major_up = handler.classify(FieldDiff("engine_version", "18", "17.4"), obs)
    assert major_up.change is Change.DOWNTIME and "major upgrade to PostgreSQL 18" in major_up.why
    assert "postgres18" in major_up.why
    engine_versions(stubber, "17.5", "17.6", "17.7", "18.1", "18.2")
    invalid = handler.classify(FieldDiff("engine_version", "19", "17.4"), obs)
    assert invalid.change is Change.IMPOSSIBLE
    assert "no upgrade of PostgreSQL 17.4 to 19" in invalid.why and "valid targets: up to 17.7, 18.2 (5 in all)" in invalid.why
    engine_versions(stubber, "17.5")
    unknown_minor = handler.classify(FieldDiff("engine_version", "17.9", "17.4"), obs)
    assert unknown_minor.change is Change.IMPOSSIBLE and "valid targets: 17.5 (" in unknown_minor.why
    stubber.assert_no_pending_responses()


def test_a_major_upgrade_with_a_custom_parameter_group_is_refused(stubbed):
    handler, stubber = stubbed
    obs = Observed(NAME, {"engine": "postgres", "engine_version": "17.4"}, {},
                   db_answer("available", DBParameterGroups=[{"DBParameterGroupName": "tuned-pg17"}]))
    engine_versions(stubber, "18.1")
    refused = handler.classify(FieldDiff("engine_version", "18", "17.4"), obs)
    assert refused.change is Change.IMPOSSIBLE and "custom parameter group tuned-pg17" in refused.why


def test_on_moto_an_upgrade_rds_does_not_offer_is_refused_and_a_valid_one_is_offered(aws, rds, stack, clock):
    """The same rules against the fidelity layer's DescribeDBEngineVersions (17 runs 17.6)."""
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    handler = DbInstance(aws, env="dev", clock=clock)
    obs = handler.read(NAME)

    def version_diffs(version):
        return [d for d in lifecycle.diff(handler, handler.desired(spec(engine_version=version)), obs) if d.field == "engine_version"]

    reads = aws.calls.total
    assert version_diffs("17") == []
    assert aws.calls.total == reads  # in sync: no read of the engine versions
    [major_up] = version_diffs("18")
    assert major_up.change is Change.DOWNTIME
    assert aws.calls.counts[("rds", "DescribeDBEngineVersions")] == 1
    [invalid] = version_diffs("19")
    assert invalid.change is Change.IMPOSSIBLE and "valid targets: 17.7, 18.1" in invalid.why


def test_storage_only_grows_and_a_class_change_is_a_failover(stubbed):
    handler, _ = stubbed
    obs = Observed(NAME, {"engine_version": "17.4", "allocated_storage": 50}, {})
    assert handler.classify(FieldDiff("allocated_storage", 40, 50), obs).change is Change.IMPOSSIBLE
    assert handler.classify(FieldDiff("allocated_storage", 60, 50), obs).change is Change.IN_PLACE
    assert handler.classify(FieldDiff("allocated_storage", 54, 50), obs).change is Change.IMPOSSIBLE
    assert handler.classify(FieldDiff("allocated_storage", 55, 50), obs).change is Change.IN_PLACE
    optimizing = Observed(NAME, {"allocated_storage": 50}, {}, db_answer("storage-optimization"))
    busy = handler.classify(FieldDiff("allocated_storage", 100, 50), optimizing)
    assert busy.change is Change.IMPOSSIBLE and "optimized" in busy.why
    assert handler.classify(FieldDiff("instance_class", "db.t3.large", "db.t3.medium"), obs).change is Change.DOWNTIME
    assert handler.classify(FieldDiff("storage_encrypted", True, False), obs).change is Change.REPLACE


def test_final_snapshot_sends_its_identifier_and_not_skip(stubbed):
    handler, stubber = stubbed
    stubber.add_response("delete_db_instance", {"DBInstance": db_answer("deleting")},
                         {"DBInstanceIdentifier": NAME, "FinalDBSnapshotIdentifier": ANY})
    handler.delete(Observed(NAME, {"deletion_protection": False}, {}, db_answer("available")), spec(final_snapshot=True))
    stubber.add_response("delete_db_instance", {"DBInstance": db_answer("deleting")},
                         {"DBInstanceIdentifier": NAME, "SkipFinalSnapshot": True, "DeleteAutomatedBackups": True})
    handler.delete(Observed(NAME, {"deletion_protection": False}, {}, db_answer("available")), spec(final_snapshot=False))


def test_a_failed_instance_is_deleted_without_a_final_snapshot(stubbed):
    # B-RDS-5: failed instances can only be deleted with SkipFinalSnapshot.
    handler, stubber = stubbed
    stubber.add_response("delete_db_instance", {"DBInstance": db_answer("deleting")},
                         {"DBInstanceIdentifier": NAME, "SkipFinalSnapshot": True, "DeleteAutomatedBackups": True})
    handler.delete(Observed(NAME, {"deletion_protection": False}, {}, db_answer("failed")), spec(final_snapshot=True))


def test_a_busy_instance_is_deleted_once_it_accepts(stubbed, clock):
    handler, stubber = stubbed
    params = {"DBInstanceIdentifier": NAME, "FinalDBSnapshotIdentifier": ANY}
    stubber.add_client_error("delete_db_instance", "InvalidDBInstanceState", expected_params=params)
    stubber.add_response("delete_db_instance", {"DBInstance": db_answer("deleting")}, params)
    handler.delete(Observed(NAME, {"deletion_protection": False}, {}, db_answer("backing-up")), spec(final_snapshot=True))
    assert clock.sleeps == [5.0]


def test_subnet_group_update_checks_the_azs_and_sends_description_and_all_subnets(aws, stack, clock):
    state, _ = stack
    subnets = sorted(state.doc.resource(f"subnet.isolated.{i}")["id"] for i in (1, 2))
    handler = DbSubnetGroup(aws, env="dev", clock=clock.as_clock())
    spec = {"name": GROUP, "tags": ownership(GROUP), "description": "new words", "subnet_ids": subnets}
    with Stubber(aws.client("rds")) as stubber:
        stubber.add_response("modify_db_subnet_group", {"DBSubnetGroup": {"DBSubnetGroupName": GROUP}}, {
            "DBSubnetGroupName": GROUP, "DBSubnetGroupDescription": "new words", "SubnetIds": subnets})
        handler.update_fields(spec, Observed(GROUP, {}, {}), [FieldDiff("description", "new words", "old words")])
        stubber.assert_no_pending_responses()
    with pytest.raises(ResourceError, match="cover 1 Availability Zone"):
        handler.update_fields({**spec, "subnet_ids": subnets[:1]}, Observed(GROUP, {}, {}), [FieldDiff("subnet_ids", subnets[:1], subnets)])


def test_subnet_group_delete_waits_for_the_instance_to_leave_it(clock):
    aws = Aws(REGION)
    with Stubber(aws.client("rds")) as stubber:
        for _ in range(2):
            stubber.add_client_error("delete_db_subnet_group", "InvalidDBSubnetGroupStateFault", expected_params={"DBSubnetGroupName": GROUP})
        stubber.add_client_error("delete_db_subnet_group", "DBSubnetGroupNotFoundFault", http_status_code=404,
                                 expected_params={"DBSubnetGroupName": GROUP})
        # Already gone by the third attempt: the engine's delete counts DBSubnetGroupNotFoundFault as done.
        lifecycle.remove(DbSubnetGroup(aws, env="dev", clock=clock.as_clock()), Observed(GROUP, {}, {}))
        stubber.assert_no_pending_responses()
    assert clock.sleeps == [5.0, 10.0]


def test_the_master_secret_key_is_the_same_key_by_arn_or_by_id_and_another_key_differs():
    """MasterUserSecret.KmsKeyId is the key's ARN (docs/aws-behaviours.md B-RDS-9); a spec may hold the id."""
    from resources.data.rds import kms_key_matches

    key_id = KEY_ARN.split("/")[-1]
    assert kms_key_matches(KEY_ARN, KEY_ARN) and kms_key_matches(key_id, KEY_ARN) and kms_key_matches(KEY_ARN, key_id)
    other = KEY_ARN.replace("1234abcd", "9999abcd")
    assert not kms_key_matches(KEY_ARN, other) and not kms_key_matches(key_id, other)
    # aws/secretsmanager's key, as RDS reports it after someone switched back to it.
    assert not kms_key_matches(KEY_ARN, "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab")
    assert not kms_key_matches(KEY_ARN, None)

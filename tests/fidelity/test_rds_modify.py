"""RDS modifications on the layer's clock (sandbox/fidelity/rds_modify.py): docs/aws-behaviours.md C-RDS-1,
C-RDS-2, C-RDS-3, in-process under mock_aws."""
from __future__ import annotations

import contextlib

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock, rds_modify

REGION = "us-east-1"
PENDING, MODIFY, OPTIMIZE = (clock.DURATIONS[k] for k in ("rds.modify_pending", "rds.modify", "rds.storage_optimization"))


@pytest.fixture
def rds(moto_aws):
    client = boto3.client("rds", region_name=REGION)
    client.create_db_instance(DBInstanceIdentifier="db", Engine="postgres", EngineVersion="16.3", DBInstanceClass="db.t3.micro",
                              AllocatedStorage=20, MasterUsername="app", MasterUserPassword="secret-password")
    return client


def read(rds) -> dict:
    [db] = rds.describe_db_instances(DBInstanceIdentifier="db")["DBInstances"]
    return db


def test_a_class_change_is_pending_while_available_then_modifying_then_applied(rds, on_the_clock):
    """C-RDS-1: done = available and nothing pending for the fields changed."""
    answer = rds.modify_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.medium", ApplyImmediately=True)["DBInstance"]
    assert answer["DBInstanceClass"] == "db.t3.micro"
    assert (answer["DBInstanceStatus"], answer["PendingModifiedValues"]) == ("available", {"DBInstanceClass": "db.t3.medium"})
    on_the_clock.sleep(PENDING)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["DBInstanceClass"], db["PendingModifiedValues"]) == (
        "modifying", "db.t3.micro", {"DBInstanceClass": "db.t3.medium"})
    on_the_clock.sleep(MODIFY)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["DBInstanceClass"], db["PendingModifiedValues"]) == ("available", "db.t3.medium", {})


def test_a_storage_change_goes_through_storage_optimization_which_refuses_another(rds, on_the_clock):
    """C-RDS-2: storage-optimization for hours, with the new size already usable."""
    rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=30, ApplyImmediately=True)
    on_the_clock.sleep(PENDING + MODIFY)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["AllocatedStorage"], db["PendingModifiedValues"]) == ("storage-optimization", 30, {})
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=40, ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterCombination"
    on_the_clock.sleep(OPTIMIZE - 1)
    assert read(rds)["DBInstanceStatus"] == "storage-optimization"
    on_the_clock.sleep(1)
    assert read(rds)["DBInstanceStatus"] == "available"


def test_without_apply_immediately_a_change_waits_for_the_maintenance_window(rds, on_the_clock):
    rds.modify_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.medium", ApplyImmediately=False)
    on_the_clock.sleep(OPTIMIZE)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["DBInstanceClass"], db["PendingModifiedValues"]) == (
        "available", "db.t3.micro", {"DBInstanceClass": "db.t3.medium"})


def test_the_maintenance_window_moves_the_engine_to_a_newer_minor(rds, on_the_clock):
    """C-RDS-3: a newer minor of the same major; never a major, never a downgrade."""
    with pytest.raises(ValueError):
        rds_modify.upgrade_minor("db", "17.1")
    with pytest.raises(ValueError):
        rds_modify.upgrade_minor("db", "16.2")
    rds_modify.upgrade_minor("db", "16.4")
    on_the_clock.sleep(PENDING)
    assert (read(rds)["DBInstanceStatus"], read(rds)["EngineVersion"]) == ("upgrading", "16.3")
    on_the_clock.sleep(MODIFY)
    assert (read(rds)["DBInstanceStatus"], read(rds)["EngineVersion"]) == ("available", "16.4")


def test_the_instant_clock_applies_a_modification_at_once(rds):
    db = rds.modify_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.medium", ApplyImmediately=True)["DBInstance"]
    assert (db["DBInstanceStatus"], db["DBInstanceClass"]) == ("available", "db.t3.medium")
    assert "PendingModifiedValues" not in read(rds)


# -- C-RDS-2 as ModifyDBInstance enforces it ----------------------------------------------------

def refused(call) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call()
    return error.value.response["Error"]


@pytest.mark.parametrize("controlled", [False, True], ids=["instant", "on-the-clock"])
def test_storage_never_shrinks(rds, controlled):
    """C-RDS-2; moto alone stores the smaller size."""
    with clock.use() if controlled else contextlib.nullcontext():
        error = refused(lambda: rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=19, ApplyImmediately=True))
        assert (error["Code"], error["Message"]) == (
            "InvalidParameterCombination", "Invalid storage size for engine name postgres and storage type gp2: 19")
        assert read(rds)["AllocatedStorage"] == 20


def test_an_increase_of_less_than_ten_percent_is_rounded_up_to_ten_percent(rds):
    """C-RDS-2; ModifyDBInstance API reference, AllocatedStorage (PostgreSQL)."""
    rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=21, ApplyImmediately=True)
    assert read(rds)["AllocatedStorage"] == 22


def test_an_increase_of_less_than_ten_percent_is_pending_as_rounded_up(rds, on_the_clock):
    answer = rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=21, ApplyImmediately=True)["DBInstance"]
    assert answer["PendingModifiedValues"] == {"AllocatedStorage": 22}


def test_no_second_storage_change_within_six_hours_even_after_storage_optimization(rds):
    """C-RDS-2: "six (6) hours or until storage optimization has completed, whichever is longer"."""
    with clock.use(durations={"rds.storage_optimization": 3600.0}) as fake:
        rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=30, ApplyImmediately=True)
        fake.sleep(PENDING + MODIFY + 3600)
        assert read(rds)["DBInstanceStatus"] == "available"  # optimized after an hour
        error = refused(lambda: rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=40, ApplyImmediately=True))
        assert error == {"Code": "InvalidParameterCombination", "Message": "You can't currently modify the storage of this "
                         "DB instance because the previous storage change is being optimized.", "Type": "Sender"}
        # A change that is not a storage change is accepted meanwhile.
        rds.modify_db_instance(DBInstanceIdentifier="db", BackupRetentionPeriod=14, ApplyImmediately=True)
        fake.sleep(clock.DURATIONS["rds.storage_cooldown"] - 3600)
        rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=40, ApplyImmediately=True)
        assert read(rds)["PendingModifiedValues"] == {"AllocatedStorage": 40}


# -- C-RDS-4: a class change is a failover (Multi-AZ) or downtime (single-AZ), in DescribeEvents

def events(rds) -> list[tuple[str, list[str]]]:
    answer = rds.describe_events(SourceIdentifier="db", SourceType="db-instance")["Events"]
    # moto's own (creation, backup) are not this layer's.
    return [(e["Message"], e["EventCategories"]) for e in answer
            if e["Message"] not in ("DB instance created", "Backing up DB instance", "Finished DB instance backup")]


def test_a_multi_az_class_change_is_a_failover(rds, on_the_clock):
    rds.modify_db_instance(DBInstanceIdentifier="db", MultiAZ=True, ApplyImmediately=True)
    on_the_clock.sleep(PENDING + MODIFY)
    assert read(rds)["MultiAZ"] is True
    rds.modify_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.large", ApplyImmediately=True)
    assert events(rds) == []
    on_the_clock.sleep(PENDING + MODIFY * 0.4)
    assert events(rds) == [("Applying modification to database instance class", ["configuration change"]),
                           ("Multi-AZ instance failover started", ["failover"])]
    assert read(rds)["DBInstanceStatus"] == "modifying"
    on_the_clock.sleep(MODIFY * 0.6)
    assert [m for m, _ in events(rds)] == [
        "Applying modification to database instance class", "Multi-AZ instance failover started",
        "DB instance restarted", "Multi-AZ instance failover completed",
        "Finished applying modification to DB instance class"]
    assert "DB instance shutdown" not in [m for m, _ in events(rds)]
    dates = [e["Date"] for e in rds.describe_events(SourceIdentifier="db", SourceType="db-instance")["Events"]
             if "class" in e["Message"] or "failover" in e["Message"]]
    assert dates == sorted(dates) and (dates[-1] - dates[0]).total_seconds() == pytest.approx(MODIFY, abs=1)


def test_a_single_az_class_change_is_downtime(rds, on_the_clock):
    rds.modify_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.large", ApplyImmediately=True)
    on_the_clock.sleep(PENDING + MODIFY * 0.5)
    assert [m for m, _ in events(rds)] == ["Applying modification to database instance class", "DB instance shutdown"]
    on_the_clock.sleep(MODIFY * 0.5)
    assert events(rds) == [("Applying modification to database instance class", ["configuration change"]),
                           ("DB instance shutdown", ["availability"]),
                           ("Finished applying modification to DB instance class", ["configuration change"]),
                           ("DB instance restarted", ["availability"])]
    assert not any("failover" in m for m, _ in events(rds))
    assert read(rds)["DBInstanceClass"] == "db.t3.large"


def test_a_storage_change_records_its_events_and_no_class_change_ones(rds, on_the_clock):
    rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=30, ApplyImmediately=True)
    on_the_clock.sleep(PENDING + MODIFY)
    assert [m for m, _ in events(rds)] == ["Applying modification to allocated storage",
                                            "Finished applying modification to allocated storage"]


# -- a modification RDS accepts and does not apply (C-RDS-1's condition of done) -----------------

def test_a_modification_marked_to_fail_returns_to_available_unapplied(rds, on_the_clock):
    """C-RDS-1: done is "available and nothing pending"; a dropped change meets that too, with the
    old value, which is why a reader must compare the value as well (the engine's read-back)."""
    clock.fail("rds-modification", "db")
    answer = rds.modify_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.medium", ApplyImmediately=True)["DBInstance"]
    # Accepted as any other: pending while available, then modifying.
    assert (answer["DBInstanceStatus"], answer["PendingModifiedValues"]) == ("available", {"DBInstanceClass": "db.t3.medium"})
    on_the_clock.sleep(PENDING)
    assert read(rds)["DBInstanceStatus"] == "modifying"
    on_the_clock.sleep(MODIFY)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["DBInstanceClass"], db["PendingModifiedValues"]) == ("available", "db.t3.micro", {})
    # The mark is per instance, until removed: the next modification is applied.
    clock.unfail("rds-modification", "db")
    rds.modify_db_instance(DBInstanceIdentifier="db", DBInstanceClass="db.t3.medium", ApplyImmediately=True)
    on_the_clock.sleep(PENDING + MODIFY)
    assert (read(rds)["DBInstanceStatus"], read(rds)["DBInstanceClass"]) == ("available", "db.t3.medium")


def test_a_dropped_storage_change_leaves_no_storage_optimization_nor_cooldown(rds, on_the_clock):
    """C-RDS-2's six hours count from a storage change that was made; a dropped one made none."""
    clock.fail("rds-modification", "db")
    rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=30, ApplyImmediately=True)
    on_the_clock.sleep(PENDING + MODIFY)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["AllocatedStorage"], db["PendingModifiedValues"]) == ("available", 20, {})
    clock.unfail("rds-modification", "db")
    rds.modify_db_instance(DBInstanceIdentifier="db", AllocatedStorage=30, ApplyImmediately=True)
    assert read(rds)["PendingModifiedValues"] == {"AllocatedStorage": 30}

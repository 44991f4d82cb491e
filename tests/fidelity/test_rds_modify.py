"""RDS modifications on the layer's clock (sandbox/fidelity/rds_modify.py): aws-notes C-RDS-1,
C-RDS-2, C-RDS-3, in-process under mock_aws."""
from __future__ import annotations

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

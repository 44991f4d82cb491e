"""RDS for PostgreSQL engine versions (sandbox/fidelity/rds_versions.py): docs/aws-behaviours.md A-44, C-RDS-3,
C-RDS-5, in-process under mock_aws, read back with the test's own client."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock

REGION = "us-east-1"
PENDING, MODIFY = (clock.DURATIONS[k] for k in ("rds.modify_pending", "rds.modify"))


def create(client, version: str) -> None:
    client.create_db_instance(DBInstanceIdentifier="db", Engine="postgres", EngineVersion=version, DBInstanceClass="db.t3.micro",
                              AllocatedStorage=20, MasterUsername="app", MasterUserPassword="secret-password")


@pytest.fixture
def rds(moto_aws):
    return boto3.client("rds", region_name=REGION)


def read(rds) -> dict:
    [db] = rds.describe_db_instances(DBInstanceIdentifier="db")["DBInstances"]
    return db


def refused(rds, **params) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        rds.modify_db_instance(DBInstanceIdentifier="db", ApplyImmediately=True, **params)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterCombination"
    return caught.value.response["Error"]["Message"]


def test_describe_db_engine_versions_lists_the_valid_upgrade_targets(rds):
    [v] = rds.describe_db_engine_versions(Engine="postgres", EngineVersion="17.4")["DBEngineVersions"]
    assert (v["EngineVersion"], v["DBParameterGroupFamily"]) == ("17.4", "postgres17")
    targets = {t["EngineVersion"]: t["IsMajorVersionUpgrade"] for t in v["ValidUpgradeTarget"]}
    assert targets == {"17.5": False, "17.6": False, "17.7": False, "18.1": True}
    # 16.3 (May 2024) may skip to 17: every 17 minor is of a later release.
    [old] = rds.describe_db_engine_versions(Engine="postgres", EngineVersion="16.3")["DBEngineVersions"]
    assert {t["EngineVersion"] for t in old["ValidUpgradeTarget"] if t["IsMajorVersionUpgrade"]} >= {"17.2", "18.1"}
    # 18.1 is the newest: nothing to upgrade to; an unknown version lists nothing.
    [newest] = rds.describe_db_engine_versions(Engine="postgres", EngineVersion="18.1")["DBEngineVersions"]
    assert newest["ValidUpgradeTarget"] == []
    assert rds.describe_db_engine_versions(Engine="postgres", EngineVersion="17.3")["DBEngineVersions"] == []
    pages = rds.get_paginator("describe_db_engine_versions").paginate(Engine="postgres", DefaultOnly=True)
    assert sorted(v["EngineVersion"] for p in pages for v in p["DBEngineVersions"]) == ["15.14", "16.10", "17.6", "18.1"]


def test_a_major_only_version_runs_the_default_minor(rds):
    create(rds, "17")
    db = read(rds)
    assert (db["EngineVersion"], db["DBParameterGroups"][0]["DBParameterGroupName"]) == ("17.6", "default.postgres17")


def test_modify_refuses_a_downgrade_a_target_not_offered_and_a_major_without_the_flag(rds):
    create(rds, "17.4")
    assert refused(rds, EngineVersion="17.2") == "Cannot upgrade postgres from 17.4 to 17.2"
    assert refused(rds, EngineVersion="16") == "Cannot upgrade postgres from 17.4 to 16.10"
    assert refused(rds, EngineVersion="19", AllowMajorVersionUpgrade=True) == "Cannot upgrade postgres from 17.4 to 19"
    assert refused(rds, EngineVersion="17.3") == "Cannot upgrade postgres from 17.4 to 17.3"
    assert "AllowMajorVersionUpgrade flag must be present" in refused(rds, EngineVersion="18")
    assert read(rds)["EngineVersion"] == "17.4"  # nothing changed


def test_a_major_upgrade_is_pending_then_upgrading_then_on_the_new_major_with_its_default_group(rds, on_the_clock):
    """C-RDS-1 / C-RDS-5 on the clock: "18" is 18.1; the default group follows to postgres18."""
    create(rds, "17.6")
    answer = rds.modify_db_instance(DBInstanceIdentifier="db", EngineVersion="18", AllowMajorVersionUpgrade=True,
                                    ApplyImmediately=True)["DBInstance"]
    assert (answer["DBInstanceStatus"], answer["PendingModifiedValues"]) == ("available", {"EngineVersion": "18.1"})
    on_the_clock.sleep(PENDING)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["EngineVersion"]) == ("upgrading", "17.6")
    on_the_clock.sleep(MODIFY)
    db = read(rds)
    assert (db["DBInstanceStatus"], db["EngineVersion"], db["PendingModifiedValues"]) == ("available", "18.1", {})
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] == "default.postgres18"


def test_a_minor_upgrade_by_major_only_moves_to_the_default_minor_and_never_down(rds):
    create(rds, "17.4")
    rds.modify_db_instance(DBInstanceIdentifier="db", EngineVersion="17", ApplyImmediately=True)
    assert read(rds)["EngineVersion"] == "17.6"
    rds.modify_db_instance(DBInstanceIdentifier="db", EngineVersion="17.7", ApplyImmediately=True)
    rds.modify_db_instance(DBInstanceIdentifier="db", EngineVersion="17", ApplyImmediately=True)
    assert read(rds)["EngineVersion"] == "17.7"  # already past the default minor: unchanged


@pytest.mark.server
def test_both_version_patches_answer_over_http_in_a_server_started_by_sandbox_serve(server):
    """--sandbox and the end-to-end tests talk to moto over HTTP: the new operations are routed."""
    rds = boto3.client("rds", region_name=REGION, endpoint_url=server.endpoint)
    [v] = rds.describe_db_engine_versions(Engine="postgres", EngineVersion="17.6")["DBEngineVersions"]
    assert {t["EngineVersion"] for t in v["ValidUpgradeTarget"]} == {"17.7", "18.1"}
    create(rds, "17")
    assert read(rds)["EngineVersion"] == "17.6"
    assert refused(rds, EngineVersion="19", AllowMajorVersionUpgrade=True) == "Cannot upgrade postgres from 17.6 to 19"
    ec = boto3.client("elasticache", region_name=REGION, endpoint_url=server.endpoint)
    listed = ec.describe_cache_engine_versions(Engine="redis", DefaultOnly=True)["CacheEngineVersions"]
    assert [(v["EngineVersion"], v["CacheParameterGroupFamily"]) for v in listed] == [("7.1", "redis7")]

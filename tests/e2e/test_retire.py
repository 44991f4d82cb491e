"""After bin/teardown exits 0 the environment is retired (docs/usage.md): bin/state list and
bin/drift say it was torn down, and what AWS keeps on purpose (the KMS key pending deletion, the
final snapshot) is named as retained with its date, never as unmanaged or missing.

One environment (with db_final_snapshot = true) is created and torn down once for the module;
the tests run in order on it (pytest-xdist --dist loadscope keeps the module on one worker), the
last one creates it anew.
"""
from __future__ import annotations

import os

import pytest

from resources.base import MANAGED_BY
from tests.e2e.conftest import make_reader

ENV = "gone"
SNAPSHOT_CONFIG = "[defaults]\ndb_final_snapshot = true\n"


@pytest.fixture(scope="module")
def torn(moto_server, cli_factory, tmp_path_factory):
    """The module's environment, created and torn down; the teardown's result kept."""
    moto_server.reset()
    cli = cli_factory(moto_server)
    config = tmp_path_factory.mktemp("config") / "snapshot.toml"
    config.write_text(SNAPSHOT_CONFIG)
    made = cli("reconcile", "--env", ENV, "--config", str(config))
    assert made.code == 0, made.stderr
    down = cli("teardown", "--env", ENV, "--yes")
    assert down.code == 0, down.stderr
    reader = make_reader(moto_server)
    [key] = [k for k in reader("kms").list_keys()["Keys"]
             if reader("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"]
    meta = reader("kms").describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    [snapshot] = reader("rds").describe_db_snapshots(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBSnapshots"]
    return {"cli": cli, "reader": reader, "down": down, "key": meta["KeyId"],
            "until": meta["DeletionDate"].date().isoformat(), "snapshot": snapshot["DBSnapshotIdentifier"]}


@pytest.fixture
def cli(torn):
    return torn["cli"]


def state_of(cli) -> dict:
    shown = cli("state", "show", "--env", ENV, "--json")
    assert shown.code == 0, shown.stderr
    return shown.json["state"]


def test_teardown_names_the_key_it_scheduled_and_the_final_snapshot_it_kept(torn, cli):
    out = torn["down"].stdout
    assert f"- kms_key alias/video-pipeline-{ENV} ({torn['key']}): scheduled for deletion on {torn['until']} " \
           "(retained until then)" in out, out
    assert f"- final snapshot {torn['snapshot']} kept" in out, out
    assert "deleted kms_key" not in out
    # A second teardown has nothing to delete and still names what AWS keeps, in its JSON too.
    again = cli("teardown", "--env", ENV, "--yes", "--json")
    assert again.code == 0, again.stderr
    assert again.json["deleted"] == []
    retained = {e["kind"]: e for e in again.json["retained"]}
    assert set(retained) == {"kms_key", "rds_final_snapshot"}
    assert (retained["kms_key"]["id"], retained["kms_key"]["until"][:10]) == (torn["key"], torn["until"])
    assert retained["rds_final_snapshot"]["id"] == torn["snapshot"]


def test_the_state_document_records_the_retirement_and_is_kept(torn, cli):
    retired = state_of(cli)["retired"]
    assert retired["command"] == "bin/teardown" and "@" in retired["by"] and retired["at"][:4].isdigit()
    assert {(e["kind"], e["id"]) for e in retired["retained"]} == {("kms_key", torn["key"]),
                                                                  ("rds_final_snapshot", torn["snapshot"])}


def test_state_list_shows_it_torn_down(cli):
    listed = cli("state", "list", "--json")
    assert listed.code == 0, listed.stderr
    [entry] = [e for e in listed.json["environments"] if e["env"] == ENV]
    assert entry["status"] == "torn down" and entry["retired"]["command"] == "bin/teardown"
    human = cli("state", "list")
    [line] = [line for line in human.stdout.splitlines() if line.startswith(ENV)]
    assert f"torn down {entry['retired']['at'][:10]}" in line


def test_drift_of_the_environment_says_it_was_torn_down_and_exits_0(torn, cli):
    result = cli("drift", "--env", ENV, "--json")
    assert result.code == 0, result.stderr
    doc = result.json
    assert doc["in_sync"] is True and doc["retired"]["command"] == "bin/teardown"
    assert doc["missing"] == [] and doc["unmanaged"] == [] and doc["drifted"] == []
    assert {(e["kind"], e["id"]) for e in doc["retained"]} == {("kms_key", torn["key"]),
                                                               ("rds_final_snapshot", torn["snapshot"])}
    human = cli("drift", "--env", ENV)
    assert human.code == 0
    [line] = human.stdout.strip().splitlines()  # the report goes to stdout without --json
    assert line.startswith(f"{ENV} was torn down on {doc['retired']['at'][:10]}; retained: ")
    assert f"scheduled for deletion on {torn['until']}" in line and f"final snapshot {torn['snapshot']} kept" in line


def test_drift_all_does_not_alert_on_it_with_or_without_its_state(torn, cli, tmp_path_factory):
    result = cli("drift", "--all", "--json")
    assert result.code == 0, result.stderr
    assert result.json["in_sync"] is True and result.json["environments"] == []
    [retired] = result.json["retired"]
    assert retired["env"] == ENV and retired["unmanaged"] == [] and len(retired["retained"]) == 2
    # The state gone too (deleted by hand): what AWS keeps is still retained, not unmanaged.
    state = state_of(cli)
    listed = cli("state", "list", "--json").json["environments"]
    [path] = [e["location"] for e in listed if e["env"] == ENV]
    with open(path, "rb") as f:
        kept = f.read()
    os.unlink(path)
    try:
        without = cli("drift", "--all", "--json")
        assert without.code == 0, without.stderr
        assert without.json["environments"] == []
        [left] = without.json["retired"]
        assert left["state"] == "none" and {e["id"] for e in left["retained"]} == {torn["key"], torn["snapshot"]}
    finally:
        with open(path, "wb") as f:
            f.write(kept)
    assert state_of(cli) == state


def test_an_unmanaged_resource_is_reported_with_what_to_do(torn, cli, tmp_path_factory):
    ec2 = torn["reader"]("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName=f"stray-{ENV}", Description="made by hand", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": "Environment", "Value": ENV},
                                                    {"Key": "ManagedBy", "Value": MANAGED_BY}]}])["GroupId"]
    try:
        result = cli("drift", "--env", ENV, "--json")
        assert result.code == 2, result.stderr
        [entry] = result.json["unmanaged"]
        assert entry["id"] == group and "delete it, or add an ignore rule" in entry["advice"]
        assert f"unmanaged ec2 {group}" in result.stderr
        assert "Reconcile does not delete what it did not create: delete it, or add an ignore rule" in result.stderr
        # The advice works: an ignore rule takes it out of the alert.
        rule = tmp_path_factory.mktemp("rule") / "ignore.toml"
        rule.write_text(f'{SNAPSHOT_CONFIG}\n[[defaults.drift.ignore]]\nunmanaged = "{group}"\nreason = "the bastion"\n')
        ignored = cli("drift", "--env", ENV, "--config", str(rule), "--json")
        assert ignored.code == 0, ignored.stderr
        assert [i["id"] for i in ignored.json["ignored"]] == [group]
    finally:
        ec2.delete_security_group(GroupId=group)
    assert cli("drift", "--env", ENV).code == 0


def test_reconcile_creates_it_anew_and_it_is_active_again(torn, cli):
    again = cli("reconcile", "--env", ENV)
    assert again.code == 0, again.stderr
    assert "retired" not in state_of(cli)
    [entry] = [e for e in cli("state", "list", "--json").json["environments"] if e["env"] == ENV]
    assert entry["status"] == "active" and entry["retired"] is None
    # The key pending deletion was restored, not replaced: the stack is whole and in sync; the
    # final snapshot the teardown left is still listed as retained, never as unmanaged.
    drift = cli("drift", "--env", ENV, "--json")
    assert drift.code == 0, drift.stderr
    assert drift.json["in_sync"] is True and drift.json["unmanaged"] == [] and "retired" not in drift.json
    assert drift.json["retained"] == [{"resource": "rds.instance", "kind": "rds_final_snapshot",
                                       "name": torn["snapshot"], "id": torn["snapshot"]}]
    assert torn["key"] in {k["KeyId"] for k in torn["reader"]("kms").list_keys()["Keys"]
                           if torn["reader"]("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"}

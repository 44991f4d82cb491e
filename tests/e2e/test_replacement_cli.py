"""Replacements through the real bin/reconcile (issue 13): a stateless one is made without asking,
one that loses data needs --allow-replace naming it, and the plan says which and why."""
from __future__ import annotations

ENV = "dev"


def test_a_new_port_replaces_the_target_group_and_a_new_cidr_asks_for_consent(cli, reader, tmp_path):
    assert cli("reconcile", "--env", ENV).code == 0
    port = tmp_path / "port.toml"
    port.write_text("[defaults]\napi_port = 8080\n")
    planned = cli("reconcile", "--env", ENV, "--config", str(port), "--plan", "--json")
    assert planned.code == 2, planned.stderr
    [tg] = [c for c in planned.json["changes"] if c["resource"] == "elb.target_group"]
    assert (tg["action"], tg["replacement"], tg["data_lost"]) == ("replace", "beside", {})
    applied = cli("reconcile", "--env", ENV, "--config", str(port))
    assert applied.code == 0, applied.stderr
    assert f"-/+ replaced elbv2_target_group api-tg-{ENV}" in applied.stdout
    groups = reader("elbv2").describe_target_groups()["TargetGroups"]
    assert [(g["TargetGroupName"], g["Port"]) for g in groups] == [(f"api-tg-{ENV}-b", 8080)]
    assert cli("reconcile", "--env", ENV, "--json").json["changes"] == []

    cidr = tmp_path / "cidr.toml"
    cidr.write_text('[defaults]\napi_port = 8080\nvpc_cidr = "10.1.0.0/16"\n')
    refused = cli("reconcile", "--env", ENV, "--config", str(cidr), "--plan")
    assert refused.code == 1
    [error] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: vpc: vpc vpc-dev") and "data lost: " in error and "--allow-replace vpc" in error
    consented = cli("reconcile", "--env", ENV, "--config", str(cidr), "--plan", "--allow-replace", "vpc-dev", "--json")
    assert consented.code == 2, consented.stderr
    [vpc] = [c for c in consented.json["changes"] if c["resource"] == "vpc"]
    assert vpc["replacement"] == "delete_first" and "rds.instance" in vpc["data_lost"]
    assert {c["replaced_with"] for c in consented.json["changes"] if c.get("replaced_with")} == {"vpc"}

    bad = cli("reconcile", "--env", ENV, "--config", str(cidr), "--allow-replace", "database")
    assert bad.code == 1 and "Traceback" not in bad.stderr
    assert [line for line in bad.stderr.splitlines() if line.startswith("error:")] == [
        "error: --allow-replace database: not a resource of this stack; a node key such as vpc, rds.instance or "
        "elb.target_group, or its name"]
    [vpc_now] = reader("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": [ENV]}])["Vpcs"]
    assert vpc_now["CidrBlock"] == "10.0.0.0/16"


def test_a_new_cidr_under_deletion_protection_names_every_step_and_the_steps_work(cli, tmp_path):
    def config(name: str, protection: bool, cidr: str) -> str:
        path = tmp_path / name
        path.write_text(f'[defaults]\ndeletion_protection = {str(protection).lower()}\nvpc_cidr = "{cidr}"\n')
        return str(path)

    assert cli("reconcile", "--env", ENV, "--config", config("on.toml", True, "10.0.0.0/16")).code == 0
    wanted = config("new.toml", True, "10.1.0.0/16")
    for consent in ((), ("--allow-replace", "vpc")):
        refused = cli("reconcile", "--env", ENV, "--config", wanted, "--plan", *consent)
        assert refused.code == 1, refused.stderr
        [error] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert f"rds-postgresql-{ENV}" in error and "deletion protection is on" in error, error
        assert ("first set deletion_protection = false with the previous value kept and run bin/reconcile, then run "
                "bin/reconcile with the new value and --allow-replace vpc") in error, error
    # The steps as named: protection off (the CIDR as it was), then the new CIDR with consent.
    off = cli("reconcile", "--env", ENV, "--config", config("off.toml", False, "10.0.0.0/16"))
    assert off.code == 0, off.stderr
    consented = cli("reconcile", "--env", ENV, "--config", config("new-off.toml", False, "10.1.0.0/16"), "--plan",
                    "--allow-replace", "vpc", "--json")
    assert consented.code == 2, consented.stderr
    [vpc] = [c for c in consented.json["changes"] if c["resource"] == "vpc"]
    assert vpc["replacement"] == "delete_first" and "refused" not in vpc

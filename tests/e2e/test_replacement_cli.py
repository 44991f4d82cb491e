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

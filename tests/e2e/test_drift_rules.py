"""bin/drift's ignore rules and --new-only against the moto server (issue 14).

One environment is reconciled once for the module with a configuration holding ignore rules; the
rules are recorded in its state, so every check here runs without --config, as a scheduled one
does. The tests share the environment in order (--dist loadscope keeps the module on one worker).
"""
from __future__ import annotations

import json

import pytest

from tests.support.commands import make_cli, make_reader

ENV = "rules"
REASON_COUNT = "autoscaling owns the worker count"
REASON_BASTION = "the bastion, managed by the network team"


@pytest.fixture(scope="module")
def env(moto_server, tmp_path_factory):
    moto_server.reset()
    workdir = tmp_path_factory.mktemp("rules")
    cli = make_cli(moto_server, workdir / "state", workdir)
    ec2 = _reader(moto_server)("ec2")
    # The configuration names the bastion by its id (a glob over unmanaged ids), so the stack
    # and the bastion in its VPC come first; the rules are recorded by the second reconcile.
    created = cli("reconcile", "--env", ENV)
    assert created.code == 0, created.stderr
    bastion = ec2.create_security_group(GroupName="bastion", Description="network team", VpcId=_vpc(ec2))["GroupId"]
    config = tmp_path_factory.mktemp("config") / "video-pipeline.toml"
    config.write_text(f"""
[[defaults.drift.ignore]]
unmanaged = "{bastion[:-2]}*"
kind = "security_group"
reason = "{REASON_BASTION}"

[[environments.{ENV}.drift.ignore]]
resource = "ecs.service.worker"
attribute = "desired_count"
reason = "{REASON_COUNT}"
""")
    recorded = cli("reconcile", "--env", ENV, "--config", str(config), "--json")
    assert recorded.code == 0, recorded.stderr
    assert recorded.json["changes"] == [], "rules change no resource"
    return {"cli": cli, "bastion": bastion, "config": config, "state_dir": workdir / "state"}


def _reader(server):
    return make_reader(server)


def _vpc(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"vpc-{ENV}"]}])["Vpcs"][0]["VpcId"]


def scale_worker(reader, count=5):
    reader("ecs").update_service(cluster=f"video-processing-{ENV}", service=f"video-worker-{ENV}", desiredCount=count)


def shorten_retention(reader, days=1):
    reader("logs").put_retention_policy(logGroupName=f"/ecs/video-processing-{ENV}/metadata-api", retentionInDays=days)


def dns_off(reader):
    ec2 = reader("ec2")
    ec2.modify_vpc_attribute(VpcId=_vpc(ec2), EnableDnsHostnames={"Value": False})


def test_ignored_attribute_and_unmanaged_group_are_listed_with_their_reasons_and_exit_0(env, moto_server):
    reader = _reader(moto_server)
    scale_worker(reader)
    # Judged against the configuration recorded in the state: no --config.
    result = env["cli"]("drift", "--env", ENV, "--json")
    assert result.code == 0, result.stdout + result.stderr
    doc = result.json
    assert doc["in_sync"] is True and doc["drifted"] == doc["unmanaged"] == doc["missing"] == []
    assert doc["config"]["origin"] == "recorded"
    by_category = {i["category"]: i for i in doc["ignored"]}
    assert set(by_category) == {"drifted", "unmanaged"}, doc["ignored"]
    count = by_category["drifted"]
    assert (count["resource"], count["attribute"], count["actual"], count["reason"]) == (
        "ecs.service.worker", "desired_count", 5, REASON_COUNT)
    assert by_category["unmanaged"]["id"] == env["bastion"] and by_category["unmanaged"]["reason"] == REASON_BASTION
    # Never silently dropped: the people reading stderr see them too.
    assert f"ignored unmanaged security_group {env['bastion']}: {REASON_BASTION}" in result.stderr
    assert REASON_COUNT in result.stderr


def test_drift_a_rule_does_not_cover_is_still_drift_beside_what_is_ignored(env, moto_server):
    reader = _reader(moto_server)
    shorten_retention(reader)
    result = env["cli"]("drift", "--env", ENV, "--json")
    assert result.code == 2, result.stderr
    assert [d["attribute"] for d in result.json["drifted"]] == ["retention_days"]
    assert len(result.json["ignored"]) == 2
    # --all applies each environment's own recorded rules.
    every = env["cli"]("drift", "--all", "--json")
    assert every.code == 2, every.stderr
    [mine] = [d for d in every.json["environments"] if d["env"] == ENV]
    assert [d["attribute"] for d in mine["drifted"]] == ["retention_days"]
    assert {i["category"] for i in mine["ignored"]} == {"drifted", "unmanaged"}
    # The rules are about the report only: a reconcile still converges the count.
    assert env["cli"]("reconcile", "--env", ENV).code == 0
    again = env["cli"]("drift", "--env", ENV, "--json")
    assert again.code == 0 and [i["category"] for i in again.json["ignored"]] == ["unmanaged"]


def test_new_only_alerts_once_per_finding_and_lists_everything_current(env, moto_server, tmp_path):
    reader, cli = _reader(moto_server), env["cli"]
    hook = lambda name: ("--notify-command", f"cat > {tmp_path / name}")  # noqa: E731 - one sink per run
    dns_off(reader)
    first = cli("drift", "--env", ENV, "--new-only", "--json", *hook("first.json"))
    assert first.code == 2, first.stderr
    assert first.json["new_since"] is None
    assert [(n["category"], n["attribute"]) for n in first.json["new"]] == [("drifted", "enable_dns_hostnames")]
    assert json.loads((tmp_path / "first.json").read_text())["new"] == first.json["new"]
    assert "(new)" in first.stderr
    record = env["state_dir"] / f"{ENV}.us-east-1.drift.json"
    assert record.exists()

    second = cli("drift", "--env", ENV, "--new-only", "--json", *hook("second.json"))
    assert second.code == 0, second.stderr
    assert second.json["new"] == [] and second.json["new_since"] is not None
    # Still listed as current drift: a script can tell it from what is new.
    assert [d["attribute"] for d in second.json["drifted"]] == ["enable_dns_hostnames"]
    assert second.json["in_sync"] is False
    assert not (tmp_path / "second.json").exists(), "nothing new: the hook is not called"

    # A check without --new-only neither reads nor moves the record: it cannot swallow an alert.
    before = record.read_bytes()
    plain = cli("drift", "--env", ENV, "--json")
    assert plain.code == 2 and "new" not in plain.json
    assert record.read_bytes() == before

    shorten_retention(reader)
    third = cli("drift", "--env", ENV, "--new-only", "--json", *hook("third.json"))
    assert third.code == 2, third.stderr
    assert [(n["category"], n["attribute"]) for n in third.json["new"]] == [("drifted", "retention_days")]
    assert {d["attribute"] for d in third.json["drifted"]} == {"enable_dns_hostnames", "retention_days"}
    assert [n["attribute"] for n in json.loads((tmp_path / "third.json").read_text())["new"]] == ["retention_days"]

    # What an ignore rule matches is never new: it is not an alert.
    scale_worker(reader, 4)
    fourth = cli("drift", "--env", ENV, "--new-only", "--json", *hook("fourth.json"))
    assert fourth.code == 0 and fourth.json["new"] == []
    assert not (tmp_path / "fourth.json").exists()

    assert cli("reconcile", "--env", ENV).code == 0
    repaired = cli("drift", "--env", ENV, "--new-only", "--json")
    assert repaired.code == 0 and repaired.json["in_sync"] and repaired.json["new"] == []
    # Repaired, then broken again: new again.
    dns_off(reader)
    back = cli("drift", "--all", "--new-only", "--json", *hook("all.json"))
    assert back.code == 2, back.stderr
    [mine] = [d for d in back.json["environments"] if d["env"] == ENV]
    assert [n["attribute"] for n in mine["new"]] == ["enable_dns_hostnames"] and back.json["new_only"] is True
    assert (tmp_path / "all.json").exists()
    quiet = cli("drift", "--all", "--new-only", "--json", *hook("all-again.json"))
    assert quiet.code == 0, quiet.stderr
    assert not (tmp_path / "all-again.json").exists()
    assert cli("reconcile", "--env", ENV).code == 0


def test_new_only_keeps_its_record_beside_state_in_s3(env, moto_server):
    cli, reader, state_dir = env["cli"], _reader(moto_server), env["state_dir"]
    url = "s3://drift-records/envs"
    assert cli("state", "init", url).code == 0
    moved = cli("state", "move", "--env", ENV, "--from", str(state_dir), "--to", url)
    assert moved.code == 0, moved.stderr
    s3 = {"VIDEO_PIPELINE_STATE": url}
    shorten_retention(reader)
    first = cli("drift", "--env", ENV, "--new-only", "--json", env=s3)
    assert first.code == 2, first.stderr
    assert first.json["config"]["origin"] == "recorded", "the rules moved with the state"
    assert [n["attribute"] for n in first.json["new"]] == ["retention_days"]
    record = json.loads(reader("s3").get_object(Bucket="drift-records", Key=f"envs/{ENV}.us-east-1.drift.json")["Body"].read())
    assert [e["attribute"] for e in record["entries"]] == ["retention_days"]
    second = cli("drift", "--env", ENV, "--new-only", "--json", env=s3)
    assert second.code == 0 and second.json["new"] == [], second.stderr
    # The record is not a state: bin/state list shows the environment once.
    listed = cli("state", "list", "--json", env=s3)
    assert [e["env"] for e in listed.json["environments"]] == [ENV]
    # Repaired where a reconcile needs no secret administrators named (a local state).
    assert cli("state", "move", "--env", ENV, "--from", url, "--to", str(state_dir)).code == 0
    assert cli("reconcile", "--env", ENV).code == 0


BAD_RULES = """
[[environments.rules.drift.ignore]]
resource = "ecs.service.video-worker"
reason = "a name, not a node key"
[[environments.rules.drift.ignore]]
unmanaged = "sg-*"
"""


@pytest.mark.parametrize("via", ["bin", "main"])
def test_bad_rules_are_refused_one_line_each_before_any_call(run, quiet_server, tmp_path, via):
    config = tmp_path / "bad.toml"
    config.write_text(BAD_RULES)
    for command in ("drift", "reconcile"):
        result = run(via, command, "--env", ENV, "--config", str(config))
        assert result.code == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 2 and all(line.startswith("error: ") for line in lines), lines
        assert "drift.ignore[1]: resource 'ecs.service.video-worker' is not a node of the stack" in lines[0]
        assert "drift.ignore[2]: reason is required" in lines[1]
        assert "Traceback" not in result.stderr
    assert quiet_server.calls() == [], "refused before any AWS call"

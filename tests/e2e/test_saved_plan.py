"""Saved plans through the real bin/reconcile against the moto server: --plan --out FILE writes
what the plan shows, --apply FILE makes exactly that or, if anything moved since, nothing.

One environment is created once for the module (a full create costs seconds); every test leaves
it converged to the configuration BASE."""
from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.e2e.conftest import REGION, make_cli, make_reader
from tests.e2e.inventory import secret_values

ENV = "saved"
BASE = "[defaults]\nlog_retention_days = 30\n"
CHANGED = "[defaults]\nlog_retention_days = 90\n"


@dataclass
class Stack:
    cli: Callable
    reader: Callable
    server: object
    workdir: Path

    @property
    def state(self) -> Path:
        return self.workdir / "state" / f"{ENV}.{REGION}.json"

    def config(self, name: str, text: str) -> str:
        path = self.workdir / name
        path.write_text(text)
        return str(path)


@pytest.fixture(scope="module")
def created(moto_server, tmp_path_factory):
    moto_server.reset()
    workdir = tmp_path_factory.mktemp("saved-plan")
    stack = Stack(make_cli(moto_server, workdir / "state", workdir), make_reader(moto_server), moto_server, workdir)
    # Created from a saved plan: every resource planned absent, then made by its apply.
    path = workdir / "create.json"
    plan = stack.cli("reconcile", "--env", ENV, "--config", stack.config("base.toml", BASE), "--plan", "--out", str(path))
    assert plan.code == 2, plan.stderr
    made = stack.cli("reconcile", "--env", ENV, "--apply", str(path))
    assert made.code == 0, made.stderr
    assert stack.cli("reconcile", "--env", ENV, "--plan").code == 0
    return stack


@pytest.fixture
def stack(created):
    yield created
    # Back to BASE whatever the test did (a change by hand is reverted, a changed setting too).
    back = created.cli("reconcile", "--env", ENV, "--config", created.config("base.toml", BASE))
    assert back.code == 0, back.stderr


def one_error_line(result) -> str:
    assert result.code == 1, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    # The logs (stderr) say what was read; one error line says why nothing was changed.
    lines = [line for line in result.stderr.splitlines() if line.startswith("error") or "[error" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def retention(reader) -> set[int]:
    groups = reader("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/video-processing-{ENV}/")["logGroups"]
    return {g["retentionInDays"] for g in groups}


def planned(stack: Stack, *args: str) -> tuple[dict, Path]:
    """A saved plan of CHANGED (a setting of every ECS log group): its JSON document and file."""
    path = stack.workdir / "plan.json"
    made = stack.cli("reconcile", "--env", ENV, "--plan", "--json", "--out", str(path), *args)
    assert made.code == 2, made.stderr
    assert made.json["saved_plan"] == str(path)
    return made.json, path


def test_a_saved_plan_applies_exactly_what_it_showed_once(stack):
    config = stack.config("changed.toml", CHANGED)
    plan, path = planned(stack, "--config", config)
    changed = {c["resource"] for c in plan["changes"]}
    assert changed and all(c["action"] == "update" for c in plan["changes"]), plan["changes"]
    assert {f["field"] for c in plan["changes"] for f in c["changes"]} == {"retention_days"}

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    for what, value in secret_values(stack.reader, ENV).items():
        assert len(value) >= 16 and value not in text, f"{what} found in the saved plan"
    saved = json.loads(text)
    assert (saved["env"], saved["region"], saved["account"]) == (ENV, REGION, "123456789012")
    assert saved["config"]["values"]["log_retention_days"] == 90 and saved["changes"] == plan["changes"]

    # The file given at plan time says something else now: the plan's configuration is applied.
    Path(config).write_text("[defaults]\nlog_retention_days = 7\n")
    stack.server.clear_recording()
    applied = stack.cli("reconcile", "--env", ENV, "--apply", str(path), "--json")
    assert applied.code == 0, applied.stderr
    assert applied.json["saved_plan"] == str(path)
    assert [(c["resource"], c["changes"]) for c in applied.json["changes"]] == \
        [(c["resource"], c["changes"]) for c in plan["changes"]]
    assert {c.operation for c in stack.server.mutating_calls()} == {"PutRetentionPolicy"}
    assert retention(stack.reader) == {90}
    assert json.loads(stack.state.read_text())["config"]["hash"] == plan["config"]["hash"]
    again = stack.cli("reconcile", "--env", ENV, "--plan")
    assert again.code == 0, again.stdout + again.stderr

    # Applied once: the state it rests on has been written since.
    state = stack.state.read_bytes()
    stack.server.clear_recording()
    twice = stack.cli("reconcile", "--env", ENV, "--apply", str(path))
    line = one_error_line(twice)
    assert line == (f"error: the plan is stale: the state of {ENV} was written since the plan was made (another run "
                    "changed it); nothing was changed; make a new plan"), line
    assert stack.server.mutating_calls() == []
    assert stack.state.read_bytes() == state


def add_ssh_rule(reader) -> str:
    ec2 = reader("ec2")
    sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"rds-sg-{ENV}"]}])["SecurityGroups"][0]
    ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    return f"security_group rds-sg-{ENV} ({sg['GroupId']})"


def rename_subnet(reader) -> str:
    ec2 = reader("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [f"isolated-subnet-2-{ENV}"]}])["Subnets"][0]
    ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": "renamed-by-hand"}])
    return f"subnet isolated-subnet-2-{ENV} ({subnet['SubnetId']})"


@pytest.mark.parametrize("by_hand", [add_ssh_rule, rename_subnet], ids=["security group rule", "tag"])
def test_an_apply_after_a_change_by_hand_changes_nothing_and_names_it(stack, by_hand):
    _, path = planned(stack, "--config", stack.config("changed.toml", CHANGED))
    # Neither resource is one the plan changes: what it read of them moved all the same.
    moved = by_hand(stack.reader)
    state = stack.state.read_bytes()
    stack.server.clear_recording()
    refused = stack.cli("reconcile", "--env", ENV, "--apply", str(path), "--json")
    line = one_error_line(refused)
    assert line == f"error: the plan is stale: {moved} changed since the plan was made; nothing was changed; " \
                   "make a new plan", line
    assert refused.stdout == ""
    assert stack.server.mutating_calls() == []
    assert stack.state.read_bytes() == state
    assert retention(stack.reader) == {30}


def test_an_apply_after_the_recorded_configuration_changed_changes_nothing(stack):
    # Made without --config: the recorded configuration, nothing to change (exit 0, a file all the same).
    path = stack.workdir / "plan-recorded.json"
    made = stack.cli("reconcile", "--env", ENV, "--plan", "--out", str(path))
    assert made.code == 0, made.stderr
    assert f"Saved the plan to {path}" in made.stdout
    assert json.loads(path.read_text())["config"]["origin"] == "recorded"
    other = stack.cli("reconcile", "--env", ENV, "--config", stack.config("changed.toml", CHANGED))
    assert other.code == 0, other.stderr

    stack.server.clear_recording()
    refused = stack.cli("reconcile", "--env", ENV, "--apply", str(path))
    assert one_error_line(refused) == (f"error: the plan is stale: the configuration recorded for {ENV} changed since "
                                       "the plan was made; nothing was changed; make a new plan")
    assert stack.server.mutating_calls() == []
    assert retention(stack.reader) == {90}


def test_a_plan_aws_would_refuse_saves_a_file_apply_refuses(stack):
    path = stack.workdir / "refused.json"
    downgrade = stack.config("downgrade.toml", BASE + 'db_engine_version = "16"\n')
    made = stack.cli("reconcile", "--env", ENV, "--plan", "--out", str(path), "--config", downgrade)
    assert made.code == 1, made.stdout + made.stderr
    assert "marked as one that cannot be applied" in made.stdout
    stack.server.clear_recording()
    refused = stack.cli("reconcile", "--env", ENV, "--apply", str(path))
    line = one_error_line(refused)
    assert line.startswith(f"error: {path} holds a plan that cannot be applied (rds.instance: ") and \
        "cannot downgrade PostgreSQL" in line and line.endswith("nothing was changed; make a new plan"), line
    assert stack.server.calls() == [], "refused before any AWS call"


def bad_files(stack: Stack, good: Path) -> dict[str, tuple[Path, str]]:
    """Saved plans --apply refuses before any AWS call, and the end of each one's error line."""
    saved = json.loads(good.read_text())
    edited = stack.workdir / "edited.json"
    edited.write_text(json.dumps({**saved, "config": {**saved["config"], "values": {
        **saved["config"]["values"], "log_retention_days": 7}}}))
    truncated = stack.workdir / "truncated.json"
    truncated.write_text(good.read_text()[:200])
    return {
        "edited": (edited, f"saved plan {edited} is corrupt: its content does not match its digest (edited or truncated)"),
        "truncated": (truncated, f"{truncated} is not a saved plan of bin/reconcile: not JSON"),
        "a state file": (stack.state, f"{stack.state} is not a saved plan of bin/reconcile (bin/reconcile --plan "
                                      "--out FILE makes one)"),
        "missing": (stack.workdir / "none.json", f"cannot read the saved plan {stack.workdir / 'none.json'}: "
                                                 "No such file or directory"),
    }


def test_a_plan_of_another_environment_a_corrupt_file_or_bad_flags_refuse_in_one_line(stack):
    _, good = planned(stack, "--config", stack.config("changed.toml", CHANGED))
    state = stack.state.read_bytes()
    stack.server.clear_recording()
    other = stack.cli("reconcile", "--env", "other", "--apply", str(good))
    assert one_error_line(other) == f"error: {good} is a saved plan for environment {ENV}, not other: nothing was changed"
    for what, (path, message) in bad_files(stack, good).items():
        line = one_error_line(stack.cli("reconcile", "--env", ENV, "--apply", str(path)))
        assert line.startswith(f"error: {message}"), (what, line)
    flags = {
        ("--apply", str(good), "--plan"): "--plan belongs to the plan",
        ("--apply", str(good), "--config", stack.config("changed.toml", CHANGED)): "--config belongs to the plan",
        ("--apply", str(good), "--allow-replace", "vpc"): "--allow-replace belongs to the plan",
        ("--out", str(good)): "--out FILE saves a plan: use it with --plan",
    }
    for extra, message in flags.items():
        line = one_error_line(stack.cli("reconcile", "--env", ENV, *extra))
        assert message in line, (extra, line)
    assert stack.server.calls() == [], "all refused before any AWS call"
    # Another region: its own state there, and the plan's is not it.
    elsewhere = stack.cli("reconcile", "--env", ENV, "--apply", str(good), "--region", "us-west-2")
    assert one_error_line(elsewhere) == (f"error: {good} was planned for region {REGION}, this run is for region "
                                         "us-west-2: nothing was changed")
    assert stack.server.mutating_calls() == []
    assert stack.state.read_bytes() == state
    assert retention(stack.reader) == {30}

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
from tests.e2e.inventory import full_inventory

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
    made = stack.cli("reconcile", "--env", ENV, "--config", stack.config("base.toml", BASE))
    assert made.code == 0, made.stderr
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
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
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


def secret_values(reader) -> dict[str, str]:
    sm = reader("secretsmanager")
    db = sm.list_secrets(Filters=[{"Key": "name", "Values": ["rds!"]}])["SecretList"][0]["ARN"]
    api_key_id = full_inventory(reader, ENV)["api_key"][0]
    return {
        "db password": json.loads(sm.get_secret_value(SecretId=db)["SecretString"])["password"],
        "redis token": json.loads(sm.get_secret_value(SecretId=f"redis-auth-{ENV}")["SecretString"])["auth_token"],
        "api key": reader("apigateway").get_api_key(apiKey=api_key_id, includeValue=True)["value"],
    }


def test_a_saved_plan_applies_exactly_what_it_showed_once(stack):
    config = stack.config("changed.toml", CHANGED)
    plan, path = planned(stack, "--config", config)
    changed = {c["resource"] for c in plan["changes"]}
    assert changed and all(c["action"] == "update" for c in plan["changes"]), plan["changes"]
    assert {f["field"] for c in plan["changes"] for f in c["changes"]} == {"retention_days"}

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    for what, value in secret_values(stack.reader).items():
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

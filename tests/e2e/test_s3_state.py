"""State shared in S3 (moto's S3, which enforces If-None-Match and If-Match as S3 does), through
the real bin/ commands against the moto server: two runs at once, a killed holder, the bucket
check, the S3 calls a run adds, and bin/state list / show / move."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest

from state import StateDocument
from tests.e2e.inventory import counts, full_inventory, secret_values
from tests.e2e.test_full_stack import FULL_STACK
from tests.faults.harness import ONE_STACK_IN_ACCOUNT, account_counts
from tests.support.commands import REGION, command_environment, command_line

ENV = "dev"
BUCKET = "team-state"
URL = f"s3://{BUCKET}/envs"
STATE_KEY, LOCK_KEY = f"envs/{ENV}.{REGION}.json", f"envs/{ENV}.{REGION}.lock"
ONE_STACK = ONE_STACK_IN_ACCOUNT
# A shared state needs the principals that administer the secrets (docs/teams.md).
TEAM_CONFIG = '[defaults]\nsecret_admin_principals = ["arn:aws:iam::123456789012:role/deploy"]\n'


def team_config(tmp_path) -> str:
    path = tmp_path / "team.toml"
    path.write_text(TEAM_CONFIG)
    return str(path)


@pytest.fixture
def s3_cli(cli, server):
    """bin/ commands with $VIDEO_PIPELINE_STATE on the team bucket (it wins over the
    $VIDEO_PIPELINE_STATE_DIR the test environment also sets)."""
    made = cli("state", "init", URL)
    assert made.code == 0, made.stderr
    server.clear_recording()
    return lambda *args, **kw: cli(*args, env={"VIDEO_PIPELINE_STATE": URL, **kw.pop("env", {})}, **kw)


def start(command: str, *args: str, server, state_dir, workdir) -> subprocess.Popen:
    env = {**command_environment(server.endpoint, state_dir, workdir), "VIDEO_PIPELINE_STATE": URL,
           "VIDEO_PIPELINE_LOG_FORMAT": "json"}
    return subprocess.Popen(command_line(command, *args), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=workdir)


def working(proc: subprocess.Popen) -> None:
    """Block until the run logs its first resource: it holds the lock by then."""
    first = proc.stderr.readline()
    assert first.startswith("{") and "resource_" in first, f"the run did not start working: {first}"


def objects(reader) -> dict[str, bytes]:
    """Every version of every object in the bucket (locks, states, released and overwritten ones)."""
    s3 = reader("s3")
    listing = s3.list_object_versions(Bucket=BUCKET)
    return {f"{v['Key']}@{v['VersionId']}": s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
            for v in listing.get("Versions", [])}


def test_two_runs_at_once_one_works_the_other_refuses_naming_it(s3_cli, server, reader, state_dir, tmp_path):
    first = start("reconcile", "--env", ENV, "--config", team_config(tmp_path), server=server, state_dir=state_dir,
                  workdir=tmp_path)
    working(first)
    # Held still while the second run tries, so "at once" does not depend on the machine's speed.
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = s3_cli("reconcile", "--env", ENV)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    assert second.code == 1
    [line] = second.stderr.splitlines()
    assert line.startswith(f"error: state for env 'dev' in 'us-east-1' ({URL}/dev.us-east-1.lock) is locked by ")
    assert f"pid {first.pid} on host {socket.gethostname()}" in line and "reconcile --env dev" in line
    assert "another run is in progress" in line
    assert counts(full_inventory(reader, ENV)) == FULL_STACK
    assert account_counts(reader) == ONE_STACK  # exactly one stack in the whole account

    keys = {k.split("@")[0] for k in objects(reader)}
    assert keys == {STATE_KEY, LOCK_KEY}
    current = {o["Key"] for o in reader("s3").list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert current == {STATE_KEY}  # the lock was deleted at the end
    found = {(what, where) for what, value in secret_values(reader, ENV).items() for where, body in objects(reader).items()
             if value.encode() in body}
    assert found == set(), "a secret in an object of the state bucket"

    # What S3 state adds to a no-op reconcile: 3 reads of the bucket's settings, the state read
    # for the role it records, the lock created and deleted, the state read under the lock;
    # nothing written (unchanged).
    server.clear_recording()
    again = s3_cli("reconcile", "--env", ENV, "--json")
    assert again.code == 0 and again.json["changes"] == []
    s3_calls = sorted(c.operation.split(":", 1)[0] for c in server.calls() if c.service == "s3")
    assert s3_calls == ["Delete", "Get", "Get", "Get", "Get", "Get", "Put"], s3_calls
    assert again.json["aws_calls"]["mutating"] == 0  # the stack's own count leaves the state's calls out


def test_a_killed_holder_is_broken_by_name_or_taken_over_when_its_lease_ends(s3_cli, server, reader, state_dir, tmp_path):
    host = socket.gethostname()
    killed = start("reconcile", "--env", ENV, "--config", team_config(tmp_path), server=server, state_dir=state_dir,
                   workdir=tmp_path)
    working(killed)
    killed.kill()
    killed.communicate()
    refused = s3_cli("reconcile", "--env", ENV)
    assert refused.code == 1
    assert f"pid {killed.pid} is no longer running: rerun with --break-lock" in refused.stderr
    broke = s3_cli("reconcile", "--env", ENV, "--break-lock", f"{killed.pid}@{host}", "--log-format", "json")
    assert broke.code == 0, broke.stderr[-3000:]
    [event] = [json.loads(line) for line in broke.stderr.splitlines() if "state_lock_broken" in line]
    assert (event["pid"], event["host"]) == (killed.pid, host)
    assert counts(full_inventory(reader, ENV)) == FULL_STACK
    assert account_counts(reader) == ONE_STACK

    # A teardown killed in its turn; then its lease runs out (the lock's clock moved on by the
    # test: 120 s are not waited) and the next run takes the lock over, naming the holder.
    down = start("teardown", "--env", ENV, "--yes", server=server, state_dir=state_dir, workdir=tmp_path)
    working(down)
    down.kill()
    down.communicate()
    s3 = reader("s3")
    holder = json.loads(s3.get_object(Bucket=BUCKET, Key=LOCK_KEY)["Body"].read())
    assert holder["pid"] == down.pid and holder["lease_seconds"] == 120
    s3.put_object(Bucket=BUCKET, Key=LOCK_KEY, Body=json.dumps({**holder, "expires_at": "2000-01-01T00:00:00+00:00"}))
    after = s3_cli("teardown", "--env", ENV, "--yes", "--log-format", "json")
    assert after.code == 0, after.stderr[-3000:]
    [event] = [json.loads(line) for line in after.stderr.splitlines() if "state_lock_expired" in line]
    assert (event["pid"], event["host"], event["command"]) == (down.pid, host, holder["command"])
    assert {k: v for k, v in full_inventory(reader, ENV).items() if v} == {}


def test_a_bucket_missing_requirements_gets_one_line_each_and_no_stack_call(cli, server, reader):
    reader("s3").create_bucket(Bucket="bare-bucket")
    server.clear_recording()
    result = cli("reconcile", "--env", ENV, "--state", "s3://bare-bucket/envs")
    assert result.code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith("error: state bucket bare-bucket: ") for line in lines)
    assert ["versioning" in lines[0], "public access" in lines[1], "encryption" in lines[2]] == [True] * 3
    # The state is read first (it names the environment's role; the caller's account, from STS,
    # is the bucket's expected owner): the bucket's checks stop the run before any call on the stack.
    assert {c.service for c in server.calls()} == {"s3", "sts"} and server.mutating_calls() == []
    fixed = cli("state", "init", "s3://bare-bucket/envs")
    assert fixed.code == 0 and "updated" in fixed.stdout
    assert cli("state", "list", "--state", "s3://bare-bucket/envs").code == 0  # the check now passes


def test_every_s3_call_of_the_commands_names_the_bucket_owner(cli, server, tmp_path):
    # The server's own recording: every request the commands sent to S3 carries the header,
    # but CreateBucket, which has no such parameter (the bucket is new, ours by creation).
    assert cli("state", "init", URL).code == 0
    env = {"VIDEO_PIPELINE_STATE": URL}
    assert cli("reconcile", "--env", ENV, "--plan", "--config", team_config(tmp_path), env=env).code == 2
    assert cli("state", "list", env=env).code == 0
    assert cli("drift", "--all", env=env).code == 0
    requests = [json.loads(line) for line in server.recording.read_text().splitlines() if line.strip()]
    to_s3 = [r for r in requests if "/s3/aws4_request" in r["headers"].get("Authorization", "")]
    assert len(to_s3) > 10, len(to_s3)
    missing = [(r["method"], r["url"]) for r in to_s3
               if {k.lower(): v for k, v in r["headers"].items()}.get("x-amz-expected-bucket-owner") != "123456789012"]
    assert missing == [("PUT", f"{server.endpoint}/{BUCKET}")], missing


@pytest.mark.parametrize("value", ["s3:/team-state/envs", "s3:team-state"])
def test_a_mistyped_url_is_refused_not_made_a_directory(cli, server, tmp_path, value):
    result = cli("reconcile", "--env", ENV, "--state", value)
    assert result.code == 1 and "is not s3://BUCKET/PREFIX" in result.stderr
    assert server.calls() == [] and not any(p.name.startswith("s3") for p in tmp_path.iterdir())
    unknown = cli("reconcile", "--env", ENV, "--state-d", str(tmp_path))
    assert unknown.code == 1 and "unrecognized arguments: --state-d" in unknown.stderr


def test_state_list_show_and_move_between_local_and_s3(s3_cli, cli, reader, state_dir, tmp_path):
    state_dir.mkdir()
    doc = StateDocument.new(ENV, REGION, account="123456789012")
    doc.azs = ["us-east-1a", "us-east-1b"]
    doc.set_resource("vpc", kind="vpc", id="vpc-0abc")
    (state_dir / f"{ENV}.{REGION}.json").write_text(doc.to_json())
    assert json.loads(cli("state", "list", "--json").stdout)["environments"][0]["env"] == ENV

    moved = cli("state", "move", "--env", ENV, "--from", str(state_dir), "--to", URL, "--json")
    assert moved.code == 0, moved.stderr
    assert moved.json == {"env": ENV, "region": REGION, "from": str(state_dir / f"{ENV}.{REGION}.json"),
                          "to": f"{URL}/{STATE_KEY.split('/')[1]}", "resources": 1}
    s3 = reader("s3")
    assert s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read().decode() == doc.to_json()
    assert sorted(p.name for p in state_dir.iterdir()) == [f"{ENV}.{REGION}.json.moved", f"{ENV}.{REGION}.lock"]

    listed = s3_cli("state", "list", "--json")
    assert [(e["env"], e["region"], e["locked"]) for e in listed.json["environments"]] == [(ENV, REGION, False)]
    shown = s3_cli("state", "show", "--env", ENV, "--json")
    assert shown.code == 0 and shown.json["state"]["resources"] == {"vpc": {"kind": "vpc", "id": "vpc-0abc"}}
    assert shown.json["lock"] is None
    human = s3_cli("state", "show", "--env", ENV)
    assert "unlocked" in human.stdout and "1 resources" in human.stdout
    assert s3_cli("state", "show", "--env", "prod").code == 1

    # Never onto an existing state; back to a local directory.
    again = cli("state", "move", "--env", ENV, "--from", str(tmp_path / "elsewhere"), "--to", URL)
    assert again.code == 1 and "no state for env 'dev'" in again.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / f"{ENV}.{REGION}.json").write_text(doc.to_json())
    onto = cli("state", "move", "--env", ENV, "--from", str(tmp_path / "other"), "--to", URL)
    assert onto.code == 1 and "already holds a state" in onto.stderr
    back = cli("state", "move", "--env", ENV, "--from", URL, "--to", str(tmp_path / "back"))
    assert back.code == 0, back.stderr
    assert (tmp_path / "back" / f"{ENV}.{REGION}.json").read_text() == doc.to_json()
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=STATE_KEY)
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=STATE_KEY)["Versions"]) == 1  # kept as a version

"""An environment is one thing, wherever its state is (the real bin/ commands on the moto server).

The environment's VPC names where its state lives. A run pointed at any other place (a state
moved to S3 while a cron line or VIDEO_PIPELINE_STATE still names the directory, an empty
directory) changes nothing and names the right place; a lost state at the right place is never
replaced by the defaults: without --config nothing changes.
"""
from __future__ import annotations

import json
import socket

from tests.support.commands import REGION

ENV = "qa"
URL = "s3://team-state/envs"
# The principals that administer the secrets: the environment's state also lives in S3 here.
PROTECTED = (f"[environments.{ENV}]\ndeletion_protection = true\napi_desired_count = 3\n"
             'secret_admin_principals = ["arn:aws:iam::123456789012:role/deploy"]\n')


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / "qa.toml"
    path.write_text(text)
    return str(path)


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def protected(reader) -> bool:
    db = reader("rds").describe_db_instances(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBInstances"][0]
    return db["DeletionProtection"]


def desired(reader) -> int:
    return reader("ecs").describe_services(cluster=f"video-processing-{ENV}", services=[f"metadata-api-{ENV}"])[
        "services"][0]["desiredCount"]


def vpc_tag(reader) -> str | None:
    vpcs = reader("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": [ENV]}])["Vpcs"]
    return next((t["Value"] for v in vpcs for t in v["Tags"] if t["Key"] == "video-pipeline:state"), None)


def test_a_run_at_a_location_the_environment_does_not_name_changes_nothing(cli, server, reader, state_dir, tmp_path):
    config = write_config(tmp_path, PROTECTED)
    assert cli("reconcile", "--env", ENV, "--config", config).code == 0
    assert vpc_tag(reader) == f"file://{socket.gethostname()}{state_dir.resolve()}"
    assert cli("state", "init", URL).code == 0
    moved = cli("state", "move", "--env", ENV, "--from", str(state_dir), "--to", URL)
    assert moved.code == 0, moved.stderr
    assert vpc_tag(reader) == URL
    server.clear_recording()

    empty = tmp_path / "empty"
    stale = {
        # A forgotten VIDEO_PIPELINE_STATE: the test environment's default is the old directory.
        "reconcile at the old directory": ("reconcile", "--env", ENV),
        "plan at the old directory": ("reconcile", "--env", ENV, "--plan"),
        "reconcile at an empty directory, with --config": ("reconcile", "--env", ENV, "--state", str(empty),
                                                            "--config", config),
        "drift at the old directory": ("drift", "--env", ENV, "--json"),
        "teardown at the old directory": ("teardown", "--env", ENV, "--yes"),
    }
    for what, command in stale.items():
        refused = cli(*command)
        assert refused.code == 1, (what, refused.stdout, refused.stderr)
        assert len(errors(refused)) == 1 and URL in errors(refused)[0] and "nothing was changed" in errors(refused)[0], (
            what, refused.stderr)
        assert "Traceback" not in refused.stderr, what
    assert server.mutating_calls() == [], "a run at a location the environment does not name changed AWS"
    written = [p for d in (state_dir, empty) if d.exists() for p in d.glob(f"{ENV}.*.json")]
    assert written == [], "a refused run wrote a state"
    assert protected(reader) and desired(reader) == 3

    # At the location it names, the environment is as it was: nothing to do.
    at_s3 = {"VIDEO_PIPELINE_STATE": URL}
    again = cli("reconcile", "--env", ENV, "--json", env=at_s3)
    assert again.code == 0 and again.json["changes"] == [], again.stderr
    assert cli("drift", "--env", ENV, env=at_s3).code == 0
    # Moved back: the S3 copy refuses from then on, the directory drives it again.
    back = cli("state", "move", "--env", ENV, "--from", URL, "--to", str(state_dir))
    assert back.code == 0, back.stderr
    assert cli("reconcile", "--env", ENV, "--plan", env=at_s3).code == 1
    assert cli("reconcile", "--env", ENV, "--plan").code == 0


def test_a_lost_state_is_never_replaced_by_the_defaults(cli, server, reader, state_dir, tmp_path):
    config = write_config(tmp_path, PROTECTED)
    assert cli("reconcile", "--env", ENV, "--config", config).code == 0
    for path in state_dir.glob(f"{ENV}.*"):
        path.unlink()
    server.clear_recording()

    for command in (("reconcile", "--env", ENV), ("reconcile", "--env", ENV, "--plan"), ("drift", "--env", ENV)):
        refused = cli(*command)
        assert refused.code == 1, (command, refused.stderr)
        assert len(errors(refused)) == 1 and "no configuration is recorded" in errors(refused)[0], refused.stderr
        assert "--config FILE" in errors(refused)[0]
    assert server.mutating_calls() == []
    assert protected(reader) and desired(reader) == 3, "the defaults were applied over a live environment"

    # With its configuration the environment is adopted as it is: nothing to change.
    adopted = cli("reconcile", "--env", ENV, "--json", "--config", config)
    assert adopted.code == 0, adopted.stderr
    assert [c for c in adopted.json["changes"] if c.get("action") != "unchanged"] == [], adopted.json["changes"]
    state = json.loads(next(state_dir.glob(f"{ENV}.{REGION}.json")).read_text())
    assert state["config"]["source"] == config and protected(reader)


def test_drift_all_checks_an_environment_where_its_state_lives(cli, server, reader, state_dir, tmp_path):
    """A state moved away: --all at the old place lists the environment as kept elsewhere (no
    alert, nothing unmanaged); at the new place it is checked as usual."""
    assert cli("reconcile", "--env", ENV).code == 0
    assert cli("state", "init", URL).code == 0
    assert cli("state", "move", "--env", ENV, "--from", str(state_dir), "--to", URL).code == 0

    here = cli("drift", "--all", "--json")
    assert here.code == 0, here.stderr
    [entry] = here.json["environments"]
    assert entry["state"] == "elsewhere" and entry["state_location"] == URL and entry["unmanaged"] == [], entry
    assert URL in here.stderr  # with --json the human report is on stderr
    assert URL in cli("drift", "--all").stdout
    there = cli("drift", "--all", "--json", env={"VIDEO_PIPELINE_STATE": URL})
    assert there.code == 0 and [e["state"] for e in there.json["environments"]] == ["found"], there.stderr

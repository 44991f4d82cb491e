"""Teardown's confirmation on a real terminal, and the JSON log format."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from orchestrator.config import EnvConfig
from orchestrator.stack import stack_nodes
from tests.e2e.conftest import ROOT
from tests.e2e.inventory import counts, network_inventory


def _teardown_on_a_terminal(cli_env: dict, answer: str, cwd) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bin" / "teardown"), "--env", "dev"],
        env=cli_env, stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )
    os.close(secondary)
    os.write(primary, (answer + "\n").encode())
    out, err = proc.communicate(timeout=300)
    os.close(primary)
    return proc.returncode, err


def _env(server, state_dir, tmp_path):
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_EC2_METADATA_DISABLED": "true", "VIDEO_PIPELINE_STATE_DIR": str(state_dir),
    }


def test_a_wrong_confirmation_cancels_and_the_environment_name_confirms(cli, server, reader, state_dir, tmp_path):
    assert cli("reconcile", "--env", "dev").code == 0
    env = _env(server, state_dir, tmp_path)
    code, err = _teardown_on_a_terminal(env, "prod", tmp_path)
    assert code == 1 and "cancelled" in err
    assert counts(network_inventory(reader("ec2"), "dev"))["vpc"] == 1
    code, err = _teardown_on_a_terminal(env, "dev", tmp_path)
    assert code == 0, err
    assert counts(network_inventory(reader("ec2"), "dev"))["vpc"] == 0


def test_json_log_format_writes_one_json_object_per_stderr_line(cli):
    result = cli("reconcile", "--env", "dev", "--json", "--log-format", "json")
    assert result.code == 0
    events = [json.loads(line) for line in result.stderr.splitlines()]
    created = [e for e in events if e["event"] == "resource_created"]
    assert len(created) == len(stack_nodes("dev", EnvConfig(), ["us-east-1a", "us-east-1b"]))
    assert all({"kind", "name", "id", "action", "duration_s", "timestamp", "level"} <= set(e) for e in created)
    json.loads(result.stdout)  # and stdout is still exactly one document

"""Teardown's confirmation on a real terminal, the live progress view on one, and the JSON log format."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading

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


def _reconcile_on_a_terminal(cli_env: dict, cwd, command: str = "reconcile") -> tuple[int, str, str]:
    """bin/COMMAND with stderr on a pseudo-terminal: exit code, stdout, what the terminal got."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bin" / command), "--env", "dev"],
        env={**cli_env, "TERM": "xterm"}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary,
        cwd=cwd,
    )
    os.close(secondary)
    screen: list[bytes] = []

    def read_terminal() -> None:
        # Drained while the command runs: a full terminal buffer would block its writes.
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO once the command has exited and closed the terminal
                return
            if not chunk:
                return
            screen.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(primary)
    return proc.returncode, out.decode(), b"".join(screen).decode("utf-8", "replace")


def test_a_terminal_gets_the_live_view_and_a_pipe_the_same_log_lines_as_before(cli, server, state_dir, tmp_path):
    n = len(stack_nodes("dev", EnvConfig(), ["us-east-1a", "us-east-1b"]))
    piped = cli("reconcile", "--env", "dev")
    assert piped.code == 0
    # Not a terminal: one structured line per resource, no view, no terminal control sequences.
    assert piped.stderr.count("resource_created") == n
    assert "\x1b[" not in piped.stderr and "reconcile dev:" not in piped.stderr

    code, out, screen = _reconcile_on_a_terminal(_env(server, state_dir, tmp_path), tmp_path)

    assert code == 0, screen
    # The view is redrawn in place (cursor up, clear) and ends on the final counts.
    assert "\x1b[" in screen and "\r\x1b[J" in screen
    final = screen.rsplit("\r\x1b[J", 1)[-1].strip()
    assert re.fullmatch(rf"reconcile dev: {n} ready, 0 working, 0 waiting, 0 failed  \[\d+s\]", final), final
    # It replaces the per-resource lines; stdout is untouched by it.
    assert "resource_unchanged" not in screen
    assert out.strip().splitlines()[0] == "No changes. The environment matches the desired state."
    assert "\x1b[" not in out

    # A drift check shows the same view while it reads.
    code, out, screen = _reconcile_on_a_terminal(_env(server, state_dir, tmp_path), tmp_path, "drift")
    assert code == 0, screen
    final = screen.rsplit("\r\x1b[J", 1)[-1].strip().splitlines()[0]
    assert re.fullmatch(rf"drift dev: {n} read, 0 reading, 0 waiting, 0 failed  \[\d+s\]", final), final

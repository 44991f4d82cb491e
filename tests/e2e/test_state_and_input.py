"""State files, the state lock and bad input, through the real bin/ commands and a moto server.

Every refusal is one line on stderr starting with ``error:``, exit 1, no traceback, no mutating
AWS call, and the state file (and its ``.bak``) byte for byte as before.

The bad-input cases run ``orchestrator.cli.main`` in-process (``via`` "main", milliseconds) with
the environment a bin/ command gets, against the worker's moto server whose recording proves no
request; a sample of each kind runs the real bin/ command as a subprocess (``via`` "bin").
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from orchestrator.config import EnvConfig
from orchestrator.stack import stack_nodes
from state import SCHEMA_VERSION, StateDocument
from tests.e2e.conftest import REGION, ROOT, via_bin_for
from tests.e2e.inventory import full_inventory
from tests.e2e.test_full_stack import FULL_STACK
from tests.support.lock_holder import LockHolder

ACCOUNT = "123456789012"  # moto's default account


def one_error_line(result) -> str:
    assert result.code == 1, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def json_logs(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def state_files(state_dir, doc_text: str, bak_text: str = '{"previous": true}'):
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"dev.{REGION}.json"
    path.write_bytes(doc_text.encode("utf-8") if isinstance(doc_text, str) else doc_text)
    (state_dir / f"dev.{REGION}.json.bak").write_text(bak_text)
    return path, path.with_name(path.name + ".bak")


def valid_doc(**overrides) -> str:
    data = json.loads(StateDocument.new("dev", REGION, account=ACCOUNT).to_json())
    data.update(overrides)
    return json.dumps(data)


# -- corrupt and foreign state --------------------------------------------------------------------
# What follows "state file PATH " in the error line.
BAD_STATE = {
    "not json": (b"{not json", "is corrupt"),
    "not utf-8": (b'{"env": "d\xff\xfe"}', "is corrupt: not UTF-8 text"),
    "truncated": (valid_doc()[:40].encode(), "is corrupt"),
    "a list": (b"[]", "is corrupt: expected an object"),
    "other env": (valid_doc(env="prod").encode(), "belongs to"),
    "other region": (valid_doc(region="eu-west-1").encode(), "belongs to"),
    "other account": (valid_doc(account="999999999999").encode(),
                      "belongs to account '999999999999', not account '123456789012'"),
    "newer schema": (valid_doc(schema_version=SCHEMA_VERSION + 1).encode(),
                     f"has schema version {SCHEMA_VERSION + 1}, this tool reads versions 1 to"),
}


STATE_CASES = {f"{command}-{name}": (command, content, message)
               for command in ("reconcile", "teardown", "drift") for name, (content, message) in BAD_STATE.items()}


@pytest.mark.parametrize("via, command, content, message",
                         via_bin_for({"reconcile-not json", "teardown-other account", "drift-newer schema"}, STATE_CASES))
def test_a_corrupt_or_foreign_state_file_is_refused_and_left_as_it_was(run, quiet_server, state_dir, via, command, content, message):
    server = quiet_server
    path, bak = state_files(state_dir, content)
    bak_before = bak.read_bytes()
    args = {"reconcile": (), "teardown": ("--yes",), "drift": ()}[command]
    result = run(via, command, "--env", "dev", *args)
    line = one_error_line(result)
    # The file is named: whoever reads the line knows which one to look at.
    assert line.startswith(f"error: state file {path} {message}"), line
    assert result.stdout == ""
    assert path.read_bytes() == content and bak.read_bytes() == bak_before
    assert server.mutating_calls() == []


@pytest.mark.parametrize("via, command", via_bin_for({"reconcile"}, {c: (c,) for c in ("reconcile", "drift")}))
def test_a_state_directory_writable_by_others_is_refused_and_nothing_touched(run, quiet_server, state_dir, via, command):
    path, bak = state_files(state_dir, valid_doc())
    state_dir.chmod(0o777)
    before = sorted(p.name for p in state_dir.iterdir())
    line = one_error_line(run(via, command, "--env", "dev"))
    assert line == f"error: state directory {state_dir} is writable by others (mode 0777); chmod 700 {state_dir}"
    assert sorted(p.name for p in state_dir.iterdir()) == before and path.read_text() == valid_doc()
    assert quiet_server.mutating_calls() == []


# -- the lock ---------------------------------------------------------------------------------------
def test_a_run_killed_with_sigkill_is_named_by_the_next_run(cli, server, state_dir):
    with LockHolder(state_dir) as holder:
        holder.kill()
    plan = cli("reconcile", "--env", "dev", "--plan", "--json", "--log-format", "json")
    assert plan.code == 2, plan.stderr
    [warning] = [e for e in json_logs(plan.stderr) if e["event"] == "previous_run_interrupted"]
    assert warning["pid"] == holder.pid and warning["host"] == socket.gethostname()
    assert warning["started_at"] and "-c" in warning["command"]
    assert server.mutating_calls() == []


def test_a_stuck_lock_is_refused_then_broken_with_break_lock(cli, server, state_dir):
    with LockHolder(state_dir, keeper=True) as holder:
        holder.kill()  # its child still holds the flock: the lock cannot be taken
        refused = cli("reconcile", "--env", "dev")
        line = one_error_line(refused)
        assert f"is locked by pid {holder.pid} on host {socket.gethostname()} since " in line
        assert line.endswith(f"pid {holder.pid} is no longer running: rerun with --break-lock to take the lock over")
        assert server.mutating_calls() == []
        broken = cli("reconcile", "--env", "dev", "--plan", "--break-lock", "--log-format", "json")
        assert broken.code == 2, broken.stderr
        [event] = [e for e in json_logs(broken.stderr) if e["event"] == "state_lock_broken"]
        assert event["pid"] == holder.pid
        assert server.mutating_calls() == []
        # The lock file is an ordinary free lock again: the next run needs no flag.
        assert cli("reconcile", "--env", "dev", "--plan").code == 2


@pytest.mark.parametrize("command", ["reconcile", "teardown"])
def test_break_lock_refuses_a_live_run(cli, server, state_dir, command):
    with LockHolder(state_dir) as holder:
        lock_before = (state_dir / f"dev.{REGION}.lock").read_bytes()
        result = cli(command, "--env", "dev", "--yes" if command == "teardown" else "--plan", "--break-lock")
        line = one_error_line(result)
        assert line.endswith(f"pid {holder.pid} is alive on this host, so its lock is not broken")
        assert (state_dir / f"dev.{REGION}.lock").read_bytes() == lock_before
        assert server.mutating_calls() == []


def test_break_lock_names_the_holder_on_another_host(cli, server, state_dir):
    with LockHolder(state_dir, host="ci-runner-3") as holder:
        refused = cli("reconcile", "--env", "dev", "--plan", "--break-lock")
        assert one_error_line(refused).endswith(f"if that run is gone, rerun with --break-lock {holder.pid}@ci-runner-3")
        taken = cli("reconcile", "--env", "dev", "--plan", "--break-lock", f"{holder.pid}@ci-runner-3")
        assert taken.code == 2, taken.stderr


def test_two_concurrent_runs_the_second_refuses_naming_the_first_and_nothing_is_duplicated(
    server, state_dir, tmp_path, reader,
):
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": server.endpoint, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "VIDEO_PIPELINE_STATE_DIR": str(state_dir),
    }

    def start(*args):
        return subprocess.Popen([sys.executable, str(ROOT / "bin" / "reconcile"), "--env", "dev", *args], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=tmp_path)

    # One worker makes the first run long; its first log line is written while it holds the lock.
    first = start("--json", "--parallelism", "1", "--log-format", "json")
    try:
        # Its first JSON log line (any other stderr output skipped) comes from under the lock.
        line = first.stderr.readline()
        while line and not line.startswith("{"):
            line = first.stderr.readline()
        assert json.loads(line)["event"]
        second = start("--json")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 1 and out == "" and "Traceback" not in err
        [line] = err.strip().splitlines()
        assert line.startswith(f"error: state for env 'dev' in '{REGION}' is locked by pid {first.pid} "
                               f"on host {socket.gethostname()} since ")
        first_out, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0
    inventory = full_inventory(reader, "dev")
    # Exactly the stack, each resource once: the refused run created nothing.
    assert {kind: len(ids) for kind, ids in inventory.items()} == FULL_STACK
    document = json.loads(first_out)
    assert len(document["changes"]) == len(stack_nodes("dev", EnvConfig(), ["us-east-1a", "us-east-1b"]))
    assert document["duplicates_removed"] == [] and all(c["duplicates_removed"] == [] for c in document["changes"])


# -- bad input ------------------------------------------------------------------------------------
BAD_CONFIG = {
    "unknown key": ("[defaults]\nvpc_cdir = '10.0.0.0/16'\n", "unknown key 'vpc_cdir'"),
    "wrong type": ("[defaults]\ndb_allocated_storage = '20'\n", "db_allocated_storage must be"),
    "storage too small": ("[defaults]\ndb_allocated_storage = 10\n", "db_allocated_storage = 10 is not allowed"),
    "backup retention": ("[environments.dev]\ndb_backup_retention_days = 36\n", "db_backup_retention_days = 36"),
    "cidr prefix": ("[defaults]\nvpc_cidr = '10.0.0.0/8'\n", "prefix length from /16 to /24"),
    "log retention": ("[defaults]\nlog_retention_days = 31\n", "log_retention_days = 31 is not allowed"),
    "redis nodes": ("[defaults]\nredis_num_nodes = 1\n", "redis_num_nodes = 1 is not allowed"),
    "reserved tag": ("[defaults.tags]\nManagedBy = 'me'\n", "tags.ManagedBy is set by the tool"),
    "fargate pair": ("[defaults]\napi_cpu = 256\napi_memory = 4096\n", "api_"),
    "not toml": ("[defaults\n", "is not valid TOML"),
    "unknown table": ("[default]\nvpc_cidr = '10.0.0.0/16'\n", "unknown table 'default'"),
}


@pytest.mark.parametrize("via, text, message", via_bin_for({"unknown key"}, BAD_CONFIG))
def test_bad_configuration_values_are_refused_before_any_aws_call(run, quiet_server, state_dir, tmp_path, via, text, message):
    server = quiet_server
    path, bak = state_files(state_dir, valid_doc())
    before = path.read_bytes()
    config = tmp_path / "settings.toml"
    config.write_text(text)
    result = run(via, "reconcile", "--env", "dev", "--config", str(config), "--json")
    assert message in one_error_line(result)
    assert result.stdout == ""
    assert server.calls() == []
    assert path.read_bytes() == before


def test_a_missing_config_file_is_one_line(run, quiet_server, tmp_path):
    server = quiet_server
    result = run("bin", "teardown", "--env", "dev", "--yes", "--config", str(tmp_path / "absent.toml"))
    assert "cannot read config" in one_error_line(result)
    assert server.calls() == []


@pytest.mark.parametrize("via, command", via_bin_for({"reconcile"}, {c: (c,) for c in ("reconcile", "teardown", "drift")}))
def test_no_credentials_anywhere_is_one_line_and_no_call(run, quiet_server, state_dir, tmp_path, via, command):
    server = quiet_server
    home = tmp_path / "empty-home"
    home.mkdir()
    path, _ = state_files(state_dir, valid_doc())
    before = path.read_bytes()
    result = run(via, command, "--env", "dev", *(("--yes",) if command == "teardown" else ()),
                 env={"HOME": str(home)},
                 drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"))
    assert one_error_line(result) == (
        "error: no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    assert server.calls() == []
    assert path.read_bytes() == before


def test_a_profile_that_does_not_exist_is_one_line(run, quiet_server, tmp_path):
    server = quiet_server
    home = tmp_path / "empty-home"
    home.mkdir()
    result = run("bin", "reconcile", "--env", "dev", env={"HOME": str(home), "AWS_PROFILE": "nope"},
                 drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"))
    assert "nope" in one_error_line(result)
    assert server.calls() == []


@pytest.mark.parametrize("via, env", via_bin_for({"Dev"}, {e: (e,) for e in ["Dev", "-x", "a" * 21, "dev_1"]}))
def test_bad_environment_names_for_drift_too(run, quiet_server, via, env):
    assert one_error_line(run(via, "drift", "--env", env)).startswith("error: invalid environment name")
    assert quiet_server.calls() == []


BAD_FLAGS = {
    "parallelism 0": (("--parallelism", "0"), "--parallelism must be at least 1"),
    "parallelism many": (("--parallelism", "many"), "invalid int value"),
    "log format": (("--log-format", "xml"), "invalid choice"),
    "unknown flag": (("--break-lock", "1@h", "--plan", "--json", "--bogus"), "unrecognized arguments: --bogus"),
}


@pytest.mark.parametrize("via, args, message", via_bin_for({"unknown flag"}, BAD_FLAGS))
def test_bad_flag_values_are_one_line(run, quiet_server, via, args, message):
    assert message in one_error_line(run(via, "reconcile", "--env", "dev", *args))
    assert quiet_server.calls() == []


def test_a_drift_webhook_that_is_not_https_is_one_line_and_no_call(run, quiet_server):
    """The report names the account's resources and the URL carries its token: never sent in
    clear to another machine."""
    line = one_error_line(run("bin", "drift", "--env", "dev", "--notify-webhook", "http://hooks.example.com/T0/secret"))
    assert line.startswith("error: the drift webhook must be an https:// URL") and "secret" not in line
    assert quiet_server.calls() == []

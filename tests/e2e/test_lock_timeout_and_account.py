"""Two guards for a team on real accounts, through the real bin/ commands and a moto server:
``--lock-timeout`` (wait for a held state lock) and ``account_id`` (refuse another account's
credentials before any call but STS's)."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.conftest import REGION, via_bin_for
from tests.support.commands import command_environment, command_line
from tests.e2e.test_state_and_input import one_error_line
from tests.support.lock_holder import LockHolder
from tests.support.moto_server import Call

ACCOUNT = "123456789012"  # moto's default account
OTHER_ACCOUNT = "111111111111"


# -- --lock-timeout --------------------------------------------------------------------------------
def test_with_a_lock_timeout_a_run_waits_for_the_holder_then_goes_on(server, state_dir, tmp_path):
    env = command_environment(server.endpoint, state_dir, tmp_path)
    with LockHolder(state_dir) as holder:
        waiter = subprocess.Popen(
            command_line("reconcile", "--env", "dev", "--plan", "--lock-timeout", "5m", "--log-format", "json"),
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        try:
            # Its stderr until it says it waits (the lock is still held: it cannot have gone on).
            seen = []
            for line in waiter.stderr:
                seen.append(line)
                if line.startswith("{") and json.loads(line)["event"] == "waiting_for_state_lock":
                    break
            event = json.loads(seen[-1])
            assert event["event"] == "waiting_for_state_lock", seen
            assert (event["pid"], event["wait_up_to"]) == (holder.pid, "5m")
            assert f"is locked by pid {holder.pid} on host " in event["detail"]
            holder.kill()  # the other run ends: the kernel releases its flock
            out, err = waiter.communicate(timeout=120)
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.wait()
    assert waiter.returncode == 2, err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "waiting_for_state_lock" not in events  # said once, when the waiting started
    assert "previous_run_interrupted" in events  # it did take the lock the killed run left
    assert server.mutating_calls() == []


def test_a_lock_still_held_at_the_timeout_is_refused_saying_it_waited(cli, server, state_dir):
    with LockHolder(state_dir) as holder:
        result = cli("teardown", "--env", "dev", "--yes", "--lock-timeout", "1s")
    assert result.code == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    [waiting] = [line for line in lines if "waiting_for_state_lock" in line]
    assert f"pid={holder.pid}" in waiting
    [error] = [line for line in lines if line.startswith("error:")]
    assert error.startswith(f"error: state for env 'dev' in '{REGION}' is locked by pid {holder.pid} on host ")
    assert error.endswith("; another run is in progress (waited 1s for it)")
    assert len(lines) == 2, lines
    assert server.mutating_calls() == []


def test_drift_accepts_a_lock_timeout_and_never_waits(cli, server, state_dir):
    with LockHolder(state_dir):
        result = cli("drift", "--env", "dev", "--lock-timeout", "1h")
    # Checked at once (nothing reconciled yet: everything missing), the held lock never waited for.
    assert result.code == 2 and result.stdout.startswith("Drift in dev"), result.stderr
    assert "waiting_for_state_lock" not in result.stderr


BAD_DURATIONS = {f"{command}-{text}": (command, text) for command in ("reconcile", "teardown", "drift")
                 for text in ("5x", "-1", "1.5m")}


@pytest.mark.parametrize("via, command, text", via_bin_for({"reconcile-5x", "drift--1"}, BAD_DURATIONS))
def test_a_bad_lock_timeout_is_one_line_before_any_call(run, quiet_server, via, command, text):
    extra = ("--yes",) if command == "teardown" else ()
    result = run(via, command, "--env", "dev", *extra, f"--lock-timeout={text}")
    assert one_error_line(result) == (
        f"error: --lock-timeout {text!r} is not a duration: use seconds (90), or 30s, 5m, 1h")
    assert quiet_server.calls() == []


# -- account_id ------------------------------------------------------------------------------------
ACCOUNT_CASES = {
    "reconcile": ("reconcile",), "plan": ("reconcile", "--plan"), "drift": ("drift",),
    "teardown": ("teardown", "--yes"),
    # S3 state: the bucket is not even looked at (it does not exist either).
    "plan-s3-state": ("reconcile", "--plan", "--state", "s3://team-state/video"),
}


@pytest.mark.parametrize("via, args", via_bin_for({"reconcile", "teardown", "plan-s3-state"},
                                                     {case: (args,) for case, args in ACCOUNT_CASES.items()}))
def test_credentials_of_another_account_are_refused_before_any_call_but_sts(run, quiet_server, tmp_path, via, args):
    config = tmp_path / "team.toml"
    config.write_text(f'[environments.dev]\naccount_id = "{OTHER_ACCOUNT}"\n')
    result = run(via, args[0], "--env", "dev", *args[1:], "--config", str(config))
    assert one_error_line(result) == (
        f"error: environment dev belongs to AWS account {OTHER_ACCOUNT} (account_id in {config}), "
        f"but these credentials are for account {ACCOUNT}; nothing was changed")
    assert quiet_server.calls() == [Call("sts", "GetCallerIdentity")]


def test_credentials_of_the_named_account_go_on(cli, server, tmp_path):
    config = tmp_path / "team.toml"
    config.write_text(f'[environments.dev]\naccount_id = "{ACCOUNT}"\n[environments.prod]\naccount_id = "{OTHER_ACCOUNT}"\n')
    plan = cli("reconcile", "--env", "dev", "--plan", "--config", str(config))
    assert plan.code == 2, plan.stderr
    assert server.mutating_calls() == []


def test_state_move_waits_for_a_held_lock_up_to_its_lock_timeout(cli, quiet_server, state_dir, tmp_path):
    with LockHolder(state_dir) as holder:
        result = cli("state", "move", "--env", "dev", "--from", str(state_dir), "--to", str(tmp_path / "to"),
                     "--lock-timeout", "1s")
    assert result.code == 1 and result.stdout == "", result.stderr
    waiting, error = result.stderr.strip().splitlines()
    assert waiting.startswith(f"waiting up to 1s for the state lock: state for env 'dev' in '{REGION}' is locked by "
                              f"pid {holder.pid} on host ")
    assert error.startswith(f"error: state for env 'dev' in '{REGION}' is locked by pid {holder.pid} on host ")
    assert error.endswith("; another run is in progress (waited 1s for it)")
    assert quiet_server.calls() == []

"""A sample of the kill-at-every-call sweep (test_kill_at_every_call.py) with the state in S3.

With S3 state the mutating calls include the state's own: the lock created, every state write.
For each k the proxy lets the k-th mutating call execute, then SIGKILLs `bin/reconcile` before
the answer reaches it. The lock it leaves behind names a dead pid on this host: the next run is
refused until `--break-lock`, then converges to exactly one of each resource, all recorded in the
S3 state, and `bin/teardown` leaves nothing. The sample: k=1, killed right after creating its
lock; k=2, right after its first state write (the intent of the first create, before the create);
k=40, mid-walk.
"""
from __future__ import annotations

import json

import pytest

from tests.faults.harness import ENV, ONE_STACK_IN_ACCOUNT, _recorded, account_counts, assert_nothing_left, killed_create
from tests.e2e.inventory import counts, full_inventory
from tests.e2e.test_full_stack import FULL_STACK
from tests.support.commands import REGION

BUCKET = "team-state"
URL = f"s3://{BUCKET}/envs"
STATE_KEY, LOCK_KEY = f"envs/{ENV}.{REGION}.json", f"envs/{ENV}.{REGION}.lock"
# A shared state needs the principals that administer the secrets (docs/teams.md).
TEAM_CONFIG = '[defaults]\nsecret_admin_principals = ["arn:aws:iam::123456789012:role/deploy"]\n'



@pytest.mark.parametrize("k, call", [(1, f"s3 Put:/{BUCKET}/{LOCK_KEY}"), (2, f"s3 Put:/{BUCKET}/{STATE_KEY}"), (40, "")])
def test_killed_after_call_k_with_s3_state_then_break_lock_converges(k, call, cli_direct, proxy, reader, state_dir, tmp_path):
    assert cli_direct("state", "init", URL).code == 0
    config = tmp_path / "team.toml"
    config.write_text(TEAM_CONFIG)
    pid, killed = killed_create(proxy, k, state_dir, tmp_path, env={"VIDEO_PIPELINE_STATE": URL},
                                args=("--config", str(config)))
    where = f"k={k} (killed right after {killed})"
    assert killed.startswith(call), where
    s3 = reader("s3")
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=LOCK_KEY)["Body"].read())["pid"] == pid, where

    # Killed before its configuration was recorded (k=1): the next runs are given it again.
    cli = lambda *args: cli_direct(*args, "--config", str(config), env={"VIDEO_PIPELINE_STATE": URL})  # noqa: E731
    refused = cli("reconcile", "--env", ENV)
    assert refused.code == 1 and f"pid {pid} is no longer running" in refused.stderr, f"{where}: {refused.stderr}"
    again = cli("reconcile", "--env", ENV, "--break-lock")
    assert again.code == 0, f"{where}: reconcile after the crash failed: {again.stderr[-3000:]}"
    assert "state_lock_broken" in again.stderr and f"pid={pid}" in again.stderr

    inventory = full_inventory(reader, ENV)
    assert counts(inventory) == FULL_STACK, where
    assert account_counts(reader) == ONE_STACK_IN_ACCOUNT, where
    state = json.loads(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read())
    state_ids = {r["id"] for r in state["resources"].values() if r.get("id")}
    orphans = {kind: [i for i in ids if not _recorded(i, state_ids)] for kind, ids in inventory.items()
               if kind != "mount_target"}
    assert {kind: ids for kind, ids in orphans.items() if ids} == {}, f"{where}: live resources the state does not know"
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=LOCK_KEY), f"{where}: the lock was left"

    down = cli("teardown", "--env", ENV, "--yes")
    assert down.code == 0, f"{where}: teardown failed: {down.stderr[-3000:]}"
    assert_nothing_left(reader, where)

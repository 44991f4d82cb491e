"""Rotating the API key (orchestrator/rotation.py ApiKeyRotation; README "Secret rotation") on one
running environment, read back with the test's own boto3 clients: a second key in the usage plan,
the secret pointed at it, the old key deleted by a later reconcile once the grace period is over;
a run killed after any call resumed; state lost during the grace period; teardown in any phase.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import boto3
import pytest
from structlog.testing import capture_logs

from orchestrator.config import EnvConfig
from orchestrator.rotation import utc_now
from orchestrator.run import apply_stack, teardown_stack
from sandbox.fidelity.apigateway import record_usage
from tests.conftest import REGION
from tests.day2.environment import ENV, Day2Env, Killed, changes, killed_after, mutating, running_environment
from tests.support.memory_state import MemoryState

KEY, SECRET = f"api-key-{ENV}", f"api-keys-{ENV}"
ROTATE = frozenset({"apigw.api_key"})
GRACE = timedelta(hours=EnvConfig().api_key_rotation_grace_hours)
# One rotation's mutating calls (measured; README "Secret rotation").
ROTATION_CALLS = {
    "apigateway CreateApiKey": 1,                 # (a) NAME-next
    "apigateway CreateUsagePlanKey": 1,           # (b) the plan accepts both
    "apigateway UpdateApiKey": 2,                 # (c) the new key takes the name, (d) the old one NAME-previous
    "apigateway TagResource": 2,                  # their Name tags; RetireAfter on the old one
    "secretsmanager PutSecretValue": 1,           # the secret's new AWSCURRENT: the new key's value
    "secretsmanager TagResource": 1,              # ApiKeyId
}
REMOVAL_CALLS = {"apigateway DeleteUsagePlanKey": 1, "apigateway DeleteApiKey": 1}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory) as running:
        yield running


def apigw():
    return boto3.client("apigateway", region_name=REGION)


def keys() -> dict[str, str]:
    """name -> id of every API key of the account (the test's own read)."""
    return {k["name"]: k["id"] for k in apigw().get_api_keys(limit=500)["items"]}


def plan_keys(env: Day2Env) -> set[str]:
    plan = env.doc.resource("apigw.usage_plan")["id"]
    return {k["id"] for k in apigw().get_usage_plan_keys(usagePlanId=plan)["items"]}


def secret_holds(key_id: str) -> bool:
    sm = boto3.client("secretsmanager", region_name=REGION)
    held = json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])["api_key"]
    return held == apigw().get_api_key(apiKey=key_id, includeValue=True)["value"]


def run(env: Day2Env, *, forced: bool = False, now=utc_now, kill_after: int | None = None, state=None):
    state = state or env.state
    before = env.snapshot()
    with killed_after(env, kill_after, ("apigateway", "secretsmanager")):
        result = apply_stack(env.aws, env=ENV, doc=state.doc, save=state.save, cfg=env.cfg, clock=env.clock.as_clock(),
                             rotate=ROTATE if forced else frozenset(), now=now, parallelism=1)
    env.last_calls = mutating(before, env.snapshot())
    return result


def after_grace():
    return utc_now() + GRACE + timedelta(minutes=1)


def assert_switched(env: Day2Env, old: str) -> str:
    """The new key has the name and the secret; the old one is NAME-previous; the plan holds both."""
    now = keys()
    new = now[KEY]
    assert new != old and now[f"{KEY}-previous"] == old and set(now) == {KEY, f"{KEY}-previous"}, now
    assert plan_keys(env) == {old, new}
    assert secret_holds(new)
    assert env.doc.resource("apigw.api_key")["id"] == new
    return new


def test_a_plan_with_rotate_shows_the_change_and_makes_no_mutating_call(env):
    plan = env.plan(rotate=ROTATE)
    assert changes(plan) == {"apigw.api_key": {"rotation": "IN_PLACE"}}
    assert changes(env.plan()) == {}


def test_a_rotation_adds_a_key_points_the_secret_at_it_and_keeps_the_old_one_for_the_grace_period(env):
    old = keys()[KEY]
    started = utc_now()
    result = run(env, forced=True)
    assert result.ok, result.failures
    assert env.last_calls == ROTATION_CALLS
    assert_switched(env, old)
    retire = datetime.fromisoformat(apigw().get_api_key(apiKey=old)["tags"]["RetireAfter"])
    assert started + GRACE - timedelta(seconds=1) <= retire <= utc_now() + GRACE
    # During the grace period: nothing to do, nothing drifted; a second --rotate is refused
    # before any call.
    assert changes(env.plan()) == {} and env.drift().in_sync
    again = run(env, forced=True)
    assert not again.ok and "in its grace period until" in again.failures["apigw.api_key"].reason
    assert env.last_calls == {}


def test_a_later_reconcile_deletes_the_old_key_once_the_grace_period_is_over(env):
    old, new = keys()[f"{KEY}-previous"], keys()[KEY]
    planned = env.plan(now=after_grace)
    assert changes(planned) == {"apigw.api_key": {"rotation": "IN_PLACE"}}
    [shown] = [d for r in planned.results if r.key == "apigw.api_key" for d in r.changes]
    assert shown.expected == f"previous key {old} deleted"
    result = run(env, now=after_grace)
    assert result.ok, result.failures
    assert env.last_calls == REMOVAL_CALLS
    assert keys() == {KEY: new} and plan_keys(env) == {new} and secret_holds(new)
    assert changes(env.plan(now=after_grace)) == {}


def test_an_old_key_still_used_after_the_grace_period_is_kept_until_a_later_run_finds_it_unused(env):
    """GetUsage counts by UTC day: use on the rotation's own day (before clients switched) does
    not hold the key; use on a later day of the grace window does, and the deletion waits for a
    run whose window no longer holds it."""
    old = keys()[KEY]
    rotated = utc_now()
    assert run(env, forced=True).ok
    new = assert_switched(env, old)
    plan = env.doc.resource("apigw.usage_plan")["id"]
    later = rotated + GRACE + timedelta(minutes=1)
    record_usage(plan, old, rotated.date().isoformat(), 40, region=REGION)
    record_usage(plan, old, later.date().isoformat(), 3, region=REGION)
    with capture_logs() as logged:
        result = run(env, now=lambda: later)
    assert result.ok, result.failures
    assert "apigateway DeleteApiKey" not in env.last_calls
    assert keys() == {KEY: new, f"{KEY}-previous": old} and plan_keys(env) == {old, new}
    [kept] = [e for e in logged if e["event"] == "rotation_previous_key_kept"]
    assert (kept["id"], kept["used_on"]) == (old, [later.date().isoformat()])
    # Two days on, that day is out of the window: the key goes.
    result = run(env, now=lambda: later + timedelta(days=2))
    assert result.ok, result.failures
    assert env.last_calls == REMOVAL_CALLS
    assert keys() == {KEY: new} and plan_keys(env) == {new}


@pytest.mark.parametrize("k", range(1, sum(ROTATION_CALLS.values()) + 1))
def test_a_rotation_killed_after_any_of_its_calls_is_resumed_by_the_next_run(env, k):
    old = keys()[KEY]
    with pytest.raises(Killed):
        run(env, forced=True, kill_after=k)
    resumed = run(env)
    assert resumed.ok, resumed.failures
    assert_switched(env, old)
    assert changes(env.plan()) == {}
    # Ready for the next k: the old key's grace period over, it goes.
    assert run(env, now=after_grace).ok and set(keys()) == {KEY}


def test_state_lost_during_the_grace_period_adopts_the_new_key_and_leaks_nothing(env):
    old = keys()[KEY]
    assert run(env, forced=True).ok
    new = assert_switched(env, old)
    lost = MemoryState(ENV, REGION)
    adopted = run(env, state=lost)
    assert adopted.ok, adopted.failures
    assert "apigateway CreateApiKey" not in env.last_calls
    assert lost.doc.resource("apigw.api_key")["id"] == new
    assert keys() == {KEY: new, f"{KEY}-previous": old} and plan_keys(env) == {old, new}
    # The old key still goes when its time has come, from the new state.
    assert run(env, state=lost, now=after_grace).ok
    assert keys() == {KEY: new} and plan_keys(env) == {new}
    env.state.doc = lost.doc


@pytest.mark.parametrize("k", [1, 3])
def test_teardown_deletes_every_key_whatever_the_phase(env, k):
    """k=1: a new key made and nothing else; k=3: it has the name, the old one too."""
    with pytest.raises(Killed):
        run(env, forced=True, kill_after=k)
    assert len(keys()) == 2
    down = teardown_stack(env.aws, env=ENV, doc=env.doc, save=env.state.save, clock=env.clock.as_clock())
    assert down.ok, down.failures
    assert keys() == {}
    created = run(env)
    assert created.ok, created.failures
    assert set(keys()) == {KEY}

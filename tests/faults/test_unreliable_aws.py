"""A full create through an AWS that throttles, fails and loses answers converges all the same."""
from __future__ import annotations

import json

import pytest

from tests.faults.harness import ENV, assert_one_of_each
from tests.support.commands import FAST_RETRIES

CREATES = ("Create", "Allocate", "Register", "Run", "Post:")


def test_full_create_converges_with_throttling_and_server_errors(cli, proxy, moto, reader, state_dir):
    proxy.reset(seed=7, throttle=0.15, server_error=0.03)
    # botocore backs off as always, a hundredth as long (tests/support/fast_retries).
    result = cli("reconcile", "--env", ENV, "--json", env=FAST_RETRIES)
    assert result.code == 0, result.stderr[-3000:]
    faults = proxy.outcomes()
    assert faults["throttled"] >= 20 and faults["server_error"] >= 3, faults
    assert_one_of_each(reader, state_dir, f"after {dict(faults)}")

    proxy.reset(seed=8, throttle=0.15, server_error=0.03)
    moto.clear_recording()
    again = cli("reconcile", "--env", ENV, "--json", env=FAST_RETRIES)
    assert again.code == 0, again.stderr[-3000:]
    assert again.json["changes"] == []
    assert moto.mutating_calls() == []


# Seeds whose lost answers land on creates of many kinds. Not seed 1: it loses two CreateRestApi
# answers, and removing the second copy waits out AWS's one DeleteRestApi every 30 s on the wall
# clock; a lost CreateRestApi answer is proved in-process on the fake clock instead
# (tests/resources/test_lost_create_answers.py).
@pytest.mark.parametrize("seed", [2, 3, 6, 10, 11, 13])
def test_lost_answers_to_mutating_calls_leave_no_duplicate(cli, proxy, moto, reader, state_dir, seed):
    proxy.reset(seed=seed, lost_response=0.10)
    # One worker: the seed then picks the same calls on every run (with several the order varies).
    result = cli("reconcile", "--env", ENV, "--json", "--log-format", "json", "--parallelism", "1")
    lost = [h.call for h in proxy.handled if h.outcome in ("lost_response", "dropped")]
    lost_creates = [c for c in lost if c.operation.startswith(CREATES)]
    assert lost_creates, f"seed {seed} lost no create answer ({lost}): the test would prove nothing"
    assert result.code == 0, result.stderr[-3000:]
    assert_one_of_each(reader, state_dir, f"after losing the answers to {[c.operation for c in lost]}")

    # The run says what it did about the calls that happened twice.
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    handled = [e for e in events if e.get("event") in ("duplicate_removed", "create_retry_adopted", "create_retried")]
    assert handled, f"no duplicate_removed / create_retry_adopted / create_retried event after losing {lost_creates}"

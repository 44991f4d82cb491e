"""--lock-timeout (orchestrator/lock_wait.py): the duration, and waiting for a held lock on a fake
clock, with real local state backends (two backends of one file: flock treats each open of the
file as its own lock, so one process can hold the lock another of its backends waits for)."""
from __future__ import annotations

import pytest

from orchestrator.errors import UserError
from orchestrator.lock_wait import MAX_POLL_SECONDS, locked, parse_duration
from resources.aws.clock import FakeClock
from state import LocalStateBackend, LockHeldError


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1h", 3600), ("90", 90), ("0", 0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-1", "1.5m", "m", "5 m", " 5m", "5mm", "1d"])
def test_bad_durations_are_one_line(text):
    with pytest.raises(UserError) as info:
        parse_duration(text)
    assert str(info.value) == f"--lock-timeout {text!r} is not a duration: use seconds (90), or 30s, 5m, 1h"


class ReleasingClock(FakeClock):
    """A fake clock on which ``holder`` releases the lock once ``release_at`` seconds have passed."""

    def __init__(self, holder=None, release_at: float = float("inf")):
        super().__init__()
        self.holder, self.release_at = holder, release_at

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.holder is not None and self.t >= self.release_at:
            self.holder.unlock()


@pytest.fixture
def backends(tmp_path):
    holder = LocalStateBackend(tmp_path, "dev", "us-east-1")
    holder.lock()
    waiter = LocalStateBackend(tmp_path, "dev", "us-east-1")
    yield holder, waiter
    waiter.unlock()
    holder.unlock()


def test_without_a_timeout_a_held_lock_is_refused_at_once_with_the_backends_own_message(backends):
    holder, waiter = backends
    with pytest.raises(LockHeldError) as direct:
        waiter.lock()
    clock, told = FakeClock(), []
    with pytest.raises(LockHeldError) as info:
        with locked(waiter, clock=clock.as_clock(), on_wait=lambda *a: told.append(a)):
            pass
    assert str(info.value) == str(direct.value)
    assert "another run is in progress" in str(info.value)
    assert clock.sleeps == [] and told == [] and not waiter.is_locked


def test_a_held_lock_is_waited_for_and_taken_when_it_frees(backends):
    holder, waiter = backends
    clock, told = ReleasingClock(holder, release_at=40), []
    with locked(waiter, timeout=300, clock=clock.as_clock(), on_wait=lambda exc, t: told.append((str(exc), t))):
        assert waiter.is_locked
    assert not waiter.is_locked  # released at the end, as backend.locked() does
    # Told once, naming the holder as the refusal does, with the time it waits at most.
    [(message, timeout)] = told
    assert message.startswith("state for env 'dev' in 'us-east-1' is locked by pid ") and timeout == 300
    # Growing intervals, the first after 2 s; taken on the first try after the release.
    assert clock.sleeps[0] == 2 and clock.sleeps == sorted(clock.sleeps) and len(set(clock.sleeps)) > 1
    assert clock.t >= 40 and clock.t - clock.sleeps[-1] < 40


def test_a_lock_still_held_at_the_timeout_is_refused_saying_it_waited(backends):
    holder, waiter = backends
    clock, told = ReleasingClock(), []
    with pytest.raises(LockHeldError) as info:
        with locked(waiter, timeout=300, clock=clock.as_clock(), on_wait=lambda *a: told.append(a)):
            pass
    message = str(info.value)
    assert message.startswith("state for env 'dev' in 'us-east-1' is locked by pid ")
    assert message.endswith("; another run is in progress (waited 5m for it)")
    assert info.value.holder["pid"] == holder.read_lock_holder()["pid"]
    # Exactly the timeout waited, never past it; polls at most 30 s apart; told once.
    assert clock.t == 300 and max(clock.sleeps) == MAX_POLL_SECONDS and len(told) == 1
    assert not waiter.is_locked

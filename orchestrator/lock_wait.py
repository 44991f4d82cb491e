"""Waiting for a held state lock (`--lock-timeout`): one place for every command and backend.

A backend's `lock()` refuses at once (LockHeldError) when another run holds the lock; here that
refusal is retried with a growing interval until the lock is taken or the timeout passes. The
backends know nothing of it, so local (flock) and S3 (leased object) state wait alike; an S3
lock whose lease runs out meanwhile is taken over by the backend's own rule.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

import tenacity

from orchestrator.errors import UserError
from resources.aws.clock import REAL_CLOCK, Clock
from state import LockHeldError

_DURATION = re.compile(r"(\d{1,7})([smh]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
# The first retry after 2 s, each interval half as long again, at most 30 s apart: a short run
# ahead is noticed within seconds, a long one costs a few reads a minute (S3: a GET and a PUT).
FIRST_POLL_SECONDS = 2.0
MAX_POLL_SECONDS = 30.0


def parse_duration(text: str) -> float:
    """`30s`, `5m`, `1h` or plain seconds (`90`), as seconds; anything else is one UserError line."""
    found = _DURATION.fullmatch(text)
    if not found:
        raise UserError(f"--lock-timeout {text!r} is not a duration: use seconds (90), or 30s, 5m, 1h")
    return float(int(found[1]) * _UNITS[found[2]])


def shown(seconds: float) -> str:
    """A duration as a person writes it: 1h, 5m, 90s."""
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _say_waiting(exc: LockHeldError, timeout: float) -> None:
    import structlog

    holder = exc.holder or {}
    structlog.get_logger().warning("waiting_for_state_lock", detail=str(exc), wait_up_to=shown(timeout),
                                   pid=holder.get("pid"), host=holder.get("host"))


@contextlib.contextmanager
def locked(backend, *, break_lock: str | None = None, timeout: float = 0.0, clock: Clock = REAL_CLOCK,
           on_wait: Callable[[LockHeldError, float], None] = _say_waiting) -> Iterator:
    """``backend.locked(break_lock=...)``, waiting up to ``timeout`` seconds for a held lock.
    ``on_wait`` is told once, when the waiting starts; a lock still held at the end is refused
    with the backend's own message, saying how long it was waited for."""
    take(backend, break_lock=break_lock, timeout=timeout, clock=clock, on_wait=on_wait)
    try:
        yield backend
    finally:
        backend.unlock()


def take(backend, *, break_lock: str | None, timeout: float, clock: Clock,
         on_wait: Callable[[LockHeldError, float], None]) -> None:
    if timeout <= 0:
        backend.lock(break_lock=break_lock)  # the default: refused at once, exactly as without the flag
        return
    deadline = clock.now() + timeout
    backoff = tenacity.wait_exponential(multiplier=FIRST_POLL_SECONDS, exp_base=1.5, max=MAX_POLL_SECONDS)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if state.attempt_number == 1:
            on_wait(state.outcome.exception(), timeout)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(LockHeldError),
        stop=lambda state: clock.now() >= deadline,
        # Never past the deadline: the last attempt is made when the timeout ends.
        wait=lambda state: min(backoff(state), max(0.0, deadline - clock.now())),
        sleep=clock.sleep, before_sleep=before_sleep, reraise=True,
    )
    try:
        retrying(backend.lock, break_lock=break_lock)
    except LockHeldError as exc:
        raise LockHeldError(f"{exc} (waited {shown(timeout)} for it)", exc.holder) from None

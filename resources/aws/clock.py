"""Time, injected: handlers and waiters never call time.sleep directly, so tests run instantly."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class FakeClock:
    """A clock whose sleep advances time instantly; used by tests and benchmarks."""

    def __init__(self, start: float = 0.0):
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def as_clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep)


REAL_CLOCK = Clock()

"""Client-side pacing for the control-plane calls AWS caps hardest (aws-timings §2, B-AG-2).

botocore's standard retries do absorb a throttle, but they give up after a few attempts; calls
capped at one per several seconds (API Gateway CreateDeployment 1/5 s, CreateRestApi 1/3 s,
DeleteRestApi 1/30 s, UpdateUsagePlan 1/20 s; ECS RegisterTaskDefinition 1/s) are paced instead,
so a run is slowed rather than throttled.
"""
from __future__ import annotations

import threading

from resources.clock import Clock


class Pace:
    """At most one call per ``interval`` seconds, shared by every handler instance and thread.

    The wait happens under the lock, so callers queue in order. Time comes from the caller's
    injected clock: a clock that reads earlier than the last call is another clock (a new
    FakeClock in a test), so the last call is forgotten rather than waited for.
    """

    def __init__(self, operation: str, interval: float):
        self.operation = operation
        self.interval = interval
        self._last: float | None = None
        self._lock = threading.Lock()

    def wait(self, clock: Clock) -> None:
        with self._lock:
            now = clock.now()
            if self._last is not None and self._last <= now < self._last + self.interval:
                clock.sleep(self._last + self.interval - now)
                now = clock.now()
            self._last = now


REGISTER_TASK_DEFINITION = Pace("RegisterTaskDefinition", 1.0)
CREATE_REST_API = Pace("CreateRestApi", 3.0)
CREATE_DEPLOYMENT = Pace("CreateDeployment", 5.0)
DELETE_REST_API = Pace("DeleteRestApi", 30.0)
UPDATE_USAGE_PLAN = Pace("UpdateUsagePlan", 20.0)

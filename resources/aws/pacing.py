"""Client-side pacing for the control-plane calls AWS caps hardest (T-2, B-AG-2).

botocore's standard retries do absorb a throttle, but they give up after a few attempts; calls
capped at one per several seconds (API Gateway CreateDeployment 1/5 s, CreateRestApi 1/3 s,
DeleteRestApi 1/30 s, UpdateUsagePlan 1/20 s; ECS RegisterTaskDefinition 1/s) are paced instead,
so a run is slowed rather than throttled.
"""
from __future__ import annotations

import threading

from resources.aws.clock import REAL_CLOCK, Clock


class Pace:
    """AWS's token bucket on our side: ``burst`` calls at once, then one per ``interval`` seconds,
    shared by every handler instance and thread.

    The wait happens under the lock, so callers queue in order. Time comes from the caller's
    injected clock: another clock (a test's FakeClock), or one that reads earlier than the last
    call, starts the bucket full again rather than waiting on a past that is not its own.
    """

    def __init__(self, operation: str, interval: float, burst: int = 1):
        self.operation = operation
        self.interval = interval
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None
        self._clock: Clock | None = None
        self._lock = threading.Lock()

    def wait(self, clock: Clock) -> None:
        with self._lock:
            now = clock.now()
            # Clocks are equal when they read the same source (two as_clock() of one FakeClock).
            if clock != self._clock or self._last is None or now < self._last:
                self._clock = clock
                self._tokens = float(self.burst)
            else:
                self._tokens = min(self.burst, self._tokens + (now - self._last) / self.interval)
            if self._tokens < 1:
                clock.sleep((1 - self._tokens) * self.interval)
                now = clock.now()
                self._tokens = 1.0
            self._tokens -= 1
            self._last = now


# ECS: a bucket of 20 refilled at 1/s (T-2): a stack's few definitions go at once.
REGISTER_TASK_DEFINITION = Pace("RegisterTaskDefinition", 1.0, burst=20)
CREATE_REST_API = Pace("CreateRestApi", 3.0)
CREATE_DEPLOYMENT = Pace("CreateDeployment", 5.0)
DELETE_REST_API = Pace("DeleteRestApi", 30.0)
UPDATE_USAGE_PLAN = Pace("UpdateUsagePlan", 20.0)

# API Gateway's management API, reads included: 10 requests a second for the whole account in
# bursts of 40, and GetResources 5 every 2 seconds (API Gateway developer guide, "Amazon API
# Gateway quotas", T-2). One environment's walk stays within the burst; ``bin/drift --all`` over
# many environments does not (eight calls each), and botocore's standard retries share one retry
# quota per client (about 100 throttled retries): past it, a throttle reaches the user as an
# unchecked resource. Paced, such a check takes what AWS allows and no longer fails.
APIGATEWAY_ACCOUNT = Pace("API Gateway management calls", 0.1, burst=40)
APIGATEWAY_GET_RESOURCES = Pace("GetResources", 0.4, burst=5)
APIGATEWAY_HOOK = "video-pipeline-infra-apigateway-pace"


def pace_apigateway(client, clock: Clock = REAL_CLOCK) -> None:
    """Every call of this API Gateway client waits its turn in the account's buckets."""

    def wait(model, **_kwargs) -> None:
        if model.name == "GetResources":
            APIGATEWAY_GET_RESOURCES.wait(clock)
        APIGATEWAY_ACCOUNT.wait(clock)

    client.meta.events.register("before-parameter-build.api-gateway", wait, unique_id=APIGATEWAY_HOOK)

"""The fidelity layer's clock: the "now" that day-2 states (deploying, modifying,
storage-optimization, rolled back, failed) advance on, and the failures a test asks for.

moto answers every change at once and never fails (docs/aws-behaviours.md, table C). The clock-driven patches
(``ecs_deployments``, ``rds_modify``, ...) record when an operation started and, each time a
Describe* is answered, move the model to the state AWS would show at "now". Nothing runs in the
background: moto's backends are not thread-safe (``serial.py``), so transitions are applied
lazily on read, under the dispatch lock.

Default: **instant**. Every operation reaches its end state within the call that started it, as
moto and the layer always did, so the unit, handler and end-to-end suites and ``--sandbox`` see
exactly what they saw before. A test takes the clock over::

    from resources.aws.clock import FakeClock
    from sandbox.fidelity import clock

    with clock.use(FakeClock()) as fake:
        clock.fail("ecs-image", "nginx:broken")      # tasks of that image fail to start
        ...UpdateService...
        fake.sleep(clock.duration("ecs.deployment"))   # now the deployment has ended

The moto server subprocess of the end-to-end tests exposes the same controls over HTTP
(``control.py``: ``POST /fidelity/clock``, ``POST /fidelity/fail``).
"""
from __future__ import annotations

import contextlib
import math
import threading
from typing import Iterator, Protocol

# How long each operation takes on the controlled clock, in seconds: the typical values of
# T-1.2 ("Modify") in docs/aws-behaviours.md, so a test that advances by them reads
# like the real thing. A test may override them through ``use(durations=...)``.
DURATIONS: dict[str, float] = {
    # ECS service: "Steady state +60-120 s" after CreateService; UpdateService 2-6 min (est.).
    "ecs.deployment": 120.0,
    # ECS: one batch of a deployment's tasks launched and failed (C-ECS-3); T-1.2
    # UpdateService row: "new task start (~1 min)".
    "ecs.task_start": 60.0,
    # RDS ModifyDBInstance: C-RDS-1, the status can still read "available" for seconds.
    "rds.modify_pending": 5.0,
    # RDS Multi-AZ class change, apply immediately: 10-20 min (est.).
    "rds.modify": 900.0,
    # RDS storage-optimization after a storage change: "hours (can exceed 24 h)" (C-RDS-2).
    "rds.storage_optimization": 6 * 3600.0,
    # RDS: no further storage change "for either six (6) hours or until storage optimization has
    # completed on the instance, whichever is longer" (RDS user guide; C-RDS-2).
    "rds.storage_cooldown": 6 * 3600.0,
    # ElastiCache ModifyReplicationGroup / replica count: 15-25 min (est.).
    "elasticache.modify": 1200.0,
    # API Gateway CreateVpcLink -> AVAILABLE: minutes (it creates the NLB's endpoint service).
    "apigateway.vpc_link": 180.0,
    # AssociateWebACL answers WAFUnavailableEntityException after CreateWebACL (D-WAF-1; only with
    # ``wafv2``'s switch on): "a few minutes" (API reference), no published figure (est.).
    "wafv2.new_entity": 120.0,
    # Creates that are pending on AWS (``creates.py``, only with its switch on): T-1.1
    # typical figures. RDS PostgreSQL Multi-AZ CreateDBInstance -> available: ~14 min.
    "rds.create": 840.0,
    # ElastiCache Redis replication group (2 nodes, failover, encryption) -> available: ~7-9 min
    # (T-4.2: 480 s).
    "elasticache.create": 480.0,
    # ElastiCache DeleteReplicationGroup -> ReplicationGroupNotFoundFault: 5-8 min (est.; T-1.3,
    # T-4.2: 360 s). Only with ``elasticache``'s PENDING_DELETES switch on.
    "elasticache.delete": 360.0,
    # CreateNatGateway -> available: ~105 s (1m25s-2m05s, n=9).
    "ec2.nat_gateway": 105.0,
    # ReleaseAddress of a deleted NAT gateway's Elastic IP answers AuthFailure (D-EIP-1; only with
    # ``ec2_addresses``'s switch on): AWS publishes no figure; reports describe "a small pause"
    # after the NAT reads deleted (est.).
    "ec2.nat_address_release": 30.0,
    # A replica added by IncreaseReplicaCount is still "creating" after its group reads
    # "available" (D-EC-1; only with ``elasticache_modify``'s replica switch on): no published figure
    # (est.).
    "elasticache.replica_create": 300.0,
    # The tagging index still lists a deleted resource (GetResources, C-TAG-1): AWS publishes no
    # figure, only that changes "might not be immediately reflected"; an hour keeps a deleted
    # resource visible to the drift check that follows a teardown. Only with ``tagging.faithful()``.
    "tagging.deleted_listed": 3600.0,
}


class Source(Protocol):
    def now(self) -> float: ...


class ManualClock:
    """A clock that only moves when told: the server's controlled clock (``control.py``)."""

    def __init__(self, start: float = 0.0):
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class ScaledClock:
    """A real clock running ``speed`` times faster: ``--sandbox-speed`` (``use_speed``). The
    layer's durations stay AWS's own; a 14 min RDS create takes 14 s of wall time at speed 60.
    ``wall`` is injected so a test can drive it with a ``FakeClock``'s ``now``."""

    def __init__(self, speed: float, wall=None):
        if not speed > 0:
            raise ValueError("the speed must be a positive number")
        import time

        self.speed = float(speed)
        self._wall = wall or time.monotonic
        self._start = self._wall()

    def now(self) -> float:
        return (self._wall() - self._start) * self.speed


class _State:
    def __init__(self) -> None:
        self.source: Source | None = None  # None: instant
        self.durations: dict[str, float] = dict(DURATIONS)
        self.failures: dict[tuple[str, str], str | None] = {}
        # Behaviours off by default that a test switches on (``tagging.faithful()``).
        self.switches: set[str] = set()
        # Switches a server turns on for good (``serve.py``): what ``reset`` goes back to.
        self.default_switches: frozenset[str] = frozenset()


_state = _State()
_lock = threading.RLock()


def controlled() -> bool:
    """True when a test drives the clock; False in the default, instant mode."""
    return _state.source is not None


def now() -> float:
    """The layer's "now" in seconds; 0.0 in instant mode, where only ``elapsed`` matters."""
    return _state.source.now() if _state.source is not None else 0.0


def elapsed(since: float) -> float:
    """Seconds since ``since`` on the layer's clock; infinite in instant mode (all is done)."""
    return math.inf if _state.source is None else _state.source.now() - since


def duration(name: str) -> float:
    return _state.durations[name]


def set_source(source: Source | None, durations: dict[str, float] | None = None) -> None:
    with _lock:
        _state.source = source
        _state.durations = {**DURATIONS, **(durations or {})}


def fail(kind: str, key: str, reason: str | None = None) -> None:
    """Mark something to fail: ``ecs-image`` / image, ``ecs-task-definition`` / family:revision,
    ``vpc-link`` / name, ``rds-modification`` / DB instance identifier. ``reason`` replaces the layer's AWS-worded default reason."""
    with _lock:
        _state.failures[(kind, key)] = reason


def unfail(kind: str, key: str) -> None:
    """Remove a mark ``fail`` set (``reset`` removes them all)."""
    with _lock:
        _state.failures.pop((kind, key), None)


def failing(kind: str, key: str) -> tuple[bool, str | None]:
    """Whether ``key`` of ``kind`` is marked to fail, and the reason given with the mark."""
    if (kind, key) in _state.failures:
        return True, _state.failures[(kind, key)]
    return False, None


def any_failure() -> bool:
    return bool(_state.failures)


def switch(name: str, on: bool) -> None:
    """Turn a behaviour that is off by default on or off (``reset`` turns them all off)."""
    with _lock:
        (_state.switches.add if on else _state.switches.discard)(name)


def switched(name: str) -> bool:
    return name in _state.switches


@contextlib.contextmanager
def switched_on(name: str) -> Iterator[None]:
    """The behaviour ``name`` on for the ``with`` block (in-process), off again after it."""
    switch(name, True)
    try:
        yield
    finally:
        switch(name, False)


def set_default_switches(names: set[str] | frozenset[str]) -> None:
    """The switches on by default from now on (and after every ``reset``); on at once."""
    with _lock:
        _state.default_switches = frozenset(names)
        _state.switches |= _state.default_switches


def reset() -> None:
    """Back to the default: instant clock, default durations, nothing failing, only the default
    switches on (none, unless a server chose some with ``set_default_switches``)."""
    with _lock:
        _state.source = None
        _state.durations = dict(DURATIONS)
        _state.failures.clear()
        _state.switches = set(_state.default_switches)


def use_speed(speed: float, wall=None) -> ScaledClock:
    """The sandbox at AWS's pace, ``speed`` times faster: the layer's clock runs on the wall clock
    scaled by ``speed`` and creates are pending for their AWS durations (``creates.py``). Stays on
    until ``reset``."""
    source = ScaledClock(speed, wall)
    set_source(source)
    switch("pending-creates", True)
    return source


@contextlib.contextmanager
def use(source: Source | None = None, durations: dict[str, float] | None = None) -> Iterator[Source]:
    """Drive the layer with ``source`` (a ``FakeClock``, a ``ManualClock``) for the ``with``
    block, then go back to the instant clock with nothing marked to fail."""
    source = source if source is not None else ManualClock()
    set_source(source, durations)
    try:
        yield source
    finally:
        reset()

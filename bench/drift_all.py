"""``bin/drift --all`` over 1, 10 and 100 environments at the target latency, under AWS's
request-rate limits (issue 14).

The environments are created first with no latency and no rate limits, ``CREATE_AT_ONCE``
``bin/reconcile`` processes at a time (their create time is not what is measured; it is
reported). Then one ``bin/drift --all --json`` is timed for each count, with the rate limits on
and every bucket full, as on an account idle before the check.

Targets: at most 30 AWS calls per environment at every count (the calls of one sweep shared by
all divided among them, as the account pays them; retries and throttled answers count, as every
request does), 100 environments in at most 15 s at 30 ms per call, and no throttling error
reaching the user (botocore's retries absorb every throttled answer).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.moto_server import ROOT

TARGETS = {"calls_per_env": 30, "hundred_envs_wall_s": 15.0}
COUNTS = (1, 10, 100)
# Creates run as separate processes, 4 at a time: on 2 cores more only queue behind moto.
CREATE_AT_ONCE = 4
# How a throttling error reads once it reaches the user (botocore's message names the code).
THROTTLE_CODES = re.compile(r"RequestLimitExceeded|Throttling|TooManyRequests|Rate exceeded")


@dataclass(frozen=True)
class AllRun:
    envs: int
    wall_s: float
    calls: int
    mutating: int
    code: int
    throttled: int = 0  # answers the rate limits refused (each retried by botocore, or not)
    throttle_errors: int = 0  # throttling errors the command reported to its user
    created: int = 0  # environments created for this count (those of the smaller counts kept)
    create_s: float = 0.0  # how long creating them took
    load_1m: float = 0.0  # the machine's load average as the timed run started
    by_service: dict[str, int] = field(default_factory=dict)  # calls per AWS service
    throttled_by: dict[str, int] = field(default_factory=dict)  # throttled answers per refusing bucket
    error_sample: list[str] = field(default_factory=list)  # the first throttling errors reported, as read

    @property
    def calls_per_env(self) -> float:
        return self.calls / self.envs

    @property
    def wall_per_env_s(self) -> float:
        return self.wall_s / self.envs


def names(count: int) -> list[str]:
    return [f"bench-{i:02d}" for i in range(1, count + 1)]


def throttle_errors(stderr: str) -> list[str]:
    """Throttling errors in what the user reads: plain lines (``error: ...``) and error-level log
    events; a warning that a call was retried is not one."""
    found = []
    for line in stderr.splitlines():
        if not THROTTLE_CODES.search(line):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            found.append(line)
            continue
        if not isinstance(event, dict) or event.get("level") in ("error", "critical"):
            found.append(line)
    return found


def throttled(run: AllRun) -> str:
    """The throttled answers, with the buckets that refused most."""
    top = ", ".join(f"{op} {n}" for op, n in list(run.throttled_by.items())[:3])
    return f"{run.throttled} throttled" + (f" ({top})" if top else "")


def growth(run: AllRun, before: AllRun | None) -> str:
    """How the time grew from the previous count: per environment, and as a ratio."""
    text = f"{run.wall_per_env_s:.3f} s per env"
    if before is not None and before.wall_s > 0:
        text += f"; ×{run.wall_s / before.wall_s:.1f} the time of {before.envs} for ×{run.envs / before.envs:g} the envs"
    return text


def figures(runs: list[AllRun], latency: float) -> list[dict]:
    """The table's rows for each count: creating the environments (reported only), AWS calls per
    environment, the wall time and its growth, and throttling errors reaching the user."""
    ms = f"{latency * 1000:.0f} ms/call"
    out, before = [], None
    for r in sorted(runs, key=lambda r: r.envs):
        out.append({"figure": f"creating {r.created} env(s) for {r.envs}, {CREATE_AT_ONCE} at a time, no latency",
                    "measured": round(r.create_s, 3), "limit": None, "unit": "s",
                    "note": "reported only; no rate limits while creating", "pass": True})
        out.append({"figure": f"drift --all, {r.envs} env(s): AWS calls per env @ {ms}", "measured": round(r.calls_per_env, 1),
                    "limit": TARGETS["calls_per_env"], "unit": "calls",
                    "note": f"{r.calls} calls, {r.mutating} mutating, {throttled(r)}",
                    "pass": r.calls_per_env <= TARGETS["calls_per_env"] and r.mutating == 0 and r.code == 0})
        limit = TARGETS["hundred_envs_wall_s"] if r.envs == 100 else None
        out.append({"figure": f"drift --all, {r.envs} env(s): wall time @ {ms}, rate-limited", "measured": round(r.wall_s, 3),
                    "limit": limit, "unit": "s",
                    "note": growth(r, before) + f"; load {r.load_1m:.2f}" + ("" if limit else "; reported only"),
                    "pass": (limit is None or r.wall_s <= limit) and r.code == 0})
        out.append({"figure": f"drift --all, {r.envs} env(s): throttling errors reaching the user", "measured": r.throttle_errors,
                    "limit": 0, "unit": "errors", "note": f"exit {r.code}", "pass": r.throttle_errors == 0})
        before = r
    return out


def create(environments: list[str], env: dict[str, str], par: list[str], at_once: int = CREATE_AT_ONCE) -> None:
    """``bin/reconcile --env NAME`` for each name, ``at_once`` processes at a time."""
    def one(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "bin" / "reconcile"), "--env", name, *par], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=900)

    with ThreadPoolExecutor(max_workers=at_once) as pool:
        for name, done in zip(environments, pool.map(one, environments)):
            if done.returncode:
                raise SystemExit(f"creating {name} failed with exit {done.returncode}: {done.stderr.strip()[-300:]}")


def measure(proxy, env: dict[str, str], timed, counts=COUNTS, latency: float = 0.030, par: list[str] = ()) -> list[AllRun]:
    """Create environments up to each count (no latency, no rate limits), then time
    ``bin/drift --all`` at ``latency`` under the rate limits."""
    runs, made = [], 0
    for count in sorted(counts):
        proxy.latency, proxy.scale = 0.0, 0.0
        proxy.rate_limits(False)
        added = names(count)[made:]
        started = time.perf_counter()
        create(added, env, list(par))
        create_s = time.perf_counter() - started
        made = max(made, count)
        proxy.latency = latency
        proxy.rate_limits(True)
        load = os.getloadavg()[0]
        try:
            t = timed(proxy, env, "drift", "--all", "--json", *par)
        finally:
            proxy.rate_limits(False)
        errors = throttle_errors(t.stderr)
        runs.append(AllRun(count, t.wall_s, t.calls, t.mutating, t.code, t.throttled, len(errors),
                           len(added), create_s, round(load, 2), t.by_service, t.throttled_by, errors[:3]))
    return runs

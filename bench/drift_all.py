"""``bin/drift --all`` over 1, 5 and 10 environments at the target latency (issue 14).

The environments are created with no latency (their create time is not what is measured), then
one ``bin/drift --all --json`` is timed for each count. Targets: at most 60 AWS calls per
environment (the calls of one sweep shared by all divided among them, as the account pays them)
and at most 3 s for ten environments at 30 ms per call.
"""
from __future__ import annotations

from dataclasses import dataclass

TARGETS = {"calls_per_env": 60, "ten_envs_wall_s": 3.0}
COUNTS = (1, 5, 10)


@dataclass(frozen=True)
class AllRun:
    envs: int
    wall_s: float
    calls: int
    mutating: int
    code: int

    @property
    def calls_per_env(self) -> float:
        return self.calls / self.envs


def names(count: int) -> list[str]:
    return [f"bench-{i:02d}" for i in range(1, count + 1)]


def figures(runs: list[AllRun], latency: float) -> list[dict]:
    """The table's rows: calls per environment against its target for every count, the wall time
    of ten (or of the largest count measured) against its target."""
    ms = f"{latency * 1000:.0f} ms/call"
    out = []
    for r in sorted(runs, key=lambda r: r.envs):
        out.append({"figure": f"drift --all, {r.envs} env(s): AWS calls per env @ {ms}", "measured": round(r.calls_per_env, 1),
                    "limit": TARGETS["calls_per_env"], "unit": "calls", "note": f"{r.calls} calls, {r.mutating} mutating",
                    "pass": r.calls_per_env <= TARGETS["calls_per_env"] and r.mutating == 0 and r.code == 0})
        limit = TARGETS["ten_envs_wall_s"] if r.envs == 10 else None
        out.append({"figure": f"drift --all, {r.envs} env(s): wall time @ {ms}", "measured": round(r.wall_s, 3),
                    "limit": limit, "unit": "s", "note": "" if limit else "reported only",
                    "pass": (limit is None or r.wall_s <= limit) and r.code == 0})
    return out


def measure(proxy, env: dict[str, str], timed, counts=COUNTS, latency: float = 0.030, par: list[str] = ()) -> list[AllRun]:
    """Create environments up to each count (no latency), then time ``bin/drift --all`` at ``latency``."""
    runs, made = [], 0
    for count in counts:
        proxy.latency, proxy.scale = 0.0, 0.0
        for name in names(count)[made:]:
            created = timed(proxy, env, "reconcile", "--env", name, *par)
            if created.code:
                raise SystemExit(f"creating {name} failed with exit {created.code}: {created.stderr.strip()[-300:]}")
        made = count
        proxy.latency = latency
        t = timed(proxy, env, "drift", "--all", "--json", *par)
        runs.append(AllRun(count, t.wall_s, t.calls, t.mutating, t.code))
    return runs

"""``python -m bench``: the scheduler and read-path benchmark (issue 6).

Against the project's moto server behind the latency layer (bench.latency_proxy), in order:
a calibration pass (every node's AWS calls, no delay), then timed runs of the real commands:
full create, no-op reconcile and drift check (at each per-call latency asked for), teardown, and
the start-up time of ``bin/reconcile --help``. Prints a table, writes JSON, exits 1 on a missed
target.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.calibrate import PhaseCalls, run_recorded
from bench.latency_proxy import LatencyProxy
from bench.model import Estimate, estimate
from bench.moto_server import ROOT, MotoServer
from bench.timeline import Timeline, timeline

ENV = "bench"
REGION = "us-east-1"
TARGETS = {
    "create_ratio": 1.03,  # full create ≤ 1.03 × critical path
    "teardown_ratio": 1.05,  # teardown ≤ 1.05 × its critical path
    "read_wall_s": 0.8,  # no-op reconcile and drift check, at the target latency
    "read_wall_0ms_s": 0.5,  # the same at 0 ms per call: the fixed cost
    "read_calls": 45,
    "startup_s": 0.5,  # bin/reconcile --help
}
TARGET_LATENCY = 0.030  # the read targets hold at 30 ms per call
# 1/20: the orchestrator's own fixed costs (interpreter start-up, botocore clients, CPU per call
# on a small machine) do not shrink with the scale, so the harder time is compressed, the more
# they weigh against the critical path; at 1/20 they are still visible (README, "Benchmark").
DEFAULT_SCALE = 0.05


@dataclass
class Timed:
    wall_s: float
    code: int
    calls: int  # HTTP requests the latency layer answered (retries included)
    mutating: int
    stderr: str
    timeline: Timeline | None = None
    throttled: int = 0  # of the calls, those answered with a throttling error (rate limits on)
    by_service: dict[str, int] = field(default_factory=dict)  # calls per AWS service
    throttled_by: dict[str, int] = field(default_factory=dict)  # throttled answers per refusing bucket
    runs_s: list[float] = field(default_factory=list)  # a median's: the wall time of every run, in order

    def phases(self) -> dict:
        t = self.timeline
        if t is None:
            return {}
        return {"before_walk_s": round(t.before_walk_s, 3), "walk_s": round(t.walk_s, 3),
                "after_walk_s": round(t.after_walk_s, 3)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=DEFAULT_SCALE,
                   help="simulated / real duration (default 0.05: RDS Multi-AZ's 14 min takes 42 s)")
    p.add_argument("--latency", type=float, default=TARGET_LATENCY, help="seconds every call takes (default 0.030)")
    p.add_argument("--read-latencies", default="0,0.030,0.050", help="per-call latencies for the no-op and drift runs")
    p.add_argument("--read-runs", type=int, default=5,
                   help="no-op reconcile and drift check runs at each latency; the median counts (default 5)")
    p.add_argument("--startup-runs", type=int, default=7, help="bin/reconcile --help runs; the median counts")
    p.add_argument("--parallelism", type=int, default=16, help="passed to the commands (their default is 16)")
    p.add_argument("--all-envs", default="1,10,100",
                   help="environment counts for the bin/drift --all figures, run under AWS's request-rate limits "
                        "(default 1,10,100; empty: skip)")
    p.add_argument("--only-drift-all", action="store_true",
                   help="only the bin/drift --all figures (no calibration, create, teardown or start-up runs)")
    p.add_argument("--json", action="store_true", help="print the JSON report on stdout instead of the table")
    p.add_argument("--output", metavar="FILE", help="also write the JSON report to FILE")
    return p.parse_args(argv)


def command_env(endpoint: str, state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "VIDEO_PIPELINE_STATE_DIR": str(state_dir), "VIDEO_PIPELINE_LOG_FORMAT": "json",
    })
    return env


def timed(proxy: LatencyProxy, env: dict[str, str], command: str, *args: str) -> Timed:
    proxy.take_calls()
    proxy.take_throttled()
    launched, started = time.time(), time.perf_counter()
    proc = subprocess.run([str(ROOT / "bin" / command), *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    calls, throttled = proxy.take_calls(), proxy.take_throttled()
    return Timed(wall, proc.returncode, len(calls), sum(c.mutating for c in calls), proc.stderr,
                 timeline(proc.stderr, launched, launched + wall), len(throttled),
                 dict(Counter(c.service for c in calls).most_common()),
                 dict(Counter(throttled).most_common()))


def stack_graph() -> dict[str, set[str]]:
    from orchestrator.config import EnvConfig
    from orchestrator.stack import stack_nodes

    # The graph's shape does not depend on the AZ names.
    return {n.key: set(n.depends_on) for n in stack_nodes(ENV, EnvConfig(), [f"{REGION}a", f"{REGION}b"])}


def model(graph, calls: PhaseCalls, latency: float, scale: float) -> Estimate:
    return estimate(graph, calls.by_node, calls.outside, latency=latency, scale=scale)


def run_drift_all(args: argparse.Namespace, tmp: Path, moto: MotoServer, proxy: LatencyProxy, par: list[str]) -> list:
    from bench import drift_all

    counts = [int(x) for x in args.all_envs.split(",") if x]
    if not counts:
        return []
    moto.reset()
    moto.warm(REGION)
    moto.raise_quotas()  # a new account's 5 Elastic IPs would stop the third environment (each holds 2)
    env = command_env(proxy.endpoint, tmp / "state-all")
    return drift_all.measure(proxy, env, timed, counts, TARGET_LATENCY, par)


def run_only_drift_all(args: argparse.Namespace) -> dict:
    from bench import drift_all

    par = ["--parallelism", str(args.parallelism)]
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    # The commands as a checkout runs them from its second run on: the project's modules compiled
    # to bytecode (Python caches it at the first import; where PYTHONDONTWRITEBYTECODE is set,
    # every start would compile them again, about 0.1 s of CPU the user never pays).
    for package in ("orchestrator", "resources", "state", "sandbox"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_name:
        moto = MotoServer(Path(tmp_name))
        proxy = LatencyProxy(moto.endpoint, latency=0.0, scale=0.0)
        try:
            runs = run_drift_all(args, Path(tmp_name), moto, proxy, par)
        finally:
            proxy.stop()
            moto.stop()
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    figures = drift_all.figures(runs, TARGET_LATENCY)
    return {"settings": {"latency_s": TARGET_LATENCY, "parallelism": args.parallelism, "cpus": os.cpu_count(),
                         "load_average_1m": load, "rate_limits": "AWS's, on every drift --all run (bench/rate_limits.py)"},
            "drift_all": [vars(r) for r in runs], "figures": figures, "pass": all(f["pass"] for f in figures)}


def run(args: argparse.Namespace) -> dict:
    from orchestrator import graph as graphs

    read_latencies = [float(x) for x in args.read_latencies.split(",") if x]
    par = ["--parallelism", str(args.parallelism)]
    # The figures are wall times: other work on the machine shows in them.
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_name:
        tmp = Path(tmp_name)
        moto = MotoServer(tmp)
        proxy = LatencyProxy(moto.endpoint, latency=0.0, scale=0.0)
        try:
            moto.warm(REGION)
            create_calls, teardown_calls = calibrate(proxy.endpoint, tmp / "calibration-state", par)
            moto.reset()
            moto.warm(REGION)

            env = command_env(proxy.endpoint, tmp / "state")
            proxy.latency, proxy.scale = args.latency, args.scale
            create = _check(timed(proxy, env, "reconcile", "--env", ENV, "--json", *par), "full create")
            reads = {}
            for latency in read_latencies:
                proxy.latency = latency
                runs = [{"noop": _check(timed(proxy, env, "reconcile", "--env", ENV, "--json", *par), "no-op reconcile"),
                         "drift": _check(timed(proxy, env, "drift", "--env", ENV, "--json", *par), "drift check")}
                        for _ in range(args.read_runs)]
                reads[latency] = {key: median_run([r[key] for r in runs]) for key in ("noop", "drift")}
            proxy.latency = args.latency
            teardown = _check(timed(proxy, env, "teardown", "--env", ENV, "--yes", "--json", *par), "teardown")
            startups = [timed(proxy, env, "reconcile", "--help").wall_s for _ in range(args.startup_runs)]
            all_runs = run_drift_all(args, tmp, moto, proxy, par)
        finally:
            proxy.stop()
            moto.stop()
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    graph = stack_graph()
    create_model = model(graph, create_calls, args.latency, args.scale)
    teardown_model = model(graphs.reverse(graph), teardown_calls, args.latency, args.scale)
    doc = report(args, create_model, teardown_model, create, teardown, reads, startups, create_calls, teardown_calls,
                 load)
    from bench import drift_all

    doc["drift_all"] = [vars(r) for r in all_runs]
    doc["figures"] += drift_all.figures(all_runs, TARGET_LATENCY)
    doc["pass"] = all(f["pass"] for f in doc["figures"])
    return doc


def calibrate(endpoint: str, state_dir: Path, par: list[str]) -> tuple[PhaseCalls, PhaseCalls]:
    """Create and tear down once with no delay, in this process, recording every node's calls."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(command_env(endpoint, state_dir))
        code, create_calls = run_recorded("reconcile", ["--env", ENV, *par])
        if code:
            raise SystemExit(f"calibration reconcile failed with exit {code}")
        code, teardown_calls = run_recorded("teardown", ["--env", ENV, "--yes", *par])
        if code:
            raise SystemExit(f"calibration teardown failed with exit {code}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return create_calls, teardown_calls


def median_run(runs: list[Timed]) -> Timed:
    """The run of median wall time (the upper one of an even count), with every run's time: one
    run of a half-second command on a shared machine is as much the machine as the command."""
    middle = sorted(runs, key=lambda t: t.wall_s)[len(runs) // 2]
    return replace(middle, runs_s=[t.wall_s for t in runs])


def _check(t: Timed, what: str) -> Timed:
    if t.code != 0:
        tail = t.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"{what} failed with exit {t.code}: {' | '.join(tail)}")
    return t


def _walk_figures(t: Timed, est: Estimate, kinds: dict[str, tuple[str, str]], calls: PhaseCalls) -> dict:
    """Measured against modelled, as a whole, before/within the walk, and node by node on the path."""
    path = []
    for node in est.path:
        span = t.timeline.spans.get(kinds[node]) if t.timeline else None
        path.append({"node": node, "calls": len(calls.by_node.get(node, [])), "model_s": round(est.costs.get(node, 0.0), 3),
                     "measured_s": round(span[1] - span[0], 3) if span else None})
    return {
        "wall_s": round(t.wall_s, 3), "critical_path_s": round(est.critical_path_s, 3),
        "sequential_s": round(est.sequential_s, 3), "aws_calls": t.calls, "calibrated_calls": calls.total,
        "measured": t.phases(),
        "model": {"before_walk_s": round(est.before_walk_s, 3), "walk_s": round(est.critical_path_s - est.before_walk_s, 3)},
        "critical_path": path,
    }


def report(args, create_model: Estimate, teardown_model: Estimate, create: Timed, teardown: Timed,
           reads: dict[float, dict[str, Timed]], startups: list[float], create_calls: PhaseCalls,
           teardown_calls: PhaseCalls, load: dict[str, list[float]]) -> dict:
    from orchestrator.config import EnvConfig
    from orchestrator.stack import stack_nodes

    kinds = {n.key: (n.handler.kind, n.name) for n in stack_nodes(ENV, EnvConfig(), [f"{REGION}a", f"{REGION}b"])}
    figures = []

    def figure(name: str, measured: float, limit: float | None, unit: str, note: str = "") -> None:
        figures.append({"figure": name, "measured": round(measured, 3), "limit": None if limit is None else round(limit, 3),
                        "unit": unit, "note": note, "pass": limit is None or measured <= limit})

    figure("full create wall time", create.wall_s, TARGETS["create_ratio"] * create_model.critical_path_s, "s",
           f"≤ {TARGETS['create_ratio']} × critical path {create_model.critical_path_s:.2f} s")
    figure("teardown wall time", teardown.wall_s, TARGETS["teardown_ratio"] * teardown_model.critical_path_s, "s",
           f"≤ {TARGETS['teardown_ratio']} × critical path {teardown_model.critical_path_s:.2f} s")
    for latency, runs in reads.items():
        ms = f"{latency * 1000:.0f} ms/call"
        at_target = abs(latency - TARGET_LATENCY) < 1e-9
        wall_limit = TARGETS["read_wall_s"] if at_target else TARGETS["read_wall_0ms_s"] if latency == 0 else None
        for key, title in (("noop", "no-op reconcile"), ("drift", "drift check")):
            t = runs[key]
            walk = t.phases().get("walk_s")
            note = f"walk {walk:.2f} s" if walk is not None else ""
            if len(t.runs_s) > 1:
                note = f"median of {len(t.runs_s)}, {min(t.runs_s):.2f}-{max(t.runs_s):.2f} s; " + note
            figure(f"{title} wall time @ {ms}", t.wall_s, wall_limit, "s",
                   note + ("" if wall_limit is not None else "; reported only"))
            figure(f"{title} AWS calls @ {ms}", t.calls, TARGETS["read_calls"] if at_target else None, "calls",
                   f"{t.mutating} mutating" + ("" if at_target else "; reported only"))
    startup = statistics.median(startups)
    figure(f"bin/reconcile --help start-up (median of {len(startups)})", startup, TARGETS["startup_s"], "s")
    return {
        "settings": {"scale": args.scale, "latency_s": args.latency, "read_latencies_s": sorted(reads),
                     "parallelism": args.parallelism, "python": sys.version.split()[0], "cpus": os.cpu_count(),
                     "load_average_1m": load},
        "create": _walk_figures(create, create_model, kinds, create_calls),
        "teardown": _walk_figures(teardown, teardown_model, kinds, teardown_calls),
        "reads": {f"{latency:.3f}": {k: {"wall_s": round(t.wall_s, 3), "runs_s": [round(s, 3) for s in t.runs_s],
                                         "aws_calls": t.calls, "mutating": t.mutating, "measured": t.phases()}
                                     for k, t in runs.items()}
                  for latency, runs in reads.items()},
        "startup_s": {"median": round(startup, 3), "runs": [round(s, 3) for s in startups]},
        "figures": figures,
        "pass": all(f["pass"] for f in figures),
    }


def render(doc: dict) -> str:
    def num(value: float, unit: str) -> str:
        return f"{value:.2f} s" if unit == "s" else f"{value:.0f}"

    rows = [("figure", "measured", "target", "", "note")]
    for f in doc["figures"]:
        limit = "–" if f["limit"] is None else f"≤ {num(f['limit'], f['unit'])}"
        verdict = "" if f["limit"] is None else ("PASS" if f["pass"] else "FAIL")
        rows.append((f["figure"], num(f["measured"], f["unit"]), limit, verdict, f["note"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + ("  " + r[4] if r[4] else "") for r in rows]
    s = doc["settings"]
    if "scale" not in s:  # --only-drift-all
        lines += ["", f"{s['latency_s'] * 1000:.0f} ms per call, AWS's request-rate limits, parallelism {s['parallelism']}, "
                      f"{s['cpus']} CPUs, load average {s['load_average_1m']}", "",
                  "all targets met" if doc["pass"] else "TARGET MISSED"]
        return "\n".join(lines)
    lines += ["", f"scale {s['scale']} (simulated/real), {s['latency_s'] * 1000:.0f} ms per call, parallelism "
                  f"{s['parallelism']}, {s['cpus']} CPUs, load average {s['load_average_1m']}"]
    for phase in ("create", "teardown"):
        d = doc[phase]
        m = d["measured"]
        lines.append(
            f"{phase}: wall {d['wall_s']:.2f} s (before the walk {m.get('before_walk_s', 0):.2f} s, walk "
            f"{m.get('walk_s', 0):.2f} s); model: critical path {d['critical_path_s']:.2f} s (walk "
            f"{d['model']['walk_s']:.2f} s), sequential sum {d['sequential_s']:.2f} s; {d['aws_calls']} AWS calls"
        )
        lines.append("  path (model → measured): " + ", ".join(
            f"{p['node']} {p['model_s']:.2f}→{'?' if p['measured_s'] is None else format(p['measured_s'], '.2f')}"
            for p in d["critical_path"]))
    lines += ["", "all targets met" if doc["pass"] else "TARGET MISSED"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    doc = run_only_drift_all(args) if args.only_drift_all else run(args)
    text = json.dumps(doc, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(text if args.json else render(doc))
    return 0 if doc["pass"] else 1

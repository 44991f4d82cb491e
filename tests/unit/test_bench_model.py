"""The benchmark's pure parts: request classification, the duration table, the critical path model,
and the latency layer's delays (with an injected sleep)."""
from __future__ import annotations

import http.server
import threading
import urllib.request
from datetime import datetime, timezone

import pytest

from bench.classify import Call, classify
from bench.durations import SLOW_OPERATIONS, slow_seconds
from bench.latency_proxy import LatencyProxy
from bench.model import call_seconds, estimate, longest_path, node_costs
from bench.run import Timed, median_run
from bench.timeline import timeline
from orchestrator import graph as graphs
from orchestrator.config import EnvConfig
from orchestrator.stack import stack_nodes


def auth(service: str) -> tuple[str, str]:
    return ("Authorization", f"AWS4-HMAC-SHA256 Credential=testing/20261123/us-east-1/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=abc")


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "expected"),
    [
        ("POST", "/", [auth("rds")], b"Action=CreateDBInstance&Version=2014-10-31", Call("rds", "CreateDBInstance", True)),
        ("POST", "/", [auth("ec2")], "Action=DescribeVpcs&Version=2016-11-15", Call("ec2", "DescribeVpcs", False)),
        ("POST", "/", [auth("ecs"), ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.CreateService")], b"{}",
         Call("ecs", "CreateService", True)),
        ("POST", "/", [auth("logs"), ("X-Amz-Target", "Logs_20140328.DescribeLogGroups")], b"{}",
         Call("logs", "DescribeLogGroups", False)),
        ("POST", "/2015-02-01/mount-targets", [auth("elasticfilesystem")], b"{}",
         Call("elasticfilesystem", "CreateMountTarget", True)),
        ("DELETE", "/2015-02-01/mount-targets/fsmt-123", [auth("elasticfilesystem")], b"",
         Call("elasticfilesystem", "DeleteMountTarget", True)),
        ("POST", "/restapis/abc123/deployments", [auth("apigateway")], b"{}", Call("apigateway", "CreateDeployment", True)),
        ("GET", "/restapis/abc123/resources?embed=methods", [auth("apigateway")], b"",
         Call("apigateway", "GET /restapis/abc123/resources", False)),
        ("PATCH", "/restapis/abc123/stages/dev", [auth("apigateway")], b"{}",
         Call("apigateway", "PATCH /restapis/abc123/stages/dev", True)),
        ("GET", "/", [], b"", Call("?", "GET /", False)),
    ],
)
def test_requests_are_classified_by_service_and_operation(method, url, headers, body, expected):
    assert classify(method, url, headers, body) == expected


def test_every_delayed_operation_quotes_its_aws_timings_row_and_is_classifiable():
    assert SLOW_OPERATIONS[("rds", "CreateDBInstance")].seconds == 840
    for (service, operation), timing in SLOW_OPERATIONS.items():
        assert timing.seconds > 0 and timing.source.startswith("T-4.2 ")
        assert operation[0].isupper() and service == service.lower()
    assert slow_seconds("ec2", "DescribeVpcs") == 0.0


def test_a_call_costs_its_latency_plus_its_scaled_duration():
    assert call_seconds(Call("rds", "CreateDBInstance", True), latency=0.03, scale=0.01) == pytest.approx(0.03 + 8.4)
    assert call_seconds(Call("rds", "DescribeDBInstances", False), latency=0.03, scale=0.01) == pytest.approx(0.03)


def test_critical_path_and_sequential_sum_of_a_small_graph():
    # a -> b -> d and a -> c -> d: d waits for the slower of b and c.
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    quick = Call("ec2", "DescribeVpcs", False)
    calls = {
        "a": [quick, Call("ec2", "CreateVpc", True)],  # 2 × 0.1 + 5 × 0.5
        "b": [Call("ec2", "CreateNatGateway", True)],  # 0.1 + 105 × 0.5
        "c": [quick, quick, quick],  # 0.3
        "d": [quick],  # 0.1
    }

    costs = node_costs(calls, latency=0.1, scale=0.5)
    result = estimate(graph, calls, [quick, quick], latency=0.1, scale=0.5)

    assert costs == pytest.approx({"a": 2.7, "b": 52.6, "c": 0.3, "d": 0.1})
    assert result.path == ("a", "b", "d")
    assert result.critical_path_s == pytest.approx(0.2 + 2.7 + 52.6 + 0.1)
    assert result.sequential_s == pytest.approx(0.2 + 2.7 + 52.6 + 0.3 + 0.1)


def test_the_teardown_path_runs_the_reversed_graph():
    graph = {"vpc": [], "subnet": ["vpc"], "rds": ["subnet"]}
    costs = {"vpc": 1.0, "subnet": 1.0, "rds": 390.0}
    assert longest_path(graphs.reverse(graph), costs) == (392.0, ("rds", "subnet", "vpc"))


def test_on_the_stack_graph_rds_is_the_long_pole():
    nodes = stack_nodes("bench", EnvConfig(), ["us-east-1a", "us-east-1b"])
    graph = {n.key: n.depends_on for n in nodes}
    quick = Call("ec2", "DescribeVpcs", False)
    calls = {k: [quick] for k in graph}
    calls["rds.instance"].append(Call("rds", "CreateDBInstance", True))  # 840 s
    calls["redis.replication_group"].append(Call("elasticache", "CreateReplicationGroup", True))  # 480 s

    result = estimate(graph, calls, [], latency=0.03, scale=0.01)

    assert "rds.instance" in result.path and "redis.replication_group" not in result.path
    assert result.path[0] == "vpc" and result.path[-1].startswith("ecs.service")
    assert result.critical_path_s == pytest.approx(8.4 + 0.03 * (len(result.path) + 1))
    assert result.sequential_s == pytest.approx(8.4 + 4.8 + 0.03 * (len(graph) + 2))


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Upstream.seen.append(self.path)
        body = b"<ok/>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Upstream.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_latency_layer_forwards_first_then_holds_the_answer_for_latency_plus_scaled_duration(upstream):
    sleeps: list[tuple[float, list[str]]] = []
    proxy = LatencyProxy(upstream, latency=0.03, scale=0.01, sleep=lambda s: sleeps.append((s, list(_Upstream.seen))),
                         clock=lambda: 0.0)
    try:
        for action in ("CreateDBInstance", "DescribeDBInstances"):
            request = urllib.request.Request(
                proxy.endpoint + "/", data=f"Action={action}".encode(), method="POST", headers=dict([auth("rds")])
            )
            assert urllib.request.urlopen(request, timeout=10).read() == b"<ok/>"
        calls = proxy.take_calls()
    finally:
        proxy.stop()

    assert calls == [Call("rds", "CreateDBInstance", True), Call("rds", "DescribeDBInstances", False)]
    assert [s for s, _ in sleeps] == pytest.approx([0.03 + 8.4, 0.03])
    assert sleeps[0][1] == ["/"]  # the create had reached the upstream before its answer was held


def test_the_timeline_splits_a_run_into_before_during_and_after_the_walk():
    lines = [
        '{"event": "resource_created", "kind": "vpc", "name": "vpc-dev", "duration_s": 2.0, '
        '"timestamp": "2026-11-23T10:00:03.000000Z"}',
        "not json",
        '{"event": "previous_run_interrupted", "timestamp": "2026-11-23T10:00:04.000000Z"}',
        '{"event": "resource_created", "kind": "subnet", "name": "a-dev", "duration_s": 1.5, '
        '"timestamp": "2026-11-23T10:00:06.000000Z"}',
    ]
    launched = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc).timestamp()

    t = timeline("\n".join(lines), launched, launched + 7.0)

    assert (t.before_walk_s, t.walk_s, t.after_walk_s) == pytest.approx((1.0, 5.0, 1.0))
    assert t.spans[("subnet", "a-dev")] == pytest.approx((launched + 4.5, launched + 6.0))
    assert timeline("no events here", launched, launched + 1) is None


def test_drift_all_figures_hold_calls_per_environment_the_hundred_environment_wall_time_and_throttling_errors():
    from bench.drift_all import AllRun, figures

    runs = [AllRun(1, 1.5, 30, 0, 0), AllRun(10, 2.2, 255, 0, 0, throttled=4, throttled_by={"apigateway GetResources": 4}),
            AllRun(100, 14.0, 2900, 0, 0, created=90, create_s=200.0)]
    rows = {f["figure"]: f for f in figures(runs, 0.030)}
    assert rows["drift --all, 10 env(s): AWS calls per env @ 30 ms/call"]["measured"] == 25.5
    assert "4 throttled (apigateway GetResources 4)" in rows["drift --all, 10 env(s): AWS calls per env @ 30 ms/call"]["note"]
    assert all(f["pass"] for f in rows.values())
    assert rows["drift --all, 10 env(s): wall time @ 30 ms/call, rate-limited"]["limit"] is None  # only 100 has a wall target
    assert rows["drift --all, 100 env(s): wall time @ 30 ms/call, rate-limited"]["limit"] == 15.0
    assert "0.140 s per env; ×6.4 the time of 10 for ×10 the envs" in rows["drift --all, 100 env(s): wall time @ 30 ms/call, rate-limited"]["note"]
    assert rows["creating 90 env(s) for 100, 4 at a time, no latency"]["measured"] == 200.0
    verdicts = {f["figure"]: f["pass"] for f in figures([AllRun(100, 15.5, 2900, 0, 0), AllRun(1, 1.0, 31, 0, 0)], 0.030)
                if f["limit"] is not None}
    assert verdicts == {"drift --all, 1 env(s): AWS calls per env @ 30 ms/call": False,
                        "drift --all, 1 env(s): throttling errors reaching the user": True,
                        "drift --all, 100 env(s): AWS calls per env @ 30 ms/call": True,
                        "drift --all, 100 env(s): wall time @ 30 ms/call, rate-limited": False,
                        "drift --all, 100 env(s): throttling errors reaching the user": True}
    # A mutating call, a failed run or a throttling error the user saw never passes.
    assert not all(f["pass"] for f in figures([AllRun(100, 2.0, 500, 1, 0)], 0.030))
    assert not all(f["pass"] for f in figures([AllRun(100, 2.0, 500, 0, 1)], 0.030))
    assert not all(f["pass"] for f in figures([AllRun(100, 2.0, 500, 0, 0, throttle_errors=1)], 0.030))


def test_only_a_throttling_error_the_user_reads_counts_not_a_retried_throttle():
    from bench.drift_all import throttle_errors

    lines = [
        '{"event": "aws_retry", "level": "warning", "error": "TooManyRequestsException"}',  # retried, absorbed
        '{"event": "drift_failed", "level": "error", "error": "An error occurred (Throttling) ... Rate exceeded"}',
        "error: bench-07: An error occurred (RequestLimitExceeded) when calling the DescribeVpcs operation",
        "error: bench-08: the state is unreadable",
        "bench-01: in sync",
    ]
    assert throttle_errors("\n".join(lines)) == [lines[1], lines[2]]


def test_a_read_figure_is_the_median_run_with_every_run_s_time():
    runs = [Timed(wall, 0, 60 + i, 0, "") for i, wall in enumerate([0.61, 0.48, 0.93, 0.50, 0.49])]
    middle = median_run(runs)
    assert middle.wall_s == 0.50 and middle.calls == 63  # the run itself, its calls with it
    assert middle.runs_s == [0.61, 0.48, 0.93, 0.50, 0.49]
    assert median_run([Timed(0.7, 0, 60, 0, "")]).runs_s == [0.7]

"""The live progress view: lines as a pure function of walk events and an injected clock."""
from __future__ import annotations

import io
import os

import structlog

from orchestrator.executor import Outcome, walk
from orchestrator.progress import LiveView, WalkProgress, Words, live_progress, render, wanted

WORDS = Words("reconcile dev", "working", "ready")
NAMES = {"vpc": "vpc-dev", "rds.instance": "rds-postgresql-dev", "nat.1": "nat-gateway-1-dev", "igw": "igw-dev"}


class Clock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def size():
    return os.terminal_size((80, 24))


def progress_with_events(clock: Clock) -> WalkProgress:
    p = WalkProgress(clock=clock)
    p.begin(NAMES)
    p("vpc", "start", None)
    clock.now += 5
    p("vpc", "end", Outcome("ok"))
    p("rds.instance", "start", None)
    clock.now += 2
    p("nat.1", "start", None)
    clock.now += 70
    return p


def test_counts_and_one_line_per_resource_in_progress_with_its_elapsed_time():
    clock = Clock()
    lines = render(progress_with_events(clock), clock(), WORDS)

    assert lines[0] == "reconcile dev: 1 ready, 2 working, 1 waiting, 0 failed  [1m17s]"
    # Longest running first, each with the time since it started.
    assert lines[1].split() == ["working", "rds.instance", "rds-postgresql-dev", "1m12s"]
    assert lines[2].split() == ["working", "nat.1", "nat-gateway-1-dev", "1m10s"]
    assert len(lines) == 3


def test_failed_and_skipped_resources_are_counted_and_failures_named():
    clock = Clock()
    p = progress_with_events(clock)
    p("rds.instance", "end", Outcome("failed", "boom"))
    p("nat.1", "end", Outcome("ok"))
    p("igw", "end", Outcome("dependency_failed", "dependency failed: vpc"))

    lines = render(p, clock(), WORDS)

    assert lines[0] == "reconcile dev: 2 ready, 0 working, 0 waiting, 1 failed, 1 skipped  [1m17s]"
    assert lines[1:] == ["  failed rds.instance  rds-postgresql-dev"]


def test_before_the_walk_begins_the_view_says_it_is_starting():
    assert render(WalkProgress(clock=Clock()), 100.0, WORDS) == ["reconcile dev: starting"]


def test_lines_never_wrap_and_a_long_list_is_cut():
    clock = Clock()
    p = WalkProgress(clock=clock)
    p.begin({f"subnet.{i}": f"a-very-long-resource-name-{i}" * 3 for i in range(10)})
    for i in range(10):
        p(f"subnet.{i}", "start", None)

    lines = render(p, clock(), WORDS, width=40, max_active=4)

    assert all(len(line) < 40 for line in lines)
    assert len(lines) == 1 + 4 + 1 and lines[-1] == "  … and 6 more"


def test_the_observer_records_what_a_real_walk_reports():
    clock = Clock()
    p = WalkProgress(clock=clock)
    graph = {"a": [], "b": ["a"], "c": ["b"]}
    p.begin({k: k.upper() for k in graph})

    def run_node(key):
        if key == "b":
            raise RuntimeError("nope")

    walk(graph, run_node, on_event=p, max_workers=1)

    assert {k: p.state(k) for k in graph} == {"a": "done", "b": "failed", "c": "skipped"}


def test_redraw_moves_up_over_the_previous_view_and_clears_it():
    clock, out = Clock(), Terminal()
    p = progress_with_events(clock)
    view = LiveView(p, out, WORDS, size=size)

    view.draw()
    first = out.getvalue()
    view.draw()

    assert "\x1b[" not in first and first.count("\n") == 3
    assert out.getvalue()[len(first):] == "\x1b[3A\r\x1b[J" + first


def test_a_log_line_goes_above_the_view_which_is_drawn_again_below_it():
    clock, out = Clock(), Terminal()
    view = LiveView(progress_with_events(clock), out, WORDS, size=size)
    view.draw()
    drawn = out.getvalue()

    view.write("warning: something")
    assert out.getvalue() == drawn  # nothing until the line is complete
    view.write("\n")

    assert out.getvalue() == drawn + "\x1b[3A\r\x1b[J" + "warning: something\n" + drawn


def test_while_the_view_runs_info_lines_are_left_out_and_warnings_print_above_it():
    out = Terminal()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    try:
        with live_progress(out, WORDS, enabled=True) as progress:
            assert progress is not None
            log = structlog.get_logger()
            log.info("resource_created", name="vpc-dev")
            log.warning("previous_run_interrupted", pid=42)
        shown = out.getvalue()
        assert "resource_created" not in shown
        assert "previous_run_interrupted" in shown and "reconcile dev" in shown
        # Afterwards the log is what it was.
        structlog.get_logger().info("after_the_view")
        assert "after_the_view" in out.getvalue()
    finally:
        structlog.reset_defaults()


def test_no_view_off_a_terminal_or_with_json_logs(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    assert wanted(Terminal(), "console")
    assert not wanted(io.StringIO(), "console")
    assert not wanted(Terminal(), "json")
    monkeypatch.setenv("TERM", "dumb")
    assert not wanted(Terminal(), "console")
    with live_progress(io.StringIO(), WORDS, enabled=False) as progress:
        assert progress is None

import threading

import pytest

from orchestrator.executor import Outcome, walk
from orchestrator.graph import GraphError

# Safety net only: nothing below relies on wall time to create an ordering.
TIMEOUT = 10


def run_walk(graph, run_node, **kwargs):
    """walk() in a daemon thread, so a hanging walk fails the test instead of the suite."""
    box = {}

    def target():
        try:
            box["result"] = walk(graph, run_node, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT * 3)
    assert not thread.is_alive(), "walk() did not return"
    if "error" in box:
        raise box["error"]
    return box["result"]


def wait_for(event, what):
    if not event.wait(TIMEOUT):
        raise AssertionError(f"timed out waiting for {what}")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.log = []

    def add(self, *entry):
        with self.lock:
            self.log.append(entry)

    def started(self):
        return [key for event, key in self.log if event == "start"]


def test_each_node_starts_after_all_its_dependencies_ended():
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": [], "f": ["e", "d"]}
    rec = Recorder()

    def run_node(key):
        rec.add("start", key)
        rec.add("end", key)
        return key.upper()

    result = run_walk(graph, run_node, max_workers=4)

    assert result == {key: Outcome("ok", value=key.upper()) for key in graph}
    position = {entry: i for i, entry in enumerate(rec.log)}
    for key, deps in graph.items():
        for dep in deps:
            assert position[("end", dep)] < position[("start", key)], (dep, key)
    assert sorted(rec.started()) == sorted(graph)


def test_independent_ready_nodes_run_at_the_same_time():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    crossed = []

    def run_node(key):
        crossed.append(barrier.wait())  # needs both nodes running at once
        return key

    result = run_walk({"a": [], "b": []}, run_node, max_workers=2)

    assert result == {"a": Outcome("ok", value="a"), "b": Outcome("ok", value="b")}
    assert sorted(crossed) == [0, 1]


def test_concurrency_is_bounded_by_max_workers_and_reaches_it():
    lock = threading.Lock()
    running = 0
    peak = 0
    saturated = threading.Event()

    def run_node(key):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 3:
                saturated.set()
        try:
            wait_for(saturated, "3 nodes running at once")
        finally:
            with lock:
                running -= 1

    graph = {f"n{i}": [] for i in range(10)}
    result = run_walk(graph, run_node, max_workers=3)

    assert all(outcome.status == "ok" for outcome in result.values())
    assert len(result) == 10
    assert saturated.is_set()
    assert peak == 3


def test_a_ready_node_starts_without_waiting_for_its_whole_level():
    c_started = threading.Event()
    b_done = threading.Event()
    seen_by_c = {}

    def run_node(key):
        if key == "b":
            wait_for(c_started, "c to start while b runs")
            b_done.set()
        elif key == "c":
            seen_by_c["b_still_running"] = not b_done.is_set()
            c_started.set()

    result = run_walk({"a": [], "b": [], "c": ["a"]}, run_node, max_workers=3)

    assert {key: outcome.status for key, outcome in result.items()} == {"a": "ok", "b": "ok", "c": "ok"}
    assert seen_by_c == {"b_still_running": True}


def test_failure_marks_descendants_and_spares_independent_branches():
    graph = {"a": [], "b": ["a"], "c": ["b"], "x": [], "y": ["x"]}
    rec = Recorder()

    def run_node(key):
        rec.add("start", key)
        if key == "a":
            raise RuntimeError("boom")
        return key

    result = run_walk(graph, run_node, max_workers=2)

    assert result == {
        "a": Outcome("failed", "RuntimeError: boom"),
        "b": Outcome("dependency_failed", "dependency failed: a"),
        "c": Outcome("dependency_failed", "dependency failed: a"),
        "x": Outcome("ok", value="x"),
        "y": Outcome("ok", value="y"),
    }
    assert sorted(rec.started()) == ["a", "x", "y"]


def test_failure_in_a_diamond():
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}

    def run_node(key):
        if key == "c":
            raise ValueError("bad subnet")
        return key

    result = run_walk(graph, run_node)

    assert result == {
        "a": Outcome("ok", value="a"),
        "b": Outcome("ok", value="b"),
        "c": Outcome("failed", "ValueError: bad subnet"),
        "d": Outcome("dependency_failed", "dependency failed: c"),
    }


def test_reason_is_the_first_failed_ancestor():
    graph = {"a": [], "b": [], "c": ["a", "b"], "d": ["c"]}
    a_failed = threading.Event()

    def run_node(key):
        if key == "a":
            raise RuntimeError("first")
        wait_for(a_failed, "a to be reported")
        raise RuntimeError("second")

    def on_event(key, event, outcome):
        if key == "a" and event == "end":
            a_failed.set()

    result = run_walk(graph, run_node, on_event=on_event)

    assert result["b"] == Outcome("failed", "RuntimeError: second")
    assert result["c"] == result["d"] == Outcome("dependency_failed", "dependency failed: a")


def test_user_message_is_the_reason_when_present():
    class QuotaError(Exception):
        user_message = "EIP quota reached in eu-west-1: release an address or raise the quota"

    def run_node(key):
        raise QuotaError("AddressLimitExceeded: long botocore text\nwith a second line")

    assert run_walk({"eip": []}, run_node) == {
        "eip": Outcome("failed", "EIP quota reached in eu-west-1: release an address or raise the quota")
    }


def test_reason_is_a_single_line():
    def run_node(key):
        raise RuntimeError("first line\nsecond line")

    assert run_walk({"a": []}, run_node)["a"] == Outcome("failed", "RuntimeError: first line")


def test_ready_nodes_start_in_descending_priority_then_key_order():
    rec = Recorder()

    def run_node(key):
        rec.add("start", key)

    graph = {"x": [], "y": [], "z": [], "p": [], "q": []}
    run_walk(graph, run_node, max_workers=1, priority={"x": 1, "y": 5, "z": 3})

    assert rec.started() == ["y", "z", "x", "p", "q"]


def test_priority_applies_to_nodes_that_become_ready_later():
    rec = Recorder()

    def run_node(key):
        rec.add("start", key)

    # c is only ready once a is done, yet it still overtakes b, which waited longer.
    graph = {"a": [], "b": [], "c": ["a"]}
    run_walk(graph, run_node, max_workers=1, priority={"a": 10, "b": 1, "c": 5})

    assert rec.started() == ["a", "c", "b"]


def test_stop_event_skips_nodes_not_yet_started():
    stop = threading.Event()
    rec = Recorder()

    def run_node(key):
        rec.add("start", key)
        stop.set()
        return key

    graph = {"a": [], "b": [], "c": ["a"], "d": []}
    result = run_walk(graph, run_node, max_workers=1, stop=stop)

    assert rec.started() == ["a"]
    assert result == {
        "a": Outcome("ok", value="a"),
        "b": Outcome("skipped", "run interrupted"),
        "c": Outcome("skipped", "run interrupted"),
        "d": Outcome("skipped", "run interrupted"),
    }


def test_stop_event_lets_nodes_in_flight_finish():
    stop = threading.Event()
    both_running = threading.Barrier(2, timeout=TIMEOUT)

    def run_node(key):
        if key in ("a", "b"):
            both_running.wait()
            if key == "a":
                stop.set()
            else:
                wait_for(stop, "stop to be set")
        return key

    graph = {"a": [], "b": [], "c": ["a"], "d": ["b"]}
    result = run_walk(graph, run_node, max_workers=2, stop=stop)

    assert result == {
        "a": Outcome("ok", value="a"),
        "b": Outcome("ok", value="b"),
        "c": Outcome("skipped", "run interrupted"),
        "d": Outcome("skipped", "run interrupted"),
    }


def test_on_event_reports_start_and_end_and_its_errors_are_ignored():
    rec = Recorder()

    def on_event(key, event, outcome):
        rec.add(event, key, outcome)
        raise RuntimeError("broken listener")

    def run_node(key):
        if key == "b":
            raise RuntimeError("nope")
        return 1

    result = run_walk({"a": [], "b": ["a"], "c": ["b"]}, run_node, on_event=on_event, max_workers=1)

    assert result["a"] == Outcome("ok", value=1)
    assert rec.log == [
        ("start", "a", None),
        ("end", "a", Outcome("ok", value=1)),
        ("start", "b", None),
        ("end", "b", Outcome("failed", "RuntimeError: nope")),
        ("end", "c", Outcome("dependency_failed", "dependency failed: b")),
    ]


def test_start_event_comes_from_the_worker_thread():
    threads = {}

    def on_event(key, event, outcome):
        threads[event] = threading.current_thread()

    run_walk({"a": []}, lambda key: None, on_event=on_event)

    assert threads["start"] is not threads["end"]


def test_nodes_only_named_as_dependencies_get_an_outcome():
    rec = Recorder()

    def run_node(key):
        rec.add("start", key)

    result = run_walk({"b": ["a"]}, run_node)

    assert result == {"a": Outcome("ok"), "b": Outcome("ok")}
    assert rec.started() == ["a", "b"]


def test_empty_graph():
    assert run_walk({}, lambda key: None) == {}


def test_cycle_raises_graph_error_before_running_anything():
    def run_node(key):
        raise AssertionError("must not run")

    with pytest.raises(GraphError, match="cycle"):
        run_walk({"a": ["b"], "b": ["a"]}, run_node)


def test_keyboard_interrupt_in_a_worker_propagates_after_in_flight_work():
    both_running = threading.Barrier(2, timeout=TIMEOUT)
    b_finished = threading.Event()

    def run_node(key):
        if key in ("a", "b"):
            both_running.wait()
        if key == "a":
            raise KeyboardInterrupt
        if key == "b":
            b_finished.set()

    with pytest.raises(KeyboardInterrupt):
        run_walk({"a": [], "b": [], "c": ["b"]}, run_node, max_workers=2)
    assert b_finished.is_set()

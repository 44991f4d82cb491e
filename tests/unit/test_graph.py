import pytest

from orchestrator.graph import GraphError, critical_path_weights, descendants, reverse, validate

# vpc -> subnet -> dbsg -> rds -> taskdef -> service, plus eip -> nat hanging off subnet.
STACK = {
    "vpc": set(),
    "subnet": {"vpc"},
    "dbsg": {"subnet"},
    "rds": {"dbsg"},
    "taskdef": {"rds"},
    "service": {"taskdef"},
    "eip": set(),
    "nat": {"eip", "subnet"},
}
DURATION = {"vpc": 5, "subnet": 1, "dbsg": 2, "rds": 840, "taskdef": 1, "service": 76, "eip": 0, "nat": 105}


def test_reverse_maps_each_node_to_its_dependents_and_keeps_leaves():
    assert reverse(STACK) == {
        "vpc": {"subnet"},
        "subnet": {"dbsg", "nat"},
        "dbsg": {"rds"},
        "rds": {"taskdef"},
        "taskdef": {"service"},
        "service": set(),
        "eip": {"nat"},
        "nat": set(),
    }


def test_reverse_includes_nodes_only_named_as_dependencies():
    assert reverse({"b": ["a"]}) == {"a": {"b"}, "b": set()}


def test_descendants_are_transitive():
    assert descendants(STACK, "subnet") == {"dbsg", "rds", "taskdef", "service", "nat"}
    assert descendants(STACK, "eip") == {"nat"}
    assert descendants(STACK, "service") == set()


def test_critical_path_weights_follow_the_longest_pole():
    weights = critical_path_weights(STACK, DURATION)
    assert weights == {
        "service": 76,
        "taskdef": 77,
        "rds": 917,
        "dbsg": 919,
        "nat": 105,
        "subnet": 920,
        "vpc": 925,
        "eip": 105,
    }


def test_critical_path_weights_treat_missing_durations_as_zero():
    assert critical_path_weights({"a": [], "b": ["a"], "c": ["b"]}, {"c": 3}) == {"a": 3, "b": 3, "c": 3}


def test_critical_path_weights_accept_one_shot_iterables():
    graph = {"a": iter(()), "b": iter(["a"])}
    assert critical_path_weights(graph, {"a": 1, "b": 2}) == {"a": 3, "b": 2}


def test_validate_accepts_a_dag():
    assert validate(STACK) is None


def test_validate_rejects_a_cycle_naming_its_members():
    with pytest.raises(GraphError) as info:
        validate({"a": {"c"}, "b": {"a"}, "c": {"b"}, "d": set()})
    message = str(info.value)
    assert "cycle" in message
    assert set(message.split(": ", 1)[1].split(" -> ")) == {"a", "b", "c"}
    assert isinstance(info.value, ValueError)


def test_validate_rejects_an_unknown_dependency():
    with pytest.raises(GraphError, match="unknown dependency: igw") as info:
        validate({"vpc": set(), "route": {"vpc", "igw"}})
    assert "route" in str(info.value)


def test_critical_path_weights_reject_a_cycle():
    with pytest.raises(GraphError, match="cycle"):
        critical_path_weights({"a": ["b"], "b": ["a"]}, {})

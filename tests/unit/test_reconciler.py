"""The reconcile step against a fake in-memory cloud: ordering of intent, create, id and waits."""
from __future__ import annotations

import itertools

import pytest

from orchestrator.reconciler import Reconciler
from orchestrator.spec import Node, Ref
from botocore.exceptions import ClientError

from resources import retries
from resources.base import Handler, Observed, Refresh, ResourceError, Status
from resources.clock import FakeClock
from tests.support.memory_state import MemoryState


class FakeAws:
    region = "us-east-1"


class Cloud:
    """Resources by id, with AWS-style idempotency tokens (same token → same resource)."""

    def __init__(self):
        self.items: dict[str, dict] = {}
        self.by_token: dict[str, str] = {}
        self.ids = (f"r-{i}" for i in itertools.count(1))
        self.calls: list[str] = []
        self.visible = True  # False: describes miss new resources (eventual consistency)
        self.status = Status.READY


CLOUD = Cloud()


class Widget(Handler):
    kind = "widget"
    service = "fake"
    replace_fields = frozenset({"zone"})
    poll_ceiling = 5

    def __init__(self, aws, *, env, clock):
        super().__init__(aws, env=env, clock=clock)
        self.cloud = CLOUD

    def _obs(self, rid):
        item = self.cloud.items[rid]
        return Observed(rid, {k: v for k, v in item.items() if k != "tags"}, dict(item["tags"]))

    def get(self, resource_id):
        self.cloud.calls.append("get")
        if resource_id in self.cloud.items and self.cloud.visible:
            return self._obs(resource_id)
        return None

    def find_by_tags(self, spec):
        self.cloud.calls.append("find")
        if not self.cloud.visible:
            return []
        return [self._obs(r) for r, i in self.cloud.items.items() if i["tags"].get("Name") == spec["name"]]

    def create(self, spec, token):
        self.cloud.calls.append("create")
        self.on_create(spec, token)
        if token in self.cloud.by_token:
            return self.cloud.by_token[token]
        rid = next(self.cloud.ids)
        # Like CreateVpc, the create call cannot set "size": the post-create update does.
        self.cloud.items[rid] = {"zone": spec["zone"], "size": 0, "parent": spec.get("parent"), "tags": dict(spec["tags"])}
        self.cloud.by_token[token] = rid
        if self.lose_response:
            raise ConnectionError("response lost")
        return rid

    def update_fields(self, spec, obs, diffs):
        self.cloud.calls.append("update")
        for d in diffs:
            self.cloud.items[obs.id][d.field] = d.expected

    def set_tags(self, obs, tags):
        self.cloud.items[obs.id]["tags"].update(tags)

    def delete(self, obs, spec=None):
        self.cloud.calls.append("delete")
        self.cloud.items.pop(obs.id, None)

    def refresh(self, resource_id):
        self.cloud.calls.append("refresh")
        self.on_refresh(resource_id)
        if resource_id not in self.cloud.items:
            return Refresh(Status.GONE)
        return Refresh(self.cloud.status, "failure: out of capacity" if self.cloud.status is Status.FAILED else "")

    on_create = staticmethod(lambda spec, token: None)
    on_refresh = staticmethod(lambda rid: None)
    lose_response = False


@pytest.fixture(autouse=True)
def fresh_cloud(monkeypatch):
    global CLOUD
    CLOUD = Cloud()
    monkeypatch.setattr(Widget, "lose_response", False)
    monkeypatch.setattr(Widget, "on_create", staticmethod(lambda spec, token: None))
    monkeypatch.setattr(Widget, "on_refresh", staticmethod(lambda rid: None))
    return CLOUD


def node(name="w-dev", zone="a", size=3, **extra):
    return Node("w", Widget, {"name": name, "tags": {"Name": name, "Environment": "dev"}, "zone": zone, "size": size, **extra})


def reconciler(state, plan=False, clock=None):
    return Reconciler(FakeAws(), env="dev", state=state.doc, save=state.save, clock=(clock or FakeClock()).as_clock(), plan=plan)


def test_intent_is_saved_before_the_create_call_and_the_id_right_after_it():
    state = MemoryState()
    seen = {}
    Widget.on_create = staticmethod(lambda spec, token: seen.update(saved=state.saves[-1], token=token))
    Widget.on_refresh = staticmethod(lambda rid: seen.setdefault("at_first_poll", state.saves[-1]))
    result = reconciler(state).reconcile(node())
    assert result.action == "create" and result.id == "r-1"
    assert seen["token"] in seen["saved"] and '"id"' not in seen["saved"]
    assert '"id": "r-1"' in seen["at_first_poll"]
    entry = state.doc.resource("w")
    assert entry["id"] == "r-1" and "intent" not in entry and entry["attempt"] == 1
    # The field the create call could not set was converged in the same run.
    assert CLOUD.items["r-1"]["size"] == 3


def test_second_run_calls_nothing_mutating():
    state = MemoryState()
    reconciler(state).reconcile(node())
    CLOUD.calls.clear()
    result = reconciler(state).reconcile(node())
    assert result.action == "unchanged"
    assert CLOUD.calls == ["get"]


def test_a_lost_create_response_is_retried_with_the_same_token_and_makes_no_duplicate():
    state = MemoryState()
    Widget.lose_response = True
    with pytest.raises(ConnectionError):
        reconciler(state).reconcile(node())
    token = state.doc.resource("w")["intent"]["token"]
    # The next run cannot see the resource yet (eventual consistency) and creates again.
    Widget.lose_response = False
    CLOUD.visible = False
    tokens = []
    Widget.on_create = staticmethod(lambda spec, t: tokens.append(t))
    Widget.on_refresh = staticmethod(lambda rid: setattr(CLOUD, "visible", True))
    result = reconciler(state).reconcile(node())
    assert tokens == [token]
    assert result.id == "r-1" and list(CLOUD.items) == ["r-1"]


def test_a_failed_resource_is_recreated_with_a_new_token_next_run():
    state = MemoryState()
    CLOUD.status = Status.FAILED
    tokens = []
    Widget.on_create = staticmethod(lambda spec, t: tokens.append(t))
    with pytest.raises(ResourceError, match="failed: failure: out of capacity"):
        reconciler(state).reconcile(node())
    first = state.doc.resource("w")
    assert first["id"] == "r-1" and "intent" not in first
    del CLOUD.items["r-1"]  # failed resources are not live
    CLOUD.status = Status.READY
    result = reconciler(state).reconcile(node())
    assert state.doc.resource("w")["attempt"] == 2
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert result.id == "r-2"


def test_plan_makes_no_create_update_or_save():
    state = MemoryState()
    result = reconciler(state, plan=True).reconcile(node())
    assert result.action == "create"
    assert "create" not in CLOUD.calls and state.saves == []
    reconciler(state).reconcile(node())
    saves = len(state.saves)
    CLOUD.calls.clear()
    planned = reconciler(state, plan=True).reconcile(node(size=5))
    assert planned.action == "update"
    assert [(d.field, d.actual, d.expected) for d in planned.changes] == [("size", 3, 5)]
    assert "update" not in CLOUD.calls and len(state.saves) == saves


def test_update_in_place_waits_and_records():
    state = MemoryState()
    reconciler(state).reconcile(node())
    result = reconciler(state).reconcile(node(size=7))
    assert result.action == "update" and CLOUD.items["r-1"]["size"] == 7


def test_a_field_that_forces_replacement_is_refused_with_one_clear_line():
    state = MemoryState()
    reconciler(state).reconcile(node())
    with pytest.raises(ResourceError) as err:
        reconciler(state).reconcile(node(zone="b"))
    assert "cannot change zone 'a' → 'b' in place" in err.value.user_message
    assert CLOUD.items["r-1"]["zone"] == "a"
    plan = reconciler(state, plan=True).reconcile(node(zone="b"))
    assert plan.action == "replace" and plan.changes[0].replace


def test_two_live_matches_are_an_error_naming_both():
    state = MemoryState()
    CLOUD.items["r-8"] = {"zone": "a", "size": 3, "parent": None, "tags": {"Name": "w-dev"}}
    CLOUD.items["r-9"] = {"zone": "a", "size": 3, "parent": None, "tags": {"Name": "w-dev"}}
    with pytest.raises(ResourceError, match="2 live resources carry its tags \\(r-8, r-9\\)"):
        reconciler(state).reconcile(node())


def test_refs_resolve_from_the_outputs_of_dependencies_and_are_unknown_in_a_plan():
    state = MemoryState()
    rec = reconciler(state, plan=True)
    rec.outputs["parent"] = {}
    planned = rec.reconcile(node(parent=Ref("parent")))
    assert planned.action == "create"
    rec = reconciler(state)
    rec.outputs["parent"] = {"id": "p-1"}
    rec.reconcile(node(parent=Ref("parent")))
    assert CLOUD.items["r-1"]["parent"] == "p-1"


def test_teardown_deletes_recorded_and_tagged_leftovers_and_forgets_the_entry(monkeypatch):
    state = MemoryState()
    reconciler(state).reconcile(node())
    CLOUD.items["r-7"] = {"zone": "a", "size": 3, "parent": None, "tags": {"Name": "w-dev"}}  # a crashed run's leftover
    deleted = []

    def delete(self, obs, spec=None):
        deleted.append(obs.id)
        CLOUD.items.pop(obs.id)

    monkeypatch.setattr(Widget, "delete", delete, raising=False)
    monkeypatch.setattr(Widget, "refresh", lambda self, rid: Refresh(Status.READY if rid in CLOUD.items else Status.GONE))
    result = reconciler(state).teardown(node())
    assert sorted(deleted) == ["r-1", "r-7"] and result.action == "delete"
    assert state.doc.resource("w") is None


# -- lost create answers -------------------------------------------------------------------------
def copy_of(name="w-dev", rid="r-0", env="dev"):
    """What a create attempt whose answer was lost left behind: the same ownership tags."""
    CLOUD.items[rid] = {"zone": "a", "size": 0, "parent": None, "tags": {"Name": name, "Environment": env}}
    return rid


def retried_after_a_lost_answer(spec, token):
    # The first attempt reached the cloud and made a resource; botocore retried and the retry
    # made another one (the API has no idempotency token), as RetryAttempts=1 says.
    copy_of()
    retries.note("fake", "CreateWidget", 1)


def test_a_create_retried_after_a_lost_answer_deletes_the_copy_and_says_so():
    state = MemoryState()
    Widget.on_create = staticmethod(retried_after_a_lost_answer)
    result = reconciler(state).reconcile(node())
    assert result.action == "create" and result.id == "r-1"
    assert result.duplicates_removed == ["r-0"]
    assert list(CLOUD.items) == ["r-1"]
    assert state.doc.resource("w")["id"] == "r-1"
    # Deleted and waited for until gone, before the resource was converged.
    assert CLOUD.calls.index("delete") < CLOUD.calls.index("update")


def test_a_create_not_retried_makes_no_extra_lookup():
    state = MemoryState()
    result = reconciler(state).reconcile(node())
    assert result.duplicates_removed == []
    assert CLOUD.calls.count("find") == 1  # the find before the create, nothing after it


def test_a_retried_create_keeps_resources_of_other_owners():
    state = MemoryState()

    def create(spec, token):
        copy_of(rid="r-0", env="other")  # same Name, another environment's ownership record
        retries.note("fake", "CreateWidget", 2)

    Widget.on_create = staticmethod(create)
    result = reconciler(state).reconcile(node())
    assert result.duplicates_removed == []
    assert sorted(CLOUD.items) == ["r-0", "r-1"]


def duplicate_error(code):
    return ClientError({"Error": {"Code": code, "Message": "already exists"}}, "CreateWidget")


def test_a_retry_refused_as_a_duplicate_adopts_what_the_first_attempt_made():
    state = MemoryState()

    def create(spec, token):
        copy_of(rid="r-0")
        retries.note("fake", "CreateWidget", 1)
        raise duplicate_error("InvalidGroup.Duplicate")

    Widget.on_create = staticmethod(create)
    result = reconciler(state).reconcile(node())
    assert result.action == "create" and result.id == "r-0"
    assert result.duplicates_removed == []
    assert list(CLOUD.items) == ["r-0"] and CLOUD.items["r-0"]["size"] == 3
    assert state.doc.resource("w")["id"] == "r-0" and "intent" not in state.doc.resource("w")


@pytest.mark.parametrize("retried, env", [(False, "dev"), (True, "other")])
def test_a_duplicate_error_is_not_swallowed_without_a_retry_or_without_our_tags(retried, env):
    state = MemoryState()

    def create(spec, token):
        copy_of(rid="r-0", env=env)
        if retried:
            retries.note("fake", "CreateWidget", 1)
        raise duplicate_error("DBSubnetGroupAlreadyExists")

    Widget.on_create = staticmethod(create)
    with pytest.raises(ClientError, match="DBSubnetGroupAlreadyExists"):
        reconciler(state).reconcile(node())


def test_read_retries_do_not_trigger_the_sweep():
    state = MemoryState()
    Widget.on_create = staticmethod(lambda spec, token: retries.note("fake", "DescribeWidgets", 3))
    reconciler(state).reconcile(node())
    assert CLOUD.calls.count("find") == 1


def test_a_run_stopped_after_its_create_removes_the_copies_on_the_next_run():
    state = MemoryState()

    def killed(rid):
        raise RuntimeError("killed while waiting")

    Widget.on_refresh = staticmethod(killed)
    with pytest.raises(RuntimeError):
        reconciler(state).reconcile(node())
    entry = state.doc.resource("w")
    assert entry["id"] == "r-1" and entry["intent"]
    copy_of(rid="r-9")  # what the create's lost first attempt left, unseen by that run
    Widget.on_refresh = staticmethod(lambda rid: None)
    result = reconciler(state).reconcile(node())
    assert result.id == "r-1" and result.duplicates_removed == ["r-9"]
    assert list(CLOUD.items) == ["r-1"]
    assert "create" not in CLOUD.calls[CLOUD.calls.index("delete"):]
    assert "intent" not in state.doc.resource("w")
    # The run after that does not look for copies again.
    CLOUD.calls.clear()
    reconciler(state).reconcile(node())
    assert CLOUD.calls == ["get"]


def test_an_interrupted_create_without_a_recorded_id_adopts_exactly_one_copy():
    state = MemoryState()
    Widget.lose_response = True  # r-1 is made, the answer never arrives
    with pytest.raises(ConnectionError):
        reconciler(state).reconcile(node())
    copy_of(rid="r-2")
    Widget.lose_response = False
    CLOUD.calls.clear()
    result = reconciler(state).reconcile(node())
    assert "create" not in CLOUD.calls
    assert result.id == "r-1" and result.duplicates_removed == ["r-2"]
    assert list(CLOUD.items) == ["r-1"]


def test_a_plan_never_deletes_copies():
    state = MemoryState()
    Widget.lose_response = True
    with pytest.raises(ConnectionError):
        reconciler(state).reconcile(node())
    copy_of(rid="r-2")
    Widget.lose_response = False
    with pytest.raises(ResourceError, match="2 live resources carry its tags"):
        reconciler(state, plan=True).reconcile(node())
    assert sorted(CLOUD.items) == ["r-1", "r-2"]


class SlowToDelete(Widget):
    kind = "slow_widget"
    expected_delete_seconds = 400  # an RDS instance's few minutes


def test_teardown_starts_the_longest_delete_first(fresh_cloud):
    # Two independent chains: a fast pair listed first, then a slow delete. One worker, so
    # the order of deletes is the walk's order: the slow pole must not wait behind the pair.
    from orchestrator.run import teardown_stack

    nodes = [
        Node("child", Widget, {"name": "child-dev", "tags": {"Name": "child-dev"}, "zone": "a", "size": 1,
                               "parent": Ref("parent")}),
        Node("parent", Widget, {"name": "parent-dev", "tags": {"Name": "parent-dev"}, "zone": "a", "size": 1}),
        Node("slow", SlowToDelete, {"name": "slow-dev", "tags": {"Name": "slow-dev"}, "zone": "a", "size": 1}),
    ]
    for i, n in enumerate(nodes, 1):
        fresh_cloud.items[f"r-{i}"] = {"zone": "a", "size": 1, "parent": None, "tags": dict(n.spec["tags"])}
    deleted = []
    real_delete = Widget.delete

    def delete(self, obs, spec=None):
        deleted.append(fresh_cloud.items[obs.id]["tags"]["Name"])
        real_delete(self, obs, spec)

    Widget.delete = delete
    try:
        state = MemoryState()
        run = teardown_stack(FakeAws(), env="dev", doc=state.doc, save=state.save,
                             clock=FakeClock().as_clock(), parallelism=1, nodes=nodes)
    finally:
        Widget.delete = real_delete
    assert run.ok, run.failures
    assert deleted == ["slow-dev", "child-dev", "parent-dev"]
    assert fresh_cloud.items == {}


# -- an update is read back and compared ------------------------------------------------------

def test_an_update_that_does_not_take_is_a_failure_naming_the_field(monkeypatch):
    state = MemoryState()
    clock = FakeClock()
    reconciler(state, clock=clock).reconcile(node(size=3))
    # AWS accepts the change and leaves the value as it was (a modification that failed and
    # went back to available).
    monkeypatch.setattr(Widget, "update_fields", lambda self, spec, obs, diffs: self.cloud.calls.append("update"))
    with pytest.raises(ResourceError) as caught:
        reconciler(state, clock=clock).reconcile(node(size=5))
    assert "the update did not take: size is 3, expected 5" in str(caught.value)
    assert CLOUD.items["r-1"]["size"] == 3


def test_an_update_that_shows_late_is_waited_for_on_the_clock(monkeypatch):
    # A kind whose reads lag its writes (EC2, B-EC2-1) is given that long to show the change.
    monkeypatch.setattr(Widget, "read_after_write_lag", 30.0)
    state = MemoryState()
    clock = FakeClock()
    reconciler(state, clock=clock).reconcile(node(size=3))
    pending = {}

    def update_later(self, spec, obs, diffs):
        pending.update({d.field: d.expected for d in diffs})

    def get_applying_after_20s(self, resource_id, _get=Widget.get):
        if pending and clock.now() >= 20:
            self.cloud.items[resource_id].update(pending)
        return _get(self, resource_id)

    monkeypatch.setattr(Widget, "update_fields", update_later)
    monkeypatch.setattr(Widget, "get", get_applying_after_20s)
    result = reconciler(state, clock=clock).reconcile(node(size=5))
    assert result.action == "update"
    assert CLOUD.items["r-1"]["size"] == 5
    assert 20 <= clock.now() < 30


def test_a_field_that_changes_is_read_back_once_and_not_again():
    state = MemoryState()
    reconciler(state).reconcile(node(size=3))
    CLOUD.calls.clear()
    result = reconciler(state).reconcile(node(size=4))
    assert result.action == "update"
    # find, update, the wait's refresh, one read back: nothing more.
    assert CLOUD.calls == ["get", "update", "refresh", "get"]

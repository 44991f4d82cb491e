"""The reconcile step against a fake in-memory cloud: ordering of intent, create, id and waits."""
from __future__ import annotations

import itertools

import pytest

from orchestrator.reconciler import Reconciler
from orchestrator.spec import UNKNOWN, Node, Ref
from botocore.exceptions import ClientError

from resources.aws import retries
from resources.base import Change, Field, FieldDiff, Handler, Observed, Refresh, ResourceError, Status
from resources.aws.clock import FakeClock
from tests.support.memory_state import MemoryState
from orchestrator import lifecycle
from orchestrator.phases import Redeploy


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
    fields = {
        "zone": Field(str, Change.REPLACE),
        "size": Field(int),
        "parent": Field((str, type(None))),
    }
    not_found = frozenset({"WidgetNotFound"})
    poll_ceiling = 5

    def __init__(self, aws, *, env, clock):
        super().__init__(aws, env=env, clock=clock)
        self.cloud = CLOUD
        self._polling = False

    def describe(self, resource_id):
        if not self._polling:
            self.cloud.calls.append("get")
        if resource_id in self.cloud.items and self.cloud.visible:
            return {**self.cloud.items[resource_id], "id": resource_id}
        return None

    def observe(self, raw):
        attrs = {k: v for k, v in raw.items() if k not in ("tags", "id", "pending")}
        return Observed(raw["id"], attrs, dict(raw["tags"]), raw, dict(raw.get("pending") or {}))

    def status(self, raw):
        return Refresh(self.cloud.status, "failure: out of capacity" if self.cloud.status is Status.FAILED else "")

    def poll(self, resource_id):
        # The engine's poll, counted and hooked for the tests.
        self.cloud.calls.append("refresh")
        self.on_refresh(resource_id)
        self._polling = True
        try:
            return super().poll(resource_id)
        finally:
            self._polling = False

    def list_owned(self, spec):
        self.cloud.calls.append("find")
        if not self.cloud.visible:
            return []
        return [self.observe({**i, "id": r}) for r, i in self.cloud.items.items() if i["tags"].get("Name") == spec["name"]]

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
        if obs.id not in self.cloud.items:
            raise ClientError({"Error": {"Code": "WidgetNotFound", "Message": obs.id}}, "DeleteWidget")
        self.cloud.items.pop(obs.id)

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


def node(name="w-dev", zone="a", size=3, parent=None):
    return Node("w", Widget, {"name": name, "tags": {"Name": name, "Environment": "dev"}, "zone": zone, "size": size, "parent": parent})


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


class NamedWidget(Widget):
    """A kind whose name output follows from its spec; its id is the cloud's to assign."""

    kind = "named_widget"

    def outputs(self, obs):
        return {"id": obs.id, "name": obs.tags["Name"]}

    def planned_outputs(self, spec):
        return {"name": spec["name"]}


def test_a_plan_gives_the_dependents_of_a_create_its_planned_outputs_and_unknown_for_the_rest():
    state = MemoryState()
    named = Node("p", NamedWidget, {"name": "p-dev", "tags": {"Name": "p-dev"}, "zone": "a", "size": 1, "parent": None})
    by_name = node(parent=Ref("p", "name"))
    by_id = Node("w2", Widget, {"name": "w2-dev", "tags": {"Name": "w2-dev"}, "zone": "a", "size": 1, "parent": Ref("p")})
    rec = reconciler(state)
    for n in (named, by_name, by_id):
        rec.reconcile(n)
    CLOUD.items.pop(state.doc.resource("p")["id"])  # deleted behind the tool's back
    rec = reconciler(state, plan=True)
    assert rec.reconcile(named).action == "create"
    # Its name is its spec's: what names it by name is unchanged, and what names its id will
    # change to an id not known before the create.
    assert rec.reconcile(by_name).action == "unchanged"
    planned = rec.reconcile(by_id)
    assert planned.action == "update"
    assert [(d.field, d.expected) for d in planned.changes] == [("parent", UNKNOWN)]


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


def test_the_outputs_of_a_kept_copy_are_read_after_its_duplicates_are_gone(monkeypatch):
    """A kind whose outputs name its peers (an API key's companions, which the usage plan holds)
    must not hand its dependents the copies the run just deleted."""
    def outputs(self, obs):
        return {"id": obs.id, "peers": obs.raw["peers"]}

    def observe(self, raw):
        peers = sorted(r for r, i in CLOUD.items.items() if i["tags"].get("Name") == raw["tags"].get("Name"))
        return Observed(raw["id"], {k: v for k, v in raw.items() if k not in ("tags", "id")}, dict(raw["tags"]),
                        {**raw, "peers": peers})

    monkeypatch.setattr(Widget, "outputs", outputs)
    monkeypatch.setattr(Widget, "observe", observe)
    state = MemoryState()
    Widget.lose_response = True
    with pytest.raises(ConnectionError):
        reconciler(state).reconcile(node(size=0))  # size 0: nothing to update, no read after
    copy_of(rid="r-2")
    Widget.lose_response = False
    result = reconciler(state).reconcile(node(size=0))
    assert result.duplicates_removed == ["r-2"] and result.outputs["peers"] == ["r-1"]


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

    def describe_applying_after_20s(self, resource_id, _describe=Widget.describe):
        if pending and clock.now() >= 20:
            self.cloud.items[resource_id].update(pending)
        return _describe(self, resource_id)

    monkeypatch.setattr(Widget, "update_fields", update_later)
    monkeypatch.setattr(Widget, "describe", describe_applying_after_20s)
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
    # find, update, and the wait's poll, which is the read back: nothing more.
    assert CLOUD.calls == ["get", "update", "refresh"]


# -- the lifecycle the engine owns (issue 12) ------------------------------------------------------

def test_a_spec_that_breaks_its_typed_fields_is_refused_before_any_call():
    state = MemoryState()
    bad = Node("w", Widget, {"name": "w-dev", "tags": {"Name": "w-dev"}, "zone": 3, "size": True, "colour": "red"})
    with pytest.raises(ResourceError) as caught:
        reconciler(state).reconcile(bad)
    message = caught.value.user_message
    assert "unknown field 'colour'" in message and "field 'parent' is missing" in message
    assert CLOUD.calls == [] and state.saves[-1:] and "failure" in state.doc.resource("w")
    good_keys = Node("w", Widget, {"name": "w-dev", "tags": {"Name": "w-dev"}, "zone": 3, "size": True, "parent": None})
    with pytest.raises(ResourceError) as caught:
        reconciler(state).reconcile(good_keys)
    # A bool is an int to isinstance, never to AWS.
    assert "field 'size' must be int, got bool" in caught.value.user_message
    assert "field 'zone' must be str, got int" in caught.value.user_message
    assert CLOUD.calls == []


def test_a_failure_is_kept_in_state_seen_by_the_next_run_and_cleared_once_converged():
    state = MemoryState()
    CLOUD.status = Status.FAILED
    with pytest.raises(ResourceError):
        reconciler(state).reconcile(node())
    failure = state.doc.resource("w")["failure"]
    assert "failure: out of capacity" in failure["reason"] and failure["at"]
    CLOUD.status = Status.READY
    del CLOUD.items["r-1"]
    result = reconciler(state).reconcile(node())
    assert result.previous_failure == failure["reason"]
    assert "failure" not in state.doc.resource("w")
    assert reconciler(state).reconcile(node()).previous_failure is None


def test_a_failed_resource_of_a_kind_that_stops_is_refused_by_plan_and_apply_without_a_call():
    state = MemoryState()
    reconciler(state).reconcile(node())
    CLOUD.status = Status.FAILED
    CLOUD.calls.clear()
    planned = reconciler(state, plan=True).reconcile(node(size=9))
    assert planned.refusal and "is failed (failure: out of capacity)" in planned.refusal
    assert [(d.field, d.change) for d in planned.changes] == [("status", Change.IMPOSSIBLE)]
    with pytest.raises(ResourceError, match="is failed"):
        reconciler(state).reconcile(node(size=9))
    assert not {"update", "delete", "create"} & set(CLOUD.calls)
    assert CLOUD.items["r-1"]["size"] == 3
    assert "is failed" in state.doc.resource("w")["failure"]["reason"]


def test_a_failed_resource_of_a_kind_that_replaces_is_deleted_and_created_anew(monkeypatch):
    monkeypatch.setattr(Widget, "on_failed", "replace")
    state = MemoryState()
    reconciler(state).reconcile(node())
    CLOUD.status = Status.FAILED
    planned = reconciler(state, plan=True).reconcile(node())
    assert planned.action == "replace" and planned.refusal is None
    assert [(d.field, d.change) for d in planned.changes] == [("status", Change.REPLACE)]

    def recover(spec, token):
        CLOUD.status = Status.READY  # the new one comes up

    Widget.on_create = staticmethod(recover)
    CLOUD.calls.clear()
    result = reconciler(state).reconcile(node())
    assert CLOUD.calls.index("delete") < CLOUD.calls.index("create")
    assert result.id == "r-2" and list(CLOUD.items) == ["r-2"]
    assert state.doc.resource("w")["attempt"] == 2


def test_a_failed_copy_of_a_kind_that_replaces_is_not_adopted(monkeypatch):
    monkeypatch.setattr(Widget, "on_failed", "replace")
    monkeypatch.setattr(Widget, "replace_beside", True)  # a NAT gateway: AWS removes the failed one itself
    handler = Widget(FakeAws(), env="dev", clock=FakeClock().as_clock())
    copy_of()
    CLOUD.status = Status.FAILED
    spec = node().spec
    assert lifecycle.find(handler, spec, None) is None
    CLOUD.status = Status.READY
    assert lifecycle.find(handler, spec, None).id == "r-0"


def test_an_impossible_change_is_refused_by_plan_and_apply_before_any_mutating_call(monkeypatch):
    def classify(self, diff, obs):
        diff = Handler.classify(self, diff, obs)
        if diff.field == "size" and diff.expected < obs.attrs["size"]:
            return FieldDiff(diff.field, diff.expected, diff.actual, Change.IMPOSSIBLE, "widgets only grow")
        return diff

    monkeypatch.setattr(Widget, "classify", classify)
    state = MemoryState()
    reconciler(state).reconcile(node(size=5))
    planned = reconciler(state, plan=True).reconcile(node(size=4))
    assert planned.refusal == "widget w-dev (r-1): impossible change: size 5 → 4: widgets only grow; restore the previous value"
    CLOUD.calls.clear()
    with pytest.raises(ResourceError, match="impossible change"):
        reconciler(state).reconcile(node(size=4))
    assert "update" not in CLOUD.calls and CLOUD.items["r-1"]["size"] == 5


def test_a_resource_being_deleted_is_not_live_and_a_delete_of_a_gone_one_is_done(monkeypatch):
    state = MemoryState()
    reconciler(state).reconcile(node())
    CLOUD.status = Status.DELETING
    handler = Widget(FakeAws(), env="dev", clock=FakeClock().as_clock())
    assert handler.read("r-1") is None
    assert handler.refresh("r-1").status is Status.DELETING
    CLOUD.status = Status.READY
    obs = handler.read("r-1")
    del CLOUD.items["r-1"]
    lifecycle.remove(handler, obs)  # WidgetNotFound: already gone counts as done
    assert handler.refresh("r-1").status is Status.GONE


def test_a_protected_resource_is_not_removed(monkeypatch):
    monkeypatch.setattr(Widget, "has_protection", True)
    monkeypatch.setattr(Widget, "protection", lambda self, obs: "deletion protection is on")
    state = MemoryState()
    reconciler(state).reconcile(node())
    handler = Widget(FakeAws(), env="dev", clock=FakeClock().as_clock())
    with pytest.raises(ResourceError, match="widget r-1: deletion protection is on: set deletion_protection = false"):
        lifecycle.remove(handler, handler.read("r-1"))
    assert "r-1" in CLOUD.items


def test_an_update_is_done_when_no_changed_field_is_pending_any_more(monkeypatch):
    # C-RDS-1: the status reads ready at once while PendingModifiedValues still lists the change.
    clock = FakeClock()
    state = MemoryState()
    reconciler(state, clock=clock).reconcile(node(size=3))

    def accept(self, spec, obs, diffs):
        self.cloud.items[obs.id]["pending"] = {d.field: d.expected for d in diffs}

    def describe_applying_after_90s(self, resource_id, _describe=Widget.describe):
        item = self.cloud.items[resource_id]
        if item.get("pending") and clock.now() >= 90:
            item.update(item.pop("pending"))
        return _describe(self, resource_id)

    monkeypatch.setattr(Widget, "update_fields", accept)
    monkeypatch.setattr(Widget, "describe", describe_applying_after_90s)
    planned = reconciler(state, plan=True, clock=clock).reconcile(node(size=5))
    assert planned.action == "update"
    result = reconciler(state, clock=clock).reconcile(node(size=5))
    assert result.action == "update" and CLOUD.items["r-1"]["size"] == 5
    assert 90 <= clock.now() < 120
    # While it is pending, the plan counts it as converging: nothing is asked twice.
    CLOUD.items["r-1"].update(size=3, pending={"size": 5})
    assert reconciler(state, plan=True, clock=clock).reconcile(node(size=5)).action == "unchanged"


def test_a_failure_an_update_repairs_is_never_unchanged_and_is_updated_again(monkeypatch):
    # C-ECS-1/2: a deployment rolled back or failed; the next run deploys again.
    monkeypatch.setattr(Widget, "on_failed", "update")
    state = MemoryState()
    reconciler(state).reconcile(node())
    CLOUD.status = Status.FAILED
    planned = reconciler(state, plan=True).reconcile(node())
    assert planned.action == "update" and planned.refusal is None
    assert [(d.field, d.actual) for d in planned.changes] == [("deployment", "failed")]
    redeployed = []

    def update_fields(self, spec, obs, diffs):
        redeployed.extend(d.field for d in diffs)
        CLOUD.status = Status.READY

    monkeypatch.setattr(Widget, "update_fields", update_fields)
    assert reconciler(state).reconcile(node()).action == "update"
    assert redeployed == ["deployment"]
    assert reconciler(state).reconcile(node()).action == "unchanged"


def test_a_redeploy_asked_for_is_an_update_on_the_same_spec(monkeypatch):
    state = MemoryState()
    reconciler(state).reconcile(node())
    rec = Reconciler(FakeAws(), env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock(),
                     phases=(Redeploy(frozenset({"w"})),))
    CLOUD.calls.clear()
    result = rec.reconcile(node())
    assert result.action == "update" and [d.field for d in result.changes] == ["deployment"]
    assert CLOUD.calls.count("update") == 1


# -- replacement (Change.REPLACE) --------------------------------------------------------------

def replacer(state, *, replace_ok=frozenset({"w"})):
    return Reconciler(FakeAws(), env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock(),
                      replace_ok=replace_ok)


def test_a_replacement_beside_creates_the_new_one_first_and_deletes_the_old_one_only_after_the_walk(monkeypatch):
    monkeypatch.setattr(Widget, "replace_beside", True)
    state = MemoryState()
    reconciler(state).reconcile(node())
    planned = reconciler(state, plan=True).reconcile(node(zone="b"))
    assert (planned.action, planned.replacement, planned.refusal) == ("replace", "beside", None)
    CLOUD.calls.clear()
    result = replacer(state).reconcile(node(zone="b"))
    assert result.id == "r-2" and "delete" not in CLOUD.calls
    assert CLOUD.items["r-2"]["zone"] == "b" and "r-1" in CLOUD.items  # both live until the walk is done
    assert state.doc.resource("w")["deposed"] == ["r-1"] and state.doc.resource("w")["id"] == "r-2"
    assert reconciler(state, plan=True).reconcile(node(zone="b")).deposed == ["r-1"]  # the next plan says so
    assert replacer(state).delete_deposed(node(zone="b")) == ["r-1"]
    assert list(CLOUD.items) == ["r-2"] and "deposed" not in state.doc.resource("w")


def test_a_replacement_killed_after_its_create_call_keeps_the_new_one_and_the_old_one_stays_deposed(monkeypatch):
    monkeypatch.setattr(Widget, "replace_beside", True)
    state = MemoryState()
    reconciler(state).reconcile(node())
    monkeypatch.setattr(Widget, "lose_response", True)
    with pytest.raises(ConnectionError):
        replacer(state).reconcile(node(zone="b"))
    monkeypatch.setattr(Widget, "lose_response", False)
    result = replacer(state).reconcile(node(zone="b"))
    # The resume adopts the new copy: the old one carries the same tags but is no duplicate.
    assert result.id == "r-2" and result.duplicates_removed == [] and set(CLOUD.items) == {"r-1", "r-2"}
    replacer(state).delete_deposed(node(zone="b"))
    assert list(CLOUD.items) == ["r-2"]


def test_an_apply_makes_no_replacement_its_plan_did_not_allow():
    state = MemoryState()
    reconciler(state).reconcile(node())
    with pytest.raises(ResourceError) as err:
        replacer(state, replace_ok=frozenset()).reconcile(node(zone="b"))
    assert "cannot change zone 'a' → 'b' in place" in err.value.user_message
    assert list(CLOUD.items) == ["r-1"] and CLOUD.items["r-1"]["zone"] == "a"


def test_a_replacement_that_deletes_first_is_never_made_inside_the_walk():
    state = MemoryState()
    reconciler(state).reconcile(node())
    assert reconciler(state, plan=True).reconcile(node(zone="b")).replacement == "delete_first"
    with pytest.raises(ResourceError, match="was to be deleted before this walk"):
        replacer(state).reconcile(node(zone="b"))
    assert list(CLOUD.items) == ["r-1"]

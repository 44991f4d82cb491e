"""A recorded resource's find under ``bin/drift --all``: from one account-wide listing shared by
every environment's walk, by id when the listing does not have it, and never for a single walk."""
from __future__ import annotations

from resources.base import Handler, Observed, Refresh, Status
from resources.aws.shared_reads import SharedReads
from orchestrator import lifecycle


class FakeClient:
    def __init__(self, things):
        self.things, self.calls = things, []

    def can_paginate(self, operation):
        return False

    def list_things(self):
        self.calls.append("list_things")
        return {"Things": list(self.things.values())}

    def describe_thing(self, thing_id):
        self.calls.append(f"describe_thing {thing_id}")
        return self.things.get(thing_id)


class FakeAws:
    def __init__(self, client):
        self._client = client

    def client(self, name):
        return self._client


class Thing(Handler):
    kind = "thing"
    service = "things"
    account_listing = ("list_things", "Things", "Id", 100)

    def describe(self, resource_id):
        return self.client.describe_thing(resource_id)

    def observe(self, raw):
        return Observed(raw["Id"], {"size": raw["Size"]}, {}, raw)

    def list_owned(self, spec):
        return []  # nothing else carries the node's tags

    def status(self, raw):
        return Refresh(Status.DELETING if raw.get("Deleting") else Status.READY)


def walk(client, env, shared):
    handler = Thing(FakeAws(client), env=env)
    handler.shared = shared
    return handler


def test_every_environments_find_is_answered_from_one_listing():
    client = FakeClient({"a-1": {"Id": "a-1", "Size": 1}, "b-1": {"Id": "b-1", "Size": 2}})
    across = SharedReads()
    found = [lifecycle.find(walk(client, env, SharedReads(across)), {}, f"{env}-1") for env in ("a", "b")]
    assert [(o.id, o.attrs["size"]) for o in found] == [("a-1", 1), ("b-1", 2)]
    assert client.calls == ["list_things"]


def test_what_the_listing_lacks_is_read_by_id_and_what_it_shows_going_is_gone():
    client = FakeClient({"a-1": {"Id": "a-1", "Size": 1, "Deleting": True}})
    across = SharedReads()
    assert lifecycle.find(walk(client, "a", SharedReads(across)), {}, "a-1") is None
    client.things["b-1"] = {"Id": "b-1", "Size": 3}  # made after the listing
    assert lifecycle.find(walk(client, "b", SharedReads(across)), {}, "b-1").attrs == {"size": 3}
    assert client.calls == ["list_things", "describe_thing b-1"]


def test_a_single_walk_reads_by_id_not_the_whole_account():
    client = FakeClient({"a-1": {"Id": "a-1", "Size": 1}})
    assert lifecycle.find(walk(client, "a", SharedReads()), {}, "a-1").id == "a-1"
    assert client.calls == ["describe_thing a-1"]

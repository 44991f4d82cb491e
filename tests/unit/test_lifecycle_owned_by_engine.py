"""The lifecycle is the engine's (orchestrator/lifecycle.py): no handler defines how its resource
is found, adopted, diffed, updated or removed, so nothing a handler writes can change it. A kind
says where its resource is through declarations (known_id, listed, candidates, implied_diffs,
Field.expand), which the engine's one find and one diff read."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import resources
from orchestrator import lifecycle
from resources.base import Handler


def _handler_classes() -> list[type]:
    found = set()
    for info in pkgutil.walk_packages(resources.__path__, "resources."):
        module = importlib.import_module(info.name)
        found |= {c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, Handler) and c is not Handler}
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_no_handler_defines_a_name_the_engine_owns():
    classes = _handler_classes()
    assert len(classes) > 35  # every family's handlers were imported
    breaches = {f"{c.__module__}.{c.__qualname__}": lifecycle.owned_by_engine(c) for c in classes}
    assert {k: v for k, v in breaches.items() if v} == {}


def test_the_contract_itself_holds_no_lifecycle_decision():
    assert not set(vars(Handler)) & lifecycle.ENGINE_OWNED


def test_the_guard_sees_a_handler_that_overrides_find():
    class Rogue(Handler):
        kind = "rogue"

        def find(self, spec, recorded_id):  # what the engine owns
            return None

    class Child(Rogue):
        pass

    assert lifecycle.owned_by_engine(Rogue) == ["find"]
    assert lifecycle.owned_by_engine(Child) == ["find"]

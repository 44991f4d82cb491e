"""What every boto3 session of one test process may share: botocore's parsed service models, the
model objects built from them, and the client classes.

Every new session parses botocore's JSON models again (about 0.2 s a client) and builds each
client's class anew (a method per operation: a tenth of a command's CPU). Each client also got a
model object of its own, whose shapes (what botocore walks to build a call and parse its answer)
are built at the first call of each operation and then kept: building them again in every
command was another tenth of its CPU. All of it depends only on the botocore files installed
(botocore never changes a model object once built), so within one process (the pytest process,
the warm interpreter the bin/ commands are forked from) each is built once, and the warm
interpreter builds every shape before it forks (``build_shapes``). So are the event names each
client's events are renamed to (``name_events``). Nothing a client sends or
receives changes: each session still has its own clients, credentials, configuration, events
and connections.
"""
from __future__ import annotations

import botocore.client
import botocore.hooks
import botocore.loaders

_models: dict = {}
_classes: dict = {}
_service_models: dict = {}
_event_names: dict = {}
# The events botocore emits for each call, as "<event>.<service id>.<operation>".
CALL_EVENTS = ("provide-client-params", "before-parameter-build", "before-call", "request-created", "choose-signer",
               "before-sign", "before-send", "response-received", "before-parse", "needs-retry", "after-call")


def install() -> None:
    """Idempotent: the loaders of this process share one cache, the client creators one class
    per service and API version."""
    if getattr(botocore.loaders.Loader.__init__, "_shared", False):
        return
    loader_init = botocore.loaders.Loader.__init__
    make_class = botocore.client.ClientCreator._create_client_class
    load_service_model = botocore.client.ClientCreator._load_service_model

    def loader_with_shared_cache(self, *args, **kwargs):
        loader_init(self, *args, **kwargs)
        self._cache = _models

    def shared_class(self, service_name, service_model):
        # boto3's creating-client-class handlers add the same bases in every session.
        key = (service_name, service_model.api_version)
        if key not in _classes:
            _classes[key] = make_class(self, service_name, service_model)
        return _classes[key]

    def shared_service_model(self, service_name, api_version=None):
        key = (service_name, api_version)
        if key not in _service_models:
            _service_models[key] = load_service_model(self, service_name, api_version)
        return _service_models[key]

    aliaser_init = botocore.hooks.EventAliaser.__init__

    def aliaser_with_shared_names(self, event_emitter, event_aliases=None):
        # Every client's events go through a copy of its session's aliaser, which renames each
        # event name the first time it meets it (28 us each): with botocore's own aliases, the
        # renamed names are shared.
        aliaser_init(self, event_emitter, event_aliases)
        if self._event_aliases == botocore.hooks.EVENT_ALIASES:
            self._alias_name_cache = _event_names

    loader_with_shared_cache._shared = True
    botocore.hooks.EventAliaser.__init__ = aliaser_with_shared_names
    botocore.loaders.Loader.__init__ = loader_with_shared_cache
    botocore.client.ClientCreator._create_client_class = shared_class
    botocore.client.ClientCreator._load_service_model = shared_service_model


def name_events(client) -> None:
    """Rename now the events of every call this client can make (``aliaser_with_shared_names``),
    so that the processes forked from this one find the names done."""
    service_id = client.meta.service_model.service_id.hyphenize()
    for operation in client.meta.service_model.operation_names:
        for event in CALL_EVENTS:
            client.meta.events._alias_event_name(f"{event}.{service_id}.{operation}")


def build_shapes(service_model) -> None:
    """Build every operation's shapes of this model now (botocore keeps each once built), so that
    the processes forked from this one find them built."""
    def walk(shape, path: frozenset) -> None:
        if shape is None or shape.name in path:  # a recursive shape: built down to its repeat
            return
        path = path | {shape.name}
        shape.serialization, shape.metadata  # noqa: B018 (built on first read, then kept)
        for child in (getattr(shape, "members", {}) or {}).values():
            walk(child, path)
        for part in ("member", "key", "value"):
            walk(getattr(shape, part, None), path)

    for name in service_model.operation_names:
        operation = service_model.operation_model(name)
        walk(operation.input_shape, frozenset())
        walk(operation.output_shape, frozenset())

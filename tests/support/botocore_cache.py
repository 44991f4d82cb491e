"""What every boto3 session of one test process may share: botocore's parsed service models, the
model objects built from them, and the client classes.

Every new session parses botocore's JSON models again (about 0.2 s a client) and builds each
client's class anew (a method per operation: a tenth of a command's CPU). Each client also got a
model object of its own, whose shapes (what botocore walks to build a call and parse its answer)
are built at the first call of each operation and then kept: building them again in every
command was another tenth of its CPU. All of it depends only on the botocore files installed
(botocore never changes a model object once built), so within one process (the pytest process,
the warm interpreter the bin/ commands are forked from) each is built once, and the warm
interpreter builds every shape before it forks (``build_shapes``). Nothing a client sends or
receives changes: each session still has its own clients, credentials, configuration, events
and connections.
"""
from __future__ import annotations

import botocore.client
import botocore.loaders

_models: dict = {}
_classes: dict = {}
_service_models: dict = {}


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

    loader_with_shared_cache._shared = True
    botocore.loaders.Loader.__init__ = loader_with_shared_cache
    botocore.client.ClientCreator._create_client_class = shared_class
    botocore.client.ClientCreator._load_service_model = shared_service_model


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

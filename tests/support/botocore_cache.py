"""What every boto3 session of one test process may share: botocore's parsed service models and
the client classes built from them.

Every new session parses botocore's JSON models again (about 0.2 s a client) and builds each
client's class anew (a method per operation: a tenth of a command's CPU). Both depend only on the
botocore files installed, so within one process (the pytest process, the warm interpreter the
bin/ commands are forked from) they are built once. Nothing a client sends or receives changes:
each session still has its own clients, credentials, configuration, events and connections.
"""
from __future__ import annotations

import botocore.client
import botocore.loaders

_models: dict = {}
_classes: dict = {}


def install() -> None:
    """Idempotent: the loaders of this process share one cache, the client creators one class
    per service and API version."""
    if getattr(botocore.loaders.Loader.__init__, "_shared", False):
        return
    loader_init = botocore.loaders.Loader.__init__
    make_class = botocore.client.ClientCreator._create_client_class

    def loader_with_shared_cache(self, *args, **kwargs):
        loader_init(self, *args, **kwargs)
        self._cache = _models

    def shared_class(self, service_name, service_model):
        # boto3's creating-client-class handlers add the same bases in every session.
        key = (service_name, service_model.api_version)
        if key not in _classes:
            _classes[key] = make_class(self, service_name, service_model)
        return _classes[key]

    loader_with_shared_cache._shared = True
    botocore.loaders.Loader.__init__ = loader_with_shared_cache
    botocore.client.ClientCreator._create_client_class = shared_class

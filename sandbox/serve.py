"""``python -m sandbox.serve -H 127.0.0.1 -p PORT``: moto's server with the fidelity layer applied.

The end-to-end tests run this as their moto server subprocess, so the real bin/ commands meet the
same AWS behaviour as ``--sandbox``. It also answers ``POST /fidelity/clock`` and
``POST /fidelity/fail`` (loopback only; ``sandbox/fidelity/control.py``), so a test can drive the
layer's clock in this process.
"""
from __future__ import annotations

import os

from sandbox.fidelity import apply
from sandbox.server import SERVER_ENVIRONMENT


def _lighter_per_request() -> None:
    """What moto's server does on every request that answers nothing: it lists its own package
    directory to match a host to a service (about a tenth of its time in a create), logs a line
    per request to stderr (another tenth; nobody reads it), and lists the methods of the
    service's response class to find the action's (a tenth again). The listings are cached, the
    request lines dropped; warnings, errors and the start-up lines stay. It also keeps a client's
    connection open between requests (HTTP/1.1, as AWS does) rather than a new connection and
    thread per request. No answer changes."""
    import functools
    import logging

    import moto.backends
    import moto.core.responses
    import werkzeug.serving

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = functools.cache(lambda: modules)

    class NoRequestLines(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not (record.levelno == logging.INFO and " - - [" in str(record.msg))

    logging.getLogger("werkzeug").addFilter(NoRequestLines())

    # A response class's methods are fixed once its module is imported.
    moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)
    werkzeug.serving.WSGIRequestHandler.protocol_version = "HTTP/1.1"


def main() -> None:
    for key, value in SERVER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    _lighter_per_request()
    apply()
    from sandbox.fidelity import tagging

    # GetResources as a real account answers it (docs/aws-behaviours.md C-TAG-1), in every test using this server.
    tagging.on_by_default()
    import moto.server

    from sandbox.fidelity.control import with_control

    moto.server.DomainDispatcherApplication = with_control(moto.server.DomainDispatcherApplication)
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()

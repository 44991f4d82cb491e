"""``python -m sandbox.serve -H 127.0.0.1 -p PORT``: moto's server with the fidelity layer applied.

The end-to-end tests run this as their moto server subprocess, so the real bin/ commands meet the
same AWS behaviour as ``--sandbox``. It also answers ``POST /fidelity/clock`` and
``POST /fidelity/fail`` (loopback only; ``sandbox/fidelity/control.py``), so a test can drive the
layer's clock in this process.
"""
from __future__ import annotations

import gc
import os

from sandbox.fidelity import apply
from sandbox.server import SERVER_ENVIRONMENT


def _lighter_per_request() -> None:
    """What moto's server does on every request that answers nothing: it lists its own package
    directory to match a host to a service (about a tenth of its time in a create), logs a line
    per request to stderr (another tenth; nobody reads it), and lists the methods of the
    service's response class to find the action's (a tenth again). The listings are cached, the
    request lines dropped; warnings, errors and the start-up lines stay. No answer changes.
    Connections are kept open between requests: see ``_keep_alive_handler``."""
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


def _keep_alive_handler(base):
    """moto's request handler, keeping a client's connection open between requests (HTTP/1.1, as
    AWS does). werkzeug answers every request with ``Connection: close`` (http.server cannot
    drain an unread body before the next request line), so each call of a command cost a new
    connection and a new server thread: a third of this server's CPU for a small read (a tenth in
    a whole create), and a tenth of the client's. Here a request's body (Content-Length; botocore sends no other) is read
    whole before moto sees it, so nothing is left unread and the connection can carry the next
    request. A chunked request still gets werkzeug's ``Connection: close``. No answer changes."""
    import io

    class KeepAlive(base):
        # The answer goes out as headers then body: with Nagle on, the body waits for the
        # client's delayed ACK of the headers (40 ms a request on a kept connection).
        disable_nagle_algorithm = True

        _keep = False  # this answer leaves the connection open

        def run_wsgi(self) -> None:
            length = self.headers.get("Content-Length", "0").strip()
            # (A client that sends Expect: 100-continue waits for werkzeug's answer to it before
            # it sends the body: such a request is left to werkzeug, as a chunked one.)
            if not length.isdigit() or "Transfer-Encoding" in self.headers or "Expect" in self.headers:
                return super().run_wsgi()
            # werkzeug's wsgi.input is self.rfile, and after the answer it discards whatever
            # self.rfile still holds: here that is the body (read), never the next request.
            socket_file, self.rfile = self.rfile, io.BytesIO(self.rfile.read(int(length)))
            self._keep = True
            try:
                return super().run_wsgi()
            finally:
                self.rfile, self._keep = socket_file, False

        def send_header(self, keyword: str, value: str) -> None:
            if self._keep and keyword.lower() == "connection" and value.lower() == "close":
                return  # (http.server would close the connection after this answer)
            super().send_header(keyword, value)

    return KeepAlive


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
    moto.server.MotoRequestHandler = _keep_alive_handler(moto.server.MotoRequestHandler)
    from moto.server import main as moto_main

    # moto allocates heavily per request (each answer built as dicts, then XML or JSON): at
    # Python's default first threshold (700 allocations) the collector ran about 400 times in a
    # full create, a tenth of this server's CPU. Less often, it collects the same garbage.
    gc.set_threshold(10_000, 10, 10)
    moto_main()


if __name__ == "__main__":
    main()

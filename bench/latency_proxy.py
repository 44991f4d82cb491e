"""A loopback HTTP proxy in front of the moto server that makes it answer at AWS's pace.

Every call takes at least the fixed per-call latency end to end; a slow operation (a create or
delete that AWS finishes minutes later, bench.durations) has its answer held for its typical
duration × ``scale`` on top. The request is forwarded first, so the resource exists while the
answer is held, as it does on AWS while it is "creating".

Why hold the answer rather than rewrite later describe answers to "creating" until the scaled
time has passed: the stack speaks five wire formats (EC2 XML, query XML, JSON, two REST APIs);
holding needs only the operation's name, so no answer body is parsed or rewritten and the
orchestrator sees moto's answers unchanged. What this leaves out is the orchestrator's polling
overhead (its waits find the resource ready on the first look); that overhead is bounded by each
handler's poll ceiling on real AWS, and would be distorted here anyway, since the orchestrator's
poll intervals are real seconds while the durations are scaled.

The sleeps happen in the proxy's own request threads, never inside moto, so a held answer blocks
nothing else.
"""
from __future__ import annotations

import http.client
import http.server
import socket
import threading
import time
import urllib.parse
from typing import Callable

from bench.classify import Call, classify
from bench.durations import slow_seconds

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
REWRITTEN = {"server", "date", "content-length"}  # set again by the proxy's own answer


class LatencyProxy:
    def __init__(self, upstream: str, *, latency: float = 0.030, scale: float = 0.05,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname, parsed.port)
        self.latency = latency
        self.scale = scale
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

            def log_message(self, *args) -> None:  # the call list is the record
                pass

            def setup(self) -> None:
                super().setup()
                # The answer goes out as two writes (headers, body): with Nagle's algorithm the
                # second waits for the client's delayed ACK, 40 ms on Linux, on every call.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="latency-proxy")
        self._thread.start()

    def delay(self, call: Call) -> float:
        """How long the call takes end to end: the latency, plus its scaled duration if slow."""
        return self.latency + self.scale * slow_seconds(call.service, call.operation)

    def take_calls(self) -> list[Call]:
        """Every call answered since the last take (retries included: each request counts)."""
        with self._lock:
            calls, self._calls = self._calls, []
        return calls

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        started = self._clock()
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        call = classify(req.command, req.path, req.headers.items(), body)
        status, headers, data = self._forward(req, body)
        with self._lock:
            self._calls.append(call)
        remaining = started + self.delay(call) - self._clock()
        if remaining > 0:
            self._sleep(remaining)
        req.send_response(status)
        for k, v in headers:
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)

    def _forward(self, req, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        # A fresh loopback connection per request: never a stale kept-alive one to retry, so a
        # mutating call reaches moto exactly once.
        conn = http.client.HTTPConnection(*self._upstream, timeout=120)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(req.command, req.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP | REWRITTEN]
            return resp.status, kept, data
        finally:
            conn.close()

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

With ``rate_limits(True)`` the layer also applies AWS's request-rate limits (bench.rate_limits):
a call over its bucket is not forwarded; it gets AWS's throttling answer after the call latency,
and is counted apart (``take_throttled``) as well as among the calls.
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
from bench.rate_limits import RateLimiter, Request, throttled_answer

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
        self._throttled: list[str] = []  # the bucket that refused each throttled call
        self._limiter: RateLimiter | None = None
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

        class Server(http.server.ThreadingHTTPServer):
            # socketserver listens with a backlog of 5: a command's reads starting together
            # (60 at 0 ms) overflow it, and a dropped SYN is retried after a second. AWS's
            # endpoints drop no connection; neither does the layer.
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="latency-proxy")
        self._thread.start()

    def delay(self, call: Call) -> float:
        """How long the call takes end to end: the latency, plus its scaled duration if slow."""
        return self.latency + self.scale * slow_seconds(call.service, call.operation)

    def rate_limits(self, on: bool) -> None:
        """AWS's request-rate limits on (every bucket full, as on an idle account) or off."""
        self._limiter = RateLimiter(self._clock) if on else None

    def take_calls(self) -> list[Call]:
        """Every call answered since the last take (retries and throttled ones included: each
        request counts)."""
        with self._lock:
            calls, self._calls = self._calls, []
        return calls

    def take_throttled(self) -> list[str]:
        """For each call answered with a throttling error since the last take, the bucket that
        refused it (bench.rate_limits names them: "apigateway GetResources", "ec2 DescribeVpcs")."""
        with self._lock:
            throttled, self._throttled = self._throttled, []
        return throttled

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        started = self._clock()
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        call = classify(req.command, req.path, req.headers.items(), body)
        limiter = self._limiter
        refused = limiter.take(Request.of(call.service, call.operation, req.command, req.path, body)) if limiter else None
        if refused is None:
            status, headers, data = self._forward(req, body)
        else:
            status, answer_headers, data = throttled_answer(call.service)
            headers = list(answer_headers.items())
        with self._lock:
            self._calls.append(call)
            if refused:
                self._throttled.append(refused)
        # A throttled call is refused at once: only the call latency, never a slow duration.
        remaining = started + (self.latency if refused else self.delay(call)) - self._clock()
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

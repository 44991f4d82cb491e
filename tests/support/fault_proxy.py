"""A recording, fault-injecting HTTP proxy on loopback in front of a MotoServer.

The commands under test talk to the proxy (AWS_ENDPOINT_URL); the proxy forwards to moto, or
instead answers what a busy AWS answers. Every request is classified into its AWS operation
(the same classification as the moto recorder's, tests.support.moto_server.classify), so faults
can target mutating calls. Decisions come from one seeded random stream, so a seed gives the same
sequence of faults.

Faults:
- ``kill_after(k, pid)``: the k-th mutating request is forwarded and executed by moto, then the
  client is SIGKILLed before it gets the answer: AWS made the resource, the client never learnt
  its id (the worst moment for a crash).
- ``throttle``: answered without forwarding by the service's own throttling error, in its
  protocol, with a code botocore's standard retry mode treats as throttling.
- ``server_error``: answered 500 or 503 without forwarding.
- ``lost_response`` (mutating calls only): forwarded and executed, then the answer is replaced
  by a 500 or the connection is dropped; botocore retries a call that already happened.
"""
from __future__ import annotations

import collections
import http.client
import http.server
import json
import os
import random
import signal
import socket
import threading
import urllib.parse
import uuid
from dataclasses import dataclass

from tests.support.moto_server import Call, classify

# botocore's protocol per signing name (botocore/data/<service>/*/service-2.json "protocol").
PROTOCOLS = {
    "ec2": "ec2",
    "rds": "query", "elasticache": "query", "iam": "query", "elasticloadbalancing": "query", "sts": "query",
    "ecs": "json", "logs": "json", "secretsmanager": "json", "kms": "json", "wafv2": "json", "tagging": "json",
    "apigateway": "rest-json", "elasticfilesystem": "rest-json",
}

# (HTTP status, error code) of a throttled call, as each service answers it. Every code is in
# botocore.retries.standard.ThrottledRetryableChecker and botocore/data/_retry.json.
THROTTLING = {
    "ec2": (503, "RequestLimitExceeded"),      # EC2 answers throttling with 503
    "query": (400, "Throttling"),              # RDS, ElastiCache, IAM, ELBv2, STS
    "json": (400, "ThrottlingException"),      # ECS, CloudWatch Logs, Secrets Manager
    "apigateway": (429, "TooManyRequestsException"),
    "elasticfilesystem": (429, "ThrottlingException"),
}

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
# Set again by the proxy's own answer (BaseHTTPRequestHandler.send_response, Content-Length).
REWRITTEN = {"server", "date", "content-length"}


def error_response(service: str, status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """An error answer shaped the way botocore's parser for the service's protocol expects it."""
    protocol = PROTOCOLS.get(service, "query")
    request_id = str(uuid.uuid4())
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
        return status, {"Content-Type": "text/xml"}, body.encode()
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message})
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, body.encode()
    body = json.dumps({"message": message})
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}, body.encode()


def throttling_response(service: str) -> tuple[int, dict[str, str], bytes]:
    status, code = THROTTLING.get(service) or THROTTLING.get(PROTOCOLS.get(service, "query"), (400, "Throttling"))
    return error_response(service, status, code, "Rate exceeded")


def server_error_response(service: str, status: int) -> tuple[int, dict[str, str], bytes]:
    code = "ServiceUnavailable" if status == 503 else "InternalFailure"
    return error_response(service, status, code, "We encountered an internal error. Please try again.")


@dataclass(frozen=True)
class Handled:
    call: Call
    outcome: str  # forwarded | throttled | server_error | lost_response | dropped | killed


class FaultProxy:
    def __init__(self, upstream: str):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname, parsed.port)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.reset()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
            # The answer goes out as headers then body: with Nagle on, the body waits for the
            # client's delayed ACK of the headers, 40 ms per call (as urllib3 does, no Nagle).
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # quiet: the counters are the record
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- configuration -------------------------------------------------------------------------
    def reset(self, *, seed: int = 0, throttle: float = 0.0, server_error: float = 0.0, lost_response: float = 0.0) -> None:
        """No fault armed, counters at zero; then the given fault rates, drawn from ``seed``."""
        with self._lock:
            self._random = random.Random(seed)
            self.throttle, self.server_error, self.lost_response = throttle, server_error, lost_response
            self._kill_at: int | None = None
            self._kill_pid: int | None = None
            self._mutating_seen = 0
            self.killed_call: Call | None = None
            self.handled: list[Handled] = []

    def kill_after(self, k: int, pid: int, sig: int = signal.SIGKILL) -> None:
        """Signal ``pid`` (SIGKILL; SIGINT for a Ctrl-C, SIGTERM) once the k-th mutating call
        (counted from now) has executed upstream; its answer never reaches the client."""
        with self._lock:
            self._kill_at, self._kill_pid, self._mutating_seen = k, pid, 0
            self._kill_signal = sig
            self.killed_call = None

    # -- what happened -------------------------------------------------------------------------
    def outcomes(self) -> collections.Counter:
        with self._lock:
            return collections.Counter(h.outcome for h in self.handled)

    def mutating_executed(self) -> list[Call]:
        """Mutating calls that reached moto (whatever the client heard back)."""
        with self._lock:
            return [h.call for h in self.handled if h.call.mutating and h.outcome in ("forwarded", "lost_response", "dropped", "killed")]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the proxy -----------------------------------------------------------------------------
    def _decide(self, call: Call) -> tuple[str, int]:
        """One decision per request, in arrival order, from the seeded stream."""
        with self._lock:
            roll, status_roll = self._random.random(), self._random.random()
            status = 500 if status_roll < 0.5 else 503
            if roll < self.throttle:
                return "throttled", status
            if roll < self.throttle + self.server_error:
                return "server_error", status
            if call.mutating:
                self._mutating_seen += 1
                if self._kill_at is not None and self._mutating_seen == self._kill_at:
                    return "killed", status
                if self._random.random() < self.lost_response:
                    return ("lost_response" if status == 500 else "dropped"), status
            return "forwarded", status

    def _handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        call = classify(req.command, req.path, req.headers.items(), body)
        outcome, status = self._decide(call)
        if outcome == "throttled":
            answer = throttling_response(call.service)
        elif outcome == "server_error":
            answer = server_error_response(call.service, status)
        else:
            answer = self._forward(req, body)
        with self._lock:
            self.handled.append(Handled(call, outcome))
            if outcome == "killed":
                self.killed_call = call
        if outcome == "killed":
            # The call happened; its answer never reaches the client.
            os.kill(self._kill_pid, self._kill_signal)
            req.close_connection = True
            return
        if outcome == "dropped":
            req.close_connection = True
            return
        if outcome == "lost_response":
            answer = server_error_response(call.service, 500)
        self._reply(req, *answer)

    def _forward(self, req, body: bytes) -> tuple[int, dict[str, str], bytes]:
        # One kept-alive upstream connection per client connection (this handler thread): a new
        # connection per request costs moto a thread and the proxy a handshake.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(*self._upstream, timeout=120)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            conn.request(req.command, req.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            conn.close()
            self._local.conn = None
            raise
        if resp.will_close:
            conn.close()
            self._local.conn = None
        return resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP | REWRITTEN}, data

    @staticmethod
    def _reply(req, status: int, headers: dict[str, str], body: bytes) -> None:
        req.send_response(status)
        for k, v in headers.items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)

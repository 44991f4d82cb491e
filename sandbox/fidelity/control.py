"""HTTP control of the layer's clock, for the moto server subprocess of the end-to-end tests.

``python -m sandbox.serve`` (and only it, or ``embedded_server(control=True)``) answers, before
moto sees the request:

- ``POST /fidelity/clock`` with a JSON body:
  ``{"mode": "manual", "now": 0}`` takes the clock (it then moves only when told);
  ``{"advance": 120}`` moves it on by that many seconds;
  ``{"durations": {"ecs.deployment": 60}}`` overrides durations (``clock.DURATIONS``);
  ``{"mode": "instant"}`` gives it back. Answers ``{"mode": ..., "now": ...}``.
- ``POST /fidelity/fail`` with ``{"kind": "ecs-image", "key": "nginx:2", "reason": "..."}``:
  ``clock.fail``.
- ``POST /fidelity/tagging`` with ``{"faithful": true}`` (or ``false``): GetResources answers as
  AWS does (``tagging.py``, docs/aws-behaviours.md C-TAG-1), on by default in this server; ``false`` until the
  next reset. Answers ``{"faithful": ...}``.
- ``POST /fidelity/quotas`` with ``{"enforced": true, "denied": false, "applied": {"L-0263D0A3": 10}}``
  (each key optional): EC2 stops at the quotas, Service Quotas is denied, an increase is applied
  in us-east-1 (``quotas.py``, docs/aws-behaviours.md D-QUOTA-1); off again at the next reset.
  Answers ``{"enforced": ..., "denied": ...}``.
- ``POST /fidelity/iam`` with ``{"enforce": true}`` (or ``false``): requests signed by an IAM user
  or an assumed role are authorized against its policies (``iam_enforcement.py``,
  docs/aws-behaviours.md A-IAM-1); off again at the next reset. Answers ``{"enforce": ...}``.
- ``POST /fidelity/reset``: instant clock, nothing failing, only the default switches on. moto's own
  ``POST /moto-api/reset`` does the same, so a test never inherits the previous one's clock.

Loopback only: a request from any other address is refused (403). ``--sandbox`` does not
register it, so a person's sandbox never has a clock someone else can move.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Any, Callable

from sandbox.fidelity import clock, iam_enforcement, quotas, tagging

PREFIX = "/fidelity/"


def _answer(start_response: Callable, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _loopback(environ: dict) -> bool:
    try:
        return ipaddress.ip_address(environ.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _state() -> dict:
    return {"mode": "manual" if clock.controlled() else "instant", "now": clock.now()}


def handle(environ: dict, start_response: Callable) -> list[bytes]:
    if not _loopback(environ):
        return _answer(start_response, "403 Forbidden", {"message": "the fidelity control answers loopback only"})
    if environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, "405 Method Not Allowed", {"message": "POST only"})
    size = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body: dict[str, Any] = json.loads(environ["wsgi.input"].read(size) or b"{}")
    except ValueError:
        return _answer(start_response, "400 Bad Request", {"message": "a JSON body is expected"})
    action = environ.get("PATH_INFO", "")[len(PREFIX):]
    if action == "clock":
        if body.get("mode") == "instant":
            clock.set_source(None)
        elif body.get("mode") == "manual" or "durations" in body:
            source = clock.ManualClock(float(body.get("now", clock.now()))) if body.get("mode") == "manual" else clock._state.source
            clock.set_source(source, body.get("durations"))
        if "advance" in body:
            if not hasattr(clock._state.source, "sleep"):
                return _answer(start_response, "409 Conflict", {"message": "the clock is instant: POST {\"mode\": \"manual\"} first"})
            clock._state.source.sleep(float(body["advance"]))
        return _answer(start_response, "200 OK", _state())
    if action == "fail":
        clock.fail(body["kind"], body["key"], body.get("reason"))
        return _answer(start_response, "200 OK", _state())
    if action == "tagging":
        if "faithful" in body:
            tagging.switch(bool(body["faithful"]))
        return _answer(start_response, "200 OK", {"faithful": tagging.on()})
    if action == "quotas":
        return _answer(start_response, "200 OK", _quotas(body))
    if action == "iam":
        if "enforce" in body:
            clock.switch(iam_enforcement.SWITCH, bool(body["enforce"]))
        return _answer(start_response, "200 OK", {"enforce": iam_enforcement.on()})
    if action == "reset":
        clock.reset()
        return _answer(start_response, "200 OK", _state())
    return _answer(start_response, "404 Not Found", {"message": f"no fidelity control {action!r}"})


def _quotas(body: dict) -> dict:
    for name, switch in (("enforced", quotas.SWITCH), ("denied", quotas.DENIED)):
        if name in body:
            clock.switch(switch, bool(body[name]))
    for code, value in body.get("applied", {}).items():
        quotas.applied(code, int(value))
    return {"enforced": clock.switched(quotas.SWITCH), "denied": clock.switched(quotas.DENIED)}


def with_control(app_class: type) -> type:
    """moto's WSGI application class, answering ``/fidelity/*`` itself."""

    class WithFidelityControl(app_class):
        def __call__(self, environ: dict, start_response: Callable) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith(PREFIX):
                return handle(environ, start_response)
            if path == "/moto-api/reset" and _loopback(environ):
                clock.reset()
            return super().__call__(environ, start_response)

    return WithFidelityControl

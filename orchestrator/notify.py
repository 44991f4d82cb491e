"""Optional drift notification: a command the user configures, or a webhook."""
from __future__ import annotations

import json
import subprocess
import urllib.request

import structlog

TIMEOUT = 30


def notify(document: dict, *, command: str | None, webhook: str | None) -> None:
    """Best effort: a failed notification is logged, it never hides the drift's exit code."""
    try:
        _send(document, command, webhook)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's channel
        structlog.get_logger().error("drift_notify_failed", error=f"{type(exc).__name__}: {exc}")


def _send(document: dict, command: str | None, webhook: str | None) -> None:
    body = json.dumps(document).encode()
    log = structlog.get_logger()
    if command:
        done = subprocess.run(command, shell=True, input=body, timeout=TIMEOUT, capture_output=True)
        log.info("drift_notified", via="command", exit_code=done.returncode)
    if webhook:
        request = urllib.request.Request(webhook, data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            log.info("drift_notified", via="webhook", status=answer.status)

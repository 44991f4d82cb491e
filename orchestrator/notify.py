"""Optional drift notification: a command the user configures, or a webhook."""
from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from typing import Mapping

import structlog

from orchestrator.errors import UserError

TIMEOUT = 30
# The webhook's URL usually carries its token (Slack, Teams): read from the environment it stays
# out of the process list and shell history, where --notify-webhook would put it.
WEBHOOK_VARIABLE = "VIDEO_PIPELINE_NOTIFY_WEBHOOK"
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def webhook_url(given: str | None, environ: Mapping[str, str]) -> str | None:
    """The webhook to notify: --notify-webhook, else the environment variable. HTTPS only: the
    report names the account's resources and the URL its token; plain HTTP only to this machine
    (a local relay). A bad one is a UserError, before any AWS call."""
    url = given or environ.get(WEBHOOK_VARIABLE) or None
    if url is None:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and (parts.hostname in LOOPBACK or (parts.hostname or "").startswith("127.")):
        return url
    raise UserError(f"the drift webhook must be an https:// URL (plain http:// only to this machine), not "
                    f"{parts.scheme or 'a URL without a scheme'}://{parts.hostname or ''}/…")


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

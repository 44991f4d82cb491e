import http.server
import json
import threading

import structlog.testing

from orchestrator.notify import notify


def test_webhook_receives_the_report_as_json():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.headers["Content-Type"], self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    notify({"env": "dev", "in_sync": False}, command=None, webhook=f"http://127.0.0.1:{server.server_port}/hook")
    server.server_close()
    assert received == [("application/json", json.dumps({"env": "dev", "in_sync": False}).encode())]


def test_command_gets_the_report_on_stdin(tmp_path):
    sink = tmp_path / "out.json"
    notify({"in_sync": False}, command=f"cat > {sink}", webhook=None)
    assert json.loads(sink.read_text()) == {"in_sync": False}


def test_a_failing_channel_is_logged_not_raised():
    with structlog.testing.capture_logs() as logs:
        notify({"in_sync": False}, command=None, webhook="http://127.0.0.1:9/unreachable")
    assert [e["event"] for e in logs] == ["drift_notify_failed"]


def test_the_webhook_is_https_or_this_machine_and_may_come_from_the_environment():
    import pytest

    from orchestrator.errors import UserError
    from orchestrator.notify import WEBHOOK_VARIABLE, webhook_url

    hook = "https://hooks.example.com/services/T0/B0/secret"
    assert webhook_url(hook, {}) == hook
    assert webhook_url(None, {WEBHOOK_VARIABLE: hook}) == hook
    assert webhook_url("https://flag.example.com/x", {WEBHOOK_VARIABLE: hook}) == "https://flag.example.com/x"
    assert webhook_url(None, {}) is None and webhook_url(None, {WEBHOOK_VARIABLE: ""}) is None
    assert webhook_url("http://127.0.0.1:8080/relay", {}) == "http://127.0.0.1:8080/relay"
    for bad in ("http://hooks.example.com/services/T0/B0/secret", "ftp://example.com/x", "hooks.example.com/x"):
        with pytest.raises(UserError) as refused:
            webhook_url(None, {WEBHOOK_VARIABLE: bad})
        assert "https://" in str(refused.value) and "secret" not in str(refused.value)

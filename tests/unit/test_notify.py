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

"""The project's moto server (``python -m sandbox.serve``: moto + the fidelity layer) as a subprocess."""
from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = (
    ("sts", "get_caller_identity"), ("ec2", "describe_availability_zones"), ("rds", "describe_db_instances"),
    ("elasticache", "describe_replication_groups"), ("efs", "describe_file_systems"), ("ecs", "list_clusters"),
    ("elbv2", "describe_load_balancers"), ("apigateway", "get_rest_apis"), ("iam", "list_roles"),
    ("logs", "describe_log_groups"), ("secretsmanager", "list_secrets"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self, workdir: Path, timeout: float = 60.0):
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.serve", "-H", "127.0.0.1", "-p", str(port)],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=workdir,
        )
        self._wait_listening(timeout)

    def _wait_listening(self, timeout: float) -> None:
        # werkzeug says "Running on http://127.0.0.1:PORT" once it listens; a thread keeps
        # draining stderr afterwards so the server never blocks on a full pipe.
        lines: queue.Queue[str] = queue.Queue()

        def drain() -> None:
            for line in self.proc.stderr:
                lines.put(line)
            lines.put("")

        threading.Thread(target=drain, daemon=True).start()
        seen: list[str] = []
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                break
            seen.append(line)
            if not line or "Running on" in line:
                break
        if not seen or "Running on" not in seen[-1]:
            self.stop()
            raise RuntimeError(f"moto server did not start: {''.join(seen)[-2000:]}")

    def reset(self) -> None:
        request = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=30).read()

    def warm(self, region: str) -> None:
        """One read per service of the stack, straight to moto (not through the latency layer).

        moto builds a service's backend on its first request after a start or reset (EC2's takes
        seconds); that is the emulator's cold start, not AWS time, so it is paid before a timed run.
        """
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        for service, operation in WARM_UP:
            getattr(session.client(service, endpoint_url=self.endpoint), operation)()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

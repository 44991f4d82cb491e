"""A moto server subprocess on loopback that records every request it answers.

End-to-end tests run the real bin/ commands against it and count the AWS operations from the
server's own recording (moto's recorder), independently of the orchestrator's counters.
"""
from __future__ import annotations

import base64
import json
import os
import queue
import re
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

READ_PREFIXES = ("Describe", "Get", "List")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Call:
    service: str
    operation: str

    @property
    def mutating(self) -> bool:
        return not self.operation.startswith(READ_PREFIXES)


def classify(method: str, url: str, headers, body: bytes | str | None) -> Call:
    """The AWS operation of one HTTP request, as botocore sent it (live or recorded)."""
    headers = {k.lower(): v for k, v in dict(headers).items()}
    # SigV4's credential scope names the signing service: Credential=KEY/DATE/REGION/SERVICE/...
    service = headers.get("authorization", "").split("/")[3:4] or ["?"]
    target = headers.get("x-amz-target")
    if target:
        return Call(service[0], target.rsplit(".", 1)[-1])
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    action = urllib.parse.parse_qs(body or "").get("Action")
    if action:
        return Call(service[0], action[0])
    # REST protocols (API Gateway, EFS): the method says whether it mutates.
    method = method.upper()
    return Call(service[0], ("Get" if method in ("GET", "HEAD") else method.title()) + ":" + url)


def _operation(entry: dict) -> Call:
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body)
    return classify(entry["method"], entry["url"], entry["headers"], body)


class MotoServer:
    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None):
        self.recording = workdir / "moto-recording.jsonl"
        env = {
            **os.environ,
            "MOTO_ENABLE_RECORDING": "true",
            "MOTO_RECORDER_FILEPATH": str(self.recording),
            # No AWS managed policies (about 2 s at each reset): the one the stack attaches (the RDS
            # monitoring role's) comes from the fidelity layer (sandbox/fidelity/iam.py).
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "false",
            # Nor moto's ~13,000 default AMIs (0.15 s a region at each reset): Fargate reads none.
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
            **(extra_env or {}),
        }
        # Port 0: the server binds a free port itself and names it in its "Running on" line, so
        # servers started at once (one per pytest-xdist worker) can never race for one port.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.serve", "-H", "127.0.0.1", "-p", "0"],
            env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=workdir,
        )
        self.port = self._wait_listening()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def _wait_listening(self, timeout: float = 30.0) -> int:
        # werkzeug announces "Running on http://127.0.0.1:PORT" once it listens: block on that
        # line (read by a thread that keeps draining stderr) rather than polling with sleeps.
        lines: queue.Queue[str] = queue.Queue()

        def drain() -> None:
            for line in self.proc.stderr:
                lines.put(line)
            lines.put("")

        threading.Thread(target=drain, daemon=True).start()
        seen = []
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                break
            seen.append(line)
            if not line or "Running on" in line:
                break
        found = re.search(r"Running on http://127\.0\.0\.1:(\d+)", seen[-1]) if seen else None
        if not found:
            self.stop()
            raise RuntimeError(f"moto server did not start: {''.join(seen)[-2000:]}")
        return int(found.group(1))

    def _post(self, path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(self.endpoint + path, method="POST"), timeout=30).read()

    def reset(self) -> None:
        self._post("/moto-api/reset")
        self.clear_recording()

    def clear_recording(self) -> None:
        self._post("/moto-api/recorder/reset-recording")

    def calls(self) -> list[Call]:
        if not self.recording.exists():
            return []
        lines = self.recording.read_text().splitlines()
        return [_operation(json.loads(line)) for line in lines if line.strip()]

    def mutating_calls(self) -> list[Call]:
        return [c for c in self.calls() if c.mutating]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

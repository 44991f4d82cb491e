"""The real bin/ commands run as a user would, against an AWS endpoint on loopback (moto or a
proxy in front of it), and the test's own boto3 clients to read resources back."""
from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import os
import shutil
import subprocess
import tempfile
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.support import command_server

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
# For a command that meets throttling on purpose: botocore's back-off a hundredth as long (see
# fast_retries/sitecustomize.py); the command runs as a plain subprocess to load it at start.
FAST_RETRIES = {"PYTHONPATH": str(ROOT / "tests" / "support" / "fast_retries")}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


@functools.cache
def cache_home() -> str:
    """The commands' cache directory (botocore's models without their documentation,
    resources/aws/models.py), one per test process: written by the first command, read by the
    others, never the developer's own ~/.cache."""
    path = tempfile.mkdtemp(prefix="video-pipeline-cache-")
    atexit.register(shutil.rmtree, path, True)
    return path


def command_environment(endpoint: str, state_dir: Path, workdir: Path) -> dict[str, str]:
    """Fake credentials, the endpoint, a state directory: nothing from the developer's AWS setup."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir / "home"),
        "XDG_CACHE_HOME": cache_home(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "VIDEO_PIPELINE_STATE_DIR": str(state_dir),
    }


def command_line(command: str, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "bin" / command), *args]


def make_cli(server, state_dir: Path, workdir: Path):
    """Run a real bin/ command against the server (anything with an ``endpoint``), as a user would."""
    base_env = command_environment(server.endpoint, state_dir, workdir)

    def run(command: str, *args: str, env: dict | None = None, drop: tuple[str, ...] = ()) -> Result:
        full_env = {**base_env, **(env or {})}
        for key in drop:
            full_env.pop(key, None)
        proc = command_server.start(command_line(command, *args), full_env, workdir)
        try:
            stdout, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return Result(proc.returncode, stdout, stderr)

    return run


def make_reader(server):
    """The test's own boto3 session against the server, to read resources back."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return lambda service: session.client(service, endpoint_url=server.endpoint)


def run_in_process(server, state_dir: Path, workdir: Path, command: str, *args: str, env: dict | None = None,
                   drop: tuple[str, ...] = ()) -> Result:
    """``orchestrator.cli.main`` in this process, with exactly the environment ``make_cli`` gives a
    bin/ command (the process environment is replaced for the call, then put back) and its stdout
    and stderr captured. Costs milliseconds where a bin/ subprocess costs a second: for the many
    bad-input cases, while a sample of them still runs the real command."""
    from orchestrator.cli import main

    full_env = {**command_environment(server.endpoint, state_dir, workdir), **(env or {})}
    for key in drop:
        full_env.pop(key, None)
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(full_env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(command, list(args))
    finally:
        # A command that ends early (bad input, a refusal) leaves its client-building thread
        # (Aws.prewarm) going, which reads the environment: it finishes before that is put back.
        for thread in threading.enumerate():
            if thread.name == "clients":
                thread.join()
        os.environ.clear()
        os.environ.update(saved)
    return Result(code, out.getvalue(), err.getvalue())

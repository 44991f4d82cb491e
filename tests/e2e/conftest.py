"""End-to-end fixtures: one moto server subprocess per session, reset before every test."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.support.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def server(moto_server):
    moto_server.reset()
    return moto_server


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


def make_cli(server, state_dir: Path, workdir: Path):
    """Run a real bin/ command against the moto server, as a user would."""
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir / "home"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "VIDEO_PIPELINE_STATE_DIR": str(state_dir),
    }

    def run(command: str, *args: str, env: dict | None = None, drop: tuple[str, ...] = ()) -> Result:
        full_env = {**base_env, **(env or {})}
        for key in drop:
            full_env.pop(key, None)
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bin" / command), *args],
            env=full_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, cwd=workdir,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def make_reader(server):
    """The test's own boto3 session against the server, to read resources back."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return lambda service: session.client(service, endpoint_url=server.endpoint)


@pytest.fixture
def cli(server, state_dir, tmp_path):
    return make_cli(server, state_dir, tmp_path)


@pytest.fixture(scope="module")
def cli_factory(tmp_path_factory):
    """For a module whose tests share one environment (and one state directory)."""
    workdir = tmp_path_factory.mktemp("module")
    return lambda server: make_cli(server, workdir / "state", workdir)


@pytest.fixture
def reader_factory():
    return make_reader


@pytest.fixture
def reader(server):
    return make_reader(server)

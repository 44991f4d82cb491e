"""End-to-end fixtures: one moto server subprocess per session, reset before every test."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.commands import REGION, ROOT, Result, make_cli, make_reader  # noqa: F401 (used by the e2e tests)
from tests.support.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def server(moto_server):
    moto_server.reset()
    return moto_server


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


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

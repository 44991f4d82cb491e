"""End-to-end fixtures: one moto server subprocess per session, reset before every test."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.commands import REGION, ROOT, Result, make_cli, make_reader, run_in_process  # noqa: F401 (used by the e2e tests)
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


@pytest.fixture
def quiet_server(moto_server):
    """The worker's server, not reset, its recording cleared: for runs that must make no AWS call
    (or no mutating one), proved by the recording staying empty."""
    moto_server.clear_recording()
    return moto_server


@pytest.fixture
def run(quiet_server, state_dir, tmp_path):
    """``run(via, command, *args, env=None, drop=())`` against ``quiet_server``: via "bin" runs the
    real bin/ command as a subprocess, via "main" calls ``orchestrator.cli.main`` in this process
    with the same environment (see ``run_in_process``)."""
    through_bin = make_cli(quiet_server, state_dir, tmp_path)

    def run(via: str, command: str, *args: str, env: dict | None = None, drop: tuple[str, ...] = ()):
        if via == "bin":
            return through_bin(command, *args, env=env, drop=drop)
        assert via == "main", via
        return run_in_process(quiet_server, state_dir, tmp_path, command, *args, env=env, drop=drop)

    return run


def via_bin_for(sample, cases):
    """Parametrize cases (id -> tuple of values) with a leading ``via``: "bin" (the real command, a
    subprocess) for the ids in ``sample``, "main" (in-process) for the others."""
    assert set(sample) <= set(cases), set(sample) - set(cases)
    return [pytest.param("bin" if case in sample else "main", *values, id=f"{case}-{'bin' if case in sample else 'main'}")
            for case, values in cases.items()]

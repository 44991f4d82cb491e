"""Fault-injection fixtures: one moto server and one fault proxy in front of it per pytest process
(each test starts from a blank account and no fault armed: ``fresh``).

The commands under test go through the proxy; the test's own clients read moto directly.
"""
from __future__ import annotations

import functools

import pytest

from tests.support.commands import make_cli, make_reader
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer


# Session-scoped, not per module: a new server costs about 2 s of CPU (its start, then the first
# calls of every service), and every fault test resets it anyway.
@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(moto):
    p = FaultProxy(moto.endpoint)
    yield p
    p.stop()


@pytest.fixture
def fresh(moto, proxy):
    """A blank account and no fault armed."""
    moto.reset()
    proxy.reset()
    return moto


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def cli(fresh, proxy, state_dir, tmp_path):
    """bin/ commands through the proxy."""
    return make_cli(proxy, state_dir, tmp_path)


@pytest.fixture
def cli_direct(fresh, state_dir, tmp_path):
    """bin/ commands straight to moto, for the runs that inject no fault (the proxy costs time)."""
    return make_cli(fresh, state_dir, tmp_path)


@pytest.fixture(scope="session")
def _clients(moto):
    # One client per service for the server: building a boto3 client costs more than the reads.
    return functools.cache(make_reader(moto))


@pytest.fixture
def reader(fresh, _clients):
    """The test's own clients, straight to moto."""
    return _clients

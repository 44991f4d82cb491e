"""Shared fixtures: moto in-process, the orchestrator's AWS factory, a fake clock.

No test reaches a network other than loopback: credentials are fake, the endpoint is moto.
"""
from __future__ import annotations

import functools

import boto3
import moto.core.responses
import pytest
import structlog
from moto import mock_aws

from resources.aws import Aws
from resources.aws.clock import FakeClock
from sandbox import fidelity
from tests.support import botocore_cache
from tests.support.commands import cache_home

# Tests meet the same moto as --sandbox: with the documented AWS behaviours moto lacks restored.
fidelity.apply()
# moto lists a response class's methods (inspect.getmembers, 0.3 ms for EC2's) on every call it
# answers in-process; they are fixed once the class is imported, so each is listed once (as the
# tests' moto server does, sandbox/serve.py): a twentieth of the contract layer's CPU.
moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)

# Every test builds its own boto3 session (the orchestrator's Aws factory does, and so do the
# tests' own clients): the parsed models and client classes are shared by the whole test process
# (tests/support/botocore_cache.py). Only the pytest process and the warm interpreter the bin/
# commands are forked from: a command run as a plain subprocess starts cold, as a user's does.
botocore_cache.install()

REGION = "us-east-1"
SERVER_LAYERS = ("e2e", "faults")


def pytest_collection_modifyitems(items):
    """Everything under tests/e2e and tests/faults runs against a moto server: mark it so."""
    for item in items:
        if item.path.parent.name in SERVER_LAYERS:
            item.add_marker(pytest.mark.server)


@pytest.fixture(autouse=True)
def _no_real_aws(request, monkeypatch, tmp_path):
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # moto builds ~1,400 AWS managed policies at every reset (about 2 s) unless told not to; the
    # stack attaches one, which the fidelity layer provides (sandbox/fidelity/iam.py), so only a
    # test marked aws_managed_policies gets them all.
    wanted = request.node.get_closest_marker("aws_managed_policies") is not None
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true" if wanted else "false")
    # moto builds ~13,000 default AMIs into every EC2 backend it creates (0.15 s a region, at each
    # reset); the stack runs on Fargate and reads no image.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    # The tool's cache of botocore's models: the test process's own, never the developer's.
    monkeypatch.setenv("XDG_CACHE_HOME", cache_home())
    # Without credentials botocore would ask the instance metadata service: never in a test.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def _structlog_config_restored():
    """A test that runs ``orchestrator.cli.main`` in-process configures structlog to print to the
    sys.stderr of that moment (pytest's capture, closed after the test): put the previous
    configuration back so later tests in the same process do not log to a closed file."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def moto_aws():
    with mock_aws():
        yield


@pytest.fixture
def aws(moto_aws) -> Aws:
    """The orchestrator's client factory, as the commands build it."""
    return Aws(REGION)


@pytest.fixture
def ec2(moto_aws):
    """The test's own client: handler tests read resources back with it, never via state."""
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock) -> FakeClock:
    """The same fake clock, under the name the Stubber tests use."""
    return clock

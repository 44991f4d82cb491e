"""Shared fixtures: moto in-process, the orchestrator's AWS factory, a fake clock.

No test reaches a network other than loopback: credentials are fake, the endpoint is moto.
"""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from resources.aws import Aws
from resources.clock import FakeClock
from sandbox import fidelity

# Tests meet the same moto as --sandbox: with the documented AWS behaviours moto lacks restored.
fidelity.apply()

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch, tmp_path):
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    # Without credentials botocore would ask the instance metadata service: never in a test.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


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

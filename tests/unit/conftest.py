"""Unit tests: no moto, no server, no subprocess of a bin/ command. A test that needs AWS belongs
under tests/resources (in-process moto) or tests/e2e (a moto server)."""
from __future__ import annotations

import pytest


@pytest.fixture
def moto_aws():
    pytest.fail("a unit test asked for moto: move it to tests/resources (handlers on in-process moto)")

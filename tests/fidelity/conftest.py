"""The fidelity layer's clock, taken over for one test and given back (instant, nothing failing)."""
from __future__ import annotations

import pytest

from resources.aws.clock import FakeClock
from sandbox.fidelity import clock as layer_clock
from tests.support.moto_server import MotoServer


@pytest.fixture
def on_the_clock():
    """A FakeClock that drives the layer's day-2 states; ``sleep(s)`` moves them on."""
    with layer_clock.use(FakeClock()) as fake:
        yield fake


@pytest.fixture
def server(tmp_path):
    """A moto server subprocess started as the end-to-end tests start it (python -m sandbox.serve),
    for the tests that prove a patch or a control is live there too."""
    started = MotoServer(tmp_path)
    yield started
    started.stop()

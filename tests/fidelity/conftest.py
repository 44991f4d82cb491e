"""The fidelity layer's clock, taken over for one test and given back (instant, nothing failing)."""
from __future__ import annotations

import pytest

from resources.clock import FakeClock
from sandbox.fidelity import clock as layer_clock


@pytest.fixture
def on_the_clock():
    """A FakeClock that drives the layer's day-2 states; ``sleep(s)`` moves them on."""
    with layer_clock.use(FakeClock()) as fake:
        yield fake

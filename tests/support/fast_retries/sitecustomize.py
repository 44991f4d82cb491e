"""Loaded at interpreter start by a bin/ command whose PYTHONPATH names this directory
(tests.support.commands.FAST_RETRIES): botocore's standard-mode back-off, computed as always
(exponential, jittered, capped), is slept a hundredth as long. The retries themselves, their
number and their order are botocore's own; only the wall time between them shrinks."""
from botocore.retries import standard

SCALE = 0.01
_delay_amount = standard.ExponentialBackoff.delay_amount


def _scaled_delay_amount(self, context):
    return _delay_amount(self, context) * SCALE


standard.ExponentialBackoff.delay_amount = _scaled_delay_amount

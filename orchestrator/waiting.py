"""Waiting for a resource to become ready or gone: adaptive polling with a per-resource ceiling.

Stock botocore waiters poll at a fixed 15-30 s and give up after 10-30 min, too early for Multi-AZ
RDS or a Redis replication group (T-1.4). Here the first poll comes after one second,
the interval grows by half each time up to the handler's ``poll_ceiling`` (a few percent of a
typical duration), and the deadline is the handler's own create/delete timeout.
"""
from __future__ import annotations

from typing import Callable

import tenacity

from resources.base import Refresh, ResourceError, Status
from resources.aws.clock import Clock

# Right after a create, describe can still answer not-found for a while (B-EC2-1).
VISIBILITY_GRACE = 120.0


class WaitTimeout(ResourceError):
    """Still not in the state waited for at the deadline."""


class ResourceFailed(ResourceError):
    """AWS reports the resource failed while it was waited for."""


class ResourceGone(ResourceError):
    """The resource disappeared while it was waited for to become ready."""


def wait_for(
    refresh: Callable[[], Refresh],
    want: Status,
    *,
    what: str,
    timeout: float,
    ceiling: float,
    clock: Clock,
    first: float = 1.0,
) -> Refresh:
    start = clock.now()

    def settled(r: Refresh) -> bool:
        if r.status is want or r.status is Status.FAILED:
            return True
        # A resource we just created that is not visible yet is still pending, for a while.
        return r.status is Status.GONE and want is Status.READY and clock.now() - start >= VISIBILITY_GRACE

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda r: not settled(r)),
        stop=lambda state: clock.now() - start >= timeout,
        wait=tenacity.wait_exponential(multiplier=first, exp_base=1.5, max=ceiling),
        sleep=clock.sleep,
        retry_error_callback=lambda state: state.outcome.result(),
    )
    result = retrying(refresh)
    elapsed = clock.now() - start
    if result.status is want:
        return result
    if result.status is Status.FAILED:
        raise ResourceFailed(f"{what} failed: {result.detail}")
    if result.status is Status.GONE:
        raise ResourceGone(f"{what} disappeared while waiting for it to become {want.value}")
    raise WaitTimeout(f"{what} still {result.detail or result.status.value} after {elapsed:.0f} s (limit {timeout:.0f} s)")

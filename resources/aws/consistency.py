"""Retries for AWS eventual consistency, and only for that.

Throttling and 5xx are botocore's job (standard retry mode). What botocore cannot know is that
``InvalidVpcID.NotFound`` right after ``CreateVpc`` means "not visible yet" rather than "gone"
(EC2 devguide, "Eventual consistency in the Amazon EC2 API"), or that ``DependencyViolation``
on a subnet delete means "ENIs are still draining". Each retry here has a name and a bounded
timeout so a log line says what was waited for and for how long.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

import structlog
import tenacity

from resources.aws import error_code
from resources.aws.clock import Clock

T = TypeVar("T")
log = structlog.get_logger()


@dataclass(frozen=True)
class Consistency:
    name: str
    codes: frozenset[str]
    timeout: float
    first_delay: float = 1.0
    max_delay: float = 15.0

    def call(self, clock: Clock, fn: Callable[..., T], *args, **kwargs) -> T:
        start = clock.now()

        def _stop(state: tenacity.RetryCallState) -> bool:
            return clock.now() - start >= self.timeout

        def _log(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.info("retrying", reason=self.name, code=error_code(exc), attempt=state.attempt_number)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: error_code(e) in self.codes),
            stop=_stop,
            wait=tenacity.wait_exponential(multiplier=self.first_delay, max=self.max_delay),
            sleep=clock.sleep,
            before_sleep=_log,
            reraise=True,
        )
        return retrying(fn, *args, **kwargs)


def consistency(name: str, codes: Iterable[str], timeout: float, **kw) -> Consistency:
    return Consistency(name, frozenset(codes), timeout, **kw)


# A just-created EC2 resource can be invisible to the next call for seconds (B-EC2-1).
EC2_NEW_RESOURCE = consistency(
    "ec2-new-resource-visible",
    {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidAllocationID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidGroup.NotFound",
        "NatGatewayNotFound",
        "InvalidNatGatewayID.NotFound",
    },
    timeout=120,
)

# ENIs of deleted NATs, RDS, Redis, EFS and Fargate tasks linger for minutes; until they are
# released, deleting their subnet, security group or VPC, or detaching the IGW while public
# addresses are mapped, fails with DependencyViolation (T-1.3). An EIP still held by
# a NAT that is still being deleted answers InvalidIPAddress.InUse.
DEPENDENCIES_DRAIN = consistency(
    "dependencies-drain",
    {"DependencyViolation", "InvalidIPAddress.InUse"},
    timeout=20 * 60,
    first_delay=2.0,
    max_delay=30.0,
)

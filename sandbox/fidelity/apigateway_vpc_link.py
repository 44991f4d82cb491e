"""API Gateway VPC links on the layer's clock: PENDING, then AVAILABLE or FAILED.

Reproduces docs/aws-behaviours.md C-VPCL-1: "A VPC link that ends FAILED still exists and holds its NLB".
AWS (API reference, VpcLink.status): "The status of the VPC link. The valid values are
AVAILABLE, PENDING, DELETING, or FAILED", with ``statusMessage`` "A description about the VPC
link status". CreateVpcLink answers PENDING; the link becomes AVAILABLE (or FAILED, when AWS
cannot build the endpoint service for the NLB) minutes later: ``apigateway.vpc_link`` on the
controlled clock. A test marks a link to fail by name: ``clock.fail("vpc-link", NAME, message)``.
The FAILED link stays listed by GetVpcLinks until it is deleted.

moto answers AVAILABLE at once, and the instant clock keeps that (FAILED at once when marked).
"""
from __future__ import annotations

from moto.apigateway import models

from sandbox.fidelity import clock

DEFAULT_FAILURE = "Failed to create the VPC endpoint service for the network load balancer."
READY = "Your vpc link is ready for use"


def advance(link: models.VpcLink) -> None:
    started = getattr(link, "_fidelity_started", None)
    if started is None or link.status != "PENDING":
        return
    if clock.elapsed(started) >= clock.duration("apigateway.vpc_link"):
        marked, reason = clock.failing("vpc-link", link.name)
        link.status, link.status_message = ("FAILED", reason or DEFAULT_FAILURE) if marked else ("AVAILABLE", READY)


def apply() -> None:
    if getattr(models.VpcLink.__init__, "fidelity", False):
        return
    init, to_json = models.VpcLink.__init__, models.VpcLink.to_json

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if clock.controlled() or clock.failing("vpc-link", self.name)[0]:
            self.status, self.status_message = "PENDING", None
            self._fidelity_started = clock.now()
            advance(self)

    def to_json_on_the_clock(self):
        """Lazily on read: the link as it is "now"."""
        advance(self)
        out = to_json(self)
        if getattr(self, "_fidelity_started", None) is not None and self.status_message:
            out["statusMessage"] = self.status_message
        return out

    __init__.fidelity = True
    models.VpcLink.__init__ = __init__
    models.VpcLink.to_json = to_json_on_the_clock

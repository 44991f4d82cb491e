"""EC2: the Elastic IP of a NAT gateway just deleted cannot be released yet (docs/aws-behaviours.md D-EIP-1).

AWS: after a NAT gateway reads ``deleted``, ReleaseAddress of the Elastic IP it held can answer
**AuthFailure** ("You do not have permission to access the specified resource", HTTP 400) for a
while, then succeed; the caller's permissions are not the problem (kubernetes/kops #938, #1604;
genevieve/leftovers #33). moto 5.2.5 releases the address at once.

Off by default, also with a controlled clock: ``clock.switch(SWITCH, True)`` turns it on. Then a
NAT gateway deleted at the layer's "now" marks the address it held (``ec2.py`` has already
disassociated it, docs/aws-behaviours.md A-5), and ReleaseAddress of that address answers AuthFailure until
``clock.duration("ec2.nat_address_release")`` has gone by on the layer's clock. Any other
address, and every address once that time is up, is released as moto does.
"""
from __future__ import annotations

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend
from moto.ec2.models.nat_gateways import NatGatewayBackend

from sandbox.fidelity import clock
from sandbox.fidelity.patching import patch_once

SWITCH = "nat-address-release-lag"
_PATCHED = "_video_pipeline_fidelity_addresses"


class AuthFailure(EC2ClientError):
    def __init__(self) -> None:
        # AWS's own words (kops #938): they name no permission because none is missing.
        super().__init__("AuthFailure", "You do not have permission to access the specified resource.")


def on() -> bool:
    return clock.controlled() and clock.switched(SWITCH)


def _marking_the_address(original):
    def delete_nat_gateway(self: NatGatewayBackend, nat_gateway_id: str):
        nat = self.nat_gateways.get(nat_gateway_id)
        eni = getattr(nat, "_eni", None)
        held = [eip for eip in self.addresses if eni is not None and eip.eni is eni]
        answer = original(self, nat_gateway_id)
        if on():
            for eip in held:
                eip._fidelity_nat_deleted = clock.now()
        return answer

    return delete_nat_gateway


def _refusing_while_the_nat_lets_go(original):
    def release_address(self: ElasticAddressBackend, address=None, allocation_id=None):
        if on() and allocation_id:
            for eip in self.addresses:
                deleted = getattr(eip, "_fidelity_nat_deleted", None)
                if eip.allocation_id == allocation_id and deleted is not None \
                        and clock.elapsed(deleted) < clock.duration("ec2.nat_address_release"):
                    raise AuthFailure()
        return original(self, address=address, allocation_id=allocation_id)

    return release_address


def apply() -> None:
    patch_once(NatGatewayBackend, "delete_nat_gateway", _marking_the_address, _PATCHED)
    patch_once(ElasticAddressBackend, "release_address", _refusing_while_the_nat_lets_go, _PATCHED)

"""The quotas the stack meets: Service Quotas answers them, and EC2 stops at them
(docs/aws-behaviours.md C-QUOTA-1, D-QUOTA-1).

AWS: an account starts with 5 EC2-VPC Elastic IPs (ec2 L-0263D0A3), 5 VPCs (vpc L-F678F1CE) and
5 internet gateways (vpc L-A4707A72) per Region and 5 NAT gateways per Availability Zone (vpc
L-FE5A380F; only pending, available and deleting ones count) ("Amazon VPC quotas"). Past them
AllocateAddress answers AddressLimitExceeded ("The maximum number of addresses has been
reached."), CreateVpc VpcLimitExceeded, CreateInternetGateway InternetGatewayLimitExceeded,
CreateNatGateway NatGatewayLimitExceeded (EC2 API reference, "Error codes").
GetServiceQuota answers the account's applied value, GetAWSDefaultServiceQuota the default.

moto 5.2.5 enforces none of them. Its Service Quotas knows only the ``vpc`` service's defaults
(GetServiceQuota of ec2's L-0263D0A3 answers NoSuchResourceException) and has no
GetAWSDefaultServiceQuota at all (NotImplementedError).

Here:

- **Service Quotas, always**: GetServiceQuota and GetAWSDefaultServiceQuota answer the four
  quotas. Any other code: GetServiceQuota as moto does; GetAWSDefaultServiceQuota
  NoSuchResourceException (AWS would answer its default; nothing here asks for one). The applied value is the default unless a test applied
  an increase, ``applied(code, value)``, kept on moto's backend (moto's reset forgets it).
- **Enforced, off by default** (``clock.switch(SWITCH, True)``, ``with enforced():``, or
  ``POST /fidelity/quotas {"enforced": true}`` on the test server): the four creates answer as
  AWS does once the Region (the AZ, for NAT gateways) holds as many as the applied value. Off,
  the end-to-end suites may build more environments in one Region than a new account could.
- **Denied, off by default** (``clock.switch(DENIED, True)``; ``{"denied": true}``):
  GetServiceQuota and GetAWSDefaultServiceQuota answer AccessDeniedException, as AWS does for a
  role without ``servicequotas:GetServiceQuota`` / ``GetAWSDefaultServiceQuota``.

``clock.reset()`` (and so moto's reset on the test server) switches both off.
"""
from __future__ import annotations

import json

from moto.core.exceptions import JsonRESTError
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_ip_addresses import ElasticAddressBackend
from moto.ec2.models.internet_gateways import InternetGatewayBackend
from moto.ec2.models.nat_gateways import NatGatewayBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.servicequotas.exceptions import NoSuchResource
from moto.servicequotas.models import ServiceQuotasBackend, servicequotas_backends
from moto.servicequotas.responses import ServiceQuotasResponse

from sandbox.fidelity import clock
from sandbox.fidelity.patching import patch_once

SWITCH = "quotas-enforced"
DENIED = "service-quotas-denied"
_PATCHED = "_video_pipeline_fidelity_quotas"
# code -> (service, name, default), as Service Quotas names them.
QUOTAS = {
    "L-0263D0A3": ("ec2", "EC2-VPC Elastic IPs", 5),
    "L-F678F1CE": ("vpc", "VPCs per Region", 5),
    "L-A4707A72": ("vpc", "Internet gateways per Region", 5),
    "L-FE5A380F": ("vpc", "NAT gateways per Availability Zone", 5),
}
NAT_COUNTED = ("pending", "available", "deleting")


def on() -> bool:
    return clock.switched(SWITCH)


def enforced():
    """The quotas enforced for the ``with`` block."""
    return clock.switched_on(SWITCH)


def applied(code: str, value: int, account: str = "123456789012", region: str = "us-east-1") -> None:
    """An increase AWS granted: what GetServiceQuota answers, and where enforcement stops."""
    _applied(servicequotas_backends[account][region])[code] = float(value)


def _applied(backend: ServiceQuotasBackend) -> dict[str, float]:
    if not hasattr(backend, "_fidelity_applied"):  # a backend moto has just reset: the defaults
        backend._fidelity_applied = {}
    return backend._fidelity_applied


def limit(account: str, region: str, code: str) -> int:
    """The value Service Quotas answers for ``code`` in that account and Region."""
    return int(_applied(servicequotas_backends[account][region]).get(code, QUOTAS[code][2]))


# -- Service Quotas ---------------------------------------------------------------------------

class AccessDenied(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("AccessDeniedException", "You do not have sufficient access to perform this action.")


def _quota(backend: ServiceQuotasBackend, code: str, value: float) -> dict:
    service, name, _ = QUOTAS[code]
    return {"ServiceCode": service, "QuotaCode": code, "QuotaName": name, "Value": value, "Unit": "None",
            "Adjustable": True, "GlobalQuota": False,
            "QuotaArn": f"arn:aws:servicequotas:{backend.region_name}:{backend.account_id}:{service}/{code}"}


def _answering_applied(original):
    def get_service_quota(self: ServiceQuotasBackend, service_code: str, quota_code: str):
        if clock.switched(DENIED):
            raise AccessDenied()
        if QUOTAS.get(quota_code, ("",))[0] == service_code:
            return _quota(self, quota_code, float(limit(self.account_id, self.region_name, quota_code)))
        return original(self, service_code, quota_code)

    return get_service_quota


def _get_aws_default_service_quota(self: ServiceQuotasResponse) -> str:
    # Not in moto 5.2.5: the default of the four quotas, the same denial; any other code is
    # "not available", as moto answers GetServiceQuota for one it does not know.
    params = json.loads(self.body)
    if clock.switched(DENIED):
        raise AccessDenied()
    code = str(params.get("QuotaCode"))
    if QUOTAS.get(code, ("",))[0] != params.get("ServiceCode"):
        raise NoSuchResource()
    return json.dumps({"Quota": _quota(self.backend, code, float(QUOTAS[code][2]))})


# -- EC2: the creates stop at the quota ---------------------------------------------------------

def _refuse_past(backend, code: str, held: int, error: str, message: str) -> None:
    if on() and held >= limit(backend.account_id, backend.region_name, code):
        raise EC2ClientError(error, message)


def _allocate(original):
    def allocate_address(self: ElasticAddressBackend, domain: str, address=None, tags=None):
        _refuse_past(self, "L-0263D0A3", len(self.addresses), "AddressLimitExceeded",
                     "The maximum number of addresses has been reached.")
        return original(self, domain, address=address, tags=tags)

    return allocate_address


def _create_vpc(original):
    def create_vpc(self: VPCBackend, *args, **kwargs):
        _refuse_past(self, "L-F678F1CE", len(self.vpcs), "VpcLimitExceeded", "The maximum number of VPCs has been reached.")
        return original(self, *args, **kwargs)

    return create_vpc


def _create_igw(original):
    def create_internet_gateway(self: InternetGatewayBackend, *args, **kwargs):
        _refuse_past(self, "L-A4707A72", len(self.internet_gateways), "InternetGatewayLimitExceeded",
                     "The maximum number of internet gateways has been reached.")
        return original(self, *args, **kwargs)

    return create_internet_gateway


def _create_nat(original):
    def create_nat_gateway(self: NatGatewayBackend, subnet_id: str, *args, **kwargs):
        if on():  # off, not even the subnet is looked up: moto answers as it always did
            zone = _zone_of(self, subnet_id)
            held = sum(1 for nat in self.nat_gateways.values()
                       if nat.state in NAT_COUNTED and _zone_of(self, nat.subnet_id) == zone)
            _refuse_past(self, "L-FE5A380F", held, "NatGatewayLimitExceeded",
                         f"Performing this operation would exceed the limit of "
                         f"{limit(self.account_id, self.region_name, 'L-FE5A380F')} NAT gateways.")
        return original(self, subnet_id, *args, **kwargs)

    return create_nat_gateway


def _zone_of(backend, subnet_id: str) -> str | None:
    try:
        return backend.get_subnet(subnet_id).availability_zone
    except EC2ClientError:  # a deleted subnet's gateway; an unknown subnet, which moto refuses next
        return None


def apply() -> None:
    patch_once(ServiceQuotasBackend, "get_service_quota", _answering_applied, _PATCHED)
    ServiceQuotasResponse.get_aws_default_service_quota = _get_aws_default_service_quota
    patch_once(ElasticAddressBackend, "allocate_address", _allocate, _PATCHED)
    patch_once(VPCBackend, "create_vpc", _create_vpc, _PATCHED)
    patch_once(InternetGatewayBackend, "create_internet_gateway", _create_igw, _PATCHED)
    patch_once(NatGatewayBackend, "create_nat_gateway", _create_nat, _PATCHED)

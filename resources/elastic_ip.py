"""Elastic IP for a NAT gateway."""
from __future__ import annotations

from resources.base import Change, Field, Observed, tag_dict
from resources.aws.consistency import DEPENDENCIES_DRAIN
from resources.ec2 import Ec2Handler

NOT_FOUND = "InvalidAllocationID.NotFound"


def observe_address(address: dict) -> Observed:
    attrs = {"domain": address.get("Domain")}
    return Observed(address["AllocationId"], attrs, tag_dict(address.get("Tags")), address)


class ElasticIp(Ec2Handler):
    kind = "elastic_ip"
    resource_type = "elastic-ip"
    describe_call, items_key, ids_param, not_found = "describe_addresses", "Addresses", "AllocationIds", frozenset({NOT_FOUND})
    fields = {"domain": Field(str, Change.REPLACE, why="an address's domain is fixed")}
    # Addresses have no unique name: a new one is allocated beside the old one.
    replace_beside = True
    id_key = "AllocationId"
    expected_seconds = 1
    poll_ceiling = 2

    def observe(self, item):
        return observe_address(item)

    def create(self, spec, token):
        # AllocateAddress has no idempotency token: find-by-tags before create prevents a second EIP.
        address = self.client.allocate_address(Domain="vpc", TagSpecifications=self.tag_specifications(spec))
        return address["AllocationId"]

    def delete(self, obs, spec=None):
        # The NAT that held it is deleted and waited for first (graph order); its disassociation
        # can still lag, answered with InvalidIPAddress.InUse.
        DEPENDENCIES_DRAIN.call(self.clock, self.client.release_address, AllocationId=obs.id)

    def outputs(self, obs):
        return {"id": obs.id, "public_ip": obs.raw.get("PublicIp")}

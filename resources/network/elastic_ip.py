"""Elastic IP for a NAT gateway."""
from __future__ import annotations

from resources.aws import error_code
from resources.base import Change, Field, Observed, ResourceError, tag_dict
from resources.aws.consistency import DEPENDENCIES_DRAIN, consistency
from resources.network.ec2 import Ec2Handler, ec2_grants

NOT_FOUND = "InvalidAllocationID.NotFound"
# The teardown's budget for one address (the base class's default delete timeout, kept explicit
# because the AuthFailure retry below is bounded by it).
DELETE_TIMEOUT = 5 * 60
# D-EIP-1: for a while after the NAT gateway that held it reads "deleted", ReleaseAddress answers
# "AuthFailure: You do not have permission to access the specified resource" although nothing is
# missing from the caller's permissions: AWS has not let the address go yet (kops #938, #1604;
# leftovers #33). Retried on ReleaseAddress only (anywhere else AuthFailure means what it says),
# within the address's delete timeout.
NAT_LETS_GO = consistency("nat-lets-go-of-address", {"AuthFailure"}, timeout=DELETE_TIMEOUT, first_delay=2.0, max_delay=30.0)


def observe_address(address: dict) -> Observed:
    attrs = {"domain": address.get("Domain")}
    return Observed(address["AllocationId"], attrs, tag_dict(address.get("Tags")), address)


class ElasticIp(Ec2Handler):
    kind = "elastic_ip"
    resource_type = "elastic-ip"
    iam = ec2_grants("elastic-ip", ("ec2:DescribeAddresses",), creates=("ec2:AllocateAddress",), changes=("ec2:ReleaseAddress",))
    describe_call, items_key, ids_param, not_found = "describe_addresses", "Addresses", "AllocationIds", frozenset({NOT_FOUND})
    fields = {"domain": Field(str, Change.REPLACE, why="an address's domain is fixed")}
    # Addresses have no unique name: a new one is allocated beside the old one.
    replace_beside = True
    id_key = "AllocationId"
    expected_seconds = 1
    poll_ceiling = 2
    delete_timeout = DELETE_TIMEOUT

    def observe(self, item):
        return observe_address(item)

    def create(self, spec, token):
        # AllocateAddress has no idempotency token: find-by-tags before create prevents a second EIP.
        address = self.client.allocate_address(Domain="vpc", TagSpecifications=self.tag_specifications(spec))
        return address["AllocationId"]

    def delete(self, obs, spec=None):
        # The NAT that held it is deleted and waited for first (graph order); its disassociation
        # can still lag, answered with InvalidIPAddress.InUse, and so can AWS's letting go of the
        # address, answered with AuthFailure (D-EIP-1).
        try:
            NAT_LETS_GO.call(self.clock, DEPENDENCIES_DRAIN.call, self.clock, self.client.release_address, AllocationId=obs.id)
        except Exception as exc:
            if error_code(exc) != "AuthFailure":
                raise
            raise ResourceError(
                f"{self.kind} {obs.id}: AWS still refused to release the address (AuthFailure) after "
                f"{DELETE_TIMEOUT // 60} minutes; it answers so for a while after the NAT gateway that held the "
                f"address is deleted, so run the teardown again later"
            ) from None

    def outputs(self, obs):
        return {"id": obs.id, "public_ip": obs.raw.get("PublicIp")}

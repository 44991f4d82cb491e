"""NAT gateway, one per AZ, each with its own Elastic IP (high availability)."""
from __future__ import annotations

from resources.base import Change, Field, Observed, OnFailed, Refresh, Status, create_params, read_attrs, tag_dict
from resources.network.ec2 import Ec2Handler, ec2_grants, in_vpc_filters, ownership_filters

# AWS answers NatGatewayNotFound for an unknown id; moto answers an empty list (docs/aws-behaviours.md A-11).
NOT_FOUND = "NatGatewayNotFound"
# Deleted NATs stay listed for about an hour (B-EC2-3); "deleted" is asked not to be listed.
LISTED_STATES = ("pending", "available", "failed", "deleting")


def status_of(nat: dict) -> Refresh:
    state = nat["State"]
    if state == "deleted":
        return Refresh(Status.GONE)
    if state == "deleting":
        return Refresh(Status.DELETING, state)
    if state == "available":
        return Refresh(Status.READY, state)
    if state == "failed":
        # e.g. Gateway.NotAttached when the IGW was not attached yet (B-EC2-3).
        return Refresh(Status.FAILED, f"{nat.get('FailureCode')}: {nat.get('FailureMessage')}")
    return Refresh(Status.PENDING, state)


def primary_allocation(nat: dict) -> str | None:
    # The first address is the primary one, the one the NAT was created with.
    return (nat.get("NatGatewayAddresses") or [{}])[0].get("AllocationId")


def observe_nat_gateway(nat: dict) -> Observed:
    return Observed(nat["NatGatewayId"], read_attrs(NatGateway.fields, nat), tag_dict(nat.get("Tags")), nat)


class NatGateway(Ec2Handler):
    kind = "nat_gateway"
    resource_type = "natgateway"
    iam = ec2_grants("natgateway", ("ec2:DescribeNatGateways",), creates=("ec2:CreateNatGateway",),
                     parents=("subnet", "elastic-ip"), changes=("ec2:DeleteNatGateway",))
    describe_call, items_key, ids_param, id_key = "describe_nat_gateways", "NatGateways", "NatGatewayIds", "NatGatewayId"
    not_found = frozenset({NOT_FOUND})
    # A NAT that failed (Gateway.NotAttached, B-EC2-3) holds nothing: a new one replaces it, and
    # AWS removes the failed one itself after about an hour.
    on_failed = OnFailed.REPLACE
    # Several NAT gateways may share a subnet: a new one is made beside the old one.
    replace_beside = True
    expected_seconds = 105
    expected_delete_seconds = 60  # T-1.3, n=6
    create_timeout = 10 * 60  # Terraform's default; typical is 85-125 s
    delete_timeout = 30 * 60
    poll_ceiling = 10
    # Each field's DescribeNatGateways key and CreateNatGateway parameter, once (base.Field).
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why="a NAT gateway never moves", aws="VpcId"),
        "subnet_id": Field(str, Change.REPLACE, why="a NAT gateway never moves", aws="SubnetId", create=True),
        "allocation_id": Field(str, Change.REPLACE, why="a NAT gateway keeps its primary address",
                               aws=primary_allocation, create="AllocationId"),
        "connectivity_type": Field(str, Change.REPLACE, why="set at creation only",
                                   aws="ConnectivityType", absent="public", create=True),
    }

    def listing_filters(self, spec):
        # A NAT never leaves its subnet's VPC: the VPC's listing holds every NAT of ours,
        # and the drift check's search for unmanaged NATs in the VPC reuses it.
        return in_vpc_filters(self, spec)

    def observe(self, item):
        return observe_nat_gateway(item)

    def list_owned(self, spec):
        # AWS narrows by the tag filters; moto ignores them (docs/aws-behaviours.md A-6), and the subnet of a
        # lost state is unknown, so ownership is checked client-side as well.
        pages = self.client.get_paginator("describe_nat_gateways").paginate(
            Filters=[{"Name": "state", "Values": list(LISTED_STATES)}, *ownership_filters(spec)]
        )
        nats = [n for page in pages for n in page["NatGateways"] if self.live(n)]
        return self.owned([observe_nat_gateway(n) for n in nats], spec)

    def create(self, spec, token):
        # ClientToken makes a retried create return the same NAT instead of a second one
        # (botocore would otherwise fill in a random token).
        nat = self.client.create_nat_gateway(
            **create_params(self.fields, spec),
            ClientToken=token,
            TagSpecifications=self.tag_specifications(spec),
        )
        return nat["NatGateway"]["NatGatewayId"]

    def delete(self, obs, spec=None):
        # Only ever called with a NAT that was just found: moto crashes on an unknown id.
        self.client.delete_nat_gateway(NatGatewayId=obs.id)

    def status(self, raw):
        return status_of(raw)

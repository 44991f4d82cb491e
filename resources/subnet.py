"""Subnets: public, private (egress through NAT) and isolated, one of each per AZ."""
from __future__ import annotations

from resources.aws import describe_one, ignore_codes
from resources.base import Observed, Refresh, Status, tag_dict
from resources.consistency import DEPENDENCIES_DRAIN
from resources.ec2 import Ec2Handler, in_vpc_filters

NOT_FOUND = "InvalidSubnetID.NotFound"


def find_subnet_by_id(ec2, subnet_id: str) -> dict | None:
    return describe_one(ec2.describe_subnets, "Subnets", NOT_FOUND, SubnetIds=[subnet_id])


def subnet_status(ec2, subnet_id: str) -> Refresh:
    subnet = find_subnet_by_id(ec2, subnet_id)
    if subnet is None:
        return Refresh(Status.GONE)
    return state_of(subnet)


def state_of(item: dict) -> Refresh:
    return Refresh(Status.READY if item["State"] == "available" else Status.PENDING, item["State"])


def observe_subnet(subnet: dict) -> Observed:
    attrs = {
        "vpc_id": subnet["VpcId"],
        "cidr_block": subnet["CidrBlock"],
        "availability_zone": subnet["AvailabilityZone"],
    }
    return Observed(subnet["SubnetId"], attrs, tag_dict(subnet.get("Tags")), subnet)


class Subnet(Ec2Handler):
    kind = "subnet"
    resource_type = "subnet"
    describe, items_key, ids_param, not_found = "describe_subnets", "Subnets", "SubnetIds", NOT_FOUND
    id_key = "SubnetId"
    expected_seconds = 1
    poll_ceiling = 2
    replace_fields = frozenset({"vpc_id", "cidr_block", "availability_zone"})

    def observe(self, item):
        return observe_subnet(item)

    def listing_filters(self, spec):
        return in_vpc_filters(self, spec)

    def create(self, spec, token):
        # CreateSubnet has no idempotency token: find-by-tags before create prevents duplicates.
        subnet = self.client.create_subnet(
            VpcId=spec["vpc_id"],
            CidrBlock=spec["cidr_block"],
            AvailabilityZone=spec["availability_zone"],
            TagSpecifications=self.tag_specifications(spec),
        )
        return subnet["Subnet"]["SubnetId"]

    def delete(self, obs, spec=None):
        # DependencyViolation until every ENI in the subnet (NAT, RDS, Redis, EFS, tasks) is gone.
        DEPENDENCIES_DRAIN.call(self.clock, ignore_codes, {NOT_FOUND}, self.client.delete_subnet, SubnetId=obs.id)

    def status(self, raw):
        return state_of(raw)

    def refresh(self, resource_id):
        return subnet_status(self.client, resource_id)

    def outputs(self, obs):
        return {"id": obs.id, "availability_zone": obs.attrs["availability_zone"]}

"""Subnets: public, private (egress through NAT) and isolated, one of each per AZ."""
from __future__ import annotations

from resources.base import Change, Field, Observed, Refresh, Status, tag_dict
from resources.aws.consistency import DEPENDENCIES_DRAIN
from resources.network.ec2 import Ec2Handler, ec2_grants, in_vpc_filters

NOT_FOUND = "InvalidSubnetID.NotFound"


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
    iam = ec2_grants("subnet", ("ec2:DescribeSubnets",), creates=("ec2:CreateSubnet",), parents=("vpc",),
                     changes=("ec2:DeleteSubnet",))
    describe_call, items_key, ids_param, not_found = "describe_subnets", "Subnets", "SubnetIds", frozenset({NOT_FOUND})
    id_key = "SubnetId"
    expected_seconds = 1
    poll_ceiling = 2
    fields = {
        "vpc_id": Field(str, Change.REPLACE, why="a subnet never leaves its VPC"),
        "cidr_block": Field(str, Change.REPLACE, why="a subnet's CIDR block is fixed"),
        "availability_zone": Field(str, Change.REPLACE, why="a subnet lives in one AZ"),
    }

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
        DEPENDENCIES_DRAIN.call(self.clock, self.client.delete_subnet, SubnetId=obs.id)

    def status(self, raw):
        return state_of(raw)

    def outputs(self, obs):
        return {"id": obs.id, "availability_zone": obs.attrs["availability_zone"]}

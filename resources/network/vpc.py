"""VPC with DNS support and DNS hostnames on (both needed for EFS and interface endpoints)."""
from __future__ import annotations

from resources.base import Change, Field, Observed, Refresh, Status, tag_dict
from resources.aws.consistency import DEPENDENCIES_DRAIN, EC2_NEW_RESOURCE
from resources.aws.permissions import reads
from resources.aws.together import together
from resources.network.ec2 import Ec2Handler, ec2_arn, ec2_grants

NOT_FOUND = "InvalidVpcID.NotFound"


def state_of(item: dict) -> Refresh:
    return Refresh(Status.READY if item["State"] == "available" else Status.PENDING, item["State"])


class Vpc(Ec2Handler):
    kind = "vpc"
    resource_type = "vpc"
    iam = ec2_grants("vpc", ("ec2:DescribeVpcs",), creates=("ec2:CreateVpc",),
                     changes=("ec2:ModifyVpcAttribute", "ec2:DeleteVpc")) + (
        reads("ec2:DescribeVpcAttribute", arns=(ec2_arn("vpc"),)),)
    describe_call, items_key, ids_param, not_found = "describe_vpcs", "Vpcs", "VpcIds", frozenset({NOT_FOUND})
    id_key = "VpcId"
    expected_seconds = 5
    poll_ceiling = 2
    fields = {
        # A VPC's primary CIDR is fixed; everything in it (subnets, data services) goes with it.
        "cidr_block": Field(str, Change.REPLACE, why="a VPC's primary CIDR block is fixed"),
        "enable_dns_support": Field(bool),
        "enable_dns_hostnames": Field(bool),
    }

    def observe(self, vpc: dict) -> Observed:
        # DescribeVpcAttribute answers one attribute a call: both at once.
        fields = (("enable_dns_support", "enableDnsSupport"), ("enable_dns_hostnames", "enableDnsHostnames"))
        answers = together(*(
            lambda attribute=attribute: self.client.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)
            for _, attribute in fields))
        attrs = {"cidr_block": vpc["CidrBlock"]}
        for (field, attribute), answer in zip(fields, answers):
            attrs[field] = answer[attribute[0].upper() + attribute[1:]]["Value"]
        return Observed(vpc["VpcId"], attrs, tag_dict(vpc.get("Tags")), vpc)

    def create(self, spec, token):
        # CreateVpc has no idempotency token (docs/aws-behaviours.md A-1): the reconciler's find-by-tags
        # before create is what keeps a retried run from making a second VPC.
        vpc = self.client.create_vpc(CidrBlock=spec["cidr_block"], TagSpecifications=self.tag_specifications(spec))
        return vpc["Vpc"]["VpcId"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field in ("enable_dns_support", "enable_dns_hostnames"):
                # One attribute per ModifyVpcAttribute call is an API rule.
                name = "EnableDnsSupport" if d.field == "enable_dns_support" else "EnableDnsHostnames"
                EC2_NEW_RESOURCE.call(
                    self.clock, self.client.modify_vpc_attribute, VpcId=obs.id, **{name: {"Value": d.expected}}
                )
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        # DependencyViolation while ENIs of RDS, Redis, EFS or Fargate tasks still drain.
        DEPENDENCIES_DRAIN.call(self.clock, self.client.delete_vpc, VpcId=obs.id)

    def status(self, raw):
        return state_of(raw)

    def outputs(self, obs):
        return {"id": obs.id, "cidr_block": obs.attrs["cidr_block"]}


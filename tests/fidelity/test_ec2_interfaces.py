"""The network interfaces AWS creates for a NAT gateway and an EFS mount target name their owner
and are requester-managed (sandbox/fidelity/ec2_interfaces.py); moto leaves them blank."""
from __future__ import annotations

import boto3

REGION = "us-east-1"


def test_nat_gateway_and_mount_target_interfaces_name_their_owner(moto_aws):
    ec2, efs = boto3.client("ec2", region_name=REGION), boto3.client("efs", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    fs = efs.create_file_system(CreationToken="fs")["FileSystemId"]
    target = efs.create_mount_target(FileSystemId=fs, SubnetId=subnet)["MountTargetId"]
    interfaces = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
    by_description = {i["Description"]: i for i in interfaces}
    assert set(by_description) == {f"Interface for NAT Gateway {nat}", f"EFS mount target for {fs} ({target})"}
    assert all(i["RequesterManaged"] for i in interfaces)
    assert by_description[f"Interface for NAT Gateway {nat}"]["InterfaceType"] == "nat_gateway"
    # One the user creates stays as moto (and AWS) make it.
    mine = ec2.create_network_interface(SubnetId=subnet, Description="mine")["NetworkInterface"]
    assert mine["RequesterManaged"] is False and mine["Description"] == "mine"

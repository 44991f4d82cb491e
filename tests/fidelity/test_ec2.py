"""The fidelity patches for security group rules and for concurrent calls."""
from __future__ import annotations

import threading

from moto.core.responses import BaseResponse

from sandbox.fidelity import serial


def test_a_rule_whose_source_is_a_group_reports_its_description(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    source = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    target = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=target, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": source, "Description": "from tasks"}]}])
    [rule] = [r for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [target]}])["SecurityGroupRules"]
              if not r["IsEgress"]]
    assert rule["Description"] == "from tasks"
    ec2.modify_security_group_rules(GroupId=target, SecurityGroupRules=[{"SecurityGroupRuleId": rule["SecurityGroupRuleId"], "SecurityGroupRule": {
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "ReferencedGroupId": source, "Description": "changed"}}])
    [rule] = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])["SecurityGroupRules"]
    assert rule["Description"] == "changed"


def test_each_call_runs_alone(ec2, monkeypatch):
    seen = []
    original = BaseResponse.call_action

    def spy(self):
        seen.append(serial._LOCK._is_owned())
        return original(self)

    monkeypatch.setattr(BaseResponse, "call_action", spy)
    thread = threading.Thread(target=ec2.describe_vpcs)
    thread.start()
    thread.join()
    ec2.describe_vpcs()
    assert seen == [True, True]


def test_a_deleted_nat_gateway_lets_go_of_its_address_which_a_new_one_can_take(ec2):
    """docs/aws-behaviours.md A-5: deleting a NAT gateway disassociates its Elastic IP (not released)."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    first = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    assert ec2.describe_addresses(AllocationIds=[eip])["Addresses"][0].get("AssociationId")
    ec2.delete_nat_gateway(NatGatewayId=first)
    [address] = ec2.describe_addresses(AllocationIds=[eip])["Addresses"]
    assert "AssociationId" not in address and address["AllocationId"] == eip  # still allocated
    second = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    assert second["NatGatewayAddresses"][0]["AllocationId"] == eip

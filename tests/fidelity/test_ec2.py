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

import boto3
import pytest
from botocore.exceptions import ClientError


def network(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    return vpc, subnets


def test_create_load_balancer_repeated_with_the_same_settings_answers_the_same_one(moto_aws):
    ec2, elb = boto3.client("ec2", region_name="us-east-1"), boto3.client("elbv2", region_name="us-east-1")
    _, subnets = network(ec2)
    args = {"Name": "api-nlb-dev", "Type": "network", "Scheme": "internal", "Subnets": subnets}
    first = elb.create_load_balancer(**args)["LoadBalancers"][0]["LoadBalancerArn"]
    again = elb.create_load_balancer(**args)["LoadBalancers"][0]["LoadBalancerArn"]
    assert again == first
    assert len(elb.describe_load_balancers()["LoadBalancers"]) == 1
    with pytest.raises(ClientError, match="DuplicateLoadBalancerName"):
        elb.create_load_balancer(**{**args, "Subnets": subnets[:1]})


def test_create_target_group_repeated_with_the_same_settings_answers_the_same_one(moto_aws):
    ec2, elb = boto3.client("ec2", region_name="us-east-1"), boto3.client("elbv2", region_name="us-east-1")
    vpc, _ = network(ec2)
    args = {"Name": "api-tg-dev", "Protocol": "TCP", "Port": 8080, "VpcId": vpc, "TargetType": "ip"}
    first = elb.create_target_group(**args)["TargetGroups"][0]["TargetGroupArn"]
    assert elb.create_target_group(**args)["TargetGroups"][0]["TargetGroupArn"] == first
    with pytest.raises(ClientError, match="DuplicateTargetGroupName"):
        elb.create_target_group(**{**args, "Port": 9090})


def test_create_listener_repeated_with_the_same_settings_answers_the_same_one(moto_aws):
    ec2, elb = boto3.client("ec2", region_name="us-east-1"), boto3.client("elbv2", region_name="us-east-1")
    vpc, subnets = network(ec2)
    lb = elb.create_load_balancer(Name="api-nlb-dev", Type="network", Scheme="internal", Subnets=subnets)["LoadBalancers"][0]
    tg = elb.create_target_group(Name="api-tg-dev", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0]
    args = {"LoadBalancerArn": lb["LoadBalancerArn"], "Port": 80, "Protocol": "TCP",
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]}
    first = elb.create_listener(**args)["Listeners"][0]["ListenerArn"]
    assert elb.create_listener(**args)["Listeners"][0]["ListenerArn"] == first
    assert len(elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]) == 1
    with pytest.raises(ClientError, match="DuplicateListener"):
        elb.create_listener(**{**args, "Protocol": "UDP"})

"""A sub-call retried by botocore after its answer was lost: AWS answers the retry "already
exists / associated" (the first attempt landed). Each handler reads the wanted state back and
carries on; an error that does not mean that is raised as it came. moto accepts duplicates
(docs/aws-behaviours.md A-4, A-8), so these run against a botocore Stubber."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from resources.aws import done_if_landed
from resources.base import FieldDiff, Observed
from resources.aws.clock import FakeClock
from resources.network.internet_gateway import InternetGateway
from resources.network.route_table import RouteTable
from resources.network.security_group import SecurityGroup
from tests.support.stubs import stubbed_aws

RT, SUBNET, IGW, VPC, SG = "rtb-0a", "subnet-0a", "igw-0a", "vpc-0a", "sg-0a"


@pytest.fixture
def stubbed():
    yield from stubbed_aws("ec2")


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Op")


def test_done_if_landed_only_forgives_the_named_code_when_the_state_is_there():
    def refuse(code):
        raise error(code)

    assert done_if_landed({"Dup"}, lambda: True, refuse, "Dup") is None
    with pytest.raises(ClientError):
        done_if_landed({"Dup"}, lambda: False, refuse, "Dup")  # not there: a real conflict
    with pytest.raises(ClientError):
        done_if_landed({"Dup"}, lambda: True, refuse, "Other")
    assert done_if_landed({"Dup"}, lambda: False, lambda: "answer") == "answer"


def test_a_route_already_made_by_a_lost_attempt_is_set_by_replace(stubbed):
    aws, stub = stubbed
    nat = {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0a", "RouteTableId": RT}
    stub.add_client_error("create_route", "RouteAlreadyExists", expected_params=nat)
    stub.add_response("replace_route", {}, nat)
    handler = RouteTable(aws, env="dev", clock=FakeClock().as_clock())
    obs = Observed(RT, {"routes": []}, {}, {"Associations": []})
    handler.update_fields({}, obs, [FieldDiff("routes", [{"destination": "0.0.0.0/0", "target": "nat-0a"}], [])])


def test_an_association_made_by_a_lost_attempt_counts_as_done(stubbed):
    aws, stub = stubbed
    by_subnet = {"Filters": [{"Name": "association.subnet-id", "Values": [SUBNET]}]}
    stub.add_response("describe_route_tables", {"RouteTables": []}, by_subnet)  # held by nobody yet
    stub.add_client_error("associate_route_table", "Resource.AlreadyAssociated",
                          expected_params={"RouteTableId": RT, "SubnetId": SUBNET})
    stub.add_response("describe_route_tables", {"RouteTables": [{"RouteTableId": RT}]}, by_subnet)
    handler = RouteTable(aws, env="dev", clock=FakeClock().as_clock())
    obs = Observed(RT, {"subnet_ids": []}, {}, {"Associations": []})
    handler.update_fields({}, obs, [FieldDiff("subnet_ids", [SUBNET], [])])


def test_an_association_held_by_another_table_is_not_forgiven(stubbed):
    aws, stub = stubbed
    by_subnet = {"Filters": [{"Name": "association.subnet-id", "Values": [SUBNET]}]}
    stub.add_response("describe_route_tables", {"RouteTables": []}, by_subnet)
    stub.add_client_error("associate_route_table", "Resource.AlreadyAssociated")
    stub.add_response("describe_route_tables", {"RouteTables": [{"RouteTableId": "rtb-other"}]}, by_subnet)
    handler = RouteTable(aws, env="dev", clock=FakeClock().as_clock())
    obs = Observed(RT, {"subnet_ids": []}, {}, {"Associations": []})
    with pytest.raises(ClientError, match="AlreadyAssociated"):
        handler.update_fields({}, obs, [FieldDiff("subnet_ids", [SUBNET], [])])


@pytest.mark.parametrize("attached_to, forgiven", [(VPC, True), ("vpc-other", False)])
def test_a_gateway_attached_by_a_lost_attempt(stubbed, attached_to, forgiven):
    aws, stub = stubbed
    stub.add_client_error("attach_internet_gateway", "Resource.AlreadyAssociated",
                          expected_params={"InternetGatewayId": IGW, "VpcId": VPC})
    stub.add_response("describe_internet_gateways", {"InternetGateways": [
        {"InternetGatewayId": IGW, "Attachments": [{"VpcId": attached_to, "State": "available"}], "Tags": []}]},
        {"InternetGatewayIds": [IGW]})
    handler = InternetGateway(aws, env="dev", clock=FakeClock().as_clock())
    obs = Observed(IGW, {"vpc_id": None}, {}, {})
    diffs = [FieldDiff("vpc_id", VPC, None)]
    if forgiven:
        handler.update_fields({}, obs, diffs)
    else:
        with pytest.raises(ClientError, match="AlreadyAssociated"):
            handler.update_fields({}, obs, diffs)


def test_rules_authorized_by_a_lost_attempt_count_as_done(stubbed):
    aws, stub = stubbed
    rule = {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source": "sg-ecs", "description": "PostgreSQL"}
    stub.add_client_error("authorize_security_group_ingress", "InvalidPermission.Duplicate")
    stub.add_response("describe_security_group_rules", {"SecurityGroupRules": [{
        "SecurityGroupRuleId": "sgr-1", "GroupId": SG, "IsEgress": False, "IpProtocol": "tcp", "FromPort": 5432,
        "ToPort": 5432, "ReferencedGroupInfo": {"GroupId": "sg-ecs"}, "Description": "PostgreSQL"}]},
        {"Filters": [{"Name": "group-id", "Values": [SG]}]})
    handler = SecurityGroup(aws, env="dev", clock=FakeClock().as_clock())
    obs = Observed(SG, {"ingress": []}, {}, {"SecurityGroupRules": []})
    handler.update_fields({}, obs, [FieldDiff("ingress", [rule], [])])

"""ELBv2 handlers on moto: the internal NLB and its target group, read back with the test's own client.

The vpc and the private subnets come from converging the network nodes; nlb-sg is made here
with the test's own ec2 client and replaces the Ref to sg.nlb. Provisioning, failed load
balancers, target groups still in use and the PrivateLink setting (moto neither reports nor
stores it) run against a Stubber on the handler's own client, with a FakeClock; a failed load
balancer is set in moto's backend, and the engine's failed policy is what the run shows.
"""
from __future__ import annotations

import dataclasses

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.elbv2.models import elbv2_backends

from orchestrator.config import EnvConfig
from orchestrator.run import reconcile_stack
from orchestrator.stack.compute import load_balancer_nodes
from orchestrator.stack.network import network_nodes
from orchestrator.waiting import wait_for
from resources.base import Observed, ResourceError, Status
from resources.aws.clock import FakeClock
from resources.compute.elbv2 import ENFORCE_PRIVATE_LINK, LoadBalancer, TargetGroup
from tests.conftest import REGION
from tests.resources.network import changed_fields, ownership, recorded_id, recorded_ids, tags
from tests.support.stubs import stubbed_aws
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy
from orchestrator import lifecycle

AZS = ["us-east-1a", "us-east-1b"]
ELB_KEYS = ("elb.target_group", "elb.nlb")
NLB, TG = "api-nlb-dev", "api-tg-dev"


@pytest.fixture
def elbv2(moto_aws):
    return boto3.client("elbv2", region_name=REGION)


def network():
    return [n for n in network_nodes("dev", EnvConfig(), AZS) if n.key in ("vpc", "subnet.private.1", "subnet.private.2")]


def elb_nodes(sg_id: str):
    """The stack's load balancer nodes, with the Ref to sg.nlb replaced by a group made by the test."""
    return [
        dataclasses.replace(n, spec={**n.spec, "security_group_ids": [sg_id]}) if n.key == "elb.nlb" else n
        for n in load_balancer_nodes("dev", EnvConfig(), len(AZS))
    ]


@dataclasses.dataclass
class Env:
    state: MemoryState
    nodes: list
    sg_id: str
    vpc_id: str

    def subnets(self) -> list[str]:
        return sorted(recorded_id(self.state, f"subnet.private.{i}") for i in (1, 2))


def security_group(ec2, vpc_id: str, name: str) -> str:
    return ec2.create_security_group(VpcId=vpc_id, GroupName=name, Description=name)["GroupId"]


@pytest.fixture
def env(aws, ec2, clock) -> Env:
    """vpc and private subnets converged, nlb-sg made by hand; the load balancer nodes not yet."""
    state = MemoryState()
    converge(aws, state, nodes=network(), clock=clock)
    vpc_id = recorded_id(state, "vpc")
    sg_id = security_group(ec2, vpc_id, "nlb-sg-dev")
    return Env(state, network() + elb_nodes(sg_id), sg_id, vpc_id)


@pytest.fixture
def built(aws, clock, env) -> Env:
    converge(aws, env.state, nodes=env.nodes, clock=clock)
    return env


def our_load_balancer(elbv2) -> dict:
    [lb] = elbv2.describe_load_balancers(Names=[NLB])["LoadBalancers"]
    return lb


def our_target_group(elbv2) -> dict:
    [tg] = elbv2.describe_target_groups(Names=[TG])["TargetGroups"]
    return tg


def tags_of(elbv2, arn: str) -> dict[str, str]:
    [description] = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return tags(description)


def listeners(elbv2, lb_arn: str) -> list[dict]:
    return elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]


def elb_actions(run) -> dict[str, str]:
    return {k: a for k, a in actions(run).items() if k in ELB_KEYS}


# -- the standard case list ------------------------------------------------------------------

def test_create_internal_nlb_in_the_private_subnets_forwarding_to_its_target_group_then_second_run_changes_nothing(
    aws, ec2, elbv2, clock, env
):
    run = converge(aws, env.state, nodes=env.nodes, clock=clock)
    assert elb_actions(run) == dict.fromkeys(ELB_KEYS, "create")

    lb, tg = our_load_balancer(elbv2), our_target_group(elbv2)
    assert lb["Scheme"] == "internal" and lb["Type"] == "network"
    assert lb["VpcId"] == env.vpc_id
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == env.subnets()
    assert sorted(z["ZoneName"] for z in lb["AvailabilityZones"]) == AZS
    subnets = ec2.describe_subnets(SubnetIds=env.subnets())["Subnets"]
    assert all(not s["MapPublicIpOnLaunch"] for s in subnets)
    assert lb["SecurityGroups"] == [env.sg_id]
    assert tags_of(elbv2, lb["LoadBalancerArn"]) == ownership(NLB)

    [listener] = listeners(elbv2, lb["LoadBalancerArn"])
    assert (listener["Port"], listener["Protocol"]) == (80, "TCP")
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]

    assert (tg["Protocol"], tg["Port"], tg["TargetType"], tg["VpcId"]) == ("TCP", 80, "ip", env.vpc_id)
    assert (tg["HealthCheckProtocol"], tg["HealthCheckIntervalSeconds"], tg["HealthyThresholdCount"],
            tg["UnhealthyThresholdCount"]) == ("TCP", 30, 3, 3)
    assert tags_of(elbv2, tg["TargetGroupArn"]) == ownership(TG)

    assert recorded_ids(env.state, ELB_KEYS) == {"elb.target_group": tg["TargetGroupArn"], "elb.nlb": lb["LoadBalancerArn"]}
    assert env.state.doc.resource("elb.nlb")["outputs"] == {
        "id": lb["LoadBalancerArn"], "arn": lb["LoadBalancerArn"], "dns_name": lb["DNSName"], "name": NLB}
    assert env.state.doc.resource("elb.target_group")["outputs"]["name"] == TG

    before = aws.calls.mutating
    again = converge(aws, env.state, nodes=env.nodes, clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_listener_deleted_by_hand_is_recreated(aws, elbv2, clock, built):
    lb_arn = recorded_id(built.state, "elb.nlb")
    [listener] = listeners(elbv2, lb_arn)
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])

    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    assert changed_fields(plan) == {"elb.nlb": {"listeners"}}
    converge(aws, built.state, nodes=built.nodes, clock=clock)
    [again] = listeners(elbv2, lb_arn)
    assert (again["Port"], again["Protocol"]) == (80, "TCP")
    assert again["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": recorded_id(built.state, "elb.target_group")}]


def test_listener_pointed_elsewhere_and_an_extra_listener_are_put_right(aws, elbv2, clock, built):
    lb_arn = recorded_id(built.state, "elb.nlb")
    other = elbv2.create_target_group(Name="someone-elses-tg", Protocol="TCP", Port=8080, VpcId=built.vpc_id,
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    [listener] = listeners(elbv2, lb_arn)
    elbv2.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=[{"Type": "forward", "TargetGroupArn": other}])
    elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="TCP", Port=8080,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": other}])

    converge(aws, built.state, nodes=built.nodes, clock=clock)
    [kept] = listeners(elbv2, lb_arn)
    assert kept["ListenerArn"] == listener["ListenerArn"]  # modified in place, not re-created
    assert kept["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": recorded_id(built.state, "elb.target_group")}]


def test_health_check_changed_by_hand_is_restored(aws, elbv2, clock, built):
    tg_arn = recorded_id(built.state, "elb.target_group")
    elbv2.modify_target_group(TargetGroupArn=tg_arn, HealthCheckIntervalSeconds=10, HealthyThresholdCount=5)

    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    assert changed_fields(plan) == {"elb.target_group": {"health_check"}}
    converge(aws, built.state, nodes=built.nodes, clock=clock)
    tg = our_target_group(elbv2)
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (30, 3, 3)


def test_security_groups_and_a_tag_changed_by_hand_are_restored(aws, ec2, elbv2, clock, built):
    lb_arn = recorded_id(built.state, "elb.nlb")
    other = security_group(ec2, built.vpc_id, "someone-elses-sg")
    elbv2.set_security_groups(LoadBalancerArn=lb_arn, SecurityGroups=[other])
    elbv2.remove_tags(ResourceArns=[lb_arn], TagKeys=["Environment"])

    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    assert changed_fields(plan) == {"elb.nlb": {"security_group_ids", "tags.Environment"}}
    converge(aws, built.state, nodes=built.nodes, clock=clock)
    lb = our_load_balancer(elbv2)
    assert lb["SecurityGroups"] == [built.sg_id]
    assert tags_of(elbv2, lb_arn) == ownership(NLB)


def test_load_balancer_deleted_behind_our_back_is_recreated_with_its_listener(aws, elbv2, clock, built):
    old = recorded_id(built.state, "elb.nlb")
    elbv2.delete_load_balancer(LoadBalancerArn=old)

    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert elb_actions(run) == {"elb.target_group": "unchanged", "elb.nlb": "create"}
    lb = our_load_balancer(elbv2)
    assert lb["LoadBalancerArn"] != old and recorded_id(built.state, "elb.nlb") == lb["LoadBalancerArn"]
    [listener] = listeners(elbv2, lb["LoadBalancerArn"])
    assert listener["DefaultActions"][0]["TargetGroupArn"] == recorded_id(built.state, "elb.target_group")


def test_teardown_without_state_finds_both_by_name_and_tags(aws, elbv2, clock, built):
    built.state.lose()
    run = destroy(aws, built.state, nodes=built.nodes, clock=clock)
    assert elb_actions(run) == dict.fromkeys(ELB_KEYS, "delete")
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []


def test_a_target_group_of_our_name_without_our_tags_is_not_adopted(aws, elbv2, clock, env):
    foreign = elbv2.create_target_group(Name=TG, Protocol="TCP", Port=80, VpcId=env.vpc_id, TargetType="ip",
                                        Tags=[{"Key": "Name", "Value": TG}])["TargetGroups"][0]["TargetGroupArn"]
    run = reconcile_stack(aws, env="dev", doc=env.state.doc, save=env.state.save, clock=clock.as_clock(), nodes=env.nodes)
    failure = run.failures["elb.target_group"]
    assert TG in failure.reason and "tags" in failure.reason
    assert "elb.nlb" in run.failures  # never attempted: its target group failed
    assert [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]] == [foreign]
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []


# -- AWS behaviour moto cannot show (Stubber, FakeClock) ---------------------------------------

ACCOUNT = "123456789012"
LB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/net/{NLB}/0123456789abcdef"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{TG}/0123456789abcdef"
SUBNETS = ["subnet-0a0a0a0a0a0a0a0a0", "subnet-0b0b0b0b0b0b0b0b0"]
SG = "sg-0a0a0a0a0a0a0a0a0"


@pytest.fixture
def stubbed():
    yield from stubbed_aws("elbv2")


def lb_answer(code: str, **extra) -> dict:
    return {
        "LoadBalancerArn": LB_ARN, "LoadBalancerName": NLB, "DNSName": f"{NLB}-0123.elb.{REGION}.amazonaws.com",
        "Scheme": "internal", "Type": "network", "VpcId": "vpc-0a", "State": {"Code": code},
        "AvailabilityZones": [{"ZoneName": az, "SubnetId": s} for az, s in zip(AZS, SUBNETS)],
        "SecurityGroups": [SG], **extra,
    }


def lb_spec(handler: LoadBalancer, groups=(SG,)) -> dict:
    node = next(n for n in load_balancer_nodes("dev", EnvConfig(), len(AZS)) if n.key == "elb.nlb")
    spec = {**node.spec, "subnet_ids": SUBNETS, "security_group_ids": list(groups),
            "listeners": [{"port": 80, "protocol": "TCP", "target_group_arn": TG_ARN}]}
    return handler.desired(spec)


def observed(spec: dict, raw: dict) -> Observed:
    """The load balancer exactly as desired, but for what ``raw`` says."""
    attrs = {k: spec[k] for k in ("scheme", "type", "subnet_ids", "security_group_ids", "listeners", "cross_zone", "deletion_protection")}
    return Observed(LB_ARN, attrs, dict(spec["tags"]), raw)


def wait_lb(handler: LoadBalancer, fake: FakeClock):
    return wait_for(lambda: handler.refresh(LB_ARN), Status.READY, what=f"nlb ({LB_ARN})",
                    timeout=LoadBalancer.create_timeout, ceiling=LoadBalancer.poll_ceiling, clock=fake.as_clock())


def test_nlb_provisioning_then_active_is_ready(stubbed, fake):
    aws, stubber = stubbed
    for code in ("provisioning", "provisioning", "active"):
        stubber.add_response("describe_load_balancers", {"LoadBalancers": [lb_answer(code)]}, {"LoadBalancerArns": [LB_ARN]})
    assert wait_lb(LoadBalancer(aws, env="dev", clock=fake.as_clock()), fake).status is Status.READY
    assert fake.sleeps == [1.0, 1.5]


def test_nlb_failed_stops_the_wait_with_aws_reason(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_response("describe_load_balancers", {"LoadBalancers": [lb_answer("provisioning")]},
                         {"LoadBalancerArns": [LB_ARN]})
    stubber.add_response("describe_load_balancers",
                         {"LoadBalancers": [lb_answer("failed", State={"Code": "failed", "Reason": "Insufficient IPs"})]},
                         {"LoadBalancerArns": [LB_ARN]})
    with pytest.raises(ResourceError) as caught:
        wait_lb(LoadBalancer(aws, env="dev", clock=fake.as_clock()), fake)
    assert "Insufficient IPs" in str(caught.value)
    assert fake.sleeps == [1.0]


def test_nlb_gone_once_not_found(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_client_error("describe_load_balancers", "LoadBalancerNotFound", expected_params={"LoadBalancerArns": [LB_ARN]})
    assert LoadBalancer(aws, env="dev", clock=fake.as_clock()).refresh(LB_ARN).status is Status.GONE


def test_failed_nlb_is_deleted_and_made_again_with_its_listener(aws, elbv2, clock, built):
    # It never finished provisioning and holds nothing the spec does not make again: the
    # engine's on_failed "replace". The name is unique, so the new one can only follow the delete.
    old = recorded_id(built.state, "elb.nlb")
    elbv2_backends[DEFAULT_ACCOUNT_ID][REGION].load_balancers[old].state = "failed"

    plan = converge(aws, built.state, nodes=built.nodes, clock=clock, plan=True)
    [result] = [r for r in plan.results if r.key == "elb.nlb"]
    assert result.action == "replace" and result.refusal is None
    assert [(d.field, d.change.name) for d in result.changes] == [("status", "REPLACE")]

    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert elb_actions(run) == {"elb.target_group": "unchanged", "elb.nlb": "replace"}
    lb = our_load_balancer(elbv2)
    assert lb["LoadBalancerArn"] != old and lb["State"]["Code"] == "active"
    assert recorded_id(built.state, "elb.nlb") == lb["LoadBalancerArn"]
    assert [b["LoadBalancerArn"] for b in elbv2.describe_load_balancers()["LoadBalancers"]] == [lb["LoadBalancerArn"]]
    [listener] = listeners(elbv2, lb["LoadBalancerArn"])
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": recorded_id(built.state, "elb.target_group")}]


def test_failed_nlb_of_ours_found_by_name_after_state_loss_is_replaced_not_called_someone_elses(
    aws, elbv2, clock, built
):
    old = recorded_id(built.state, "elb.nlb")
    elbv2_backends[DEFAULT_ACCOUNT_ID][REGION].load_balancers[old].state = "failed"
    built.state.lose()
    run = converge(aws, built.state, nodes=built.nodes, clock=clock)
    assert elb_actions(run)["elb.nlb"] == "replace"
    assert our_load_balancer(elbv2)["LoadBalancerArn"] != old


def test_nlb_made_without_security_groups_must_be_replaced_to_get_some(aws, fake):
    handler = LoadBalancer(aws, env="dev", clock=fake.as_clock())
    spec = lb_spec(handler)
    obs = observed(spec, lb_answer("active", SecurityGroups=[]))
    obs.attrs["security_group_ids"] = []
    [diff] = lifecycle.diff(handler, spec, obs)
    assert (diff.field, diff.expected, diff.actual, diff.replace) == ("security_group_ids", [SG], [], True)


def test_inbound_rules_enforced_on_privatelink_traffic_are_switched_off(stubbed, fake):
    # With the rules enforced, API Gateway's VPC link traffic is judged by its own addresses,
    # outside the VPC CIDR nlb-sg admits. AWS reports "on" for a new NLB with groups.
    aws, stubber = stubbed
    handler = LoadBalancer(aws, env="dev", clock=fake.as_clock())
    spec = lb_spec(handler)
    obs = observed(spec, lb_answer("active", **{ENFORCE_PRIVATE_LINK: "on"}))
    diffs = lifecycle.diff(handler, spec, obs)
    assert [(d.field, d.expected, d.actual) for d in diffs] == [("private_link_inbound_rules", "off", "on")]
    stubber.add_response(
        "set_security_groups", {"SecurityGroupIds": [SG], ENFORCE_PRIVATE_LINK: "off"},
        {"LoadBalancerArn": LB_ARN, "SecurityGroups": [SG], ENFORCE_PRIVATE_LINK: "off"},
    )
    lifecycle.update(handler, spec, obs, diffs)
    assert lifecycle.diff(handler, spec, observed(spec, lb_answer("active", **{ENFORCE_PRIVATE_LINK: "off"}))) == []


def test_target_group_still_in_use_is_retried_on_delete(stubbed, fake):
    aws, stubber = stubbed
    for _ in range(2):
        stubber.add_client_error("delete_target_group", "ResourceInUse", expected_params={"TargetGroupArn": TG_ARN})
    stubber.add_response("delete_target_group", {}, {"TargetGroupArn": TG_ARN})
    TargetGroup(aws, env="dev", clock=fake.as_clock()).delete(Observed(TG_ARN, {}, {}))
    assert fake.sleeps == [2.0, 4.0]


def test_target_group_already_gone_counts_as_deleted(stubbed, fake):
    aws, stubber = stubbed
    stubber.add_client_error("delete_target_group", "TargetGroupNotFound", expected_params={"TargetGroupArn": TG_ARN})
    # The engine's remove: TargetGroupNotFound is the kind's not-found, so the delete is done.
    lifecycle.remove(TargetGroup(aws, env="dev", clock=fake.as_clock()), Observed(TG_ARN, {}, {}))
    assert fake.sleeps == []

"""Security group handler on moto: groups and their rules, read back with the test's own client.

The VPC node is converged with the groups; rules are read back through DescribeSecurityGroups
(IpPermissions), a different view from the DescribeSecurityGroupRules the handler reads.
"""
from __future__ import annotations

import dataclasses

import pytest
from botocore.stub import Stubber

from orchestrator.config import EnvConfig
from orchestrator.run import reconcile_stack
from orchestrator.stack.network import network_nodes
from orchestrator.stack.security import security_group_nodes
from orchestrator.spec import has_unknown, resolve
from resources.base import Observed, spec_problems
from resources.network.security_group import SecurityGroup
from tests.resources.network import AZS, changed_fields, owned_vpc, ownership, recorded_id, recorded_ids, tags
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy

GROUPS = {"sg.nlb": "nlb-sg-dev", "sg.ecs": "ecs-sg-dev", "sg.rds": "rds-sg-dev", "sg.redis": "redis-sg-dev", "sg.efs": "efs-sg-dev"}
DATA_PORTS = {"sg.rds": 5432, "sg.redis": 6379, "sg.efs": 2049}
VPC_CIDR = "10.0.0.0/16"


def sg_nodes(nodes=None):
    vpc = [n for n in network_nodes("dev", EnvConfig(), AZS) if n.key == "vpc"]
    return vpc + (nodes or security_group_nodes("dev", EnvConfig()))


def converged(aws, clock):
    state = MemoryState()
    converge(aws, state, nodes=sg_nodes(), clock=clock)
    return state


def owned_groups(ec2) -> dict[str, dict]:
    found = ec2.describe_security_groups(Filters=[{"Name": "tag:ManagedBy", "Values": ["video-pipeline-infra"]}])
    return {tags(g)["Name"]: g for g in found["SecurityGroups"]}


def group(ec2, group_id: str) -> dict:
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def rules(ec2, group_id: str, direction: str) -> set[tuple]:
    """(protocol, from, to, source, description) for every rule of one direction."""
    key = "IpPermissionsEgress" if direction == "egress" else "IpPermissions"
    out = set()
    for perm in group(ec2, group_id)[key]:
        ports = (perm.get("FromPort", -1), perm.get("ToPort", -1)) if perm["IpProtocol"] != "-1" else (-1, -1)
        for r in perm.get("IpRanges", []):
            out.add((perm["IpProtocol"], *ports, r["CidrIp"], r.get("Description")))
        for r in perm.get("UserIdGroupPairs", []):
            out.add((perm["IpProtocol"], *ports, r["GroupId"], r.get("Description")))
    return out


def rule_ids(ec2, group_id: str) -> dict[tuple, str]:
    found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]
    return {
        (r["IsEgress"], r["IpProtocol"], r.get("FromPort"), r.get("CidrIpv4") or r["ReferencedGroupInfo"]["GroupId"]): r["SecurityGroupRuleId"]
        for r in found
    }


def test_create_groups_with_least_privilege_rules_then_second_run_changes_nothing(aws, ec2, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=sg_nodes(), clock=clock)
    assert actions(run) == {"vpc": "create", **dict.fromkeys(GROUPS, "create")}
    vpc_id = owned_vpc(ec2)["VpcId"]
    groups = owned_groups(ec2)
    assert set(groups) == set(GROUPS.values())
    ids = {key: groups[name]["GroupId"] for key, name in GROUPS.items()}
    for key, name in GROUPS.items():
        assert groups[name]["GroupName"] == name and groups[name]["VpcId"] == vpc_id
        assert tags(groups[name]) == ownership(name)
        assert recorded_id(state, key) == ids[key]
    assert groups["rds-sg-dev"]["Description"] == "RDS PostgreSQL"

    assert rules(ec2, ids["sg.nlb"], "ingress") == {("tcp", 80, 80, VPC_CIDR, "API Gateway VPC link and VPC clients")}
    assert rules(ec2, ids["sg.nlb"], "egress") == {("tcp", 80, 80, VPC_CIDR, "to the metadata service tasks")}
    assert rules(ec2, ids["sg.ecs"], "ingress") == {("tcp", 80, 80, ids["sg.nlb"], "metadata API from the load balancer")}
    # AWS's default egress rule already matched: only its description was set.
    assert rules(ec2, ids["sg.ecs"], "egress") == {("-1", -1, -1, "0.0.0.0/0", "image pulls and AWS APIs")}
    for key, port in DATA_PORTS.items():
        [(protocol, low, high, source, _)] = rules(ec2, ids[key], "ingress")
        assert (protocol, low, high, source) == ("tcp", port, port, ids["sg.ecs"])
        # The allow-all egress rule AWS adds to every new group was revoked.
        assert rules(ec2, ids[key], "egress") == set()
    assert run.results[-1].outputs == {"id": ids["sg.efs"]}

    before = aws.calls.mutating
    again = converge(aws, state, nodes=sg_nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_nothing_is_open_to_the_internet_and_data_stores_only_admit_the_tasks(aws, ec2, clock):
    state = converged(aws, clock)
    ids = recorded_ids(state, GROUPS)
    for group_id in ids.values():
        assert all(source != "0.0.0.0/0" for *_, source, _ in rules(ec2, group_id, "ingress"))
    sources = {key: {source for *_, source, _ in rules(ec2, ids[key], "ingress")} for key in GROUPS}
    assert sources["sg.ecs"] == {ids["sg.nlb"]}
    assert all(sources[key] == {ids["sg.ecs"]} for key in DATA_PORTS)


def test_rule_added_by_hand_is_revoked(aws, ec2, clock):
    state = converged(aws, clock)
    rds = recorded_id(state, "sg.rds")
    ec2.authorize_security_group_ingress(
        GroupId=rds, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    plan = converge(aws, state, nodes=sg_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"sg.rds": {"ingress"}}
    [change] = [r for r in plan.results if r.key == "sg.rds"][0].changes
    assert {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source": "0.0.0.0/0", "description": ""} in change.actual

    run = converge(aws, state, nodes=sg_nodes(), clock=clock)
    assert actions(run)["sg.rds"] == "update"
    assert rules(ec2, rds, "ingress") == {("tcp", 5432, 5432, recorded_id(state, "sg.ecs"), "PostgreSQL from ECS tasks")}


def test_rule_removed_by_hand_is_restored(aws, ec2, clock):
    state = converged(aws, clock)
    redis, ecs = recorded_id(state, "sg.redis"), recorded_id(state, "sg.ecs")
    ec2.revoke_security_group_ingress(GroupId=redis, SecurityGroupRuleIds=[rule_ids(ec2, redis)[(False, "tcp", 6379, ecs)]])
    assert rules(ec2, redis, "ingress") == set()

    plan = converge(aws, state, nodes=sg_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"sg.redis": {"ingress"}}
    converge(aws, state, nodes=sg_nodes(), clock=clock)
    assert rules(ec2, redis, "ingress") == {("tcp", 6379, 6379, ecs, "Redis from ECS tasks")}
    assert set(actions(converge(aws, state, nodes=sg_nodes(), clock=clock)).values()) == {"unchanged"}


def test_allow_all_egress_put_back_on_a_data_group_is_revoked(aws, ec2, clock):
    state = converged(aws, clock)
    efs = recorded_id(state, "sg.efs")
    ec2.authorize_security_group_egress(GroupId=efs, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    plan = converge(aws, state, nodes=sg_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"sg.efs": {"egress"}}
    converge(aws, state, nodes=sg_nodes(), clock=clock)
    assert rules(ec2, efs, "egress") == set()


def test_description_edited_by_hand_is_put_back_in_place(aws, ec2, clock):
    state = converged(aws, clock)
    nlb = recorded_id(state, "sg.nlb")
    ids_before = rule_ids(ec2, nlb)
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=nlb, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": VPC_CIDR, "Description": "edited"}]}])

    plan = converge(aws, state, nodes=sg_nodes(), plan=True, clock=clock)
    assert changed_fields(plan) == {"sg.nlb": {"ingress"}}
    converge(aws, state, nodes=sg_nodes(), clock=clock)
    assert rules(ec2, nlb, "ingress") == {("tcp", 80, 80, VPC_CIDR, "API Gateway VPC link and VPC clients")}
    # Modified, not revoked and authorized again: the rule was never missing.
    assert rule_ids(ec2, nlb) == ids_before


def test_deleted_behind_our_back_is_recreated_with_its_rules(aws, ec2, clock):
    state = converged(aws, clock)
    old = recorded_id(state, "sg.efs")
    ec2.delete_security_group(GroupId=old)

    run = converge(aws, state, nodes=sg_nodes(), clock=clock)
    assert actions(run)["sg.efs"] == "create"
    assert {a for k, a in actions(run).items() if k != "sg.efs"} == {"unchanged"}
    efs = owned_groups(ec2)["efs-sg-dev"]
    assert efs["GroupId"] != old and recorded_id(state, "sg.efs") == efs["GroupId"]
    assert rules(ec2, efs["GroupId"], "ingress") == {("tcp", 2049, 2049, recorded_id(state, "sg.ecs"), "NFS from ECS tasks")}
    assert rules(ec2, efs["GroupId"], "egress") == set()


def test_referencing_groups_are_deleted_before_the_groups_they_reference(aws, ec2, clock):
    # moto deletes a referenced group anyway (docs/aws-behaviours.md A-9); AWS answers DependencyViolation.
    state = converged(aws, clock)
    ids = recorded_ids(state, GROUPS)
    order = []
    client = aws.client("ec2")
    client.meta.events.register("provide-client-params.ec2.DeleteSecurityGroup", lambda params, **_: order.append(params["GroupId"]))
    destroy(aws, state, nodes=sg_nodes(), clock=clock, parallelism=1)
    position = {group_id: i for i, group_id in enumerate(order)}
    for key in DATA_PORTS:
        assert position[ids[key]] < position[ids["sg.ecs"]]
    assert position[ids["sg.ecs"]] < position[ids["sg.nlb"]]


def test_delete_waits_while_enis_still_hold_the_group(aws, clock):
    handler = SecurityGroup(aws, env="dev", clock=clock.as_clock())
    obs = Observed("sg-0123456789abcdef0", {}, {})
    with Stubber(aws.client("ec2")) as stub:
        for _ in range(2):
            stub.add_client_error("delete_security_group", "DependencyViolation", "resource sg-0123456789abcdef0 has a dependent object")
        stub.add_response("delete_security_group", {}, {"GroupId": obs.id})
        handler.delete(obs)
        stub.assert_no_pending_responses()
    assert len(clock.sleeps) == 2


def test_description_change_in_the_spec_is_a_replacement_and_refused(aws, ec2, clock):
    state = converged(aws, clock)
    nodes = [
        dataclasses.replace(n, spec={**n.spec, "description": "Postgres"}) if n.key == "sg.rds" else n
        for n in security_group_nodes("dev", EnvConfig())
    ]
    plan = converge(aws, state, nodes=sg_nodes(nodes), plan=True, clock=clock)
    [result] = [r for r in plan.results if r.key == "sg.rds"]
    assert result.action == "replace" and [d.field for d in result.changes] == ["description"]
    run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=sg_nodes(nodes))
    assert "cannot change description" in str(run.failures["sg.rds"].reason)
    assert group(ec2, recorded_id(state, "sg.rds"))["Description"] == "RDS PostgreSQL"


def test_a_group_of_the_same_name_without_our_tags_is_not_adopted(aws, ec2, clock):
    state = MemoryState()
    converge(aws, state, nodes=sg_nodes()[:1], clock=clock)
    theirs = ec2.create_security_group(GroupName="efs-sg-dev", Description="someone else's", VpcId=recorded_id(state, "vpc"))["GroupId"]
    run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=sg_nodes())
    assert set(run.failures) == {"sg.efs"}
    assert "efs-sg-dev exists but is not managed by video-pipeline-infra" in run.failures["sg.efs"].reason
    assert group(ec2, theirs)["Description"] == "someone else's"


@pytest.mark.parametrize("name", ["sg-data", "x" * 256, "", "grüppe", "tab\there"])
def test_names_aws_refuses_are_refused_before_any_call(aws, name):
    spec = {**security_group_nodes("dev", EnvConfig())[0].spec, "name": name}
    before = aws.calls.total
    problems = spec_problems(SecurityGroup(aws, env="dev"), resolve(spec, {}), has_unknown)
    # B-SG-1
    assert problems and all("1-255 characters" in p or "cannot start with 'sg-'" in p for p in problems), problems
    assert aws.calls.total == before

"""The drift check's "unmanaged" list on a real account (issue 14, docs/aws-behaviours.md C-TAG-1, C-EC-2):
every child kind the tagging API or the VPC's interfaces show is recognised as its managed
parent's, by the structure AWS gives it; a stranger is not. No AWS: the inputs are what AWS
answers, written out."""
from __future__ import annotations

import pytest

from orchestrator.drift import Managed, unmanaged_entries
from resources.aws.inventory import Found, eni_owners, parents, resource_id

R, A = "ap-northeast-1", "123456789012"
API, OTHER_API = "a1b2c3d4e5", "zz9yy8xx7w"
CLUSTER = f"arn:aws:ecs:{R}:{A}:cluster/video-processing-dev"
NLB = f"arn:aws:elasticloadbalancing:{R}:{A}:loadbalancer/net/api-nlb-dev/50dc6c495c0c9188"
MANAGED = Managed({
    API, f"{API}/dev", "redis-dev", CLUSTER, NLB, "nat-0aa11", "fs-0bb22", "sg-ecs", "sg-rds", "sg-redis", "sg-efs",
    "/ecs/video-processing-dev/metadata-api", f"arn:aws:ecs:{R}:{A}:task-definition/metadata-api-dev:3",
})


def swept(arn: str) -> Found:
    return Found(arn.split(":")[2], arn, parents(arn), swept=True)


def eni(description: str = "", *, groups=(), requester_managed=False, instance=None) -> Found:
    item = {"NetworkInterfaceId": "eni-1", "Description": description, "RequesterManaged": requester_managed,
            "Groups": [{"GroupId": g} for g in groups], **({"Attachment": {"InstanceId": instance}} if instance else {})}
    return Found("network_interface", "eni-1", eni_owners(item))


CHILDREN = {
    "API Gateway stage of our REST API": swept(f"arn:aws:apigateway:{R}::/restapis/{API}/stages/dev"),
    "another stage of our REST API": swept(f"arn:aws:apigateway:{R}::/restapis/{API}/stages/canary"),
    "member cluster 001 of our replication group": swept(f"arn:aws:elasticache:{R}:{A}:cluster:redis-dev-001"),
    "member cluster 002 of our replication group": swept(f"arn:aws:elasticache:{R}:{A}:cluster:redis-dev-002"),
    "cluster-mode member of our group": swept(f"arn:aws:elasticache:{R}:{A}:cluster:redis-dev-0001-002"),
    "ECS task of our cluster (propagateTags)": swept(f"arn:aws:ecs:{R}:{A}:task/video-processing-dev/0f3a9b8c7d6e"),
    "earlier revision of our task definition": swept(f"arn:aws:ecs:{R}:{A}:task-definition/metadata-api-dev:1"),
    "listener of our NLB": swept(f"arn:aws:elasticloadbalancing:{R}:{A}:listener/net/api-nlb-dev/50dc6c495c0c9188/f2f7"),
    "our log group by ARN": swept(f"arn:aws:logs:{R}:{A}:log-group:/ecs/video-processing-dev/metadata-api:*"),
    "NAT gateway ENI": eni("Interface for NAT Gateway nat-0aa11", requester_managed=True),
    "EFS mount target ENI": eni("EFS mount target for fs-0bb22 (fsmt-0cc33)", groups=["sg-efs"], requester_managed=True),
    "NLB ENI": eni("ELB net/api-nlb-dev/50dc6c495c0c9188", requester_managed=True),
    "ECS task ENI": eni(f"arn:aws:ecs:{R}:{A}:attachment/7d1c2b3a-0000-4000-8000-000000000000", groups=["sg-ecs"]),
    "RDS ENI": eni("RDSNetworkInterface", groups=["sg-rds"], requester_managed=True),
    "ElastiCache ENI": eni("ElastiCache redis-dev-002", groups=["sg-redis"], requester_managed=True),
    "requester-managed ENI in our groups (VPC link)": eni("", groups=["sg-ecs", "sg-rds"], requester_managed=True),
}

STRANGERS = {
    "stage of another REST API": swept(f"arn:aws:apigateway:{R}::/restapis/{OTHER_API}/stages/dev"),
    "cluster of another group": swept(f"arn:aws:elasticache:{R}:{A}:cluster:redis-prod-001"),
    "stand-alone cluster named like nothing ours": swept(f"arn:aws:elasticache:{R}:{A}:cluster:scratch"),
    "task in another cluster": swept(f"arn:aws:ecs:{R}:{A}:task/someone-else/0f3a9b8c7d6e"),
    "another task definition family": swept(f"arn:aws:ecs:{R}:{A}:task-definition/metadata-api-dev-copy:1"),
    "a log group under our path": swept(f"arn:aws:logs:{R}:{A}:log-group:/ecs/video-processing-dev/debug"),
    "NAT ENI of another NAT": eni("Interface for NAT Gateway nat-0ff99", requester_managed=True),
    "mount target ENI of another file system": eni("EFS mount target for fs-0dd44 (fsmt-0ee55)", requester_managed=True),
    "ENI of another NLB": eni("ELB net/other-nlb/50dc6c495c0c9188", requester_managed=True),
    "Lambda ENI in a group of ours and one not": eni("AWS Lambda VPC ENI-fn", groups=["sg-ecs", "sg-other"], requester_managed=True),
    "an instance's ENI in our group": eni("", groups=["sg-ecs"], instance="i-0123"),
    "a hand-made ENI in our group": eni("mine", groups=["sg-ecs"]),
}


@pytest.mark.parametrize("found", CHILDREN.values(), ids=CHILDREN.keys())
def test_a_child_of_a_managed_resource_is_its_parents(found):
    assert MANAGED.owns(found)


@pytest.mark.parametrize("found", STRANGERS.values(), ids=STRANGERS.keys())
def test_a_resource_nobody_manages_is_not_taken_for_a_child(found):
    assert not MANAGED.owns(found)


def test_a_stage_names_its_api_and_itself():
    assert parents(f"arn:aws:apigateway:{R}::/restapis/{API}/stages/dev") == (API, f"{API}/dev")
    assert parents(f"arn:aws:ecs:{R}:{A}:task/video-processing-dev/abc") == (CLUSTER,)
    assert parents(f"arn:aws:secretsmanager:{R}:{A}:secret:api-keys-dev-AbC123") == ()


class _NoCalls:
    """An Aws whose every client call fails the test: nothing left to confirm, nothing asked."""

    def client(self, name):
        raise AssertionError(f"unexpected {name} call")


def test_each_unmanaged_resource_is_listed_once_and_a_healthy_stack_costs_no_call():
    sg = Found("security_group", "sg-stray", vpc="vpc-1")
    found = [*CHILDREN.values(), sg, swept(f"arn:aws:ec2:{R}:{A}:security-group/sg-stray")]
    assert unmanaged_entries(_NoCalls(), found[:len(CHILDREN)], MANAGED) == []
    assert resource_id(f"arn:aws:ec2:{R}:{A}:security-group/sg-stray") == "sg-stray"
    assert unmanaged_entries(_NoCalls(), [sg], MANAGED) == [{"kind": "security_group", "id": "sg-stray"}]


class _Gone:
    """Aws whose EC2 DescribeTags knows only ``present`` and whose Logs knows no log group."""

    def __init__(self, present):
        self.present, self.asked = present, []

    def client(self, name):
        outer = self

        class Client:
            def get_paginator(self, op):
                assert (name, op) == ("ec2", "describe_tags")
                return self

            def paginate(self, Filters):
                outer.asked.append(("ec2", tuple(Filters[0]["Values"])))
                return [{"Tags": [{"ResourceId": i} for i in Filters[0]["Values"] if i in outer.present]}]

            def describe_log_groups(self, logGroupNamePrefix):
                outer.asked.append(("logs", logGroupNamePrefix))
                return {"logGroups": []}

        return Client()


def test_what_the_tagging_api_lists_after_its_deletion_is_left_out_with_one_describe_per_kind():
    aws = _Gone(present={"sg-here"})
    found = [swept(f"arn:aws:ec2:{R}:{A}:security-group/sg-here"), swept(f"arn:aws:ec2:{R}:{A}:volume/vol-gone"),
             swept(f"arn:aws:logs:{R}:{A}:log-group:/old/group:*"), sg := Found("security_group", "sg-live")]
    assert unmanaged_entries(aws, found, MANAGED) == [{"kind": "security_group", "id": "sg-live"},
                                                      {"kind": "ec2", "id": "sg-here"}]
    # One DescribeTags for both EC2 ids, one log group describe; the live VPC listing is not re-checked.
    assert aws.asked == [("ec2", ("sg-here", "vol-gone")), ("logs", "/old/group")]
    assert sg.id not in str(aws.asked)

"""What the RDS and Redis handler tests share: the network they sit in, converged for real, and
the dependencies of other helpers (security groups, the AUTH token secret) made with the test's
own clients and put into the node specs as literals."""
from __future__ import annotations

import dataclasses

from orchestrator.config import EnvConfig
from orchestrator.spec import Node
from orchestrator.stack.network import network_nodes
from tests.support.stack import converge

AZS = ["us-east-1a", "us-east-1b"]
NETWORK = ("vpc", "subnet.isolated.1", "subnet.isolated.2")
MANAGED_BY = "video-pipeline-infra"


def network() -> list[Node]:
    return [n for n in network_nodes("dev", EnvConfig(), AZS) if n.key in NETWORK]


def with_spec(node: Node, **changes) -> Node:
    return dataclasses.replace(node, spec={**node.spec, **changes})


def converge_network(aws, ec2, state, clock, *, sg_name: str) -> str:
    """The VPC and the isolated subnets; returns a security group made in that VPC by hand."""
    converge(aws, state, nodes=network(), clock=clock)
    vpc_id = state.doc.resource("vpc")["id"]
    return ec2.create_security_group(GroupName=sg_name, Description="made by the test", VpcId=vpc_id)["GroupId"]


def tags(tag_list: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


def ownership(name: str) -> dict[str, str]:
    return {"Name": name, "Environment": "dev", "ManagedBy": MANAGED_BY}

"""Network layer: VPC, subnets per AZ and tier, internet gateway, NAT gateways, route tables."""
from __future__ import annotations

import ipaddress

from orchestrator.config import EnvConfig
from orchestrator.spec import Node, Ref
from orchestrator.stack.common import TIERS, spec_factory
from resources.network.elastic_ip import ElasticIp
from resources.network.internet_gateway import InternetGateway
from resources.network.nat_gateway import NatGateway
from resources.network.route_table import RouteTable
from resources.network.subnet import Subnet
from resources.network.vpc import Vpc
from resources.network.vpc_defaults import DefaultNetworkAcl, DefaultSecurityGroup, default_acl_entries


def subnet_cidrs(vpc_cidr: str, az_count: int) -> dict[tuple[str, int], str]:
    """Carve the VPC into 16 equal slices: public, private, isolated, each AZ in turn."""
    net = ipaddress.IPv4Network(vpc_cidr)
    slices = list(net.subnets(new_prefix=net.prefixlen + 4))
    return {
        (tier, az): str(slices[t * az_count + az - 1])
        for t, tier in enumerate(TIERS)
        for az in range(1, az_count + 1)
    }


def network_nodes(env: str, cfg: EnvConfig, azs: list[str]) -> list[Node]:
    spec = spec_factory(env, cfg)

    n = range(1, len(azs) + 1)
    cidrs = subnet_cidrs(cfg.vpc_cidr, len(azs))
    nodes = [
        Node("vpc", Vpc, spec(f"vpc-{env}", cidr_block=cfg.vpc_cidr, enable_dns_support=True, enable_dns_hostnames=True)),
        Node("igw", InternetGateway, spec(f"igw-{env}", vpc_id=Ref("vpc"))),
    ]
    for tier in TIERS:
        for i in n:
            nodes.append(
                Node(
                    f"subnet.{tier}.{i}",
                    Subnet,
                    spec(f"{tier}-subnet-{i}-{env}", vpc_id=Ref("vpc"), cidr_block=cidrs[(tier, i)], availability_zone=azs[i - 1]),
                )
            )
    for i in n:
        nodes.append(Node(f"eip.{i}", ElasticIp, spec(f"nat-eip-{i}-{env}", domain="vpc")))
        nodes.append(
            Node(
                f"nat.{i}",
                NatGateway,
                spec(
                    f"nat-gateway-{i}-{env}", vpc_id=Ref("vpc"), subnet_id=Ref(f"subnet.public.{i}"),
                    allocation_id=Ref(f"eip.{i}"), connectivity_type="public",
                ),
                after=("igw",),
            )
        )
        nodes.append(
            Node(
                f"rt.private.{i}",
                RouteTable,
                spec(
                    f"private-rt-{i}-{env}",
                    vpc_id=Ref("vpc"),
                    routes=[{"destination": "0.0.0.0/0", "target": Ref(f"nat.{i}")}],
                    subnet_ids=[Ref(f"subnet.private.{i}")],
                ),
            )
        )
    nodes.append(
        Node(
            "rt.public",
            RouteTable,
            spec(
                f"public-rt-{env}",
                vpc_id=Ref("vpc"),
                routes=[{"destination": "0.0.0.0/0", "target": Ref("igw")}],
                subnet_ids=[Ref(f"subnet.public.{i}") for i in n],
            ),
        )
    )
    # Isolated subnets get a table of their own with no default route: no way out of the VPC.
    nodes.append(
        Node(
            "rt.isolated",
            RouteTable,
            spec(f"isolated-rt-{env}", vpc_id=Ref("vpc"), routes=[], subnet_ids=[Ref(f"subnet.isolated.{i}") for i in n]),
        )
    )
    # issue 15, VPC: what the VPC comes with. FSBP EC2.2: the default security group keeps no
    # rule; FSBP EC2.21: the default network ACL (every subnet's) admits no 22/3389 from outside.
    nodes.append(Node("sg.default", DefaultSecurityGroup, spec(f"default-sg-{env}", vpc_id=Ref("vpc"), ingress=[], egress=[])))
    nodes.append(Node("nacl.default", DefaultNetworkAcl, spec(
        f"default-nacl-{env}", vpc_id=Ref("vpc"), **default_acl_entries(cfg.vpc_cidr),
    )))
    return nodes


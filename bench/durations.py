"""How long the slow AWS operations of the stack really take: the one table the benchmark uses.

Every figure is the typical (p50) real duration of docs/aws-behaviours.md (T-4.2), quoted with
the row it comes from. The latency layer holds an operation's answer for ``seconds × scale``, and
the model (bench.model) charges the same figure to the node that issued it, so the measured wall
time and the critical path it is compared with rest on the same numbers.

Operations not listed take only the per-call latency. Two slow resources of the stack have no
figure in T-4.2 and are therefore not delayed: the NLB (CreateLoadBalancer) and the API
Gateway VPC link (CreateVpcLink). Neither is on the critical path (RDS is, at 840 s).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    seconds: float  # typical real duration, p50
    source: str  # the docs/aws-behaviours.md row it is taken from


# (SigV4 signing name, operation) -> typical real duration.
SLOW_OPERATIONS: dict[tuple[str, str], Timing] = {
    ("ec2", "CreateVpc"): Timing(5, "T-4.2 ec2.create_vpc (+modify_vpc_attribute ×2): A p50 5 s"),
    ("ec2", "CreateSubnet"): Timing(1, "T-4.2 ec2.create_subnet: A p50 1 s"),
    ("ec2", "CreateSecurityGroup"): Timing(1.5, "T-4.2 ec2.create_security_group: A p50 1–2 s"),
    ("ec2", "CreateNatGateway"): Timing(105, "T-4.2 ec2.create_nat_gateway: A p50 105 s (T-1.1: 1m25s–2m05s, n=9)"),
    ("ec2", "DeleteNatGateway"): Timing(60, "T-4.2 ec2.delete_nat_gateway: A p50 60 s (T-1.3: n=6)"),
    ("ec2", "DeleteSubnet"): Timing(1, "T-4.2 ec2.delete_subnet / delete_security_group / delete_vpc: 1 s"),
    ("ec2", "DeleteSecurityGroup"): Timing(1, "T-4.2 ec2.delete_subnet / delete_security_group / delete_vpc: 1 s"),
    ("ec2", "DeleteVpc"): Timing(1, "T-4.2 ec2.delete_subnet / delete_security_group / delete_vpc: 1 s"),
    ("rds", "CreateDBSubnetGroup"): Timing(1.5, "T-4.2 rds.create_db_subnet_group: A p50 1–2 s"),
    ("rds", "CreateDBInstance"): Timing(840, "T-4.2 rds.create_db_instance (Multi-AZ): A p50 840 s (T-1.1 ~14 min)"),
    ("rds", "DeleteDBInstance"): Timing(390, "T-4.2 rds.delete_db_instance (skip snapshot): A p50 390 s"),
    ("elasticache", "CreateCacheSubnetGroup"): Timing(2, "T-4.2 elasticache.create_cache_subnet_group: A p50 2 s"),
    ("elasticache", "CreateReplicationGroup"): Timing(480, "T-4.2 elasticache.create_replication_group: A p50 480 s"),
    ("elasticache", "DeleteReplicationGroup"): Timing(360, "T-4.2 elasticache.delete_replication_group: A p50 360 s (est.)"),
    ("elasticfilesystem", "CreateFileSystem"): Timing(10, "T-4.2 efs.create_file_system: A p50 10 s"),
    ("elasticfilesystem", "CreateMountTarget"): Timing(80, "T-4.2 efs.create_mount_target: A p50 80 s"),
    ("elasticfilesystem", "DeleteMountTarget"): Timing(60, "T-4.2 efs.delete_mount_target: A p50 60 s (est.)"),
    ("ecs", "CreateCluster"): Timing(1, "T-4.2 ecs.create_cluster: A p50 1 s"),
    ("ecs", "CreateService"): Timing(75, "T-4.2 ecs.create_service → steady: A p50 75 s"),
    ("ecs", "DeleteService"): Timing(90, "T-4.2 ecs.delete_service → INACTIVE: A p50 90 s (est.)"),
    ("apigateway", "CreateDeployment"): Timing(1.5, "T-4.2 apigateway.create_deployment (+ stage): A p50 1–2 s"),
}


def slow_seconds(service: str, operation: str) -> float:
    """The typical real duration of one operation beyond its call latency (0 for a quick one)."""
    timing = SLOW_OPERATIONS.get((service, operation))
    return timing.seconds if timing else 0.0

"""What lives in an environment's VPC or carries its tags, for the drift check's "unmanaged" list.

Every EC2 describe is filtered by the VPC (unfiltered describes have the tightest rate limits,
T-2); the tagging API is only a sweep for other services (A-33: it misses some
types), never the source of truth for managed resources.

On a real account the sweep also answers children of the stack (API Gateway stages, the Redis
member clusters, ECS tasks tagged through propagateTags) and resources deleted a while ago
(docs/aws-behaviours.md C-TAG-1, C-EC-2, B-TAG-1). This module only says what AWS says about each item: the
resources it belongs to (``Found.owners``, read from its own ARN or, for a network interface,
from the description and requester AWS gives it) and whether it still exists (``gone``). Which
owners are managed is the drift check's business.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from botocore.exceptions import ClientError

from resources.aws.ownership import MANAGED_BY, environment_filters, vpc_filters
from resources.aws.permissions import arn, reads
from resources.aws.shared_reads import SharedReads, chunks, describe_all, listing


@dataclass(frozen=True)
class Found:
    kind: str
    id: str
    # Identifiers (ids, names or ARN tails) of the resources AWS says this one belongs to.
    owners: tuple[str, ...] = ()
    # From the tagging API (not read live, so it may be a resource deleted a while ago, C-TAG-1).
    swept: bool = False
    # The VPC a VPC member was listed in (``bin/drift --all`` lists several VPCs at once).
    vpc: str | None = None
    tags: dict = field(default_factory=dict, compare=False, hash=False)


# (kind, describe call, items key, id key); AWS-owned members are skipped below.
VPC_MEMBERS = (
    ("subnet", "describe_subnets", "Subnets", "SubnetId", "vpc-id"),
    ("security_group", "describe_security_groups", "SecurityGroups", "GroupId", "vpc-id"),
    ("route_table", "describe_route_tables", "RouteTables", "RouteTableId", "vpc-id"),
    ("internet_gateway", "describe_internet_gateways", "InternetGateways", "InternetGatewayId", "attachment.vpc-id"),
    ("nat_gateway", "describe_nat_gateways", "NatGateways", "NatGatewayId", "vpc-id"),
    # Whatever runs in the VPC has one: an instance, a Lambda function, a database nobody manages.
    ("network_interface", "describe_network_interfaces", "NetworkInterfaces", "NetworkInterfaceId", "vpc-id"),
)


# What the environment owns, found by the tagging API and the VPC's listings (teardown, drift's
# unmanaged resources), and the existence probes of what the tag index still lists: any
# resource the index names, so no ARN of a kind can be named in advance.
IAM = (
    reads("tag:GetResources", "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
          "ec2:DescribeSecurityGroupRules", "ec2:DescribeRouteTables", "ec2:DescribeInternetGateways",
          "ec2:DescribeNatGateways", "ec2:DescribeNetworkInterfaces", "ec2:DescribeNetworkAcls", "ec2:DescribeAddresses",
          "ec2:DescribeFlowLogs", "ec2:DescribeTags", "logs:DescribeLogGroups", "elasticloadbalancing:DescribeTags",
          "rds:DescribeDBSnapshots", "ecs:DescribeTaskDefinition", "elasticfilesystem:DescribeFileSystems",
          "elasticfilesystem:DescribeAccessPoints"),
    reads("rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups", "rds:DescribeDBClusters",
          arns=(arn("rds", "db:*"), arn("rds", "subgrp:*"), arn("rds", "cluster:*"))),
    reads("elasticache:DescribeCacheClusters", "elasticache:DescribeReplicationGroups", "elasticache:DescribeCacheSubnetGroups",
          arns=(arn("elasticache", "cluster:*"), arn("elasticache", "replicationgroup:*"), arn("elasticache", "subnetgroup:*"))),
    reads("ecs:DescribeClusters", "ecs:DescribeServices", "ecs:DescribeTasks",
          arns=(arn("ecs", "cluster/video-processing-{env}"), arn("ecs", "service/video-processing-{env}/*"),
                arn("ecs", "task/video-processing-{env}/*"))),
    reads("secretsmanager:DescribeSecret", arns=(arn("secretsmanager", "secret:*"),), tag="resource"),
    reads("iam:GetRole", arns=("arn:{partition}:iam::{account}:role/*-{env}",)),
    reads("apigateway:GET", arns=("arn:{partition}:apigateway:{region}::/tags/*",)),
)


def _aws_owned(kind: str, item: dict) -> bool:
    # The default security group and the main route table come with the VPC.
    if kind == "security_group":
        return item.get("GroupName") == "default"
    if kind == "route_table":
        return any(a.get("Main") for a in item.get("Associations", []))
    if kind == "nat_gateway":
        return item.get("State") in ("deleted", "deleting", "failed")
    return False


# The descriptions AWS writes on the network interfaces it creates for a service, and the
# resource each names (EC2 user guide "Network interfaces for AWS services", "Requester-managed
# network interfaces").
_ENI_DESCRIPTIONS: tuple[tuple[re.Pattern, Callable[[re.Match], tuple[str, ...]]], ...] = (
    (re.compile(r"Interface for NAT Gateway (nat-[0-9a-f]+)"), lambda m: (m[1],)),
    (re.compile(r"EFS mount target for (fs-[0-9a-f]+) \((fsmt-[0-9a-f]+)\)"), lambda m: (m[1], m[2])),
    # "ELB net/NAME/ID": the load balancer's ARN ends in "loadbalancer/net/NAME/ID".
    (re.compile(r"ELB ((?:net|app|gwy)/[^/\s]+/[0-9a-f]+)"), lambda m: (f"loadbalancer/{m[1]}",)),
    # "ElastiCache redis-dev-001": the member cluster, named after its replication group.
    (re.compile(r"ElastiCache (\S+)"), lambda m: (m[1], *member_of(m[1]))),
)
# ECS task ENIs are described by the task's attachment ARN; RDS's simply "RDSNetworkInterface".
# Neither names its owner: the security groups AWS placed it in do (ours, from our spec).
_ECS_ATTACHMENT = re.compile(r"arn:aws[\w-]*:ecs:[\w-]+:\d+:attachment/")


def eni_owners(item: dict) -> tuple[str, ...]:
    description = item.get("Description") or ""
    for pattern, owners in _ENI_DESCRIPTIONS:
        if match := pattern.fullmatch(description):
            return owners(match)
    by_service = (item.get("RequesterManaged") or _ECS_ATTACHMENT.match(description)
                  or description == "RDSNetworkInterface")
    groups = tuple(g["GroupId"] for g in item.get("Groups", []))
    if by_service and groups:
        return groups
    attached = (item.get("Attachment") or {}).get("InstanceId")
    return (attached,) if attached else ()


def vpc_members(ec2, vpc_id: str | list[str], shared: SharedReads | None = None) -> list[Found]:
    """With the walk's ``shared`` reads, the listings the handlers already made are reused.
    Several VPCs (``bin/drift --all``): one listing per kind for all of them."""
    vpcs = [vpc_id] if isinstance(vpc_id, str) else sorted(vpc_id)
    found = []
    for kind, call, key, id_key, filter_name in VPC_MEMBERS:
        for part in chunks(vpcs):
            items = listing(shared, ec2, call, key, [{"Name": filter_name, "Values": part}])
            found += [Found(kind, i[id_key], eni_owners(i) if kind == "network_interface" else (),
                            vpc=_vpc_of(i, filter_name)) for i in items if not _aws_owned(kind, i)]
    return found


def _vpc_of(item: dict, filter_name: str) -> str | None:
    if filter_name == "attachment.vpc-id":
        return next((a.get("VpcId") for a in item.get("Attachments", [])), None)
    return item.get("VpcId")


def tagged_resources(tagging, env: str | None) -> list[Found]:
    """What the tagging API lists with the tool's ownership tags: of ``env``, or of every
    environment (None), each Found with its tags so the caller can tell them apart."""
    filters = [{"Key": "ManagedBy", "Values": [MANAGED_BY]}]
    if env is not None:
        filters.insert(0, {"Key": "Environment", "Values": [env]})
    pages = tagging.get_paginator("get_resources").paginate(
        TagFilters=filters,
        # The API's maximums (100 resources, 500 tags a page): one page for a whole environment.
        ResourcesPerPage=100,
        TagsPerPage=500,
    )
    mappings = [m for page in pages for m in page["ResourceTagMappingList"]]
    # Automated RDS snapshots ("rds:" names) are the instance's own backups, tags copied.
    return [Found(m["ResourceARN"].split(":")[2], m["ResourceARN"], parents(m["ResourceARN"]), swept=True,
                  tags={t["Key"]: t["Value"] for t in m.get("Tags", [])})
            for m in mappings if ":snapshot:rds:" not in m["ResourceARN"]]


def shared_across(ec2, vpcs: dict[str, str | None]) -> dict[str, SharedReads]:
    """For several environments checked at once (``bin/drift --all``): one listing per EC2 kind
    for all their VPCs (the VPC members, the security groups' rules) and one per kind the
    handlers list by ownership tags (VPCs, Elastic IPs, flow logs), split into a SharedReads per
    environment under the keys its own walk asks for. ``vpcs``: env -> its recorded VPC id.
    A VPC recorded but gone, or a key a handler no longer uses, only costs its own call then."""
    # Account-wide listings (IAM roles, RDS instances, API Gateway's account …) are asked of the
    # one ``across`` all the walks share: the first walk to need one fetches it for every walk.
    across = SharedReads()
    shared = {env: SharedReads(across) for env in vpcs}
    env_of_vpc = {vpc: env for env, vpc in vpcs.items() if vpc}
    # Listed by VPC for the handlers only (the default network ACL), not an "unmanaged" kind.
    by_vpc = [(kind, call, key, filter_name) for kind, call, key, _, filter_name in VPC_MEMBERS]
    by_vpc += [("network_acl", "describe_network_acls", "NetworkAcls", "vpc-id")] if env_of_vpc else []
    tagged, listed = _list_at_once(ec2, env_of_vpc, by_vpc if env_of_vpc else [])
    _seed_tagged(shared, tagged)
    if not env_of_vpc:
        return shared
    groups = _seed_vpc_members(shared, env_of_vpc, by_vpc, listed)
    _seed_group_rules(ec2, shared, env_of_vpc, groups)
    return shared


# The EC2 kinds the handlers list by ownership tags: (call, the answer's key).
_LISTED_BY_TAGS = (("describe_vpcs", "Vpcs"), ("describe_addresses", "Addresses"), ("describe_flow_logs", "FlowLogs"))


def _list_at_once(ec2, env_of_vpc: dict[str, str], by_vpc: list[tuple]) -> tuple[list[list[dict]], list[list[dict]]]:
    """Every kind listed by ownership tags, and every kind of ``by_vpc`` in all the VPCs:
    the listings are independent, made at once, so the walks wait for the slowest, not their sum."""
    from concurrent.futures import ThreadPoolExecutor

    owned = [{"Name": "tag:ManagedBy", "Values": [MANAGED_BY]}]

    def in_vpcs(call: str, key: str, filter_name: str) -> list[dict]:
        return [i for part in chunks(sorted(env_of_vpc)) for i in describe_all(ec2, call, key, Filters=[{"Name": filter_name, "Values": part}])]

    with ThreadPoolExecutor(max_workers=8) as pool:
        tagged = [pool.submit(describe_all, ec2, call, key, Filters=owned) for call, key in _LISTED_BY_TAGS]
        listed = [pool.submit(in_vpcs, call, key, filter_name) for _, call, key, filter_name in by_vpc]
        return [f.result() for f in tagged], [f.result() for f in listed]


def _seed_tagged(shared: dict[str, SharedReads], tagged: list[list[dict]]) -> None:
    """Each environment's part of the listings by ownership tags, under its own filters' key."""
    import json

    for (call, _), items in zip(_LISTED_BY_TAGS, tagged):
        for env, reads in shared.items():
            mine = [i for i in items if {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("Environment") == env]
            reads.seed((call, json.dumps(environment_filters(env), sort_keys=True)), mine)


def _seed_vpc_members(shared: dict[str, SharedReads], env_of_vpc: dict[str, str], by_vpc: list[tuple],
                      listed: list[list[dict]]) -> dict[str, list[dict]]:
    """Each environment's part of the listings by VPC, under its own VPC filter's key; answers
    each VPC's security groups, whose rules are listed next."""
    import json

    groups: dict[str, list[dict]] = {}
    for (kind, call, _, filter_name), items in zip(by_vpc, listed):
        for vpc, env in env_of_vpc.items():
            mine = [i for i in items if _vpc_of(i, filter_name) == vpc]
            filters = vpc_filters(vpc) if filter_name == "vpc-id" else [{"Name": filter_name, "Values": [vpc]}]
            shared[env].seed((call, json.dumps(filters, sort_keys=True)), mine)
            if kind == "security_group":
                groups[vpc] = mine
    return groups


def _seed_group_rules(ec2, shared: dict[str, SharedReads], env_of_vpc: dict[str, str],
                      groups: dict[str, list[dict]]) -> None:
    """The rules of every security group in one listing, each VPC's under its environment's key."""
    ids = sorted(g["GroupId"] for mine in groups.values() for g in mine)
    rules = [r for part in chunks(ids) for r in describe_all(ec2, "describe_security_group_rules", "SecurityGroupRules",
                                                             Filters=[{"Name": "group-id", "Values": part}])] if ids else []
    for vpc, mine in groups.items():
        in_vpc = {g["GroupId"] for g in mine}
        shared[env_of_vpc[vpc]].seed(("describe_security_group_rules", tuple(sorted(in_vpc))),
                                     [r for r in rules if r["GroupId"] in in_vpc])


# -- children, read from the ARN's own structure (docs/aws-behaviours.md C-TAG-1, C-EC-2) -------------------

_MEMBER = re.compile(r"(.+?)-(?:\d{4}-)?\d{3}")


def member_of(cluster_id: str) -> tuple[str, ...]:
    """The replication group a member cache cluster is named after: ElastiCache names members
    GROUP-001, GROUP-002… (GROUP-0001-001 with cluster mode on)."""
    match = _MEMBER.fullmatch(cluster_id)
    return (match[1],) if match else ()


def parents(arn: str) -> tuple[str, ...]:
    """The resources an ARN is a child of, as identifiers the stack records: an API
    Gateway stage's REST API (and the stage as ``API/STAGE``), a member cluster's replication
    group, an ECS task's cluster, a listener's load balancer."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ()
    service, resource = parts[2], parts[5]
    if service == "apigateway":
        if m := re.fullmatch(r"/restapis/([^/]+)/stages/([^/]+)", resource):
            return (m[1], f"{m[1]}/{m[2]}")
        if m := re.match(r"/restapis/([^/]+)/", resource):
            return (m[1],)
    if service == "elasticache" and resource.startswith("cluster:"):
        return member_of(resource[len("cluster:"):])
    if service == "ecs" and (m := re.fullmatch(r"(task|container-instance)/([^/]+)/[^/]+", resource)):
        return (f"{':'.join(parts[:5])}:cluster/{m[2]}",)
    if service == "elasticloadbalancing" and (m := re.fullmatch(r"listener(?:-rule)?/((?:net|app|gwy)/[^/]+/[^/]+)/.+", resource)):
        return (f"loadbalancer/{m[1]}",)
    return ()


def resource_id(arn: str) -> str:
    """An EC2 ARN's resource id (``…:security-group/sg-1`` → ``sg-1``), the name the VPC listings
    use, so one resource seen by both is listed once; any other identifier as it is."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "ec2" and "/" in parts[5]:
        return parts[5].rsplit("/", 1)[1]
    return arn


# -- resources deleted a while ago (C-TAG-1) ---------------------------------------------------

def _not_found(exc: BaseException) -> bool:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    return "NotFound" in code or code.startswith("NoSuch") or code in ("InvalidParameterValue",)


def _probe(service: str, resource: str, arn: str) -> tuple[str, Callable] | None:
    """(client name, one describe of that resource; answers False when it is gone), or None
    when the kind has no probe here (then it is kept: never hide what cannot be checked)."""
    kind, _, name = resource.replace(":", "/", 1).partition("/")
    if service == "secretsmanager":
        return "secretsmanager", lambda c: "DeletedDate" not in c.describe_secret(SecretId=arn)
    if service == "logs" and kind == "log-group":
        name = name.removesuffix(":*")
        return "logs", lambda c: any(g["logGroupName"] == name for g in c.describe_log_groups(logGroupNamePrefix=name)["logGroups"])
    if service == "rds":
        return _probe_by_name("rds", _RDS_DESCRIBES, kind, name)
    if service == "elasticache":
        return _probe_by_name("elasticache", _ELASTICACHE_DESCRIBES, kind, name)
    if service == "ecs":
        return _probe_ecs(kind, name, arn)
    if service == "elasticloadbalancing":
        return "elbv2", lambda c: bool(c.describe_tags(ResourceArns=[arn])["TagDescriptions"])
    if service == "elasticfilesystem":
        return _probe_efs(kind, name)
    if service == "apigateway":
        return "apigateway", lambda c: c.get_tags(resourceArn=arn) is not None
    if service == "iam" and kind == "role":
        return "iam", lambda c: bool(c.get_role(RoleName=name.rsplit("/", 1)[-1]))
    return None


# ARN resource type -> (the describe call, its identifier parameter), for the services whose
# describe of one resource by name answers with it or raises NotFound.
_RDS_DESCRIBES = {"db": ("describe_db_instances", "DBInstanceIdentifier"), "subgrp": ("describe_db_subnet_groups", "DBSubnetGroupName"),
                  "snapshot": ("describe_db_snapshots", "DBSnapshotIdentifier"), "cluster": ("describe_db_clusters", "DBClusterIdentifier")}
_ELASTICACHE_DESCRIBES = {"cluster": ("describe_cache_clusters", "CacheClusterId"),
                          "replicationgroup": ("describe_replication_groups", "ReplicationGroupId"),
                          "subnetgroup": ("describe_cache_subnet_groups", "CacheSubnetGroupName")}


def _probe_by_name(client: str, describes: dict[str, tuple[str, str]], kind: str, name: str) -> tuple[str, Callable] | None:
    if kind not in describes:
        return None
    op, param = describes[kind]
    return client, lambda c: bool(getattr(c, op)(**{param: name}))


def _probe_ecs(kind: str, name: str, arn: str) -> tuple[str, Callable] | None:
    if kind == "task":
        cluster = name.split("/")[0]
        # A stopped task stays described for about an hour: it runs nowhere, it is gone.
        return "ecs", lambda c: any(t.get("lastStatus") != "STOPPED" for t in c.describe_tasks(cluster=cluster, tasks=[arn])["tasks"])
    if kind == "cluster":
        return "ecs", lambda c: any(x["status"] != "INACTIVE" for x in c.describe_clusters(clusters=[arn])["clusters"])
    if kind == "service":
        cluster = name.split("/")[0]
        return "ecs", lambda c: any(s["status"] != "INACTIVE" for s in c.describe_services(cluster=cluster, services=[arn])["services"])
    if kind == "task-definition":
        return "ecs", lambda c: c.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "ACTIVE"
    return None


def _probe_efs(kind: str, name: str) -> tuple[str, Callable] | None:
    if kind == "file-system":
        return "efs", lambda c: bool(c.describe_file_systems(FileSystemId=name)["FileSystems"])
    if kind == "access-point":
        return "efs", lambda c: bool(c.describe_access_points(AccessPointId=name)["AccessPoints"])
    return None


def gone(aws, found: Iterable[Found]) -> set[str]:
    """The ids among ``found`` (tagging API results) that AWS no longer has. One DescribeTags for
    all EC2 ids (it answers only for resources that exist), one describe for any other; a
    resource whose existence cannot be checked counts as present."""
    found = list(found)
    out: set[str] = set()
    ec2_ids = {resource_id(f.id): f.id for f in found if f.id.split(":")[2:3] == ["ec2"]}
    if ec2_ids:
        present = _ec2_present(aws, ec2_ids)
        out |= {arn for rid, arn in ec2_ids.items() if rid not in present}
    for f in found:
        if _probed_gone(aws, f):
            out.add(f.id)
    return out


def _ec2_present(aws, ec2_ids: dict[str, str]) -> set[str]:
    """The EC2 resource ids AWS still has: those DescribeTags answers for, but NAT gateways deleted."""
    present = set()
    for part in chunks(sorted(ec2_ids)):
        pages = aws.client("ec2").get_paginator("describe_tags").paginate(Filters=[{"Name": "resource-id", "Values": part}])
        present |= {t["ResourceId"] for page in pages for t in page["Tags"]}
    # A deleted NAT gateway keeps its tags and stays described, state "deleted", for about
    # an hour (docs/aws-behaviours.md A-6): it is gone all the same.
    nats = sorted(rid for rid in present if rid.startswith("nat-"))
    if nats:
        described = aws.client("ec2").describe_nat_gateways(NatGatewayIds=nats)["NatGateways"]
        present -= {n["NatGatewayId"] for n in described if n["State"] in ("deleting", "deleted")}
    return present


def _probed_gone(aws, f: Found) -> bool:
    """A resource of any other service is gone: its probe says so, or AWS answers not found."""
    parts = f.id.split(":", 5)
    if len(parts) < 6 or parts[2] == "ec2":
        return False
    probe = _probe(parts[2], parts[5], f.id)
    if probe is None:
        return False
    client_name, exists = probe
    try:
        return not exists(aws.client(client_name))
    except ClientError as exc:
        return _not_found(exc)

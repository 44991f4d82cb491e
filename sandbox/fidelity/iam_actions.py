"""IAM's name for the action of a request and the ARN of the resource it acts on, for the services
the stack calls (docs/aws-behaviours.md A-IAM-1, A-IAM-2). Used by ``iam_enforcement.py``.

AWS (Service Authorization Reference, "Actions, resources, and condition keys for ..."): the action
is ``PREFIX:Operation`` where PREFIX is the service's IAM prefix, which is not always the signing
name (CloudWatch signs as ``monitoring``, the tagging API as ``tagging``); API Gateway names its
actions by HTTP verb (``apigateway:GET``) on the path's ARN ``arn:aws:apigateway:REGION::/PATH``.
An action with resource-level permissions is authorized against the ARN of the resource it acts
on; the others (most List*/Describe*) against ``*``. A request here is authorized against one
resource: where AWS checks several (CreateSubnet: the subnet and its VPC) the first the reference
lists is taken.

moto 5.2.5 names every action ``SIGNING-NAME:Operation`` and authorizes it against ``*``.
"""
from __future__ import annotations

from typing import Any, Callable

# Signing name (SigV4 credential scope) -> IAM prefix, where they differ.
PREFIXES = {"monitoring": "cloudwatch", "tagging": "tag"}
# Operations whose IAM action is not PREFIX:Operation.
RENAMED = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:HeadObject": "s3:GetObject",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
}
# S3 bucket subresources (the query parameter) -> IAM's action, by HTTP method. moto 5.2.5 names
# ``?encryption`` and ``?publicAccessBlock`` on a bucket ``ListBucket``/``CreateBucket``.
S3_BUCKET_SUBRESOURCES = {
    "encryption": {"GET": "s3:GetEncryptionConfiguration", "PUT": "s3:PutEncryptionConfiguration",
                   "DELETE": "s3:PutEncryptionConfiguration"},
    "publicAccessBlock": {"GET": "s3:GetBucketPublicAccessBlock", "PUT": "s3:PutBucketPublicAccessBlock",
                          "DELETE": "s3:PutBucketPublicAccessBlock"},
    "versioning": {"GET": "s3:GetBucketVersioning", "PUT": "s3:PutBucketVersioning"},
    "tagging": {"GET": "s3:GetBucketTagging", "PUT": "s3:PutBucketTagging", "DELETE": "s3:PutBucketTagging"},
    "policy": {"GET": "s3:GetBucketPolicy", "PUT": "s3:PutBucketPolicy", "DELETE": "s3:DeleteBucketPolicy"},
}

# EC2 id prefix -> the resource type in its ARN (arn:aws:ec2:R:A:TYPE/ID).
EC2_TYPES = {
    "vpc": "vpc", "subnet": "subnet", "sg": "security-group", "sgr": "security-group-rule",
    "igw": "internet-gateway", "nat": "natgateway", "rtb": "route-table", "eipalloc": "elastic-ip",
    "acl": "network-acl", "eni": "network-interface", "i": "instance", "fl": "vpc-flow-log",
}
# The parameter naming the resource an EC2 action acts on, most specific first.
# (CreateRoute names its route table and the NAT gateway it routes to: the route table is the resource.)
EC2_ID_PARAMETERS = ("GroupId", "RouteTableId", "NetworkAclId", "InternetGatewayId", "NatGatewayId",
                     "AllocationId", "SubnetId", "VpcId", "ResourceId.1", "FlowLogId.1", "InstanceId.1")
# EC2 creates: the new resource, not yet named (AWS checks arn:aws:ec2:R:A:TYPE/*).
EC2_CREATES = {
    "CreateVpc": "vpc", "CreateSubnet": "subnet", "CreateSecurityGroup": "security-group",
    "CreateInternetGateway": "internet-gateway", "CreateNatGateway": "natgateway",
    "CreateRouteTable": "route-table", "AllocateAddress": "elastic-ip", "CreateFlowLogs": "vpc-flow-log",
}


# A request whose target the service fails to find before it authorizes (KMS aliases).
NOT_FOUND = "not-found"


def action_name(signing_name: str, operation: str, method: str) -> str:
    if signing_name == "apigateway":
        return f"apigateway:{method.upper()}"
    name = f"{PREFIXES.get(signing_name, signing_name)}:{operation}"
    return RENAMED.get(name, name)


def s3_bucket_action(method: str, params: dict[str, Any]) -> str | None:
    """IAM's action for a request on a bucket's subresource (``GET /?encryption``), else None."""
    for subresource, actions in S3_BUCKET_SUBRESOURCES.items():
        if subresource in params and method.upper() in actions:
            return actions[method.upper()]
    return None


class Request:
    """What the derivation reads of one request: its parameters (query parameters flattened as
    ``Name.1``, JSON bodies as parsed), path and where it was sent."""

    def __init__(self, signing_name: str, operation: str, params: dict[str, Any], path: str,
                 region: str, account: str, method: str = "POST"):
        self.signing_name, self.operation, self.params = signing_name, operation, params
        self.path, self.region, self.account, self.method = path, region, account, method

    def arn(self, service: str, rest: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account}:{rest}"

    def get(self, *names: str) -> str | None:
        for name in names:
            value = self.params.get(name)
            if isinstance(value, list):
                value = value[0] if value else None
            if value:
                return str(value)
        return None


def resource_arn(request: Request) -> str:
    derive = DERIVATIONS.get(request.signing_name)
    # A service without a derivation here is authorized against "*", as moto does.
    return (derive(request) or "*") if derive else "*"


def _last(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _ec2(r: Request) -> str | None:
    if r.operation in EC2_CREATES:
        return r.arn("ec2", f"{EC2_CREATES[r.operation]}/*")
    # DescribeVpcAttribute is authorized on its VPC (Service Authorization Reference: resource
    # type vpc); the other describes the stack calls on "*".
    if r.operation.startswith("Describe") and r.operation != "DescribeVpcAttribute":
        return None
    resource_id = r.get(*EC2_ID_PARAMETERS)
    kind = EC2_TYPES.get((resource_id or "").split("-")[0])
    # An id of a type not in the table (an association id): "*".
    return r.arn("ec2", f"{kind}/{resource_id}") if kind else None


def _rds(r: Request) -> str | None:
    if r.operation in ("ListTagsForResource", "AddTagsToResource", "RemoveTagsFromResource"):
        return r.get("ResourceName")
    if "DBSubnetGroup" in r.operation:  # a listing of every group: against subgrp:*, as db:* below
        return r.arn("rds", f"subgrp:{r.get('DBSubnetGroupName') or '*'}")
    if r.operation.endswith(("DBInstance", "DBInstances")):
        return r.arn("rds", f"db:{r.get('DBInstanceIdentifier') or '*'}")
    return None


def _elasticache(r: Request) -> str | None:
    if r.operation in ("ListTagsForResource", "AddTagsToResource", "RemoveTagsFromResource"):
        return r.get("ResourceName")
    for parameter, kind in (("ReplicationGroupId", "replicationgroup"), ("CacheSubnetGroupName", "subnetgroup"),
                            ("CacheClusterId", "cluster")):
        if r.get(parameter):
            return r.arn("elasticache", f"{kind}:{r.get(parameter)}")
    # A listing of every one of a kind: against its ARN with "*" for the name, as RDS's.
    listed = {"DescribeReplicationGroups": "replicationgroup", "DescribeCacheClusters": "cluster",
              "DescribeCacheSubnetGroups": "subnetgroup"}.get(r.operation)
    return r.arn("elasticache", f"{listed}:*") if listed else None


def _efs(r: Request) -> str | None:
    parts = r.path.strip("/").split("/")[1:]  # after the API version
    if len(parts) >= 2 and parts[0] == "file-systems":
        return r.arn("elasticfilesystem", f"file-system/{parts[1]}")
    if len(parts) >= 2 and parts[0] == "resource-tags":
        kind = "access-point" if parts[1].startswith("fsap-") else "file-system"
        return r.arn("elasticfilesystem", f"{kind}/{parts[1]}")
    if len(parts) >= 2 and parts[0] == "access-points":
        return r.arn("elasticfilesystem", f"access-point/{parts[1]}")
    if r.method == "POST" and parts == ["file-systems"]:
        return r.arn("elasticfilesystem", "file-system/*")
    if r.get("FileSystemId"):  # a mount target or access point made in it, or its mount targets listed
        return r.arn("elasticfilesystem", f"file-system/{r.get('FileSystemId')}")
    if len(parts) >= 2 and parts[0] == "mount-targets":  # authorized on the mount target's file system
        return _mount_target_file_system(r, parts[1])
    # Listings of every file system or access point: "*".
    return None


def _mount_target_file_system(r: Request, mount_target_id: str) -> str:
    from moto.efs.models import efs_backends

    target = efs_backends[r.account][r.region].mount_targets_by_id.get(mount_target_id)
    return r.arn("elasticfilesystem", f"file-system/{target.file_system_id}") if target else NOT_FOUND


def _ecs(r: Request) -> str | None:
    cluster = _last(r.get("cluster", "clusterName") or "default")
    if r.operation in ("TagResource", "UntagResource", "ListTagsForResource"):
        return r.get("resourceArn")
    if r.operation in ("CreateService", "UpdateService", "DeleteService", "DescribeServices"):
        service = _last(r.get("serviceName", "service", "services") or "*")
        return r.arn("ecs", f"service/{cluster}/{service}")
    if r.operation in ("CreateCluster", "DeleteCluster", "UpdateCluster", "UpdateClusterSettings"):
        return r.arn("ecs", f"cluster/{cluster}")
    if r.operation == "DescribeClusters":
        return r.arn("ecs", f"cluster/{_last(r.get('clusters') or '*')}")
    if r.operation == "DeleteTaskDefinitions":
        return r.arn("ecs", f"task-definition/{_last(r.get('taskDefinitions') or '*')}")
    if r.operation == "RegisterTaskDefinition":  # the family's next revision (resource type task-definition)
        return r.arn("ecs", f"task-definition/{r.get('family')}:*")
    # Describe/DeregisterTaskDefinition, the listings: no resource type.
    return None


def _elbv2(r: Request) -> str | None:
    if r.operation == "CreateLoadBalancer":
        kind = {"network": "net", "gateway": "gwy"}.get(r.get("Type") or "", "app")
        return r.arn("elasticloadbalancing", f"loadbalancer/{kind}/{r.get('Name')}/*")
    if r.operation == "CreateTargetGroup":
        return r.arn("elasticloadbalancing", f"targetgroup/{r.get('Name')}/*")
    if r.operation.startswith("Describe"):
        return None
    return r.get("ListenerArn", "TargetGroupArn", "LoadBalancerArn", "ResourceArns.member.1")


def _apigateway(r: Request) -> str:
    path = r.path[len("/v2"):] if r.path.startswith("/v2/") else r.path  # HTTP APIs: /apis/...
    return f"arn:aws:apigateway:{r.region}::{path}"


def _logs(r: Request) -> str | None:
    if r.get("resourceArn"):
        return r.get("resourceArn")
    name = r.get("logGroupName")
    if name and not r.operation.startswith("Describe"):
        return r.arn("logs", f"log-group:{name}:*")
    return None


def _kms(r: Request) -> str | None:
    if r.operation in ("CreateAlias", "DeleteAlias", "UpdateAlias"):
        return r.arn("kms", r.get("AliasName") or "alias/*")
    key = r.get("KeyId")
    if not key or r.operation in ("CreateKey", "ListKeys", "ListAliases"):
        return None
    if key.startswith("arn:") and ":key/" in key:
        return key
    from moto.kms.models import kms_backends

    # A key named by its alias is authorized as the key. An alias that names no key: KMS answers
    # NotFoundException whatever the caller may do, so there is nothing to authorize.
    backend = kms_backends[r.account][r.region]
    key = backend.get_key_id_from_alias(backend.get_alias_name(key)) if "alias/" in key else key
    return r.arn("kms", f"key/{key}") if key else NOT_FOUND


def _secretsmanager(r: Request) -> str | None:
    if r.operation == "CreateSecret":
        # The ARN ends in six random characters Secrets Manager picks at the create; "?" stands
        # for each, so a policy on "NAME-??????" or "NAME*" matches as it would on AWS.
        return r.arn("secretsmanager", f"secret:{r.get('Name')}-??????")
    secret_id = r.get("SecretId")
    if not secret_id:
        return None  # ListSecrets, GetRandomPassword
    if secret_id.startswith("arn:"):
        return secret_id
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[r.account][r.region].secrets.get(secret_id)
    return secret.arn if secret else r.arn("secretsmanager", f"secret:{secret_id}-??????")


def _iam(r: Request) -> str | None:
    if r.get("RoleName"):
        return f"arn:aws:iam::{r.account}:role/{r.get('RoleName')}"
    if r.get("UserName"):
        return f"arn:aws:iam::{r.account}:user/{r.get('UserName')}"
    if r.get("PolicyArn"):
        return r.get("PolicyArn")
    if r.operation == "CreatePolicy":
        return f"arn:aws:iam::{r.account}:policy/{r.get('PolicyName')}"
    return None


def _sts(r: Request) -> str | None:
    return r.get("RoleArn")


def _wafv2(r: Request) -> str | None:
    if r.operation in ("AssociateWebACL",):
        return r.get("WebACLArn")
    if r.get("ResourceArn", "ResourceARN"):
        return r.get("ResourceArn", "ResourceARN")
    logging = r.params.get("LoggingConfiguration")
    if r.operation == "PutLoggingConfiguration" and isinstance(logging, dict):  # on its web ACL
        return logging.get("ResourceArn")
    scope = "global" if r.get("Scope") == "CLOUDFRONT" else "regional"
    if r.operation == "CreateWebACL":
        return r.arn("wafv2", f"{scope}/webacl/{r.get('Name')}/*")
    if r.operation in ("GetWebACL", "UpdateWebACL", "DeleteWebACL"):
        return r.arn("wafv2", f"{scope}/webacl/{r.get('Name')}/{r.get('Id')}")
    return None


def _servicequotas(r: Request) -> str | None:
    if r.operation == "GetServiceQuota":
        return r.arn("servicequotas", f"{r.get('ServiceCode')}/{r.get('QuotaCode')}")
    return None


DERIVATIONS: dict[str, Callable[[Request], str | None]] = {
    "ec2": _ec2, "rds": _rds, "elasticache": _elasticache, "elasticfilesystem": _efs, "ecs": _ecs,
    "elasticloadbalancing": _elbv2, "apigateway": _apigateway, "logs": _logs, "kms": _kms,
    "secretsmanager": _secretsmanager, "iam": _iam, "sts": _sts, "wafv2": _wafv2,
    "servicequotas": _servicequotas,
    # tag (GetResources), events, cloudwatch: no resource-level permissions for what the stack calls.
}

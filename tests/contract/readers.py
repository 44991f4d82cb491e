"""Whether a resource is live, asked with the test's OWN boto3 clients: one raw describe per
kind, by the id the state records, with no handler code in between.

A handler's own ``read``/``lookup`` would let a handler that reads the wrong thing (or swallows
an error) agree with itself; these readers are written from the AWS API reference, separately.
Each answers True (live), False (absent, or on its way out: deleting, pending deletion, INACTIVE).
"""
from __future__ import annotations

from typing import Callable

import boto3
from botocore.exceptions import ClientError

from tests.conftest import REGION


def _answered(call: Callable[[], object], *absent_codes: str) -> bool:
    """True when the call answers; False when it answers one of ``absent_codes``."""
    try:
        return bool(call())
    except ClientError as exc:
        if exc.response["Error"]["Code"] in absent_codes:
            return False
        raise


def _ec2(operation: str, items: str, filter_name: str, live: Callable[[dict], bool] = lambda _: True):
    # A filter, not the Ids parameter: a filter answers an empty list for an unknown id.
    def read(ec2, resource_id: str) -> bool:
        found = getattr(ec2, operation)(Filters=[{"Name": filter_name, "Values": [resource_id]}])[items]
        return any(live(i) for i in found)

    return "ec2", read


def _default_acl(ec2, acl_id: str) -> bool:
    # moto has no network-acl-id filter, and keeps a default ACL listed after its VPC is deleted
    # (AWS deletes it with the VPC): live only while its VPC is.
    acls = ec2.describe_network_acls(Filters=[{"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    vpcs = [a["VpcId"] for a in acls if a["NetworkAclId"] == acl_id]
    return bool(vpcs) and bool(ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": vpcs}])["Vpcs"])


def _log_group(logs, name: str) -> bool:
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return any(g["logGroupName"] == name for g in groups)


def _secret(sm, arn: str) -> bool:
    # A deleted secret stays describable (DeletedDate) until its recovery window ends.
    return _answered(lambda: "DeletedDate" not in sm.describe_secret(SecretId=arn), "ResourceNotFoundException")


def _role(iam, name: str) -> bool:
    return _answered(lambda: iam.get_role(RoleName=name), "NoSuchEntity")


def _web_acl(waf, arn: str) -> bool:
    # arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID
    name, acl_id = arn.split("/")[-2:]
    return _answered(lambda: waf.get_web_acl(Name=name, Scope="REGIONAL", Id=acl_id), "WAFNonexistentItemException")


def _stage(apigw, resource_id: str) -> bool:
    api, stage = resource_id.split("/")
    return _answered(lambda: apigw.get_stage(restApiId=api, stageName=stage), "NotFoundException")


def _service(ecs, arn: str) -> bool:
    cluster = arn.split("/")[-2]  # arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME
    found = ecs.describe_services(cluster=cluster, services=[arn])["services"]
    return any(s["status"] == "ACTIVE" for s in found)


# kind -> (service of the test's client, reader(client, recorded id) -> live)
READERS: dict[str, tuple[str, Callable]] = {
    "vpc": _ec2("describe_vpcs", "Vpcs", "vpc-id"),
    "internet_gateway": _ec2("describe_internet_gateways", "InternetGateways", "internet-gateway-id"),
    "subnet": _ec2("describe_subnets", "Subnets", "subnet-id"),
    "elastic_ip": _ec2("describe_addresses", "Addresses", "allocation-id"),
    "nat_gateway": _ec2("describe_nat_gateways", "NatGateways", "nat-gateway-id",
                        lambda n: n["State"] in ("pending", "available")),
    "route_table": _ec2("describe_route_tables", "RouteTables", "route-table-id"),
    "default_security_group": _ec2("describe_security_groups", "SecurityGroups", "group-id"),
    "security_group": _ec2("describe_security_groups", "SecurityGroups", "group-id"),
    "default_network_acl": ("ec2", _default_acl),
    "flow_log": _ec2("describe_flow_logs", "FlowLogs", "flow-log-id"),
    "generated_secret": ("secretsmanager", _secret),
    "api_key_secret": ("secretsmanager", _secret),
    "secret_policy": ("secretsmanager", lambda sm, arn: _answered(
        lambda: _secret(sm, arn) and "ResourcePolicy" in sm.get_resource_policy(SecretId=arn),
        "ResourceNotFoundException")),
    "log_group": ("logs", _log_group),
    "apigateway_execution_log_group": ("logs", _log_group),
    "iam_role": ("iam", _role),
    "apigateway_cloudwatch_role": ("iam", _role),
    "db_subnet_group": ("rds", lambda rds, name: _answered(
        lambda: rds.describe_db_subnet_groups(DBSubnetGroupName=name), "DBSubnetGroupNotFoundFault")),
    "db_instance": ("rds", lambda rds, name: _answered(
        lambda: rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"] != "deleting",
        "DBInstanceNotFound")),
    "cache_subnet_group": ("elasticache", lambda ec, name: _answered(
        lambda: ec.describe_cache_subnet_groups(CacheSubnetGroupName=name), "CacheSubnetGroupNotFoundFault")),
    "replication_group": ("elasticache", lambda ec, name: _answered(
        lambda: ec.describe_replication_groups(ReplicationGroupId=name)["ReplicationGroups"][0]["Status"] != "deleting",
        "ReplicationGroupNotFoundFault")),
    "efs_file_system": ("efs", lambda efs, fs: _answered(
        lambda: efs.describe_file_systems(FileSystemId=fs)["FileSystems"][0]["LifeCycleState"] in ("creating", "available"),
        "FileSystemNotFound")),
    # The mount targets' node is recorded under its file system's id.
    "efs_mount_targets": ("efs", lambda efs, fs: _answered(
        lambda: efs.describe_mount_targets(FileSystemId=fs)["MountTargets"], "FileSystemNotFound")),
    "efs_access_point": ("efs", lambda efs, ap: _answered(
        lambda: efs.describe_access_points(AccessPointId=ap)["AccessPoints"], "AccessPointNotFound")),
    "efs_file_system_policy": ("efs", lambda efs, fs: _answered(
        lambda: efs.describe_file_system_policy(FileSystemId=fs)["Policy"], "PolicyNotFound", "FileSystemNotFound")),
    "ecs_cluster": ("ecs", lambda ecs, arn: any(
        c["status"] == "ACTIVE" for c in ecs.describe_clusters(clusters=[arn])["clusters"])),
    "ecs_task_definition": ("ecs", lambda ecs, arn: _answered(
        lambda: ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "ACTIVE",
        "ClientException")),
    "ecs_service": ("ecs", _service),
    "elbv2_target_group": ("elbv2", lambda elb, arn: _answered(
        lambda: elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"], "TargetGroupNotFound")),
    "elbv2_load_balancer": ("elbv2", lambda elb, arn: _answered(
        lambda: elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"], "LoadBalancerNotFound")),
    "vpc_link": ("apigateway", lambda api, i: _answered(lambda: api.get_vpc_link(vpcLinkId=i), "NotFoundException")),
    "rest_api": ("apigateway", lambda api, i: _answered(lambda: api.get_rest_api(restApiId=i), "NotFoundException")),
    "api_stage": ("apigateway", _stage),
    "api_key": ("apigateway", lambda api, i: _answered(lambda: api.get_api_key(apiKey=i), "NotFoundException")),
    "usage_plan": ("apigateway", lambda api, i: _answered(lambda: api.get_usage_plan(usagePlanId=i), "NotFoundException")),
    "waf_web_acl": ("wafv2", _web_acl),
    # The association's node is recorded under the stage's ARN.
    "waf_logging": ("wafv2", lambda waf, arn: _answered(
        lambda: waf.get_logging_configuration(ResourceArn=arn), "WAFNonexistentItemException")),
    "waf_web_acl_association": ("wafv2", lambda waf, arn: _answered(
        lambda: "WebACL" in waf.get_web_acl_for_resource(ResourceArn=arn), "WAFNonexistentItemException")),
    "kms_key": ("kms", lambda kms, key: _answered(
        lambda: kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] not in ("PendingDeletion", "Deleted"),
        "NotFoundException")),
}


def live(kind: str, resource_id: str) -> bool:
    service, read = READERS[kind]
    return read(boto3.client(service, region_name=REGION), resource_id)

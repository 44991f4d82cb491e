"""Everything an environment owns, read with the test's own clients (never the tool's state)."""
from __future__ import annotations


def _tags(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _owned(resources: list[dict], env: str) -> list[dict]:
    return [
        r for r in resources
        if _tags(r).get("Environment") == env and _tags(r).get("ManagedBy") == "video-pipeline-infra"
    ]


def network_inventory(ec2, env: str) -> dict[str, list[dict]]:
    nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] not in ("deleted", "deleting", "failed")]
    return {
        "vpc": _owned(ec2.describe_vpcs()["Vpcs"], env),
        "subnet": _owned(ec2.describe_subnets()["Subnets"], env),
        "internet_gateway": _owned(ec2.describe_internet_gateways()["InternetGateways"], env),
        "elastic_ip": _owned(ec2.describe_addresses()["Addresses"], env),
        "nat_gateway": _owned(nats, env),
        "route_table": _owned(ec2.describe_route_tables()["RouteTables"], env),
    }


def counts(inventory: dict[str, list]) -> dict[str, int]:
    return {kind: len(items) for kind, items in inventory.items()}


def _tag_map(tags) -> dict:
    """AWS spells tags four ways: [{Key, Value}], [{key, value}], KMS's [{TagKey, TagValue}] and {k: v}."""
    if isinstance(tags, dict):
        return tags
    if tags and "TagKey" in tags[0]:
        return {t["TagKey"]: t["TagValue"] for t in tags}
    return {(t.get("Key") or t.get("key")): (t.get("Value") if "Value" in t else t.get("value")) for t in tags or []}


def _ours(tags, env: str) -> bool:
    tags = _tag_map(tags)
    return tags.get("Environment") == env and tags.get("ManagedBy") == "video-pipeline-infra"


NETWORK_ID_KEYS = {
    "vpc": "VpcId", "subnet": "SubnetId", "internet_gateway": "InternetGatewayId", "elastic_ip": "AllocationId",
    "nat_gateway": "NatGatewayId", "route_table": "RouteTableId",
}


def full_inventory(client, env: str) -> dict[str, list[str]]:
    """Every live resource of the environment, found by its ownership tags or its name."""
    ec2, rds, elasticache = client("ec2"), client("rds"), client("elasticache")
    # A subnet, NAT gateway or route table also carries its VpcId: read each kind's own id key.
    inv = {kind: [r[NETWORK_ID_KEYS[kind]] for r in items] for kind, items in network_inventory(ec2, env).items()}
    groups = [g for g in ec2.describe_security_groups()["SecurityGroups"] if _ours(g.get("Tags"), env)]
    inv["security_group"] = [g["GroupId"] for g in groups if g["GroupName"] != "default"]
    # issue 15: the VPC's default group and ACL while taken over (teardown hands them back).
    inv["default_security_group"] = [g["GroupId"] for g in groups if g["GroupName"] == "default"]
    inv["default_network_acl"] = [a["NetworkAclId"] for a in ec2.describe_network_acls()["NetworkAcls"]
                                  if a["IsDefault"] and _ours(a.get("Tags"), env)]
    inv["flow_log"] = [f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"] if _ours(f.get("Tags"), env)]
    kms = client("kms")
    # A key scheduled for deletion (teardown's ScheduleKeyDeletion) counts as gone.
    inv["kms_key"] = [k["KeyId"] for k in kms.list_keys()["Keys"]
                      if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"
                      and _ours(kms.list_resource_tags(KeyId=k["KeyId"])["Tags"], env)]
    sm = client("secretsmanager")
    inv["secret"] = [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=False)["SecretList"] if _ours(s.get("Tags"), env)]
    # issue 15: the resource policy of each of those secrets (docs/configuration.md "secrets").
    inv["secret_policy"] = [name for name in inv["secret"] if sm.get_resource_policy(SecretId=name).get("ResourcePolicy")]
    inv["db_instance"] = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
                          if _ours(d.get("TagList"), env)]
    inv["db_subnet_group"] = [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]
                              if _ours(rds.list_tags_for_resource(ResourceName=g["DBSubnetGroupArn"])["TagList"], env)]
    inv["replication_group"] = [g["ReplicationGroupId"] for g in elasticache.describe_replication_groups()["ReplicationGroups"]
                                if g["Status"] != "deleting" and g["ReplicationGroupId"] == f"redis-{env}"]
    inv["cache_subnet_group"] = [g["CacheSubnetGroupName"] for g in elasticache.describe_cache_subnet_groups()["CacheSubnetGroups"]
                                 if g["CacheSubnetGroupName"] == f"redis-subnet-group-{env}"]
    efs = client("efs")
    inv["file_system"] = [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"] if _ours(f.get("Tags"), env)]
    inv["access_point"] = [a["AccessPointId"] for a in efs.describe_access_points()["AccessPoints"] if _ours(a.get("Tags"), env)]
    inv["mount_target"] = [m["MountTargetId"] for fs in inv["file_system"]
                           for m in efs.describe_mount_targets(FileSystemId=fs)["MountTargets"]]
    iam = client("iam")
    inv["iam_role"] = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].endswith(f"-{env}")
                       and _ours(iam.list_role_tags(RoleName=r["RoleName"])["Tags"], env)]
    logs = client("logs")
    apis = [a["id"] for a in client("apigateway").get_rest_apis()["items"] if a["name"] == f"video-metadata-api-{env}"]
    prefixes = (f"/ecs/video-processing-{env}/", f"/vpc/video-pipeline-{env}/", f"/aws/apigateway/video-metadata-api-{env}/",
                *(f"API-Gateway-Execution-Logs_{a}/{env}" for a in apis),
                # RDS's export log groups (issue 15, logs), made by the stack before the instance.
                f"/aws/rds/instance/rds-postgresql-{env}/",
                # The web ACL's log group (FSBP WAF.11): WAF wants the aws-waf-logs- prefix.
                f"aws-waf-logs-video-metadata-api-{env}")
    inv["log_group"] = [g["logGroupName"] for prefix in prefixes
                        for g in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]]
    # issue 15, API Gateway: the stage's web ACL and its association (FSBP APIGateway.4).
    waf = client("wafv2")
    acls = [a for a in waf.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == f"video-metadata-api-waf-{env}"]
    inv["web_acl"] = [a["Id"] for a in acls]
    # moto has no ListResourcesForWebACL: the stage is asked which web ACL guards it.
    stages = [f"arn:aws:apigateway:{waf.meta.region_name}::/restapis/{a}/stages/{env}" for a in apis]
    inv["web_acl_association"] = [s for s in stages if waf.get_web_acl_for_resource(ResourceArn=s).get("WebACL")]
    inv["waf_logging"] = [c["ResourceArn"] for c in waf.list_logging_configurations(Scope="REGIONAL")["LoggingConfigurations"]
                          if c["ResourceArn"] in {a["ARN"] for a in acls}]
    ecs = client("ecs")
    clusters = ecs.describe_clusters(clusters=[f"video-processing-{env}"])["clusters"]
    inv["ecs_cluster"] = [c["clusterName"] for c in clusters if c["status"] == "ACTIVE"]
    inv["ecs_service"] = [s["serviceName"] for c in inv["ecs_cluster"]
                          for s in ecs.describe_services(cluster=c, services=[f"metadata-api-{env}", f"video-worker-{env}"])["services"]
                          if s["status"] == "ACTIVE"]
    inv["task_definition"] = [arn for fam in (f"metadata-api-{env}", f"video-worker-{env}")
                              for arn in ecs.list_task_definitions(familyPrefix=fam, status="ACTIVE")["taskDefinitionArns"]]
    elb = client("elbv2")
    inv["load_balancer"] = [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]
                            if lb["LoadBalancerName"] == f"api-nlb-{env}"]
    inv["target_group"] = [tg["TargetGroupName"] for tg in elb.describe_target_groups()["TargetGroups"]
                           if tg["TargetGroupName"] == f"api-tg-{env}"]
    apigw = client("apigateway")
    inv["rest_api"] = [a["id"] for a in apigw.get_rest_apis()["items"] if _ours(a.get("tags"), env)]
    inv["api_key"] = [k["id"] for k in apigw.get_api_keys()["items"] if _ours(k.get("tags"), env)]
    inv["usage_plan"] = [p["id"] for p in apigw.get_usage_plans()["items"] if _ours(p.get("tags"), env)]
    inv["vpc_link"] = [v["id"] for v in apigw.get_vpc_links()["items"] if _ours(v.get("tags"), env)]
    return inv


def secret_values(reader, env: str) -> dict[str, str]:
    """The environment's secret values, read with the test's own clients: what no file, log or
    output of the tool may hold (the database password, the Redis token, the API key)."""
    import json

    sm = reader("secretsmanager")
    db = sm.list_secrets(Filters=[{"Key": "name", "Values": ["rds!"]}])["SecretList"][0]["ARN"]
    api_key_id = full_inventory(reader, env)["api_key"][0]
    return {
        "db password": json.loads(sm.get_secret_value(SecretId=db)["SecretString"])["password"],
        "redis token": json.loads(sm.get_secret_value(SecretId=f"redis-auth-{env}")["SecretString"])["auth_token"],
        "api key": reader("apigateway").get_api_key(apiKey=api_key_id, includeValue=True)["value"],
    }

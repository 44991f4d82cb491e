"""bin/drift against a moto server: changes made behind the tool's back are named, then repaired.

One environment is reconciled once for the module; every scenario breaks something with the
test's own client, expects `bin/drift` to exit 2 naming the AWS identifier and attribute, runs
`bin/reconcile`, and expects `bin/drift` to exit 0 again.
"""
from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from typing import Callable

import pytest

ENV = "drifty"
# The scenarios share one environment, in order: pytest-xdist (--dist loadscope) runs the whole
# module on one worker.


@pytest.fixture(scope="module")
def env_up(moto_server, tmp_path_factory):
    moto_server.reset()
    return True


@pytest.fixture
def drift_cli(env_up, moto_server, cli_factory):
    return cli_factory(moto_server)


def _vpc(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"vpc-{ENV}"]}])["Vpcs"][0]["VpcId"]


def _sg(ec2, name):
    return ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"][0]["GroupId"]


def _rt(ec2, name):
    return ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": [name]}])["RouteTables"][0]["RouteTableId"]


def _subnet(ec2, name):
    return ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [name]}])["Subnets"][0]["SubnetId"]


@dataclass
class Scenario:
    name: str
    service: str
    act: Callable  # (client) -> the AWS identifier the report must name
    attribute: str  # the attribute, or "missing"


def open_ssh(c):
    sg = _sg(c("ec2"), f"rds-sg-{ENV}")
    c("ec2").authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    return sg


def dns_off(c):
    vpc = _vpc(c("ec2"))
    c("ec2").modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": False})
    return vpc


def drop_default_route(c):
    rt = _rt(c("ec2"), f"private-rt-1-{ENV}")
    c("ec2").delete_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0")
    return rt


def rename_subnet(c):
    subnet = _subnet(c("ec2"), f"isolated-subnet-2-{ENV}")
    c("ec2").create_tags(Resources=[subnet], Tags=[{"Key": "Name", "Value": "renamed-by-hand"}])
    return subnet


def shorter_backups(c):
    c("rds").modify_db_instance(DBInstanceIdentifier=f"rds-postgresql-{ENV}", BackupRetentionPeriod=1, ApplyImmediately=True)
    return f"rds-postgresql-{ENV}"


def redis_tag(c):
    arn = c("elasticache").describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]["ARN"]
    c("elasticache").add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "Environment", "Value": "other"}])
    return f"redis-{ENV}"


def efs_lifecycle(c):
    fs = [f for f in c("efs").describe_file_systems()["FileSystems"] if f.get("Name") == f"efs-{ENV}"][0]["FileSystemId"]
    c("efs").put_lifecycle_configuration(FileSystemId=fs, LifecyclePolicies=[])
    return fs


def log_retention(c):
    name = f"/ecs/video-processing-{ENV}/metadata-api"
    c("logs").put_retention_policy(logGroupName=name, retentionInDays=1)
    return name


def rds_export_group_unencrypted(c):
    name = f"/aws/rds/instance/{DB}/postgresql"
    c("logs").disassociate_kms_key(logGroupName=name)
    return name


def scale_service(c):
    c("ecs").update_service(cluster=f"video-processing-{ENV}", service=f"video-worker-{ENV}", desiredCount=5)
    return f"video-worker-{ENV}"


def insights_off(c):
    c("ecs").update_cluster(cluster=f"video-processing-{ENV}", settings=[{"name": "containerInsights", "value": "disabled"}])
    return f"video-processing-{ENV}"


def throttle(c):
    plan = [p for p in c("apigateway").get_usage_plans()["items"] if p["name"] == f"usage-plan-{ENV}"][0]
    c("apigateway").update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "5000"}])
    return plan["id"]


def widen_policy(c):
    role = f"ecs-task-role-{ENV}"
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    c("iam").put_role_policy(RoleName=role, PolicyName="tasks", PolicyDocument=json.dumps(doc))
    return role


def delete_secret(c):
    arn = c("secretsmanager").describe_secret(SecretId=f"api-keys-{ENV}")["ARN"]
    c("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    return arn



# -- issue 15, data services and load balancer (docs/configuration.md): each setting switched off ----

DB = f"rds-postgresql-{ENV}"


def _modify_db(c, **changes) -> str:
    c("rds").modify_db_instance(DBInstanceIdentifier=DB, ApplyImmediately=True, **changes)
    return DB


def _efs(c) -> str:
    return [f for f in c("efs").describe_file_systems()["FileSystems"] if f.get("Name") == f"efs-{ENV}"][0]["FileSystemId"]


def _nlb(c) -> str:
    return c("elbv2").describe_load_balancers(Names=[f"api-nlb-{ENV}"])["LoadBalancers"][0]["LoadBalancerArn"]


def redis_off(**changes):
    def act(c):
        c("elasticache").modify_replication_group(ReplicationGroupId=f"redis-{ENV}", ApplyImmediately=True, **changes)
        return f"redis-{ENV}"
    return act


def efs_backup_off(c):
    fs = _efs(c)
    c("efs").put_backup_policy(FileSystemId=fs, BackupPolicy={"Status": "DISABLED"})
    return fs


def efs_policy_deleted(c):
    fs = _efs(c)
    c("efs").delete_file_system_policy(FileSystemId=fs)
    return fs


def cross_zone_off(c):
    arn = _nlb(c)
    c("elbv2").modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "load_balancing.cross_zone.enabled", "Value": "false"}])
    return arn


def monitoring_policy_detached(c):
    role = f"rds-monitoring-role-{ENV}"
    c("iam").detach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")
    return role

def secret_policy_deleted(c):
    arn = c("secretsmanager").describe_secret(SecretId=f"redis-auth-{ENV}")["ARN"]
    c("secretsmanager").delete_resource_policy(SecretId=arn)
    return arn


def secret_policy_widened(c):
    arn = c("secretsmanager").describe_secret(SecretId=f"api-keys-{ENV}")["ARN"]
    c("secretsmanager").put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "secretsmanager:*", "Resource": "*"}]}))
    return arn


def task_trust_opened(c):
    role = f"ecs-task-role-{ENV}"
    c("iam").update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    return role


def writable_root(c):
    ecs = c("ecs")
    answer = ecs.describe_task_definition(taskDefinition=f"metadata-api-{ENV}", include=["TAGS"])
    td = answer["taskDefinition"]
    keep = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory", "executionRoleArn", "taskRoleArn", "volumes")
    containers = [{**d, "readonlyRootFilesystem": False} for d in td["containerDefinitions"]]
    return ecs.register_task_definition(**{k: td[k] for k in keep}, containerDefinitions=containers,
                                       tags=answer["tags"])["taskDefinition"]["taskDefinitionArn"]


def waf_logging_off(c):
    """FSBP WAF.11 switched off: the web ACL's logging configuration deleted."""
    waf = c("wafv2")
    [acl] = [a["ARN"] for a in waf.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == f"video-metadata-api-waf-{ENV}"]
    waf.delete_logging_configuration(ResourceArn=acl)
    return acl


SCENARIOS = [
    Scenario("ssh open on the database group", "ec2", open_ssh, "ingress"),
    Scenario("DNS hostnames off", "ec2", dns_off, "enable_dns_hostnames"),
    Scenario("private default route deleted", "ec2", drop_default_route, "routes"),
    Scenario("subnet renamed", "ec2", rename_subnet, "tags.Name"),
    Scenario("RDS backups shortened", "rds", shorter_backups, "backup_retention_days"),
    Scenario("Redis ownership tag changed", "elasticache", redis_tag, "tags.Environment"),
    Scenario("EFS lifecycle removed", "efs", efs_lifecycle, "lifecycle_policies"),
    Scenario("log retention shortened", "logs", log_retention, "retention_days"),
    Scenario("worker scaled by hand", "ecs", scale_service, "desired_count"),
    Scenario("Container Insights off", "ecs", insights_off, "container_insights"),
    Scenario("usage plan throttle raised", "apigateway", throttle, "throttle"),
    Scenario("task role widened", "iam", widen_policy, "inline_policies"),
    Scenario("API key secret deleted", "secretsmanager", delete_secret, "missing"),
    # issue 15, data services and load balancer (FSBP RDS.10, RDS.9, RDS.6, RDS.13, ElastiCache.1,
    # ElastiCache.2, EFS.2, the EFS policy, the NLB's cross-zone setting).
    Scenario("RDS IAM authentication off", "rds", lambda c: _modify_db(c, EnableIAMDatabaseAuthentication=False),
             "iam_database_authentication"),
    Scenario("RDS upgrade log export stopped", "rds",
             lambda c: _modify_db(c, CloudwatchLogsExportConfiguration={"DisableLogTypes": ["upgrade"]}), "cloudwatch_logs_exports"),
    Scenario("RDS Enhanced Monitoring off", "rds", lambda c: _modify_db(c, MonitoringInterval=0), "monitoring_interval"),
    Scenario("RDS minor upgrades off", "rds", lambda c: _modify_db(c, AutoMinorVersionUpgrade=False), "auto_minor_version_upgrade"),
    Scenario("RDS monitoring role policy detached", "iam", monitoring_policy_detached, "managed_policy_arns"),
    Scenario("Redis backups off", "elasticache", redis_off(SnapshotRetentionLimit=0), "snapshot_retention_days"),
    Scenario("Redis minor upgrades off", "elasticache", redis_off(AutoMinorVersionUpgrade=False), "auto_minor_version_upgrade"),
    Scenario("EFS backup off", "efs", efs_backup_off, "backup"),
    Scenario("EFS policy deleted", "efs", efs_policy_deleted, "missing"),
    Scenario("NLB cross-zone off", "elbv2", cross_zone_off, "cross_zone"),
    # issue 15, IAM / secrets / ECS
    Scenario("Redis AUTH secret policy deleted", "secretsmanager", secret_policy_deleted, "missing"),
    Scenario("API key secret policy widened", "secretsmanager", secret_policy_widened, "policy"),
    Scenario("task role trust without its conditions", "iam", task_trust_opened, "assume_role_policy"),
    Scenario("API container root made writable", "ecs", writable_root,
             "container_definitions[metadata-api].readonlyRootFilesystem"),
    # issue 15, keys / logs: RDS's export log group without the environment's key. (The RDS master
    # secret moved to another key is drift no reconcile repairs, docs/aws-behaviours.md D-RDS-1:
    # tests/resources/test_security_data.py holds it.)
    Scenario("RDS export log group unencrypted", "logs", rds_export_group_unencrypted, "kms_key_id"),
    Scenario("WAF logging switched off", "wafv2", waf_logging_off, "missing"),
]


def test_a_fresh_environment_is_in_sync_and_the_check_changes_nothing(drift_cli, moto_server):
    created = drift_cli("reconcile", "--env", ENV)
    assert created.code == 0, created.stderr
    moto_server.clear_recording()
    result = drift_cli("drift", "--env", ENV, "--json")
    assert result.code == 0, result.stderr + result.stdout
    doc = json.loads(result.stdout)
    assert doc["in_sync"] is True and doc["drifted"] == doc["missing"] == doc["unmanaged"] == []
    calls = moto_server.calls()
    assert calls and moto_server.mutating_calls() == []
    # Batched reads: one filtered listing per EC2 kind, shared with the unmanaged search.
    ec2 = collections.Counter(c.operation for c in calls if c.service == "ec2")
    for kind in ("DescribeSubnets", "DescribeSecurityGroups", "DescribeSecurityGroupRules", "DescribeRouteTables",
                 "DescribeNatGateways", "DescribeInternetGateways", "DescribeAddresses"):
        assert ec2[kind] == 1, (kind, ec2)
    # The no-op's reads and the VPC's network interfaces for the unmanaged search (the tagging
    # API's listing serves both, and gives the mount targets' groups). No secret value is read
    # (docs/drift.md). 81 → 69 → 59 over issue 25;
    # 60 with the web ACL's logging (FSBP WAF.11).
    assert len(calls) <= 60, collections.Counter(f"{c.service}:{c.operation}" for c in calls)
    assert doc["aws_calls"]["total"] == len(calls)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_drift_is_named_then_repaired(drift_cli, reader_factory, moto_server, scenario):
    client = reader_factory(moto_server)
    ident = scenario.act(client)
    found = drift_cli("drift", "--env", ENV, "--json")
    assert found.code == 2, found.stderr
    doc = json.loads(found.stdout)
    assert doc["in_sync"] is False
    if scenario.attribute == "missing":
        assert any(m["id"] == ident for m in doc["missing"]), doc
    else:
        hits = [d for d in doc["drifted"] if d["attribute"] == scenario.attribute]
        assert hits, doc["drifted"]
        assert any(d["id"] == ident or str(d["id"]).endswith(ident) for d in hits), (ident, hits)
    assert "Drift in" in found.stderr
    repaired = drift_cli("reconcile", "--env", ENV)
    assert repaired.code == 0, repaired.stderr
    again = drift_cli("drift", "--env", ENV, "--json")
    assert again.code == 0, again.stdout


def test_unmanaged_resources_in_the_vpc_are_reported(drift_cli, reader_factory, moto_server):
    ec2 = reader_factory(moto_server)("ec2")
    vpc = _vpc(ec2)
    stray = ec2.create_security_group(GroupName="hand-made", Description="not ours", VpcId=vpc)["GroupId"]
    try:
        result = drift_cli("drift", "--env", ENV, "--json")
        assert result.code == 2
        [entry] = [u for u in json.loads(result.stdout)["unmanaged"] if (u["kind"], u["id"]) == ("security_group", stray)]
        # What to do: reconcile does not delete what it did not create.
        assert "delete it, or add an ignore rule" in entry["advice"]
        assert "Reconcile does not delete what it did not create" in result.stderr
    finally:  # the next scenarios share the environment
        ec2.delete_security_group(GroupId=stray)
    assert drift_cli("drift", "--env", ENV).code == 0


def test_drift_notifies_a_command_with_the_report(drift_cli, reader_factory, moto_server, tmp_path):
    dns_off(reader_factory(moto_server))
    sink = tmp_path / "report.json"
    result = drift_cli("drift", "--env", ENV, "--notify-command", f"cat > {sink}")
    assert result.code == 2
    assert json.loads(sink.read_text())["drifted"][0]["attribute"] == "enable_dns_hostnames"
    assert drift_cli("reconcile", "--env", ENV).code == 0
    quiet = tmp_path / "quiet.json"
    assert drift_cli("drift", "--env", ENV, "--notify-command", f"cat > {quiet}").code == 0
    assert not quiet.exists()

"""The whole seed stack through the real bin/ commands, read back line by line of docs/configuration.md.

The tests that only read the stack (or run passes that must change nothing) share one stack,
built once on a moto server of the module's own; the teardown test builds its own.
"""
from __future__ import annotations

import collections

import functools
import json
import re
from types import SimpleNamespace

import pytest

from tests.e2e.inventory import full_inventory
from tests.support.commands import make_cli, make_reader
from tests.support.moto_server import MotoServer

ENV = "dev"
FULL_STACK = {
    "vpc": 1, "subnet": 6, "internet_gateway": 1, "elastic_ip": 2, "nat_gateway": 2, "route_table": 4,
    "security_group": 5, "secret": 2, "db_instance": 1, "db_subnet_group": 1, "replication_group": 1,
    "cache_subnet_group": 1, "file_system": 1, "access_point": 1, "mount_target": 2, "iam_role": 5,
    "log_group": 8, "ecs_cluster": 1, "ecs_service": 2, "task_definition": 2, "load_balancer": 1,
    "target_group": 1, "rest_api": 1, "api_key": 1, "usage_plan": 1, "vpc_link": 1,
    # issue 15, VPC / keys / logs: the flow log with its role and log group (iam_role, log_group
    # above include them), the key, and the VPC's default security group and ACL taken over.
    "kms_key": 1, "flow_log": 1, "default_security_group": 1, "default_network_acl": 1,
    # issue 15, API Gateway: the account's CloudWatch role is in iam_role above (5), the access and
    # execution log groups in log_group (5); the stage's web ACL and its association.
    "web_acl": 1, "web_acl_association": 1,
    # issue 15, IAM / secrets / ECS: the resource policy of each secret the stack owns.
    "secret_policy": 2,
    # issue 15, keys / logs: log_group above (8) includes RDS's two export log groups.
    # FSBP WAF.11: the web ACL's logging; its log group is in log_group above (8).
    "waf_logging": 1,
}
OUTPUTS = ("VpcId", "EcsClusterName", "RdsEndpoint", "RedisEndpoint", "EfsFileSystemId", "ApiEndpoint", "DbSecretArn")


def counts(inv):
    return {k: len(v) for k, v in inv.items()}


def create(cli):
    result = cli("reconcile", "--env", ENV, "--json", "--log-format", "json")
    assert result.code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One stack for the module's read-only tests, on a server no other test resets."""
    workdir = tmp_path_factory.mktemp("full-stack")
    server = MotoServer(workdir)
    try:
        cli = make_cli(server, workdir / "state", workdir)
        yield SimpleNamespace(server=server, cli=cli, state_dir=workdir / "state", stack=create(cli),
                              reader=functools.cache(make_reader(server)))
    finally:
        server.stop()


@pytest.fixture
def stack(built):
    return built.stack


@pytest.fixture
def reader(built):
    return built.reader


def test_reconcile_creates_the_whole_stack_and_prints_the_seven_outputs(stack, reader):
    outputs = stack.json["outputs"]
    assert all(outputs[k] for k in OUTPUTS), outputs
    assert counts(full_inventory(reader, ENV)) == FULL_STACK
    ec2 = reader("ec2")
    assert outputs["VpcId"] == ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"vpc-{ENV}"]}])["Vpcs"][0]["VpcId"]
    assert outputs["EcsClusterName"] == f"video-processing-{ENV}"
    db = reader("rds").describe_db_instances(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBInstances"][0]
    assert outputs["RdsEndpoint"] == db["Endpoint"]["Address"]
    assert outputs["DbSecretArn"] == db["MasterUserSecret"]["SecretArn"]
    rg = reader("elasticache").describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]
    assert outputs["RedisEndpoint"] == rg["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    api_id = full_inventory(reader, ENV)["rest_api"][0]
    assert outputs["ApiEndpoint"] == f"https://{api_id}.execute-api.us-east-1.amazonaws.com/{ENV}"
    fs = reader("efs").describe_file_systems(FileSystemId=outputs["EfsFileSystemId"])["FileSystems"][0]
    assert {t["Key"]: t["Value"] for t in fs["Tags"]}["Name"] == f"efs-{ENV}"


def test_second_reconcile_makes_no_mutating_call(built):
    cli, server = built.cli, built.server
    server.clear_recording()
    again = cli("reconcile", "--env", ENV, "--json")
    assert again.code == 0, again.stderr
    assert again.json["changes"] == []
    assert server.mutating_calls() == []
    # The no-op's reads, one per setting the drift check compares (docs/drift.md, "What a check
    # reads"): one listing per EC2 kind, the roles from ListRoles and GetAccountAuthorizationDetails,
    # tags from one tagging API listing, and the kinds one call describes together (log groups,
    # ECS services, secrets: Handler.describe_many). 79 → 68 → 59 over issue 25;
    # 60 with the web ACL's logging (FSBP WAF.11).
    assert len(server.calls()) <= 60, collections.Counter(f"{c.service}:{c.operation}" for c in server.calls())
    plan = cli("reconcile", "--env", ENV, "--plan")
    assert plan.code == 0 and server.mutating_calls() == []


def test_teardown_leaves_nothing_and_reconcile_works_again(cli, server):
    create(cli)  # a stack of its own: the shared one stays for the tests that read it
    reader = functools.cache(make_reader(server))
    down = cli("teardown", "--env", ENV, "--yes", "--json")
    assert down.code == 0, down.stderr
    left = {k: v for k, v in full_inventory(reader, ENV).items() if v}
    assert left == {}
    assert cli("teardown", "--env", ENV, "--yes").code == 0
    again = cli("reconcile", "--env", ENV, "--json")
    assert again.code == 0, again.stderr
    assert counts(full_inventory(reader, ENV)) == FULL_STACK


def test_no_secret_value_in_state_stdout_stderr_or_logs(built):
    stack, cli, reader, state_dir = built.stack, built.cli, built.reader, built.state_dir
    sm = reader("secretsmanager")
    db_secret = json.loads(sm.get_secret_value(SecretId=stack.json["outputs"]["DbSecretArn"])["SecretString"])
    redis_token = json.loads(sm.get_secret_value(SecretId=f"redis-auth-{ENV}")["SecretString"])["auth_token"]
    api_key_id = full_inventory(reader, ENV)["api_key"][0]
    api_key = reader("apigateway").get_api_key(apiKey=api_key_id, includeValue=True)["value"]
    stored = json.loads(sm.get_secret_value(SecretId=f"api-keys-{ENV}")["SecretString"])["api_key"]
    assert stored == api_key, "the api-keys secret must hold the very key API Gateway enforces"
    secrets = {"db password": db_secret["password"], "redis token": redis_token, "api key": api_key}
    assert all(len(v) >= 16 for v in secrets.values())
    # Another pass and a plan, so their output is searched too.
    runs = [stack, cli("reconcile", "--env", ENV, "--json"), cli("reconcile", "--env", ENV, "--plan", "--log-format", "json")]
    haystacks = {f"run {i} {stream}": getattr(r, stream) for i, r in enumerate(runs) for stream in ("stdout", "stderr")}
    for path in state_dir.iterdir():
        haystacks[path.name] = path.read_text(errors="replace")
    assert any(name.endswith(".json") for name in haystacks)
    for what, value in secrets.items():
        for where, text in haystacks.items():
            assert value not in text, f"{what} found in {where}"


def test_every_line_of_stack_md(stack, reader):
    ec2, outputs = reader("ec2"), stack.json["outputs"]
    vpc_id = outputs["VpcId"]
    subnets = {next(t["Value"] for t in s["Tags"] if t["Key"] == "Name"): s
               for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    private = sorted(subnets[f"private-subnet-{i}-{ENV}"]["SubnetId"] for i in (1, 2))
    isolated = sorted(subnets[f"isolated-subnet-{i}-{ENV}"]["SubnetId"] for i in (1, 2))

    # security groups: least privilege, nothing open to the world
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]}
    ecs_sg = groups[f"ecs-sg-{ENV}"]["GroupId"]
    for name, port in ((f"rds-sg-{ENV}", 5432), (f"redis-sg-{ENV}", 6379), (f"efs-sg-{ENV}", 2049)):
        [rule] = groups[name]["IpPermissions"]
        assert (rule["FromPort"], rule["ToPort"]) == (port, port)
        assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [ecs_sg] and rule["IpRanges"] == []
    [api_rule] = groups[f"ecs-sg-{ENV}"]["IpPermissions"]
    assert [p["GroupId"] for p in api_rule["UserIdGroupPairs"]] == [groups[f"nlb-sg-{ENV}"]["GroupId"]]
    for g in groups.values():
        if g["GroupName"] != "default":
            assert all(r["CidrIp"] != "0.0.0.0/0" for p in g["IpPermissions"] for r in p["IpRanges"])

    # database
    db = reader("rds").describe_db_instances(DBInstanceIdentifier=f"rds-postgresql-{ENV}")["DBInstances"][0]
    assert (db["Engine"], db["DBInstanceClass"], db["MultiAZ"], db["StorageEncrypted"], db["PubliclyAccessible"]) == (
        "postgres", "db.t3.medium", True, True, False)
    assert db["BackupRetentionPeriod"] >= 1 and db["DeletionProtection"] is False
    assert sorted(s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]) == isolated
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [groups[f"rds-sg-{ENV}"]["GroupId"]]

    # cache
    ec = reader("elasticache")
    rg = ec.describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]
    assert len(rg["MemberClusters"]) == 2 and rg["AutomaticFailover"] == "enabled" and rg["MultiAZ"] == "enabled"
    assert rg["AtRestEncryptionEnabled"] and rg["TransitEncryptionEnabled"] and rg["AuthTokenEnabled"]
    assert rg["CacheNodeType"] == "cache.t3.micro"
    group = ec.describe_cache_subnet_groups(CacheSubnetGroupName=f"redis-subnet-group-{ENV}")["CacheSubnetGroups"][0]
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == isolated

    # file system
    efs = reader("efs")
    fs = efs.describe_file_systems(FileSystemId=outputs["EfsFileSystemId"])["FileSystems"][0]
    assert fs["Encrypted"] and fs["PerformanceMode"] == "generalPurpose" and fs["ThroughputMode"] == "bursting"
    policies = efs.describe_lifecycle_configuration(FileSystemId=fs["FileSystemId"])["LifecyclePolicies"]
    assert {"TransitionToIA": "AFTER_14_DAYS"} in policies and {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"} in policies
    mts = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
    assert sorted(m["SubnetId"] for m in mts) == private
    for m in mts:
        assert efs.describe_mount_target_security_groups(MountTargetId=m["MountTargetId"])["SecurityGroups"] == [
            groups[f"efs-sg-{ENV}"]["GroupId"]]

    # identity: trust ecs-tasks, no "*" action on "*" resource
    iam = reader("iam")
    for role in (f"ecs-task-execution-role-{ENV}", f"ecs-task-role-{ENV}"):
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        service = trust["Statement"][0]["Principal"]["Service"]
        assert service in ("ecs-tasks.amazonaws.com", ["ecs-tasks.amazonaws.com"])
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            doc = json.loads(doc) if isinstance(doc, str) else doc
            for st in doc["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                assert not ("*" in actions and "*" in resources)
                assert not any(a.endswith(":*") for a in actions)
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []

    # logs
    groups_logs = reader("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/video-processing-{ENV}/")["logGroups"]
    assert sorted(g["logGroupName"].rsplit("/", 1)[1] for g in groups_logs) == ["metadata-api", "video-worker"]
    assert {g["retentionInDays"] for g in groups_logs} == {30}

    # compute
    ecs = reader("ecs")
    cluster = ecs.describe_clusters(clusters=[f"video-processing-{ENV}"], include=["SETTINGS"])["clusters"][0]
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    services = ecs.describe_services(cluster=cluster["clusterName"], services=[f"metadata-api-{ENV}", f"video-worker-{ENV}"])["services"]
    assert len(services) == 2
    for svc in services:
        net = svc["networkConfiguration"]["awsvpcConfiguration"]
        assert sorted(net["subnets"]) == private and net["assignPublicIp"] == "DISABLED" and net["securityGroups"] == [ecs_sg]
        assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"] is True
        assert svc["launchType"] == "FARGATE" and svc["runningCount"] == svc["desiredCount"]
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        assert td["networkMode"] == "awsvpc" and td["requiresCompatibilities"] == ["FARGATE"]
        assert td["executionRoleArn"].endswith(f"role/ecs-task-execution-role-{ENV}")
        assert td["taskRoleArn"].endswith(f"role/ecs-task-role-{ENV}")
        [container] = td["containerDefinitions"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert {s["name"] for s in container["secrets"]} == {"DB_CREDENTIALS", "REDIS_AUTH_TOKEN"}
        assert all("valueFrom" in s and "value" not in s for s in container["secrets"])
        # docs/configuration.md ECS row: read-only root, never privileged, awslogs non-blocking.
        assert container["readonlyRootFilesystem"] is True and container["privileged"] is False
        assert container["logConfiguration"]["options"]["mode"] == "non-blocking"
    worker_td = ecs.describe_task_definition(taskDefinition=f"video-worker-{ENV}")["taskDefinition"]
    # The EFS volume, then the writable scratch of the read-only root (/tmp).
    volume, scratch = worker_td["volumes"]
    assert scratch["name"] == "scratch-tmp"
    assert volume["efsVolumeConfiguration"]["fileSystemId"] == fs["FileSystemId"]
    assert volume["efsVolumeConfiguration"]["transitEncryption"] == "ENABLED"

    # API: REST API → VPC link → internal NLB → metadata service; API key enforced; usage plan
    elb = reader("elbv2")
    [nlb] = elb.describe_load_balancers(Names=[f"api-nlb-{ENV}"])["LoadBalancers"]
    assert nlb["Scheme"] == "internal" and nlb["Type"] == "network"
    [listener] = elb.describe_listeners(LoadBalancerArn=nlb["LoadBalancerArn"])["Listeners"]
    [tg] = elb.describe_target_groups(Names=[f"api-tg-{ENV}"])["TargetGroups"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    apigw = reader("apigateway")
    api_id = re.match(r"https://([^.]+)\.", outputs["ApiEndpoint"]).group(1)
    [link] = [v for v in apigw.get_vpc_links()["items"] if v["name"] == f"vpc-link-{ENV}"]
    assert link["targetArns"] == [nlb["LoadBalancerArn"]]
    paths = {r["path"]: r for r in apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]}
    assert {"/videos", "/videos/{id}"} <= set(paths)
    for path in ("/videos", "/videos/{id}"):
        for verb in paths[path]["resourceMethods"]:
            method = apigw.get_method(restApiId=api_id, resourceId=paths[path]["id"], httpMethod=verb)
            assert method["apiKeyRequired"] is True
            integration = method["methodIntegration"]
            assert (integration["type"], integration["connectionType"], integration["connectionId"]) == (
                "HTTP_PROXY", "VPC_LINK", link["id"])
            assert nlb["DNSName"] in integration["uri"]
    stage = apigw.get_stage(restApiId=api_id, stageName=ENV)
    assert stage["stageName"] == ENV
    [plan] = [p for p in apigw.get_usage_plans()["items"] if p["name"] == f"usage-plan-{ENV}"]
    assert plan["throttle"] == {"rateLimit": 100.0, "burstLimit": 200}
    assert plan["apiStages"] == [{"apiId": api_id, "stage": ENV}]
    keys = apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert [k["name"] for k in keys] == [f"api-key-{ENV}"]

"""bin/drift on an account that answers as a real one (issue 14): the test server's GetResources
lists the stack's children and resources deleted a while ago (sandbox/fidelity/tagging.py,
docs/aws-behaviours.md C-TAG-1, C-EC-2, on by default), the NAT and mount-target interfaces name their owner.

Two environments are reconciled once for the module; each test adds what it needs with the
test's own client and removes it afterwards.
"""
from __future__ import annotations

import collections

import pytest

from tests.fidelity.test_clock_control import post

ENVS = ("truth", "other")
TAGS = lambda env: {"Environment": env, "ManagedBy": "video-pipeline-infra"}  # noqa: E731


@pytest.fixture(scope="module")
def stack(moto_server, cli_factory):
    moto_server.reset()
    cli = cli_factory(moto_server)
    for env in ENVS:
        created = cli("reconcile", "--env", env)
        assert created.code == 0, created.stderr
    return cli


@pytest.fixture
def aws(stack, moto_server, reader_factory):
    return reader_factory(moto_server)


def swept(aws, env: str) -> list[str]:
    pages = aws("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
        TagFilters=[{"Key": "Environment", "Values": [env]}])
    return [m["ResourceARN"] for page in pages for m in page["ResourceTagMappingList"]]


def test_a_fresh_environment_with_its_children_listed_is_in_sync(stack, aws, moto_server):
    """The children are there to be recognised: the stage and both member clusters in the
    tagging API's answer, the NAT gateways' and mount targets' interfaces in the VPC."""
    arns = swept(aws, "truth")
    assert sum("/stages/truth" in a for a in arns) == 1
    assert sum(":cluster:redis-truth-00" in a for a in arns) == 2
    descriptions = [i["Description"] for i in aws("ec2").describe_network_interfaces()["NetworkInterfaces"]]
    assert sum(d.startswith("Interface for NAT Gateway") for d in descriptions) == 4  # 2 per environment
    assert sum(d.startswith("EFS mount target for") for d in descriptions) == 4
    moto_server.clear_recording()
    result = stack("drift", "--env", "truth", "--json")
    assert result.code == 0, result.stdout + result.stderr
    doc = result.json
    assert doc["in_sync"] is True and doc["unmanaged"] == [] and doc["drifted"] == doc["missing"] == []
    # Recognising children costs no call: no describe to confirm anything exists (the budget of
    # one environment's check, test_drift.py).
    assert len(moto_server.calls()) <= 60, collections.Counter(f"{c.service}:{c.operation}" for c in moto_server.calls())


def test_an_unmanaged_security_group_and_tagged_log_group_are_each_reported_once(stack, aws):
    ec2, logs = aws("ec2"), aws("logs")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["vpc-truth"]}])["Vpcs"][0]["VpcId"]
    # Carrying the environment's tags too: seen by the VPC listing and by the tagging API.
    group = ec2.create_security_group(GroupName="by-hand", Description="x", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in TAGS("truth").items()]}])["GroupId"]
    logs.create_log_group(logGroupName="/by-hand/truth", tags=TAGS("truth"))
    try:
        result = stack("drift", "--env", "truth", "--json")
        assert result.code == 2, result.stderr
        unmanaged = result.json["unmanaged"]
        assert [u["id"] for u in unmanaged if group in u["id"]] == [group]
        assert [u for u in unmanaged if u["id"].endswith(":log-group:/by-hand/truth")] != []
        assert len(unmanaged) == 2, unmanaged
        assert "unmanaged security_group " + group in result.stderr
    finally:
        ec2.delete_security_group(GroupId=group)
        logs.delete_log_group(logGroupName="/by-hand/truth")
    assert stack("drift", "--env", "truth").code == 0


def test_a_resource_the_tagging_api_lists_after_its_deletion_is_not_unmanaged(stack, aws, moto_server):
    """C-TAG-1: deleted, still listed for an hour on the layer's clock; confirmed gone, not reported."""
    post(moto_server, "/fidelity/clock", {"mode": "manual", "now": 0})
    try:
        secret = aws("secretsmanager").create_secret(Name="by-hand-truth", SecretString="x",
                                                     Tags=[{"Key": k, "Value": v} for k, v in TAGS("truth").items()])["ARN"]
        aws("secretsmanager").delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
        assert secret in swept(aws, "truth")
        result = stack("drift", "--env", "truth", "--json")
        assert result.code == 0, result.stdout
        assert result.json["unmanaged"] == []
    finally:
        post(moto_server, "/fidelity/clock", {"mode": "instant"})


def test_drift_all_reports_every_environment_and_a_deleted_environments_leftover_once(stack, aws, moto_server):
    logs = aws("logs")
    logs.create_log_group(logGroupName="/ecs/video-processing-gone/metadata-api", tags=TAGS("gone"))
    try:
        moto_server.clear_recording()
        result = stack("drift", "--all", "--json")
        assert result.code == 2, result.stderr
        doc = result.json
        assert doc["in_sync"] is False and doc["errors"] == []
        by_env = {d["env"]: d for d in doc["environments"]}
        assert set(by_env) == {"truth", "other", "gone"}
        assert by_env["truth"]["in_sync"] and by_env["other"]["in_sync"]
        assert by_env["gone"]["state"] == "none"
        assert [u["id"] for u in by_env["gone"]["unmanaged"]] == [
            "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/video-processing-gone/metadata-api"]
        # One tagging sweep and one listing per EC2 kind for both environments.
        calls = collections.Counter(f"{c.service}:{c.operation}" for c in moto_server.calls())
        assert calls["tagging:GetResources"] == 1 and calls["ec2:DescribeSubnets"] == 1, calls
        assert calls["sts:GetCallerIdentity"] == 1
        # The account-wide listings (IAM roles, RDS, ElastiCache, ELBv2, EFS, API Gateway, secrets,
        # KMS aliases, log groups by path) made once for both environments, one tagging sweep.
        # 121 → 101 → 90 over issue 25; 93 with the web ACL's logging (FSBP WAF.11); 92 with it listed once.
        assert doc["aws_calls"]["total"] <= 92, calls
        assert calls["iam:GetAccountAuthorizationDetails"] == calls["iam:ListRoles"] == calls["rds:DescribeDBInstances"] == 1, calls
        # Both web ACLs' logging from one listing, none read one by one.
        assert calls["wafv2:ListLoggingConfigurations"] == 1 and calls["wafv2:GetLoggingConfiguration"] == 0, calls
    finally:
        logs.delete_log_group(logGroupName="/ecs/video-processing-gone/metadata-api")
    again = stack("drift", "--all", "--json")
    assert again.code == 0, again.stdout
    assert [d["env"] for d in again.json["environments"]] == ["other", "truth"]


def test_drift_all_leaves_out_an_environment_torn_down_a_while_ago(stack, aws, moto_server):
    """Its resources stay listed by the tagging API for an hour (C-TAG-1): all confirmed gone."""
    post(moto_server, "/fidelity/clock", {"mode": "manual", "now": 0})
    try:
        aws("logs").create_log_group(logGroupName="/old/gone2", tags=TAGS("gone2"))
        aws("logs").delete_log_group(logGroupName="/old/gone2")
        assert swept(aws, "gone2")
        result = stack("drift", "--all", "--json")
        assert result.code == 0, result.stdout
        assert "gone2" not in {d["env"] for d in result.json["environments"]}
    finally:
        post(moto_server, "/fidelity/clock", {"mode": "instant"})


@pytest.mark.parametrize("args", [("--all", "--env", "truth"), ("--all", "--config", "x.toml"), ()])
def test_drift_all_refuses_bad_usage_in_one_line(stack, args):
    result = stack("drift", *args)
    assert result.code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr


def test_drift_all_answered_from_shared_listings_still_sees_each_change_by_hand(stack, aws, moto_server):
    """The finds of ``bin/drift --all`` are answered from account-wide listings made once for
    every environment (IAM roles, secrets, API keys, target groups and their tags, log groups):
    a change made by hand to one environment's resource is still its drift, and only its."""
    arns = swept(aws, "other")
    role = "ecs-task-role-other"  # IAM roles are not in the test server's tagging sweep
    secret = next(a for a in arns if ":secretsmanager:" in a)
    group = next(a for a in arns if ":targetgroup/" in a)
    log_group = next(a for a in arns if ":log-group:/ecs/video-processing-other/" in a).split(":log-group:", 1)[1]
    key = next(k["id"] for k in aws("apigateway").get_api_keys(limit=500)["items"] if k.get("tags", {}).get("Environment") == "other")
    aws("iam").update_role(RoleName=role, Description="by hand")
    aws("secretsmanager").update_secret(SecretId=secret, Description="by hand")
    aws("elbv2").add_tags(ResourceArns=[group], Tags=[{"Key": "Name", "Value": "by-hand"}])
    aws("logs").put_retention_policy(logGroupName=log_group, retentionInDays=1)
    aws("apigateway").update_api_key(apiKey=key, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    try:
        moto_server.clear_recording()
        result = stack("drift", "--all", "--json")
        assert result.code == 2, result.stderr
        by_env = {d["env"]: d for d in result.json["environments"]}
        assert by_env["truth"]["in_sync"], by_env["truth"]
        drifted = {(d["id"], d["attribute"]) for d in by_env["other"]["drifted"]}
        assert {(role, "description"), (secret, "description"), (group, "tags.Name"), (log_group, "retention_days"),
                (key, "enabled")} <= drifted, by_env["other"]["drifted"]
        # Answered from the listings: no read by id of any of them, but for the target group
        # whose tags the tagging API's index shows changed: read again by itself (the index
        # lags behind changes, C-TAG-1), once.
        calls = collections.Counter(f"{c.service}:{c.operation}" for c in moto_server.calls())
        assert calls["iam:GetRole"] == 0 and calls["iam:ListRoles"] == 1, calls
        assert calls["secretsmanager:DescribeSecret"] == 0 and calls["secretsmanager:ListSecrets"] == 1, calls
        assert calls["elasticloadbalancing:DescribeTargetGroups"] == 2, calls
    finally:
        assert stack("reconcile", "--env", "other").code == 0
    assert stack("drift", "--all").code == 0

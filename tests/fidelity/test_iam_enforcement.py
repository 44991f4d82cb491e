"""IAM enforcement (sandbox/fidelity/iam_enforcement.py, iam_actions.py, iam_conditions.py):
docs/aws-behaviours.md A-IAM-1 to A-IAM-4. In-process under mock_aws, and the switch on the test
server (python -m sandbox.serve)."""
from __future__ import annotations

import json
import urllib.request

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock, iam_conditions, iam_enforcement
from tests.support.commands import make_cli, make_reader

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def enforced(moto_aws):
    with iam_enforcement.enforced():
        yield


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **condition) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def user_session(document: str, endpoint: str | None = None) -> boto3.session.Session:
    """A session signed with the access key of a new IAM user holding only ``document``
    (created with the account's root credentials, as the tests' default ones are)."""
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)
    name = f"user{len(iam.list_users()['Users'])}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                 region_name=REGION)


def refusal(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call(**kwargs)
    return {"status": refused.value.response["ResponseMetadata"]["HTTPStatusCode"], **refused.value.response["Error"]}


def db_instance(name: str, **tags: str) -> str:
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="app", MasterUserPassword="a-long-password-1",
                           Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{name}"


# A-IAM-2: the resource is the DB instance's ARN, so a policy scoped to one admits only it.
def test_a_policy_on_one_db_instance_admits_it_and_refuses_another(enforced):
    one, _ = db_instance("one"), db_instance("two")
    rds = user_session(policy(allow("rds:ModifyDBInstance", one))).client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="one", AllocatedStorage=30, ApplyImmediately=True)
    assert refusal(rds.modify_db_instance, DBInstanceIdentifier="two", AllocatedStorage=30, ApplyImmediately=True) == {
        "status": 403, "Type": "Sender", "Code": "AccessDenied",
        "Message": f"User: arn:aws:iam::{ACCOUNT}:user/user0 is not authorized to perform: rds:ModifyDBInstance "
                   f"on resource: arn:aws:rds:{REGION}:{ACCOUNT}:db:two because no identity-based policy allows "
                   "the rds:ModifyDBInstance action"}
    sizes = {db["DBInstanceIdentifier"]: db["AllocatedStorage"]
             for db in boto3.client("rds", region_name=REGION).describe_db_instances()["DBInstances"]}
    assert sizes == {"one": 30, "two": 20}


# A-IAM-1: API Gateway's actions are its HTTP verbs, on the ARN of the request's path.
def test_api_gateway_verbs_on_a_rest_api_path(enforced):
    api = boto3.client("apigateway", region_name=REGION).create_rest_api(name="api")["id"]
    path = f"arn:aws:apigateway:{REGION}::/restapis/{api}"
    apigateway = user_session(policy(allow("apigateway:GET", [path, f"{path}/*"]),
                                     allow("apigateway:DELETE", f"{path}/stages/*"))).client("apigateway")
    assert apigateway.get_rest_api(restApiId=api)["name"] == "api"
    assert apigateway.get_resources(restApiId=api)["items"][0]["path"] == "/"
    assert refusal(apigateway.delete_rest_api, restApiId=api) == {
        "status": 403, "Code": "AccessDeniedException",
        "Message": f"User: arn:aws:iam::{ACCOUNT}:user/user0 is not authorized to perform: apigateway:DELETE on "
                   f"resource: {path} because no identity-based policy allows the apigateway:DELETE action"}
    assert refusal(apigateway.get_rest_apis)["Code"] == "AccessDeniedException"  # /restapis is not under the API
    assert boto3.client("apigateway", region_name=REGION).get_rest_api(restApiId=api)["id"] == api


# A-IAM-3: aws:ResourceTag/K reads the target's tags; EC2 refuses with its own code.
def test_a_resource_tag_condition_admits_the_tagged_resource_and_refuses_the_other(enforced):
    ec2 = boto3.client("ec2", region_name=REGION)
    vpcs = {env: ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Environment", "Value": env}]}])["Vpc"]["VpcId"] for env in ("dev", "prod")}
    user = user_session(policy(allow("ec2:DeleteVpc", StringEquals={"aws:ResourceTag/Environment": "dev"}))).client("ec2")
    user.delete_vpc(VpcId=vpcs["dev"])
    refused = refusal(user.delete_vpc, VpcId=vpcs["prod"])
    assert (refused["status"], refused["Code"]) == (403, "UnauthorizedOperation")
    assert refused["Message"].startswith("You are not authorized to perform this operation. User: ")
    assert f"ec2:DeleteVpc on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpcs['prod']}" in refused["Message"]
    assert vpcs["prod"] in {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}


# A-IAM-3: aws:RequestTag/K and aws:TagKeys read the tags a create sends; JSON services answer 400.
def test_request_tag_conditions_read_the_tags_sent(enforced):
    logs = user_session(policy(allow("logs:CreateLogGroup", StringEquals={"aws:RequestTag/Environment": "dev"},
                                     **{"ForAllValues:StringEquals": {"aws:TagKeys": ["Environment", "Project"]}}))).client("logs")
    logs.create_log_group(logGroupName="tagged", tags={"Environment": "dev", "Project": "video"})
    assert refusal(logs.create_log_group, logGroupName="prod", tags={"Environment": "prod"})["status"] == 400
    assert refusal(logs.create_log_group, logGroupName="extra", tags={"Environment": "dev", "Owner": "x"})["Code"] == "AccessDeniedException"
    assert refusal(logs.create_log_group, logGroupName="untagged")["Code"] == "AccessDeniedException"
    groups = boto3.client("logs", region_name=REGION).describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["tagged"]


# A-IAM-4: passing a role checks iam:PassRole with iam:PassedToService naming the receiving service.
def test_pass_role_is_checked_for_the_service_the_role_is_passed_to(enforced):
    role = boto3.client("iam", region_name=REGION).create_role(RoleName="task", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    db_instance("db")
    session = user_session(policy(
        allow(["ecs:RegisterTaskDefinition", "rds:ModifyDBInstance", "apigateway:PATCH"]),
        allow("iam:PassRole", role, StringEquals={"iam:PassedToService": "ecs-tasks.amazonaws.com"})))
    registered = session.client("ecs").register_task_definition(
        family="app", executionRoleArn=role, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", containerDefinitions=[{"name": "app", "image": "nginx"}])
    assert registered["taskDefinition"]["executionRoleArn"] == role
    refused = refusal(session.client("rds").modify_db_instance, DBInstanceIdentifier="db", MonitoringInterval=60,
                      MonitoringRoleArn=role, ApplyImmediately=True)
    assert (refused["status"], refused["Code"]) == (403, "AccessDenied")
    assert f"iam:PassRole on resource: {role} because" in refused["Message"]
    apigateway = session.client("apigateway")  # UpdateAccount passes its role to API Gateway
    assert "iam:PassRole" in refusal(apigateway.update_account, patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])["Message"]
    # Without any iam:PassRole, the task definition is refused too.
    ecs = user_session(policy(allow("ecs:RegisterTaskDefinition"))).client("ecs")
    assert "iam:PassRole" in refusal(ecs.register_task_definition, family="app", executionRoleArn=role,
                                     containerDefinitions=[{"name": "app", "image": "nginx"}])["Message"]


# A-IAM-3: a statement whose condition is not met does not apply; another Allow still admits;
# an explicit Deny wins over every Allow.
def test_an_unmet_condition_is_neutral_and_an_explicit_deny_wins(enforced):
    one = db_instance("one", Environment="dev")
    admitted = user_session(policy(
        allow("rds:ModifyDBInstance", StringEquals={"aws:ResourceTag/Environment": "prod"}),
        allow("rds:ModifyDBInstance", one))).client("rds")
    admitted.modify_db_instance(DBInstanceIdentifier="one", AllocatedStorage=30, ApplyImmediately=True)
    denied = user_session(policy(
        allow("rds:*"),
        {"Effect": "Deny", "Action": "rds:Modify*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/Environment": "dev"}}})).client("rds")
    assert refusal(denied.modify_db_instance, DBInstanceIdentifier="one", AllocatedStorage=40, ApplyImmediately=True)[
        "Message"].endswith("with an explicit deny in an identity-based policy")
    assert denied.describe_db_instances(DBInstanceIdentifier="one")["DBInstances"][0]["AllocatedStorage"] == 30


# A-IAM-1: an assumed role is authorized against the role's policies.
def test_an_assumed_role_is_held_to_its_policies(enforced):
    iam = boto3.client("iam", region_name=REGION)
    trust = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="deployer", PolicyName="only", PolicyDocument=policy(allow("secretsmanager:CreateSecret",
                        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app/*")))
    credentials = boto3.client("sts", region_name=REGION).assume_role(RoleArn=role, RoleSessionName="ci")["Credentials"]
    secrets = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id=credentials["AccessKeyId"],
                           aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"])
    secrets.create_secret(Name="app/db", SecretString="x")
    refused = refusal(secrets.create_secret, Name="other/db", SecretString="x")
    assert (refused["status"], refused["Code"]) == (400, "AccessDeniedException")
    assert refused["Message"].startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci is not authorized")


# A-IAM-1: the account's root (the tests' default credentials, unknown to IAM) is allowed everything.
def test_root_credentials_are_allowed_everything(enforced):
    boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="g")
    boto3.client("apigateway", region_name=REGION).create_rest_api(name="api")


@pytest.mark.parametrize("condition, context, holds", [
    ({"StringLike": {"aws:ResourceTag/Name": "api-*"}}, {"aws:resourcetag/name": ["api-dev"]}, True),
    ({"StringLike": {"aws:ResourceTag/Name": "api-?"}}, {"aws:resourcetag/name": ["api-dev"]}, False),
    ({"StringNotEquals": {"aws:ResourceTag/Name": "x"}}, {}, True),  # negated: an absent key holds
    ({"StringEquals": {"aws:ResourceTag/Name": "x"}}, {}, False),
    ({"StringEqualsIfExists": {"aws:ResourceTag/Name": "x"}}, {}, True),
    ({"Null": {"aws:RequestTag/Env": "true"}}, {}, True),
    ({"Null": {"aws:RequestTag/Env": "false"}}, {}, False),
    ({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": ["true"]}, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ci-*"}}, {"aws:principalarn": ["arn:aws:iam::1:user/ci-a"]}, True),
    ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/x"}}, {"aws:principalarn": ["arn:aws:iam::1:user/x"]}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["A", "B"]}}, {}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["A", "B"]}}, {}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["A"]}}, {"aws:tagkeys": ["C", "A"]}, True),
    ({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}, "Null": {"aws:TagKeys": "true"}},
     {"aws:requestedregion": ["us-east-1"]}, True),
])
def test_condition_operators_as_iam_evaluates_them(condition, context, holds):
    assert iam_conditions.met(condition, context) is holds


# -- The switch on the test server ---------------------------------------------------------------

def control(server, body: dict) -> dict:
    request = urllib.request.Request(f"{server.endpoint}/fidelity/iam", data=json.dumps(body).encode(), method="POST")
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def post(server, path: str) -> None:
    urllib.request.urlopen(urllib.request.Request(server.endpoint + path, method="POST"), timeout=30).read()


# A-IAM-1: POST /fidelity/iam switches enforcement for that server; off (and after a reset) moto's
# default answers, which on this server authorizes nothing.
def test_the_switch_on_the_test_server(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    user = user_session(policy(allow("ec2:DescribeVpcs"))).client("ec2", endpoint_url=server.endpoint)
    root = boto3.client("ec2", region_name=REGION, endpoint_url=server.endpoint)
    assert control(server, {}) == {"enforce": False}
    user.create_vpc(CidrBlock="10.0.0.0/16")  # off by default

    assert control(server, {"enforce": True}) == {"enforce": True}
    refused = refusal(user.create_vpc, CidrBlock="10.1.0.0/16")
    assert (refused["status"], refused["Code"]) == (403, "UnauthorizedOperation")
    assert len(user.describe_vpcs()["Vpcs"]) == 2  # the default VPC and the first one
    root.create_vpc(CidrBlock="10.2.0.0/16")

    assert control(server, {"enforce": False}) == {"enforce": False}
    user.create_vpc(CidrBlock="10.3.0.0/16")
    control(server, {"enforce": True})
    post(server, "/moto-api/reset")
    assert control(server, {}) == {"enforce": False}


# A-IAM-4: the real bin/reconcile as an IAM user on the enforcing server: refused exactly where its
# policy denies (passing the RDS monitoring role), the rest of the stack built.
def test_reconcile_as_a_user_is_refused_where_its_policy_denies(server, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    control(server, {"enforce": True})
    iam = boto3.client("iam", region_name=REGION, endpoint_url=server.endpoint)
    iam.create_user(UserName="deployer")
    iam.put_user_policy(UserName="deployer", PolicyName="only", PolicyDocument=policy(
        allow("*"), {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*",
                     "Condition": {"StringEquals": {"iam:PassedToService": "monitoring.rds.amazonaws.com"}}}))
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    cli = make_cli(server, tmp_path / "state", tmp_path)
    result = cli("reconcile", "--env", "dev", env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                                  "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    assert result.code == 1
    assert (f"AccessDenied) when calling the CreateDBInstance operation: User: arn:aws:iam::{ACCOUNT}:user/deployer "
            f"is not authorized to perform: iam:PassRole on resource: arn:aws:iam::{ACCOUNT}:role/rds-monitoring-role-dev "
            "with an explicit deny") in result.stderr
    reader = make_reader(server)
    assert reader("rds").describe_db_instances()["DBInstances"] == []
    assert len(reader("ecs").list_clusters()["clusterArns"]) == 1  # what the policy allows was built


def test_the_in_process_switch_is_off_outside_its_block(moto_aws):
    with iam_enforcement.enforced():
        assert iam_enforcement.on()
    assert not iam_enforcement.on()
    clock.reset()
    user = user_session(policy(allow("ec2:DescribeVpcs"))).client("ec2")
    user.create_vpc(CidrBlock="10.0.0.0/16")  # moto's default in-process: nothing enforced


# A-IAM-2: a KMS key named by its alias is authorized as the key; an alias naming no key is
# KMS's NotFoundException, not a refusal.
def test_a_kms_key_named_by_its_alias_is_authorized_as_the_key(enforced):
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]
    boto3.client("kms", region_name=REGION).create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    kms = user_session(policy(allow("kms:DescribeKey", key["Arn"]))).client("kms")
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["Arn"] == key["Arn"]
    assert refusal(kms.describe_key, KeyId="alias/missing")["Code"] == "NotFoundException"
    other = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
    assert refusal(kms.describe_key, KeyId=other)["Code"] == "AccessDeniedException"


# A-IAM-1: S3 names a bucket's subresources by IAM's actions (GET ?encryption is
# s3:GetEncryptionConfiguration) and refuses with its own AccessDenied.
def test_s3_objects_and_bucket_subresources_by_their_iam_actions(enforced):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="state-bucket")
    s3 = user_session(policy(allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::state-bucket/state/*"),
                             allow("s3:GetEncryptionConfiguration", "arn:aws:s3:::state-bucket"))).client("s3")
    s3.put_object(Bucket="state-bucket", Key="state/dev.json", Body=b"{}")
    assert s3.get_object(Bucket="state-bucket", Key="state/dev.json")["Body"].read() == b"{}"
    # Allowed, so S3's own answer: the bucket has no encryption configuration in moto.
    assert refusal(s3.get_bucket_encryption, Bucket="state-bucket")["Code"] == "ServerSideEncryptionConfigurationNotFoundError"
    assert refusal(s3.get_public_access_block, Bucket="state-bucket")["Code"] == "AccessDenied"
    assert refusal(s3.put_object, Bucket="state-bucket", Key="other.json", Body=b"{}") == {
        "status": 403, "Code": "AccessDenied", "Message": "Access Denied"}


# A-IAM-3: the service keys a request's own parameters give (iam:PolicyARN, s3:prefix).
def test_condition_keys_from_the_request_parameters(enforced):
    boto3.client("iam", region_name=REGION).create_role(RoleName="app", AssumeRolePolicyDocument=policy())
    managed = boto3.client("iam", region_name=REGION).create_policy(PolicyName="wanted", PolicyDocument=policy(
        allow("s3:GetObject")))["Policy"]["Arn"]
    other = boto3.client("iam", region_name=REGION).create_policy(PolicyName="other", PolicyDocument=policy(
        allow("s3:GetObject")))["Policy"]["Arn"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="state-bucket")
    session = user_session(policy(
        allow("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/app", ArnLike={"iam:PolicyARN": managed}),
        allow("s3:ListBucket", "arn:aws:s3:::state-bucket", StringEquals={"s3:prefix": "envs/"})))
    iam, s3 = session.client("iam"), session.client("s3")
    iam.attach_role_policy(RoleName="app", PolicyArn=managed)
    assert refusal(iam.attach_role_policy, RoleName="app", PolicyArn=other)["Code"] == "AccessDenied"
    assert s3.list_objects_v2(Bucket="state-bucket", Prefix="envs/", Delimiter="/")["KeyCount"] == 0
    assert refusal(s3.list_objects_v2, Bucket="state-bucket", Prefix="")["Code"] == "AccessDenied"


# A-IAM-2: a listing of every one of a kind is authorized on its ARN with "*" for the name.
def test_rds_and_elasticache_listings_on_their_kinds_arn(enforced):
    session = user_session(policy(allow("rds:DescribeDBSubnetGroups", f"arn:aws:rds:{REGION}:{ACCOUNT}:subgrp:*"),
                                  allow("elasticache:DescribeReplicationGroups",
                                        f"arn:aws:elasticache:{REGION}:{ACCOUNT}:replicationgroup:*")))
    assert session.client("rds").describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert session.client("elasticache").describe_replication_groups()["ReplicationGroups"] == []
    assert refusal(session.client("elasticache").describe_cache_clusters)["Code"] == "AccessDenied"

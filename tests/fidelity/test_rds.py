import json

import boto3
import pytest
from botocore.exceptions import ClientError


def test_modify_db_subnet_group_keeps_the_group(moto_aws):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    rds = boto3.client("rds", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"), (3, "c"))]
    rds.create_db_subnet_group(DBSubnetGroupName="g", DBSubnetGroupDescription="d", SubnetIds=subnets[:2])
    rds.modify_db_subnet_group(DBSubnetGroupName="g", SubnetIds=subnets[1:])
    [group] = rds.describe_db_subnet_groups(DBSubnetGroupName="g")["DBSubnetGroups"]
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(subnets[1:])


def test_the_managed_master_secret_holds_a_generated_password_and_the_real_user(moto_aws):
    rds = boto3.client("rds", region_name="us-east-1")
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    values = []
    for name in ("one", "two"):
        db = rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.medium",
                                    AllocatedStorage=20, MasterUsername="videoadmin", ManageMasterUserPassword=True)
        secret = json.loads(sm.get_secret_value(SecretId=db["DBInstance"]["MasterUserSecret"]["SecretArn"])["SecretString"])
        values.append(secret)
    assert [v["username"] for v in values] == ["videoadmin", "videoadmin"]
    assert values[0]["password"] != values[1]["password"] and len(values[0]["password"]) == 32
    assert all(c not in values[0]["password"] for c in '/@" ')  # B-RDS-2


def test_the_master_secret_key_changes_only_with_manage_master_user_password_and_keeps_the_secret(moto_aws):
    """docs/aws-behaviours.md B-RDS-9 / A-46: the key alone is refused; with ManageMasterUserPassword=True RDS
    re-encrypts its one secret (same ARN) and reports the key's ARN."""
    rds = boto3.client("rds", region_name="us-east-1")
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    kms = boto3.client("kms", region_name="us-east-1")
    first, second = (kms.create_key()["KeyMetadata"] for _ in range(2))
    db = rds.create_db_instance(DBInstanceIdentifier="one", Engine="postgres", DBInstanceClass="db.t3.medium",
                                AllocatedStorage=20, MasterUsername="videoadmin", ManageMasterUserPassword=True,
                                MasterUserSecretKmsKeyId=first["KeyId"])["DBInstance"]
    secret_arn = db["MasterUserSecret"]["SecretArn"]
    assert db["MasterUserSecret"]["KmsKeyId"] == first["Arn"]  # the ARN, though an id was given
    value = sm.get_secret_value(SecretId=secret_arn)["SecretString"]

    with pytest.raises(ClientError) as refused:
        rds.modify_db_instance(DBInstanceIdentifier="one", MasterUserSecretKmsKeyId=second["Arn"], ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "ManageMasterUserPassword value is required" in refused.value.response["Error"]["Message"]

    rds.modify_db_instance(DBInstanceIdentifier="one", ManageMasterUserPassword=True, MasterUserSecretKmsKeyId=second["Arn"],
                           ApplyImmediately=True)
    [db] = rds.describe_db_instances(DBInstanceIdentifier="one")["DBInstances"]
    assert db["MasterUserSecret"]["SecretArn"] == secret_arn and db["MasterUserSecret"]["KmsKeyId"] == second["Arn"]
    assert sm.describe_secret(SecretId=secret_arn)["KmsKeyId"] in (second["Arn"], second["KeyId"])
    assert sm.get_secret_value(SecretId=secret_arn)["SecretString"] == value  # re-encrypted, not regenerated
    assert [s["ARN"] for s in sm.list_secrets()["SecretList"]] == [secret_arn]  # no second secret

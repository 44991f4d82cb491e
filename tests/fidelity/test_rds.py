import json

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.fidelity import clock
from sandbox.fidelity import rds as fidelity_rds


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


def managed_instance(rds, kms):
    first, second = (kms.create_key()["KeyMetadata"] for _ in range(2))
    db = rds.create_db_instance(DBInstanceIdentifier="one", Engine="postgres", DBInstanceClass="db.t3.medium",
                                AllocatedStorage=20, MasterUsername="videoadmin", ManageMasterUserPassword=True,
                                MasterUserSecretKmsKeyId=first["KeyId"])["DBInstance"]
    assert db["MasterUserSecret"]["KmsKeyId"] == first["Arn"]  # the ARN, though an id was given
    return db, first, second


def test_the_key_of_a_secret_rds_already_manages_is_refused_alone_or_with_manage_master_user_password(moto_aws):
    """docs/aws-behaviours.md B-RDS-9, D-RDS-1: the key alone is refused (a ManageMasterUserPassword value is
    required); with ManageMasterUserPassword=True on an instance that already manages its secret it is refused
    too (the API reference: valid only while turning management on): nothing changes, one secret, its key. The
    documented way still works: management off, then on again with the key."""
    rds, sm, kms = (boto3.client(s, region_name="us-east-1") for s in ("rds", "secretsmanager", "kms"))
    db, first, second = managed_instance(rds, kms)
    secret_arn = db["MasterUserSecret"]["SecretArn"]

    with pytest.raises(ClientError) as refused:
        rds.modify_db_instance(DBInstanceIdentifier="one", MasterUserSecretKmsKeyId=second["Arn"], ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "ManageMasterUserPassword value is required" in refused.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as refused:
        rds.modify_db_instance(DBInstanceIdentifier="one", ManageMasterUserPassword=True,
                               MasterUserSecretKmsKeyId=second["Arn"], ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert "already manages cannot be changed" in refused.value.response["Error"]["Message"]
    [db] = rds.describe_db_instances(DBInstanceIdentifier="one")["DBInstances"]
    assert db["MasterUserSecret"]["SecretArn"] == secret_arn and db["MasterUserSecret"]["KmsKeyId"] == first["Arn"]
    assert [s["ARN"] for s in sm.list_secrets()["SecretList"]] == [secret_arn]  # no second secret

    # ManageMasterUserPassword=True alone changes nothing: the same one secret.
    rds.modify_db_instance(DBInstanceIdentifier="one", ManageMasterUserPassword=True, ApplyImmediately=True)
    assert [s["ARN"] for s in sm.list_secrets()["SecretList"]] == [secret_arn]

    # The documented way: management off (a password of one's own; RDS deletes its secret), then on again
    # with the key: a secret on the new key, with a new password.
    old_value = sm.get_secret_value(SecretId=secret_arn)["SecretString"]
    rds.modify_db_instance(DBInstanceIdentifier="one", ManageMasterUserPassword=False, MasterUserPassword="Interim-Passw0rd",
                           ApplyImmediately=True)
    rds.modify_db_instance(DBInstanceIdentifier="one", ManageMasterUserPassword=True, MasterUserSecretKmsKeyId=second["Arn"],
                           ApplyImmediately=True)
    [db] = rds.describe_db_instances(DBInstanceIdentifier="one")["DBInstances"]
    assert db["MasterUserSecret"]["KmsKeyId"] == second["Arn"]
    assert sm.get_secret_value(SecretId=db["MasterUserSecret"]["SecretArn"])["SecretString"] != old_value


def test_the_key_check_steps_aside_for_a_test_that_switches_it_off(moto_aws):
    """Switchable per test: off, moto answers as moto does (a second secret, A-46); the clock's reset
    switches the check on again."""
    rds, sm, kms = (boto3.client(s, region_name="us-east-1") for s in ("rds", "secretsmanager", "kms"))
    _, _, second = managed_instance(rds, kms)
    try:
        clock.switch(fidelity_rds.KEY_UNCHECKED, True)
        rds.modify_db_instance(DBInstanceIdentifier="one", ManageMasterUserPassword=True,
                               MasterUserSecretKmsKeyId=second["Arn"], ApplyImmediately=True)
        assert len(sm.list_secrets()["SecretList"]) == 2
    finally:
        clock.reset()
    with pytest.raises(ClientError) as refused:
        rds.modify_db_instance(DBInstanceIdentifier="one", ManageMasterUserPassword=True,
                               MasterUserSecretKmsKeyId=second["Arn"], ApplyImmediately=True)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterCombination"

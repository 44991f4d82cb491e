"""docs/configuration.md, the data services and load balancer rows (issue 15), on moto.

Each row is read back with the test's own boto3 clients after a reconcile, switched off behind
the tool's back, seen in the plan (which is what bin/drift reports: drift is the plan's diff),
and put back by the next reconcile. FSBP control ids as docs/configuration.md gives them:

    RDS.10 IAM database authentication      test_rds_security_settings_...
    RDS.9  postgresql and upgrade log export test_rds_security_settings_...
    RDS.6  Enhanced Monitoring and its role  test_rds_security_settings_..., test_rds_monitoring_...
    RDS.13 auto minor version upgrade        test_rds_security_settings_...
    (keys) the RDS master secret on the environment's key   test_rds_master_secret_...
    (logs) the export log groups made first, on the key     test_rds_export_log_groups_...
    RDS.8  deletion protection as configured tests/resources/test_rds.py (deletion protection tests)
    ElastiCache.1 automatic backups          test_redis_backups_and_minor_upgrades_...
    ElastiCache.2 auto minor version upgrade test_redis_backups_and_minor_upgrades_...
    EFS.2  AWS Backup                        test_efs_backup_and_file_system_policy_...
    (prowler: EFS not public) the policy     test_efs_backup_and_file_system_policy_...
    ELB.6  deletion protection follows the environment, cross-zone on   test_nlb_...
"""
from __future__ import annotations

import collections
import json

import boto3
import pytest

from orchestrator.config import EnvConfig
from orchestrator.drift import drift_stack
from orchestrator.run import TeardownRefused, apply_stack
from orchestrator.stack.compute import load_balancer_nodes
from orchestrator.spec import Ref
from orchestrator.stack import every_config
from orchestrator.stack.data import RDS_MONITORING_POLICY, efs_nodes, efs_policy, rds_log_group_name, rds_nodes, redis_nodes
from orchestrator.stack.security import kms_alias, key_nodes
from resources.base import Change
from resources.security.iam_role import canonical_policy, canonical_statement
from tests.conftest import REGION
from tests.resources.data_stack import converge_network, network, with_spec
from tests.resources.network import recorded_id
from tests.support.memory_state import MemoryState
from tests.support.row_ids import ROW_ID
from tests.support.stack import actions, converge, destroy

AZS = ["us-east-1a", "us-east-1b"]
DB, ROLE, REDIS, NLB = "rds-postgresql-dev", "rds-monitoring-role-dev", "redis-dev", "api-nlb-dev"
TOKEN = "video-pipeline-infra-efs-dev"


def changed(run) -> dict[str, set[str]]:
    return {r.key: {d.field for d in r.changes} for r in run.results if r.action != "unchanged"}


def mutating_calls(aws, before: collections.Counter) -> dict[str, int]:
    now = aws.calls.counts
    return {f"{s} {op}": now[(s, op)] - before[(s, op)] for (s, op) in now
            if now[(s, op)] != before[(s, op)] and not op.startswith(("Describe", "Get", "List"))}


# -- RDS ------------------------------------------------------------------------------------------

@pytest.fixture
def rds_stack(aws, ec2, clock):
    state = MemoryState()
    sg_id = converge_network(aws, ec2, state, clock, sg_name="rds-sg-dev")

    def nodes(cfg: EnvConfig = EnvConfig()):
        # The instance's master secret and its export log groups are encrypted with the
        # environment's key (docs/configuration.md "keys", "logs"): the key converges with them.
        group, db, role, *log_groups = rds_nodes("dev", cfg, 2)
        return [*network(), *key_nodes("dev", cfg), group, with_spec(db, security_group_ids=[sg_id]), role, *log_groups]

    return state, nodes


def db_instance(rds) -> dict:
    return rds.describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]


def test_rds_security_settings_are_set_at_create_switched_off_seen_and_restored(aws, rds_stack, clock):
    state, nodes = rds_stack
    before = collections.Counter(aws.calls.counts)
    converge(aws, state, nodes=nodes(), clock=clock)
    # Everything goes in CreateDBInstance (the master secret's key too); the role is two calls,
    # each export log group two (the kill sweep's count); the key is the key node's own.
    assert mutating_calls(aws, before) == {
        "iam CreateRole": 1, "iam AttachRolePolicy": 1, "rds CreateDBSubnetGroup": 1, "rds CreateDBInstance": 1,
        "logs CreateLogGroup": 2, "logs PutRetentionPolicy": 2,
        "kms CreateKey": 1, "kms EnableKeyRotation": 1, "kms CreateAlias": 1}
    rds, iam = boto3.client("rds", region_name=REGION), boto3.client("iam", region_name=REGION)
    role = iam.get_role(RoleName=ROLE)["Role"]
    db = db_instance(rds)
    assert db["IAMDatabaseAuthenticationEnabled"] is True  # RDS.10
    assert sorted(db["EnabledCloudwatchLogsExports"]) == ["postgresql", "upgrade"]  # RDS.9
    assert db["AutoMinorVersionUpgrade"] is True  # RDS.13
    assert (db["MonitoringInterval"], db["MonitoringRoleArn"]) == (60, role["Arn"])  # RDS.6
    assert db["DeletionProtection"] is False  # RDS.8: as configured (dev)
    assert canonical_policy(role["AssumeRolePolicyDocument"])["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": ["monitoring.rds.amazonaws.com"]}, "Action": ["sts:AssumeRole"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ["123456789012"]},
                      "ArnLike": {"aws:SourceArn": ["arn:aws:rds:us-east-1:123456789012:db:rds-postgresql-dev"]}}}]
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]] == [RDS_MONITORING_POLICY]

    rds.modify_db_instance(DBInstanceIdentifier=DB, ApplyImmediately=True, EnableIAMDatabaseAuthentication=False,
                           CloudwatchLogsExportConfiguration={"DisableLogTypes": ["upgrade"]},
                           AutoMinorVersionUpgrade=False, MonitoringInterval=0)
    iam.detach_role_policy(RoleName=ROLE, PolicyArn=RDS_MONITORING_POLICY)
    plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    assert changed(plan) == {
        "rds.instance": {"iam_database_authentication", "cloudwatch_logs_exports", "auto_minor_version_upgrade",
                         "monitoring_interval", "monitoring_role_arn"},
        "iam.rds_monitoring_role": {"managed_policy_arns"},
    }
    sent = []
    aws.client("rds").meta.events.register("provide-client-params.rds.ModifyDBInstance", lambda params, **_: sent.append(params))
    converge(aws, state, nodes=nodes(), clock=clock)
    # One modification, the interval with its role, only the log type that is missing.
    assert sent == [{"DBInstanceIdentifier": DB, "ApplyImmediately": True, "EnableIAMDatabaseAuthentication": True,
                     "AutoMinorVersionUpgrade": True, "MonitoringInterval": 60, "MonitoringRoleArn": role["Arn"],
                     "CloudwatchLogsExportConfiguration": {"EnableLogTypes": ["upgrade"]}}]
    db = db_instance(rds)
    assert db["IAMDatabaseAuthenticationEnabled"] is True and db["AutoMinorVersionUpgrade"] is True
    assert sorted(db["EnabledCloudwatchLogsExports"]) == ["postgresql", "upgrade"]
    assert (db["MonitoringInterval"], db["MonitoringRoleArn"]) == (60, role["Arn"])
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]] == [RDS_MONITORING_POLICY]
    assert changed(converge(aws, state, nodes=nodes(), clock=clock, plan=True)) == {}


def test_rds_monitoring_and_log_exports_follow_the_configuration_and_teardown_removes_the_role(aws, rds_stack, clock):
    state, nodes = rds_stack
    rds, iam = boto3.client("rds", region_name=REGION), boto3.client("iam", region_name=REGION)
    off = EnvConfig(db_monitoring_interval=0, db_log_exports=["postgresql"], db_auto_minor_version_upgrade=False)
    converge(aws, state, nodes=nodes(off), clock=clock)
    db = db_instance(rds)
    assert (db["MonitoringInterval"], db.get("MonitoringRoleArn")) == (0, None)
    assert db["EnabledCloudwatchLogsExports"] == ["postgresql"] and db["AutoMinorVersionUpgrade"] is False
    # The role exists all the same: switching monitoring on is one modification.
    assert iam.get_role(RoleName=ROLE)["Role"]["RoleName"] == ROLE

    run = converge(aws, state, nodes=nodes(EnvConfig(db_monitoring_interval=15)), clock=clock)
    assert actions(run)["rds.instance"] == "update"
    db = db_instance(rds)
    assert db["MonitoringInterval"] == 15 and db["MonitoringRoleArn"] == iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    assert sorted(db["EnabledCloudwatchLogsExports"]) == ["postgresql", "upgrade"] and db["AutoMinorVersionUpgrade"] is True

    down = destroy(aws, state, nodes=nodes(), clock=clock)
    assert actions(down)["iam.rds_monitoring_role"] == "delete"
    assert ROLE not in {r["RoleName"] for r in iam.list_roles()["Roles"]}


def environment_key_arn() -> str:
    return boto3.client("kms", region_name=REGION).describe_key(KeyId=kms_alias("dev"))["KeyMetadata"]["Arn"]


def test_rds_master_secret_is_on_the_environment_key_and_a_key_switched_back_is_reported_never_promised(aws, rds_stack, clock):
    """docs/configuration.md "keys": the secret RDS makes for the master password is encrypted with the
    environment's key, not aws/secretsmanager. Switched back behind the tool's back (the one way RDS allows:
    management off, then on again with another key), the plan refuses the change before any call, naming the
    documented ways, and drift reports it as something a reconcile cannot restore (docs/aws-behaviours.md
    D-RDS-1: RDS never changes the key of a secret it already manages)."""
    state, nodes = rds_stack
    converge(aws, state, nodes=nodes(), clock=clock)
    rds, sm = boto3.client("rds", region_name=REGION), boto3.client("secretsmanager", region_name=REGION)
    key_arn = environment_key_arn()
    secret = db_instance(rds)["MasterUserSecret"]
    assert secret["KmsKeyId"] == key_arn
    assert sm.describe_secret(SecretId=secret["SecretArn"])["KmsKeyId"] in (key_arn, key_arn.split("/")[-1])
    assert changed(converge(aws, state, nodes=nodes(), clock=clock, plan=True)) == {}  # ARN and id forms agree

    # Behind the tool's back: management off, then on again with Secrets Manager's own key.
    rds.modify_db_instance(DBInstanceIdentifier=DB, ManageMasterUserPassword=False, MasterUserPassword="Interim-Passw0rd",
                           ApplyImmediately=True)
    rds.modify_db_instance(DBInstanceIdentifier=DB, ManageMasterUserPassword=True,
                           MasterUserSecretKmsKeyId="alias/aws/secretsmanager", ApplyImmediately=True)
    switched = db_instance(rds)["MasterUserSecret"]
    assert switched["KmsKeyId"] != key_arn

    plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    [result] = [r for r in plan.results if r.action != "unchanged"]
    assert [(d.field, d.change) for d in result.changes] == [("master_user_secret_kms_key_id", Change.IMPOSSIBLE)]
    assert "turn password management off and on again" in result.refusal and "replace the instance" in result.refusal
    assert not ROW_ID.search(result.refusal), result.refusal

    before = collections.Counter(aws.calls.counts)
    run = apply_stack(aws, env="dev", doc=state.doc, save=state.save, nodes=nodes(), clock=clock.as_clock())
    assert [r.key for r in run.refused] == ["rds.instance"] and mutating_calls(aws, before) == {}
    assert db_instance(rds)["MasterUserSecret"] == switched

    report = drift_stack(aws, env="dev", doc=state.doc, cfg=EnvConfig(), nodes=nodes())
    [entry] = report.drifted
    assert (entry["attribute"], entry["expected"], entry["actual"]) == ("master_user_secret_kms_key_id", key_arn, switched["KmsKeyId"])
    assert "turn password management off and on again" in entry["not_repairable"]


@pytest.mark.parametrize("key", ["alias/video-pipeline-dev", "arn:aws:kms:us-east-1:123456789012:alias/x", "not-a-key"])
def test_a_master_secret_key_rds_would_report_otherwise_is_refused_before_any_call(key):
    from resources.aws import Aws
    from resources.data.rds import DbInstance

    _, db, *_ = rds_nodes("dev", EnvConfig(), 2)
    problems = DbInstance(Aws(REGION), env="dev").validate({**db.spec, "master_user_secret_kms_key_id": key})
    assert problems == ["master_user_secret_kms_key_id: a KMS key ARN or key id (RDS reports the key's ARN; "
                        "an alias cannot be compared with it without a call)"]


EXPORT_GROUPS = {t: rds_log_group_name("dev", t) for t in ("postgresql", "upgrade")}


def export_group(logs, name: str) -> dict | None:
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next((g for g in found if g["logGroupName"] == name), None)


def test_rds_export_log_groups_are_made_first_on_the_key_switched_off_seen_and_restored(aws, rds_stack, clock):
    """docs/configuration.md "logs": the groups RDS exports to exist before the instance (else RDS makes them
    unencrypted and kept forever, docs/aws-behaviours.md C-RDS-6), on the environment's key, 365 days, ours."""
    state, nodes = rds_stack
    order = []
    aws.client("logs").meta.events.register("provide-client-params.logs.CreateLogGroup", lambda params, **_: order.append(params["logGroupName"]))
    aws.client("rds").meta.events.register("provide-client-params.rds.CreateDBInstance", lambda **_: order.append("CreateDBInstance"))
    converge(aws, state, nodes=nodes(), clock=clock)
    assert sorted(order[:2]) == sorted(EXPORT_GROUPS.values()) and order[2:] == ["CreateDBInstance"]
    logs, key_arn = boto3.client("logs", region_name=REGION), environment_key_arn()
    for log_type, name in EXPORT_GROUPS.items():
        group = export_group(logs, name)
        assert name == f"/aws/rds/instance/{DB}/{log_type}"
        assert (group["kmsKeyId"], group["retentionInDays"]) == (key_arn, 365)
        assert logs.list_tags_for_resource(resourceArn=group["logGroupArn"])["tags"] == {
            "Name": name, "Environment": "dev", "ManagedBy": "video-pipeline-infra"}

    name = EXPORT_GROUPS["postgresql"]
    logs.disassociate_kms_key(logGroupName=name)
    logs.delete_retention_policy(logGroupName=name)
    plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    assert changed(plan) == {"logs.rds.postgresql": {"kms_key_id", "retention_days"}}
    converge(aws, state, nodes=nodes(), clock=clock)
    group = export_group(logs, name)
    assert (group["kmsKeyId"], group["retentionInDays"]) == (key_arn, 365)
    assert changed(converge(aws, state, nodes=nodes(), clock=clock, plan=True)) == {}

    # Adopted by name and tags after the state is lost: nothing made twice.
    state.lose()
    before = aws.calls.mutating
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(run).values()) == {"unchanged"} and aws.calls.mutating == before
    assert recorded_id(state, "logs.rds.upgrade") == EXPORT_GROUPS["upgrade"]


def test_rds_export_log_groups_follow_db_log_exports_a_dropped_one_stays_and_teardown_removes_all(aws, rds_stack, clock):
    state, nodes = rds_stack
    logs = boto3.client("logs", region_name=REGION)
    converge(aws, state, nodes=nodes(EnvConfig(db_log_exports=["postgresql"])), clock=clock)
    assert export_group(logs, EXPORT_GROUPS["upgrade"]) is None

    # A log type added: its group is a new node, made before the instance exports to it.
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert (actions(run)["logs.rds.upgrade"], actions(run)["rds.instance"]) == ("create", "update")
    assert export_group(logs, EXPORT_GROUPS["upgrade"])["retentionInDays"] == 365

    # A log type dropped: RDS stops exporting, the group and its logs stay (logs are data).
    run = converge(aws, state, nodes=nodes(EnvConfig(db_log_exports=["postgresql"])), clock=clock)
    assert "logs.rds.upgrade" not in actions(run)
    assert db_instance(boto3.client("rds", region_name=REGION))["EnabledCloudwatchLogsExports"] == ["postgresql"]
    assert export_group(logs, EXPORT_GROUPS["upgrade"]) is not None

    # Teardown still deletes it: it builds every node any db_log_exports could have made.
    dropped = EnvConfig(db_log_exports=["postgresql"])
    down = destroy(aws, state, nodes=nodes(every_config(dropped)), clock=clock)
    assert actions(down)["logs.rds.upgrade"] == actions(down)["logs.rds.postgresql"] == "delete"
    assert all(export_group(logs, n) is None for n in EXPORT_GROUPS.values())


def test_teardown_builds_the_export_log_groups_whatever_db_log_exports_says(aws):
    from orchestrator.run import prepare_teardown

    state = MemoryState()
    prepared = prepare_teardown(aws, env="dev", doc=state.doc, save=state.save, cfg=EnvConfig(db_log_exports=[]))
    assert {"logs.rds.postgresql", "logs.rds.upgrade"} <= set(prepared.by_key)
    assert prepared.by_key["logs.rds.upgrade"].name == EXPORT_GROUPS["upgrade"]


# -- ElastiCache ----------------------------------------------------------------------------------

@pytest.fixture
def redis_stack(aws, ec2, clock):
    state = MemoryState()
    sg_id = converge_network(aws, ec2, state, clock, sg_name="redis-sg-dev")

    def nodes(cfg: EnvConfig = EnvConfig()):
        group, rg = redis_nodes("dev", cfg, 2)
        # No AUTH token here: tests/resources/test_elasticache.py covers it.
        return [*network(), group, with_spec(rg, security_group_ids=[sg_id], auth_token_secret_arn=None)]

    return state, nodes


def test_redis_backups_and_minor_upgrades_are_set_at_create_switched_off_seen_and_restored(aws, redis_stack, clock):
    state, nodes = redis_stack
    before = collections.Counter(aws.calls.counts)
    converge(aws, state, nodes=nodes(), clock=clock)
    assert mutating_calls(aws, before) == {"elasticache CreateCacheSubnetGroup": 1, "elasticache CreateReplicationGroup": 1}
    ec = boto3.client("elasticache", region_name=REGION)

    def group():
        return ec.describe_replication_groups(ReplicationGroupId=REDIS)["ReplicationGroups"][0]

    g = group()
    assert (g["SnapshotRetentionLimit"], g["SnapshotWindow"]) == (7, "16:00-17:00")  # ElastiCache.1
    assert g["AutoMinorVersionUpgrade"] is True  # ElastiCache.2

    ec.modify_replication_group(ReplicationGroupId=REDIS, ApplyImmediately=True, SnapshotRetentionLimit=0,
                                SnapshotWindow="03:00-04:00", AutoMinorVersionUpgrade=False)
    plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    assert changed(plan) == {"redis.replication_group": {"snapshot_retention_days", "snapshot_window", "auto_minor_version_upgrade"}}
    converge(aws, state, nodes=nodes(), clock=clock)
    g = group()
    assert (g["SnapshotRetentionLimit"], g["SnapshotWindow"], g["AutoMinorVersionUpgrade"]) == (7, "16:00-17:00", True)

    cfg = EnvConfig(redis_snapshot_retention_days=35, redis_snapshot_window="23:30-00:30")
    converge(aws, state, nodes=nodes(cfg), clock=clock)
    assert (group()["SnapshotRetentionLimit"], group()["SnapshotWindow"]) == (35, "23:30-00:30")


@pytest.mark.parametrize("changes, problem", [
    ({"snapshot_retention_days": 36}, "snapshot_retention_days: 0 to 35"),
    ({"snapshot_window": "16:00-16:30"}, "at least 60 minutes"),
    ({"snapshot_window": "4pm"}, "hh24:mi-hh24:mi"),
])
def test_redis_backup_settings_aws_refuses_are_refused_before_any_call(aws, changes, problem):
    from resources.data.elasticache import ReplicationGroup

    _, rg = redis_nodes("dev", EnvConfig(), 2)
    spec = {**rg.spec, "subnet_group": "g", "security_group_ids": ["sg-0a"], "auth_token_secret_arn": None, **changes}
    assert any(problem in p for p in ReplicationGroup(aws, env="dev").validate(spec))


# -- EFS ------------------------------------------------------------------------------------------

@pytest.fixture
def efs_stack(aws, ec2, clock):
    """The private subnets, efs-sg and the task role made by hand; the EFS nodes with the policy."""
    from tests.resources.test_efs import network as private_network

    state = MemoryState()
    converge(aws, state, nodes=private_network(), clock=clock)
    vpc_id = recorded_id(state, "vpc")
    sg_id = ec2.create_security_group(VpcId=vpc_id, GroupName="efs-sg-dev", Description="efs")["GroupId"]
    iam = boto3.client("iam", region_name=REGION)
    task_role = iam.create_role(RoleName="ecs-task-role-dev", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]

    def nodes(cfg: EnvConfig = EnvConfig()):
        out = []
        for n in efs_nodes("dev", cfg, len(AZS)):
            if n.key == "efs.mount_targets":
                n = with_spec(n, security_group_ids=[sg_id])
            if n.key == "efs.policy":
                # The Ref to iam.task_role replaced by the role the test made.
                n = with_spec(n, policy=efs_policy(Ref("efs.file_system", "arn"), task_role, Ref("efs.access_point", "arn")))
            out.append(n)
        return private_network() + out

    return state, nodes, task_role


def file_system(efs) -> dict:
    [fs] = efs.describe_file_systems(CreationToken=TOKEN)["FileSystems"]
    return fs


def test_efs_backup_and_file_system_policy_are_set_at_create_switched_off_seen_and_restored(aws, efs_stack, clock):
    state, nodes, task_role = efs_stack
    before = collections.Counter(aws.calls.counts)
    converge(aws, state, nodes=nodes(), clock=clock)
    made = mutating_calls(aws, before)
    # Backup goes in CreateFileSystem; the policy is one PutFileSystemPolicy (the kill sweep's count).
    assert made["efs PutFileSystemPolicy"] == 1 and "efs PutBackupPolicy" not in made
    efs = boto3.client("efs", region_name=REGION)
    fs = file_system(efs)
    ap = efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"][0]
    assert efs.describe_backup_policy(FileSystemId=fs["FileSystemId"])["BackupPolicy"]["Status"] == "ENABLED"  # EFS.2
    policy = canonical_policy(efs.describe_file_system_policy(FileSystemId=fs["FileSystemId"])["Policy"])
    deny, allow = policy["Statement"]
    assert deny == canonical_statement({"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*",
                    "Resource": fs["FileSystemArn"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    assert allow == canonical_statement({"Sid": "TaskRoleThroughAccessPoint", "Effect": "Allow", "Principal": {"AWS": task_role},
                     "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                     "Resource": fs["FileSystemArn"],
                     "Condition": {"ArnEquals": {"elasticfilesystem:AccessPointArn": ap["AccessPointArn"]}}})

    efs.put_backup_policy(FileSystemId=fs["FileSystemId"], BackupPolicy={"Status": "DISABLED"})
    efs.delete_file_system_policy(FileSystemId=fs["FileSystemId"])
    plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    assert changed(plan)["efs.file_system"] == {"backup"}
    assert {r.key: r.action for r in plan.results if r.action != "unchanged"} == {"efs.file_system": "update", "efs.policy": "create"}
    converge(aws, state, nodes=nodes(), clock=clock)
    assert efs.describe_backup_policy(FileSystemId=fs["FileSystemId"])["BackupPolicy"]["Status"] == "ENABLED"
    assert canonical_policy(efs.describe_file_system_policy(FileSystemId=fs["FileSystemId"])["Policy"]) == policy

    # Someone widens the policy: drift names it, the reconcile puts ours back.
    efs.put_file_system_policy(FileSystemId=fs["FileSystemId"], Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"}]}))
    assert changed(converge(aws, state, nodes=nodes(), clock=clock, plan=True)) == {"efs.policy": {"policy"}}
    converge(aws, state, nodes=nodes(), clock=clock)
    assert canonical_policy(efs.describe_file_system_policy(FileSystemId=fs["FileSystemId"])["Policy"]) == policy

    converge(aws, state, nodes=nodes(EnvConfig(efs_backup=False)), clock=clock)
    assert efs.describe_backup_policy(FileSystemId=fs["FileSystemId"])["BackupPolicy"]["Status"] == "DISABLED"


def test_efs_policy_is_adopted_after_state_loss_and_goes_with_teardown(aws, efs_stack, clock):
    state, nodes, _ = efs_stack
    converge(aws, state, nodes=nodes(), clock=clock)
    efs = boto3.client("efs", region_name=REGION)
    fs_id = file_system(efs)["FileSystemId"]
    state.lose()
    before = aws.calls.mutating
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(run).values()) == {"unchanged"} and aws.calls.mutating == before
    assert recorded_id(state, "efs.policy") == fs_id

    state.lose()  # teardown without state finds it through the file system's token and tags
    down = destroy(aws, state, nodes=nodes(), clock=clock)
    assert actions(down)["efs.policy"] == "delete" and actions(down)["efs.file_system"] == "delete"
    assert efs.describe_file_systems(CreationToken=TOKEN)["FileSystems"] == []
    again = destroy(aws, state, nodes=nodes(), clock=clock)
    assert actions(again)["efs.policy"] == "absent"


def test_efs_policy_of_a_file_system_deleted_behind_our_back_is_put_on_the_new_one(aws, efs_stack, clock):
    state, nodes, _ = efs_stack
    converge(aws, state, nodes=nodes(), clock=clock)
    efs = boto3.client("efs", region_name=REGION)
    old = file_system(efs)
    for ap in efs.describe_access_points(FileSystemId=old["FileSystemId"])["AccessPoints"]:
        efs.delete_access_point(AccessPointId=ap["AccessPointId"])
    for mt in efs.describe_mount_targets(FileSystemId=old["FileSystemId"])["MountTargets"]:
        efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
    efs.delete_file_system(FileSystemId=old["FileSystemId"])
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert actions(run)["efs.policy"] == "create"
    new = file_system(efs)
    policy = json.loads(efs.describe_file_system_policy(FileSystemId=new["FileSystemId"])["Policy"])
    assert [s["Resource"] for s in canonical_policy(policy)["Statement"]] == [[new["FileSystemArn"]]] * 2


# -- load balancer ----------------------------------------------------------------------------------

@pytest.fixture
def lb_stack(aws, ec2, clock):
    from tests.resources.test_elbv2 import network as private_network

    state = MemoryState()
    converge(aws, state, nodes=private_network(), clock=clock)
    sg_id = ec2.create_security_group(VpcId=recorded_id(state, "vpc"), GroupName="nlb-sg-dev", Description="nlb")["GroupId"]

    def nodes(cfg: EnvConfig = EnvConfig()):
        return private_network() + [
            with_spec(n, security_group_ids=[sg_id]) if n.key == "elb.nlb" else n
            for n in load_balancer_nodes("dev", cfg, len(AZS))
        ]

    return state, nodes


def lb_attributes(elbv2) -> dict[str, str]:
    arn = elbv2.describe_load_balancers(Names=[NLB])["LoadBalancers"][0]["LoadBalancerArn"]
    return {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}, arn


def test_nlb_cross_zone_and_deletion_protection_are_set_switched_off_seen_and_restored(aws, lb_stack, clock):
    state, nodes = lb_stack
    before = collections.Counter(aws.calls.counts)
    converge(aws, state, nodes=nodes(), clock=clock)
    # CreateLoadBalancer takes no attributes: one ModifyLoadBalancerAttributes follows it.
    assert mutating_calls(aws, before)["elbv2 ModifyLoadBalancerAttributes"] == 1
    elbv2 = boto3.client("elbv2", region_name=REGION)
    attributes, arn = lb_attributes(elbv2)
    assert attributes["load_balancing.cross_zone.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "false"  # ELB.6: dev, as configured

    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "load_balancing.cross_zone.enabled", "Value": "false"}])
    assert changed(converge(aws, state, nodes=nodes(), clock=clock, plan=True)) == {"elb.nlb": {"cross_zone"}}
    converge(aws, state, nodes=nodes(), clock=clock)
    assert lb_attributes(elbv2)[0]["load_balancing.cross_zone.enabled"] == "true"


def test_nlb_deletion_protection_follows_the_environment_and_refuses_teardown(aws, lb_stack, clock):
    state, nodes = lb_stack
    protected = EnvConfig(deletion_protection=True)
    converge(aws, state, nodes=nodes(protected), clock=clock)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    attributes, arn = lb_attributes(elbv2)
    assert attributes["deletion_protection.enabled"] == "true"  # ELB.6

    # Switched off behind the tool's back: drift names it, the reconcile turns it on again.
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
    assert changed(converge(aws, state, nodes=nodes(protected), clock=clock, plan=True)) == {"elb.nlb": {"deletion_protection"}}
    converge(aws, state, nodes=nodes(protected), clock=clock)
    assert lb_attributes(elbv2)[0]["deletion_protection.enabled"] == "true"

    with pytest.raises(TeardownRefused):
        destroy(aws, state, nodes=nodes(protected), clock=clock)
    assert elbv2.describe_load_balancers(Names=[NLB])["LoadBalancers"]
    # The documented way out: deletion_protection = false, reconcile, then teardown.
    converge(aws, state, nodes=nodes(), clock=clock)
    destroy(aws, state, nodes=nodes(), clock=clock)
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []


# -- crash and retry paths of the new calls -------------------------------------------------------

def test_a_lost_put_file_system_policy_answer_is_retried_and_converges(aws, efs_stack, clock):
    from tests.resources.test_lost_create_answers import LoseFirstAnswer

    state, nodes, _ = efs_stack
    lost = LoseFirstAnswer(aws, "efs", "PutFileSystemPolicy")
    converge(aws, state, nodes=nodes(), clock=clock)
    assert lost.sent == 2  # PutFileSystemPolicy replaces the document: the retry is harmless
    efs = boto3.client("efs", region_name=REGION)
    assert efs.describe_file_system_policy(FileSystemId=file_system(efs)["FileSystemId"])["Policy"]
    assert changed(converge(aws, state, nodes=nodes(), clock=clock, plan=True)) == {}


def test_a_monitoring_role_rds_cannot_use_yet_is_waited_for_and_other_refusals_are_not(fake):
    """B-IAM-2: right after CreateRole, RDS may refuse the role for ENHANCED_MONITORING."""
    from botocore.stub import ANY, Stubber

    from resources.aws import Aws
    from resources.data.rds import DbInstance

    _, db, *_ = rds_nodes("dev", EnvConfig(), 2)
    spec = {**db.spec, "subnet_group": "g", "security_group_ids": ["sg-0a"],
            "monitoring_role_arn": f"arn:aws:iam::123456789012:role/{ROLE}",
            "master_user_secret_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
    aws = Aws(REGION)
    handler = DbInstance(aws, env="dev", clock=fake.as_clock())
    with Stubber(aws.client("rds")) as stubber:
        not_yet = "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING"
        stubber.add_client_error("create_db_instance", "InvalidParameterValue", not_yet)
        stubber.add_response("create_db_instance", {"DBInstance": {"DBInstanceIdentifier": DB}}, {
            k: ANY for k in ("DBInstanceIdentifier", "Engine", "EngineVersion", "DBInstanceClass", "AllocatedStorage",
                             "StorageType", "StorageEncrypted", "MultiAZ", "PubliclyAccessible", "Port", "DBName",
                             "MasterUsername", "ManageMasterUserPassword", "BackupRetentionPeriod", "DeletionProtection",
                             "MonitoringInterval", "EnableIAMDatabaseAuthentication", "AutoMinorVersionUpgrade",
                             "DBSubnetGroupName", "VpcSecurityGroupIds", "CopyTagsToSnapshot", "Tags", "MonitoringRoleArn",
                             "EnableCloudwatchLogsExports", "MasterUserSecretKmsKeyId")})
        started = fake.now()
        assert handler.create(handler.desired(spec), "token") == DB
        assert fake.now() > started  # waited on the clock, not on the wall
        stubber.add_client_error("create_db_instance", "InvalidParameterValue", "Invalid DB engine version")
        with pytest.raises(Exception, match="Invalid DB engine version"):
            handler.create(handler.desired(spec), "token")
        stubber.assert_no_pending_responses()

"""Data layer: RDS PostgreSQL, ElastiCache Redis and EFS, each in its own security group."""
from __future__ import annotations

from orchestrator.config import EnvConfig
from orchestrator.spec import Node, Ref
from orchestrator.stack.common import spec_factory, tier_subnets
from resources.data.efs import AccessPoint, FileSystem, MountTargets
from resources.data.efs_policy import FileSystemPolicy
from resources.data.elasticache import CacheSubnetGroup, ReplicationGroup
from resources.security.iam_role import IamRole
from resources.security.log_group import LogGroup
from resources.data.rds import DbInstance, DbSubnetGroup

DB_PORT = 5432
REDIS_PORT = 6379

# RDS user guide, "Setting up and enabling Enhanced Monitoring": the role trusts
# monitoring.rds.amazonaws.com and carries the AWS managed policy below.
# Against the confused deputy, aws:SourceAccount as the RDS user guide recommends for this role
# (docs/configuration.md IAM row); ${AWS::AccountId} is filled in by the role's handler (resources/security/iam_role.py).
def rds_monitoring_trust(env: str) -> dict:
    """Enhanced Monitoring may assume the role for this environment's instance only: the account
    and the instance's ARN (RDS user guide, "Setting up and enabling Enhanced Monitoring",
    confused deputy: aws:SourceArn and aws:SourceAccount; an ARN-typed key, the ARN operator)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "monitoring.rds.amazonaws.com"}, "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
                                     "ArnLike": {"aws:SourceArn": f"arn:aws:rds:${{AWS::Region}}:${{AWS::AccountId}}:db:{db_instance_name(env)}"}}}],
    }
RDS_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def db_instance_name(env: str) -> str:
    return f"rds-postgresql-{env}"


def rds_log_group_name(env: str, log_type: str) -> str:
    """Where RDS exports a log type (RDS user guide, "Publishing PostgreSQL logs to Amazon
    CloudWatch Logs": /aws/rds/instance/<DB instance identifier>/<log type>)."""
    return f"/aws/rds/instance/{db_instance_name(env)}/{log_type}"


def rds_log_group_key(log_type: str) -> str:
    return f"logs.rds.{log_type}"


def rds_log_group_nodes(env: str, cfg: EnvConfig) -> list[Node]:
    """The log groups RDS exports to, one per exported log type, made before the instance (it
    waits for them): a group RDS creates itself has no KMS key and never expires (docs/aws-behaviours.md
    C-RDS-6). RDS writes into an existing group as it is (the pattern of terraform-aws-modules'
    RDS module). A log type dropped from db_log_exports leaves its group: logs are data; teardown
    still deletes it (orchestrator.stack.every_config)."""
    spec = spec_factory(env, cfg)
    return [
        Node(rds_log_group_key(t), LogGroup, spec(
            rds_log_group_name(env, t), retention_days=cfg.db_log_retention_days, kms_key_id=Ref("kms.key", "arn"),
        ))
        for t in cfg.db_log_exports
    ]


def rds_nodes(env: str, cfg: EnvConfig, az_count: int) -> list[Node]:
    """The subnet group, the instance, its monitoring role, then its export log groups."""
    spec = spec_factory(env, cfg)
    exports = list(cfg.db_log_exports)
    return [
        # B-RDS-7: the subnets must cover at least two AZs; the isolated tier has no route out.
        Node("rds.subnet_group", DbSubnetGroup, spec(
            f"rds-subnet-group-{env}", description=f"Isolated subnets of {env} for RDS",
            subnet_ids=tier_subnets("isolated", az_count),
        )),
        Node("rds.instance", DbInstance, spec(
            db_instance_name(env),
            engine="postgres",
            engine_version=cfg.db_engine_version,
            instance_class=cfg.db_instance_class,
            allocated_storage=cfg.db_allocated_storage,
            storage_type="gp3",
            storage_encrypted=True,
            multi_az=True,
            publicly_accessible=False,
            port=DB_PORT,
            db_name="videometadata",
            master_username="videoadmin",
            # RDS generates the password and keeps it in a Secrets Manager secret it owns: the
            # value never passes through this process, a log, the plan or the state file.
            manage_master_user_password=True,
            # docs/configuration.md "keys": that secret encrypted with the environment's key.
            master_user_secret_kms_key_id=Ref("kms.key", "arn"),
            backup_retention_days=cfg.db_backup_retention_days,
            deletion_protection=cfg.deletion_protection,
            monitoring_interval=cfg.db_monitoring_interval,
            monitoring_role_arn=Ref("iam.rds_monitoring_role", "arn"),
            iam_database_authentication=True,
            cloudwatch_logs_exports=exports,
            auto_minor_version_upgrade=cfg.db_auto_minor_version_upgrade,
            final_snapshot=cfg.db_final_snapshot,
            subnet_group=Ref("rds.subnet_group", "name"),
            security_group_ids=[Ref("sg.rds")],
        ),
            # The export log groups exist before RDS exports (it would make them unencrypted).
            after=tuple(rds_log_group_key(t) for t in exports)),
        # FSBP RDS.6: the role RDS assumes to publish Enhanced Monitoring metrics. Made whatever
        # db_monitoring_interval says (a role costs nothing), so turning monitoring on or off is
        # one modification of the instance.
        Node("iam.rds_monitoring_role", IamRole, spec(
            f"rds-monitoring-role-{env}", description="RDS publishes Enhanced Monitoring metrics to CloudWatch Logs",
            assume_role_policy=rds_monitoring_trust(env), inline_policies={}, managed_policy_arns=[RDS_MONITORING_POLICY],
        )),
        *rds_log_group_nodes(env, cfg),
    ]


def redis_nodes(env: str, cfg: EnvConfig, az_count: int) -> list[Node]:

    spec = spec_factory(env, cfg)
    return [
        Node("redis.subnet_group", CacheSubnetGroup, spec(
            f"redis-subnet-group-{env}", description=f"Isolated subnets of {env} for Redis",
            subnet_ids=tier_subnets("isolated", az_count),
        )),
        Node("redis.replication_group", ReplicationGroup, spec(
            f"redis-{env}",
            description=f"Video metadata cache of {env}",
            engine="redis",
            engine_version=cfg.redis_engine_version,
            node_type=cfg.redis_node_type,
            num_cache_clusters=cfg.redis_num_nodes,
            automatic_failover=True,
            multi_az=True,
            at_rest_encryption=True,
            transit_encryption=True,
            port=REDIS_PORT,
            # The token is read from this secret inside the handler at create time only.
            auth_token_secret_arn=Ref("secret.redis_auth", "arn"),
            subnet_group=Ref("redis.subnet_group", "name"),
            security_group_ids=[Ref("sg.redis")],
            # FSBP ElastiCache.1 and .2.
            snapshot_retention_days=cfg.redis_snapshot_retention_days,
            snapshot_window=cfg.redis_snapshot_window,
            auto_minor_version_upgrade=cfg.redis_auto_minor_version_upgrade,
        )),
    ]


def efs_nodes(env: str, cfg: EnvConfig, az_count: int) -> list[Node]:

    spec = spec_factory(env, cfg)
    return [
        Node("efs.file_system", FileSystem, spec(
            f"efs-{env}",
            # B-EFS-2: the idempotency key of CreateFileSystem; deterministic so a retried or
            # killed run finds the same file system.
            creation_token=f"video-pipeline-infra-efs-{env}",
            encrypted=True,
            performance_mode="generalPurpose",
            throughput_mode="bursting",
            # B-EFS-3: one transition per policy object.
            lifecycle_policies=[{"TransitionToIA": "AFTER_14_DAYS"}, {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}],
            # FSBP EFS.2: AWS Backup's default daily plan.
            backup=cfg.efs_backup,
        )),
        # Mount targets carry no tags: one per AZ (B-EFS-1), found by file system and subnet.
        Node("efs.mount_targets", MountTargets, spec(
            f"efs-mount-targets-{env}",
            creation_token=f"video-pipeline-infra-efs-{env}",
            file_system_id=Ref("efs.file_system"),
            subnet_ids=tier_subnets("private", az_count),
            security_group_ids=[Ref("sg.efs")],
        )),
        Node("efs.access_point", AccessPoint, spec(
            f"efs-ap-{env}",
            file_system_id=Ref("efs.file_system"),
            posix_user={"Uid": 1000, "Gid": 1000},
            root_directory={"Path": "/video-processing",
                            "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "750"}},
        )),
        # docs/configuration.md EFS row (prowler: EFS not public): no access without TLS; mount and write
        # only for the task role, only through the access point. The task definition mounts with
        # IAM authorization and TLS (B-EFS-4), so the tasks present the task role.
        Node("efs.policy", FileSystemPolicy, spec(
            f"efs-policy-{env}",
            creation_token=f"video-pipeline-infra-efs-{env}",
            file_system_id=Ref("efs.file_system"),
            policy=efs_policy(Ref("efs.file_system", "arn"), Ref("iam.task_role", "arn"), Ref("efs.access_point", "arn")),
        )),
    ]


def efs_policy(file_system_arn, task_role_arn, access_point_arn) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            # EFS user guide, "Enforcing encryption in transit": deny every request without TLS.
            {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*",
             "Resource": file_system_arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "TaskRoleThroughAccessPoint", "Effect": "Allow", "Principal": {"AWS": task_role_arn},
             "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
             "Resource": file_system_arn,
             # docs/configuration.md IAM row: conditions use the operator of their type (ArnEquals for ARNs).
             "Condition": {"ArnEquals": {"elasticfilesystem:AccessPointArn": access_point_arn}}},
        ],
    }

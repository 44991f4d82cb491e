"""RDS PostgreSQL: the DB subnet group over the isolated subnets, and the Multi-AZ instance.

RDS creates and keeps the master password in a Secrets Manager secret of its own
(ManageMasterUserPassword, docs/aws-behaviours.md A-14): the value never passes through this process, and
only the secret's ARN is an output.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone

import structlog
from botocore.exceptions import ClientError

from resources.aws import error_code
from resources.aws.permissions import arn, pass_role, reads, service_linked_role, writes
from resources.base import (
    Change, Field, FieldDiff, Handler, Observed, Refresh, Status, create_params, modify_params, not_modifiable, owned_by,
    read_attrs, read_pending, tag_dict, tag_list,
)
from resources.aws.consistency import consistency
from resources.data.subnet_group import SubnetGroupHandler, name_taken_is_explained

log = structlog.get_logger()

SUBNET_GROUP_NOT_FOUND = "DBSubnetGroupNotFoundFault"
INSTANCE_NOT_FOUND = "DBInstanceNotFound"

# DeleteDBSubnetGroup answers InvalidDBSubnetGroupStateFault while an instance in the group is
# still being deleted (docs/aws-behaviours.md A-12); an interrupted teardown meets an instance "deleting".
SUBNET_GROUP_RELEASED = consistency(
    "rds-subnet-group-released", {"InvalidDBSubnetGroupStateFault"}, timeout=60 * 60, first_delay=5.0, max_delay=30.0
)
# ModifyDBInstance and DeleteDBInstance answer InvalidDBInstanceState while the instance is busy
# (creating, backing-up, modifying); a final snapshot in particular needs it available.
INSTANCE_BUSY = consistency(
    "rds-instance-busy", {"InvalidDBInstanceState"}, timeout=40 * 60, first_delay=5.0, max_delay=30.0
)

# States an instance does not leave by itself: failed, incompatible-restore, incompatible-network
# (which B-RDS-5 says can only be deleted with SkipFinalSnapshot) and a lost KMS key.
FAILED_STATES = ("failed", "inaccessible-encryption-credentials")
# B-RDS-1 and B-RDS-4.
IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
MASTER_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}")
# B-RDS-4: names the engine keeps for itself, which RDS refuses with InvalidParameterValue ("a
# reserved word used by the engine"). Only the ones seen refused: "rdsadmin" on every engine (RDS's
# own administrator), "admin" on PostgreSQL, and PostgreSQL's "pg_" role prefix. "postgres" is
# accepted (the console's default). Compared lower-case: PostgreSQL folds an unquoted name so.
RESERVED_ON_EVERY_ENGINE = frozenset({"rdsadmin"})
RESERVED_MASTER_USERNAMES = {"postgres": RESERVED_ON_EVERY_ENGINE | {"admin"}}
RESERVED_MASTER_USERNAME_PREFIXES = {"postgres": ("pg_",)}
# The key of the master secret: a key ARN or a bare key id. RDS reads it back as the key's ARN
# (MasterUserSecret.KmsKeyId, docs/aws-behaviours.md B-RDS-9); an alias could only be compared after a KMS
# call, so it is refused before any call.
KMS_KEY_ARN = re.compile(r"arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key/(?P<id>[A-Za-z0-9-]+)")
KMS_KEY_ID = re.compile(r"(mrk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")


def master_username_problems(engine: str, name: str) -> list[str]:
    """B-RDS-4: the master user name's shape, then the engine's reserved names."""
    if not MASTER_USERNAME.fullmatch(name):
        return ["master_username must be 1-16 letters, digits or _, a letter first"]
    lowered = name.lower()
    reserved = RESERVED_MASTER_USERNAMES.get(engine, RESERVED_ON_EVERY_ENGINE)
    if lowered in reserved or lowered.startswith(RESERVED_MASTER_USERNAME_PREFIXES.get(engine, ())):
        return [f"master_username {name!r} is reserved by the {engine} engine; choose another name"]
    return []


# -- helpers shared with the ElastiCache handlers ---------------------------------------------

def version_matches(desired, observed) -> bool:
    """A spec version is a prefix of the engine's full version: "17" matches "17.4", "7.1" matches
    "7.1.0", "6.x" matches "6.2.6". AWS picks (and auto-upgrades) the minor of a major it was given,
    so a minor it chose is not drift; a full version in the spec is compared exactly."""
    if not isinstance(desired, str) or not isinstance(observed, str):
        return desired == observed
    want = desired.split(".")
    have = observed.split(".")
    return len(have) >= len(want) and all(w in ("x", h) for w, h in zip(want, have))


def kms_key_id_of(value) -> str | None:
    """The key id in a key ARN or a bare key id; None for anything else."""
    if not isinstance(value, str):
        return None
    arn = KMS_KEY_ARN.fullmatch(value)
    return arn["id"] if arn else value if KMS_KEY_ID.fullmatch(value) else None


def kms_key_matches(desired, observed) -> bool:
    """The same key whether named by its ARN or its id: RDS answers MasterUserSecret.KmsKeyId with
    the key's ARN (the AWS-verified lifecycle tests in moto's test_rds_integration), a spec may
    hold either."""
    if desired == observed:
        return True
    return kms_key_id_of(desired) is not None and kms_key_id_of(desired) == kms_key_id_of(observed)


def major(version: str) -> int:
    return int(version.split(".")[0])


def older(desired: str, observed: str) -> bool:
    """True when ``desired`` is older than ``observed`` at the spec's precision: "16" and "17.2"
    are older than 17.4, "17" is not."""
    def key(v: str) -> list[int]:
        return [int(p) if p.isdigit() else 99 for p in v.split(".")]

    return key(desired) < key(observed)[: len(desired.split("."))]


def few(versions, limit: int = 4) -> str:
    """The first ``limit`` versions of a list for a one-line reason, and how many more."""
    shown = list(versions)
    if not shown:
        return "none"
    rest = len(shown) - limit
    return ", ".join(shown[:limit]) + (f" and {rest} more" if rest > 0 else "")


def newest_per_major(targets: list[dict]) -> str:
    """Upgrade targets for a one-line reason: the newest of each major, and how many in all."""
    newest: dict[int, str] = {}
    for version in (t["EngineVersion"] for t in targets):
        if major(version) not in newest or older(newest[major(version)], version):
            newest[major(version)] = version
    if not newest:
        return "none"
    shown = ", ".join(newest[m] for m in sorted(newest))
    return shown if len(targets) == len(newest) else f"up to {shown} ({len(targets)} in all)"


# -- DB subnet group ----------------------------------------------------------------------------

class DbSubnetGroup(SubnetGroupHandler):
    kind = "db_subnet_group"
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_db_subnet_groups", "DBSubnetGroups", "DBSubnetGroupName", 100)
    service = "rds"
    noun, api, arn_key = "DBSubnetGroup", "db_subnet_group", "DBSubnetGroupArn"
    iam = (
        reads("rds:DescribeDBSubnetGroups", arns=(arn("rds", "subgrp:*"),)),  # a listing under drift --all
        reads("rds:ListTagsForResource", arns=(arn("rds", "subgrp:{name}"),)),
        writes("rds:CreateDBSubnetGroup", "rds:ModifyDBSubnetGroup", "rds:DeleteDBSubnetGroup", "rds:AddTagsToResource",
               "rds:RemoveTagsFromResource", arns=(arn("rds", "subgrp:{name}"),)),
    )
    not_found, already_exists = frozenset({SUBNET_GROUP_NOT_FOUND}), "DBSubnetGroupAlreadyExists"
    released = SUBNET_GROUP_RELEASED


# -- DB instance --------------------------------------------------------------------------------

def status_of(db: dict) -> Refresh:
    status = db["DBInstanceStatus"]
    # C-RDS-2: after a storage change the instance is "storage-optimization" for hours, fully
    # usable; waiting for "available" would fail every later run.
    if status in ("available", "storage-optimization"):
        return Refresh(Status.READY, status)
    if status in FAILED_STATES or status.startswith("incompatible-"):
        return Refresh(Status.FAILED, status)
    if status == "deleting":
        return Refresh(Status.DELETING, status)
    # creating, backing-up, modifying, configuring-enhanced-monitoring, upgrading, deleting, …
    return Refresh(Status.PENDING, status)


# The reads and changes of DbInstance.fields that need more than a key.

def port_of(db: dict) -> int | None:
    # No Endpoint while creating; DbInstancePort is 0 for most instances.
    return (db.get("Endpoint") or {}).get("Port") or db.get("DbInstancePort") or None


def monitoring_role_of(db: dict) -> str | None:
    # RDS keeps the last role ARN after monitoring is turned off: meaningful only while on.
    return db.get("MonitoringRoleArn") if db.get("MonitoringInterval") else None


def security_groups_of(db: dict) -> list[str]:
    # A group being detached is listed as "removing" until the modification is done.
    return sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", []) if g.get("Status") != "removing")


def exports_change(diff: FieldDiff) -> dict:
    """ModifyDBInstance CloudwatchLogsExportConfiguration: the log types to enable and to disable."""
    want, have = set(diff.expected), set(diff.actual or [])
    return {"CloudwatchLogsExportConfiguration": {
        k: v for k, v in (("EnableLogTypes", sorted(want - have)), ("DisableLogTypes", sorted(have - want))) if v
    }}


def pending_exports(now: list[str], exports: dict) -> list[str]:
    """The log types a change RDS accepted and is still applying will leave exported: RDS lists it
    as an enable/disable pair (PendingCloudwatchLogsExports), not as a value."""
    return sorted((set(now) | set(exports.get("LogTypesToEnable") or [])) - set(exports.get("LogTypesToDisable") or []))


# RDS Enhanced Monitoring intervals in seconds; 0 is off (CreateDBInstance MonitoringInterval).
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
# B-IAM-2: a monitoring role just created may not be usable by RDS yet; CreateDBInstance and
# ModifyDBInstance then answer InvalidParameterValue naming ENHANCED_MONITORING (the answer
# terraform-provider-aws retries for aws_db_instance).
ROLE_SETTLE_SECONDS = 2 * 60


def _role_not_usable_yet(exc: Exception) -> bool:
    return error_code(exc) == "InvalidParameterValue" and "ENHANCED_MONITORING" in str(exc)


def role_settled(clock, call, **params):
    """``call(**params)``, retried while RDS cannot use the just-made monitoring role (B-IAM-2)."""
    start, delay = clock.now(), 2.0
    while True:
        try:
            return call(**params)
        except ClientError as exc:
            if not _role_not_usable_yet(exc) or clock.now() - start >= ROLE_SETTLE_SECONDS:
                raise
            log.info("retrying", reason="rds-monitoring-role-usable", code=error_code(exc))
            clock.sleep(delay)
            delay = min(delay * 2, 15.0)


class DbInstance(Handler):
    kind = "db_instance"
    iam = (
        # The listing of every instance (an environment's, answered from one call under drift --all).
        reads("rds:DescribeDBInstances", arns=(arn("rds", "db:*"),)),
        reads("rds:DescribeDBEngineVersions"),
        reads("rds:ListTagsForResource", arns=(arn("rds", "db:{name}"),)),
        writes("rds:ModifyDBInstance", "rds:AddTagsToResource", "rds:RemoveTagsFromResource", arns=(arn("rds", "db:{name}"),)),
        # The create names its subnet group and takes the engine's default parameter and option groups;
        # a delete takes the final snapshot.
        writes("rds:CreateDBInstance", arns=(arn("rds", "db:{name}"), arn("rds", "subgrp:rds-subnet-group-{env}"),
                                            arn("rds", "pg:default.postgres*"), arn("rds", "og:default:postgres-*"))),
        writes("rds:DeleteDBInstance", arns=(arn("rds", "db:{name}"), arn("rds", "snapshot:{name}-final-*"))),
        writes("rds:CreateDBSnapshot", arns=(arn("rds", "db:{name}"), arn("rds", "snapshot:{name}-final-*")),
               implied_by="DeleteDBInstance with FinalDBSnapshotIdentifier"),
        pass_role("rds-monitoring-role-{env}", "monitoring.rds.amazonaws.com", "CreateDBInstance and ModifyDBInstance with MonitoringRoleArn"),
        service_linked_role("rds.amazonaws.com", "CreateDBInstance in a fresh account"),
        # ManageMasterUserPassword: RDS creates the master secret (rds!...) with the caller's permissions,
        # encrypted with the environment's key.
        writes("secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:RotateSecret",
               arns=(arn("secretsmanager", "secret:rds!*"),), implied_by="CreateDBInstance with ManageMasterUserPassword"),
        writes("kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt", arns=(arn("kms", "key/*"),), tag="resource",
               implied_by="CreateDBInstance with MasterUserSecretKmsKeyId"),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_db_instances", "DBInstances", "DBInstanceIdentifier", 100)
    service = "rds"
    expected_seconds = 840  # Multi-AZ db.t3.medium, T-4.2
    expected_delete_seconds = 330  # 4-7 min without a final snapshot, T-1.3
    create_timeout = 40 * 60  # Terraform's default
    delete_timeout = 60 * 60
    poll_ceiling = 30
    not_found = frozenset({INSTANCE_NOT_FOUND})
    stateful = "every row of the database (a final snapshot only if db_final_snapshot = true)"
    update_timeout = 40 * 60
    # Each field's AWS names, once (base.Field): ``aws`` the DescribeDBInstances key, ``pending``
    # the PendingModifiedValues key, ``modify`` the ModifyDBInstance parameter, ``create`` the
    # CreateDBInstance parameter; True: the same name as ``aws``.
    fields = {
        # Another engine is another database; there is no in-place switch.
        "engine": Field(str, Change.REPLACE, why="another engine is another database", aws="Engine", create=True),
        # Downgrades and targets RDS does not offer are refused, a major upgrade is downtime
        # (classify, C-RDS-3, C-RDS-5).
        "engine_version": Field(str, matches=version_matches, aws="EngineVersion", pending=True, modify=True, create=True),
        # C-RDS-4: a Multi-AZ instance fails over to the standby (about a minute of errors); a
        # single-AZ one restarts.
        "instance_class": Field(str, Change.DOWNTIME, why="a failover (Multi-AZ) or a restart",
                                aws="DBInstanceClass", pending=True, modify=True, create=True),
        # Grows only, by at least 10 % (classify, C-RDS-2).
        "allocated_storage": Field(int, aws="AllocatedStorage", pending=True, modify=True, create=True),
        "storage_type": Field(str, aws="StorageType", pending=True, modify=True, create=True),
        # Encryption is chosen at creation (else snapshot, encrypted copy, restore).
        "storage_encrypted": Field(bool, Change.REPLACE, why="encryption is chosen at creation",
                                   aws="StorageEncrypted", absent=False, create=True),
        "multi_az": Field(bool, Change.DOWNTIME, why="the standby is created or removed; I/O pauses",
                          aws="MultiAZ", absent=False, pending=True, modify=True, create=True),
        "publicly_accessible": Field(bool, aws="PubliclyAccessible", absent=False, modify=True, create=True),
        "port": Field(int, Change.DOWNTIME, why="the instance restarts on the new port",
                      aws=port_of, pending="Port", modify="DBPortNumber", create="Port"),
        # Set at creation only: ModifyDBInstance has no such parameters.
        "db_name": Field(str, Change.REPLACE, why="set at creation only", aws="DBName", create=True),
        "master_username": Field(str, Change.REPLACE, why="set at creation only", aws="MasterUsername", create=True),
        # Created with ManageMasterUserPassword=True always (create, B-RDS-3).
        "manage_master_user_password": Field(bool, aws=lambda db: "MasterUserSecret" in db, modify="ManageMasterUserPassword"),
        # docs/configuration.md "keys": the master secret RDS creates in Secrets Manager is encrypted with
        # the environment's key, not aws/secretsmanager. Chosen at creation: RDS takes a key only while
        # management is turned on, never for a secret it already manages (the API reference,
        # ModifyDBInstance MasterUserSecretKmsKeyId; docs/aws-behaviours.md D-RDS-1, B-RDS-9). Read back
        # as the key ARN (aws/secretsmanager's when none was given).
        "master_user_secret_kms_key_id": Field(str, Change.IMPOSSIBLE, matches=kms_key_matches, why=(
            "RDS cannot change the key of a master secret it already manages; the documented ways are to turn "
            "password management off and on again with the new key, which gives the master user a new password, "
            "or to replace the instance"), aws="MasterUserSecret.KmsKeyId", create="MasterUserSecretKmsKeyId"),
        "backup_retention_days": Field(int, aws="BackupRetentionPeriod", pending=True, modify=True, create=True),
        "deletion_protection": Field(bool, aws="DeletionProtection", absent=False, modify=True, create=True),
        # FSBP RDS.6: Enhanced Monitoring, with the monitoring role (None while off: AWS refuses a
        # role with interval 0 and an interval without a role, InvalidParameterCombination). The
        # two are sent together, and the role only while on (create, update_fields).
        "monitoring_interval": Field(int, aws="MonitoringInterval", absent=0, modify=True, create=True),
        "monitoring_role_arn": Field((str, type(None)), aws=monitoring_role_of, modify="MonitoringRoleArn"),
        # FSBP RDS.10: IAM database authentication (in place; passwords keep working).
        "iam_database_authentication": Field(bool, aws="IAMDatabaseAuthenticationEnabled", absent=False,
                                             modify="EnableIAMDatabaseAuthentication",
                                             create="EnableIAMDatabaseAuthentication"),
        # FSBP RDS.9: log types exported to CloudWatch Logs (a set): created only when there are
        # some (create), changed as the types to enable and to disable, pending as such a pair (observe).
        "cloudwatch_logs_exports": Field(list, aws=lambda db: sorted(db.get("EnabledCloudwatchLogsExports") or []),
                                         modify=exports_change),
        # FSBP RDS.13: minor engine upgrades in the maintenance window (C-RDS-3).
        "auto_minor_version_upgrade": Field(bool, aws="AutoMinorVersionUpgrade", absent=False, modify=True, create=True),
        "final_snapshot": Field(bool, create_only=True),
        # ModifyDBInstance takes a DBSubnetGroupName only to move a single-AZ instance to another
        # VPC; a Multi-AZ instance cannot change its group in place.
        "subnet_group": Field(str, Change.REPLACE, why="a Multi-AZ instance cannot move to another subnet group",
                              aws="DBSubnetGroup.DBSubnetGroupName", pending="DBSubnetGroupName", create="DBSubnetGroupName"),
        "security_group_ids": Field(list, aws=security_groups_of, modify="VpcSecurityGroupIds", create="VpcSecurityGroupIds"),
    }

    def validate(self, spec):
        name, problems = spec["name"], []
        if not (IDENTIFIER.fullmatch(name) and len(name) <= 63):
            # B-RDS-1
            problems.append("identifiers are 1-63 lower-case letters, digits and single hyphens, a letter first")
        problems += master_username_problems(spec["engine"], spec["master_username"])
        if spec["manage_master_user_password"] is not True:
            # B-RDS-3: the alternative is a password of our own, which this stack never handles.
            problems.append("only RDS-managed master passwords are supported")
        key = spec["master_user_secret_kms_key_id"]
        # Not a str: the key's ARN is known only once the key exists (a plan before the first apply).
        if isinstance(key, str) and kms_key_id_of(key) is None:
            problems.append("master_user_secret_kms_key_id: a KMS key ARN or key id (RDS reports the key's ARN; "
                            "an alias cannot be compared with it without a call)")
        interval = spec["monitoring_interval"]
        if interval not in MONITORING_INTERVALS:
            problems.append(f"monitoring_interval = {interval}: one of {', '.join(map(str, MONITORING_INTERVALS))} seconds")
        elif interval and spec["monitoring_role_arn"] is None:
            # AWS requires a MonitoringRoleArn with any interval above 0 (InvalidParameterCombination).
            problems.append(f"Enhanced Monitoring (monitoring_interval = {interval}) needs monitoring_role_arn")
        exports = spec["cloudwatch_logs_exports"]
        if not all(isinstance(t, str) for t in exports) or len(set(exports)) != len(exports):
            problems.append("cloudwatch_logs_exports: distinct log type names")
        return problems

    def desired(self, spec):
        return {
            **spec,
            "security_group_ids": sorted(spec["security_group_ids"], key=str),
            # The role matters only while monitoring is on (observe reads it the same way).
            "monitoring_role_arn": spec["monitoring_role_arn"] if spec["monitoring_interval"] else None,
            "cloudwatch_logs_exports": sorted(spec["cloudwatch_logs_exports"], key=str),
        }

    def classify(self, diff, obs):
        diff = super().classify(diff, obs)
        if diff.field == "allocated_storage":
            return self._classify_storage(diff, obs)
        if diff.field == "engine_version":
            return self._classify_version(diff, obs)
        return diff

    def _classify_version(self, diff: FieldDiff, obs: Observed) -> FieldDiff:
        """C-RDS-3, C-RDS-5: a version not in sync is one RDS must offer as an upgrade of the running
        one. Asked of RDS only here, when the versions differ (a no-op run never reads it)."""
        running, wanted = obs.attrs["engine_version"], diff.expected
        if older(wanted, running):
            return dataclasses.replace(
                diff, change=Change.IMPOSSIBLE, why=f"cannot downgrade PostgreSQL {running} to {wanted}"  # C-RDS-3
            )
        targets = self.upgrade_targets(obs.attrs.get("engine") or "postgres", running)
        offered = [t for t in targets if version_matches(wanted, t["EngineVersion"])]
        if not offered:
            # ModifyDBInstance would answer InvalidParameterCombination "Cannot upgrade postgres
            # from <running> to <wanted>" (C-RDS-5).
            return dataclasses.replace(diff, change=Change.IMPOSSIBLE, why=(
                f"RDS offers no upgrade of PostgreSQL {running} to {wanted}; valid targets: "
                f"{newest_per_major(targets)} (DescribeDBEngineVersions ValidUpgradeTarget)"))
        if major(wanted) == major(running):
            return diff
        groups = [g["DBParameterGroupName"] for g in (obs.raw or {}).get("DBParameterGroups") or []]
        custom = [g for g in groups if not g.startswith("default.")]
        if custom:
            # ModifyDBInstance EngineVersion: a nondefault group must be replaced by one of the new
            # family in the same call; this stack does not manage parameter groups.
            return dataclasses.replace(diff, change=Change.IMPOSSIBLE, why=(  # C-RDS-5
                f"the instance uses the custom parameter group {custom[0]}; a major upgrade needs one of family "
                f"postgres{major(wanted)}, which this stack does not manage"))
        return dataclasses.replace(diff, change=Change.DOWNTIME, why=(  # C-RDS-5
            f"a major upgrade to PostgreSQL {wanted}: the primary and the standby are upgraded together, the database "
            f"is down for the upgrade (minutes, more for a large catalog); RDS snapshots it before and after and moves "
            f"it to the default parameter group of postgres{major(wanted)}"))

    def upgrade_targets(self, engine: str, version: str) -> list[dict]:
        """``ValidUpgradeTarget`` of the running version (DescribeDBEngineVersions, paginated)."""
        pages = self.client.get_paginator("describe_db_engine_versions").paginate(Engine=engine, EngineVersion=version)
        return [t for page in pages for v in page["DBEngineVersions"] for t in v.get("ValidUpgradeTarget") or []]

    @staticmethod
    def _classify_storage(diff: FieldDiff, obs: Observed) -> FieldDiff:
        """C-RDS-2: storage never shrinks; a growth under 10 % is rounded up by AWS (the
        ModifyDBInstance reference), which would leave a difference no run can remove; no second
        change while the last one is being optimized."""
        have, want = obs.attrs["allocated_storage"], diff.expected
        least = -(-have * 11 // 10)  # 10 % more, rounded up, in whole GiB
        if want < have:
            why = "RDS storage can only grow"
        elif want < least:
            why = f"an increase must be at least 10 % ({least} GiB); AWS would round it up"
        elif (obs.raw or {}).get("DBInstanceStatus") == "storage-optimization":
            why = "the last storage change is still being optimized; AWS refuses another until it ends"
        else:
            return diff
        return dataclasses.replace(diff, change=Change.IMPOSSIBLE, why=why)

    def describe(self, resource_id):
        found = self.client.describe_db_instances(DBInstanceIdentifier=resource_id)["DBInstances"]
        return found[0] if found else None

    def observe(self, raw):
        attrs = read_attrs(self.fields, raw)
        waiting = raw.get("PendingModifiedValues") or {}
        pending = read_pending(self.fields, waiting)
        # The one pending value that is not a key: a log export change RDS accepted and is still applying.
        exports = waiting.get("PendingCloudwatchLogsExports")
        if exports:
            pending["cloudwatch_logs_exports"] = pending_exports(attrs["cloudwatch_logs_exports"], exports)
        return Observed(raw["DBInstanceIdentifier"], attrs, tag_dict(raw.get("TagList")), raw, pending)

    def list_owned(self, spec):
        # Identifiers are unique per account and region (stored lower-case, B-RDS-1).
        obs = self.read(spec["name"].lower())
        return [obs] if obs and owned_by(obs.tags, spec) else []

    def create(self, spec, token):
        # CreateDBInstance has no idempotency token (docs/aws-behaviours.md B-TOKEN-1): find-by-name first.
        monitoring = {"MonitoringRoleArn": spec["monitoring_role_arn"]} if spec["monitoring_interval"] else {}
        exports = {"EnableCloudwatchLogsExports": spec["cloudwatch_logs_exports"]} if spec["cloudwatch_logs_exports"] else {}
        with name_taken_is_explained(self.kind, spec["name"], {"DBInstanceAlreadyExists"}):
            db = role_settled(
                self.clock, self.client.create_db_instance,
                DBInstanceIdentifier=spec["name"],
                **create_params(self.fields, spec),
                # Never together with MasterUserPassword (B-RDS-3).
                ManageMasterUserPassword=True,
                CopyTagsToSnapshot=True,
                Tags=tag_list(spec["tags"]),
                **monitoring,
                **exports,
            )
        return db["DBInstance"]["DBInstanceIdentifier"]

    def update_fields(self, spec, obs, diffs):
        fixed = not_modifiable(self.fields, diffs)
        if fixed:
            super().update_fields(spec, obs, fixed)
        changes = modify_params(self.fields, diffs)
        if spec["monitoring_interval"] and ("MonitoringInterval" in changes or "MonitoringRoleArn" in changes):
            # Both together: AWS refuses an interval without a role (InvalidParameterCombination).
            changes.update(MonitoringInterval=spec["monitoring_interval"], MonitoringRoleArn=spec["monitoring_role_arn"])
        else:
            # Turning monitoring off is the interval 0 alone; the role stays recorded by RDS.
            changes.pop("MonitoringRoleArn", None)
        if "EngineVersion" in changes and major(changes["EngineVersion"]) != major(obs.attrs["engine_version"]):
            changes["AllowMajorVersionUpgrade"] = True
        # Without ApplyImmediately most changes wait for the maintenance window.
        INSTANCE_BUSY.call(
            self.clock, role_settled, self.clock, self.client.modify_db_instance,
            DBInstanceIdentifier=obs.id, ApplyImmediately=True, **changes,
        )

    def set_tags(self, obs, tags):
        self.client.add_tags_to_resource(ResourceName=obs.raw["DBInstanceArn"], Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.remove_tags_from_resource(ResourceName=obs.raw["DBInstanceArn"], TagKeys=keys)

    has_protection = True

    def protection(self, obs):
        if obs.attrs["deletion_protection"]:
            return "deletion protection is on"
        return None

    def delete(self, obs, spec=None):
        """``spec`` carries the final-snapshot choice; without it a final snapshot is taken, the
        side that loses no data."""
        # B-RDS-5: a failed instance can only be deleted with SkipFinalSnapshot.
        final_snapshot = (spec or {}).get("final_snapshot", True) and status_of(obs.raw).status is not Status.FAILED
        if final_snapshot:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            # B-RDS-5: exactly one of FinalDBSnapshotIdentifier and SkipFinalSnapshot.
            options = {"FinalDBSnapshotIdentifier": f"{obs.id}-final-{stamp}"}
        else:
            options = {"SkipFinalSnapshot": True, "DeleteAutomatedBackups": True}
        INSTANCE_BUSY.call(self.clock, self.client.delete_db_instance, DBInstanceIdentifier=obs.id, **options)

    def status(self, raw):
        return status_of(raw)

    def outputs(self, obs):
        out = {"id": obs.id, "secret_arn": (obs.raw.get("MasterUserSecret") or {}).get("SecretArn")}
        endpoint = obs.raw.get("Endpoint")
        # No Endpoint while creating: dependents get an address only once it is real. A
        # modification in progress keeps the endpoint, so it stays an output then.
        if endpoint and obs.raw.get("DBInstanceStatus") != "creating":
            out.update(address=endpoint["Address"], port=endpoint["Port"])
        return out


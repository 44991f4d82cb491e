"""EFS: the encrypted file system, its mount targets (one per private subnet) and an access point.

botocore has no EFS waiters (docs/aws-behaviours.md A-22/A-34): ``status`` maps the lifecycle states and
the engine polls. EFS ids are not validated against a pattern: moto's are shorter than
AWS's (A-20), and AWS answers FileSystemNotFound / AccessPointNotFound for a bad one anyway.
"""
from __future__ import annotations

import dataclasses
import json

from botocore.exceptions import ClientError

from resources.aws import error_code, ignore_codes
from resources.aws.permissions import arn, reads, writes
from resources.base import Change, Field, Handler, Observed, OnFailed, Refresh, ResourceError, Status, owned_by, tag_dict, tag_list
from resources.aws.consistency import consistency
from resources.aws.ownership import vpc_filters
from resources.aws.shared_reads import listing, looking_first
from resources.aws.together import together

FS_NOT_FOUND = "FileSystemNotFound"
MOUNT_TARGET_NOT_FOUND = "MountTargetNotFound"
MOUNT_TARGET_CONFLICT = "MountTargetConflict"
ACCESS_POINT_NOT_FOUND = "AccessPointNotFound"
# LifeCycleState of file systems, mount targets and access points alike.
NOT_LIVE = ("deleting", "deleted")
# B-EFS-2: CreationToken is 1-64 characters (moto does not check, A-20).
CREATION_TOKEN_MAX = 64

# B-EFS-1: CreateMountTarget (and lifecycle or throughput changes) answer
# IncorrectFileSystemLifeCycleState until the file system is `available` (typically ~10 s).
FILE_SYSTEM_AVAILABLE = consistency("efs-file-system-available", {"IncorrectFileSystemLifeCycleState"}, timeout=5 * 60)
# DeleteFileSystem answers FileSystemInUse while mount targets are still `deleting`
# (about a minute each on AWS; Terraform allows 10 min).
MOUNT_TARGETS_RELEASED = consistency(
    "efs-mount-targets-released", {"FileSystemInUse"}, timeout=10 * 60, first_delay=2.0, max_delay=30.0
)


def lifecycle_status(state: str) -> Refresh:
    if state == "available":
        return Refresh(Status.READY, state)
    if state == "deleted":
        return Refresh(Status.GONE, state)
    if state == "deleting":
        return Refresh(Status.DELETING, state)
    if state == "error":
        return Refresh(Status.FAILED, state)
    return Refresh(Status.PENDING, state)


def normal_policies(policies: list[dict]) -> list[dict]:
    """Lifecycle policies as a set: AWS does not promise an order (B-EFS-3: one transition each)."""
    return sorted(policies, key=lambda p: json.dumps(p, sort_keys=True))


def same_owner(tags: dict[str, str], spec: dict) -> bool:
    """Environment and ManagedBy match: for tagless mount targets, judged on their file system."""
    return all(tags.get(k) == spec["tags"].get(k) for k in ("Environment", "ManagedBy"))


# File systems and access points are named by ids EFS assigns: made with the ownership tags (Tags
# needs TagResource too), changed only while they carry them.
FILE_SYSTEM_ARN = arn("elasticfilesystem", "file-system/*")
ACCESS_POINT_ARN = arn("elasticfilesystem", "access-point/*")


class EfsHandler(Handler):
    service = "efs"

    def set_tags(self, obs, tags):
        self.client.tag_resource(ResourceId=obs.id, Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.untag_resource(ResourceId=obs.id, TagKeys=keys)


# -- file system ---------------------------------------------------------------------------

def find_file_systems_by_token(efs, token: str) -> list[dict]:
    # The creation token is a literal of the spec: this lookup works in teardown without state.
    return [fs for fs in efs.describe_file_systems(CreationToken=token)["FileSystems"] if fs["LifeCycleState"] not in NOT_LIVE]


class FileSystem(EfsHandler):
    kind = "efs_file_system"
    iam = (
        reads("elasticfilesystem:DescribeFileSystems"),
        reads("elasticfilesystem:DescribeBackupPolicy", "elasticfilesystem:DescribeLifecycleConfiguration",
              arns=(FILE_SYSTEM_ARN,)),
        writes("elasticfilesystem:CreateFileSystem", tag="request"),  # no resource before it exists
        writes("elasticfilesystem:TagResource", arns=(FILE_SYSTEM_ARN,), tag="request"),
        writes("elasticfilesystem:UpdateFileSystem", "elasticfilesystem:PutLifecycleConfiguration",
               "elasticfilesystem:PutBackupPolicy", "elasticfilesystem:TagResource", "elasticfilesystem:UntagResource",
               "elasticfilesystem:DeleteFileSystem", arns=(FILE_SYSTEM_ARN,), tag="resource"),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_file_systems", "FileSystems", "FileSystemId", 100)
    expected_seconds = 10
    create_timeout = 10 * 60
    delete_timeout = 10 * 60
    poll_ceiling = 3
    not_found = frozenset({FS_NOT_FOUND})
    # A file system in "error" holds (or may hold) the data: never deleted by a run. on_failed
    # is the default "stop": the engine reports it failed and a person decides.
    stateful = "every file on it (EFS keeps no copy; AWS Backup's recovery points stay)"
    fields = {
        # The idempotency key and the lookup of a lost state (B-EFS-2); not compared.
        "creation_token": Field(str, create_only=True),
        "encrypted": Field(bool, Change.REPLACE, why="encryption is chosen at creation"),
        "performance_mode": Field(str, Change.REPLACE, why="set at creation only"),
        # UpdateFileSystem; AWS refuses a switch back within 24 h of the last one.
        "throughput_mode": Field(str),
        "lifecycle_policies": Field(list),
        # FSBP EFS.2: in AWS Backup's default plan (CreateFileSystem Backup, then PutBackupPolicy).
        "backup": Field(bool),
    }

    def validate(self, spec):
        problems = []
        token = spec["creation_token"]
        if isinstance(token, str) and not 1 <= len(token) <= CREATION_TOKEN_MAX:
            problems.append(f"creation_token must be 1-{CREATION_TOKEN_MAX} characters")  # B-EFS-2
        policies = spec["lifecycle_policies"]
        if isinstance(policies, list) and any(not isinstance(p, dict) or len(p) != 1 for p in policies):
            problems.append("each lifecycle policy holds exactly one transition")  # B-EFS-3
        return problems

    def desired(self, spec):
        return {**spec, "lifecycle_policies": normal_policies(spec["lifecycle_policies"])}

    def describe(self, resource_id):
        return next(iter(self.client.describe_file_systems(FileSystemId=resource_id)["FileSystems"]), None)

    def observe(self, raw):
        fs_id = raw["FileSystemId"]
        policies, backup = together(
            lambda: self.client.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"],
            lambda: self._backup(fs_id),
        )
        attrs = {
            "encrypted": raw["Encrypted"],
            "performance_mode": raw["PerformanceMode"],
            "throughput_mode": raw["ThroughputMode"],
            "lifecycle_policies": normal_policies(policies),
            "backup": backup,
        }
        return Observed(raw["FileSystemId"], attrs, tag_dict(raw.get("Tags")), raw)

    def _backup(self, fs_id: str) -> bool:
        # DescribeBackupPolicy: ENABLED, ENABLING, DISABLED, DISABLING; PolicyNotFound for a file
        # system whose backup policy was never set. ENABLING is a change AWS accepted and
        # completes by itself, so it counts as on (not asked for again).
        try:
            status = self.client.describe_backup_policy(FileSystemId=fs_id)["BackupPolicy"]["Status"]
        except ClientError as exc:
            if error_code(exc) == "PolicyNotFound":
                return False
            raise
        return status in ("ENABLED", "ENABLING")

    def list_owned(self, spec):
        systems = find_file_systems_by_token(self.client, spec["creation_token"])
        return [self.observe(fs) for fs in systems if owned_by(tag_dict(fs.get("Tags")), spec)]

    def create(self, spec, token):
        # B-EFS-2: the spec's deterministic CreationToken is the idempotency key (botocore would
        # fill in a random one), so a retried or killed run finds the same file system; the
        # reconciler's per-attempt token is not used. Lifecycle policies follow in update_fields.
        try:
            fs = self.client.create_file_system(
                CreationToken=spec["creation_token"],
                Encrypted=spec["encrypted"],
                PerformanceMode=spec["performance_mode"],
                ThroughputMode=spec["throughput_mode"],
                Backup=spec["backup"],
                Tags=tag_list(spec["tags"]),
            )
        except ClientError as exc:
            if error_code(exc) != "FileSystemAlreadyExists":
                raise
            return self._existing(spec)
        return fs["FileSystemId"]

    def _existing(self, spec: dict) -> str:
        # AWS's FileSystemAlreadyExists carries the FileSystemId, moto's does not: the
        # creation token finds it in both.
        systems = find_file_systems_by_token(self.client, spec["creation_token"])
        ours = [fs for fs in systems if owned_by(tag_dict(fs.get("Tags")), spec)]
        if len(ours) != 1:
            raise ResourceError(
                f"{self.kind} {spec['name']}: creation token {spec['creation_token']} is taken by a file system "
                "that is not live or does not carry this environment's tags"
            )
        return ours[0]["FileSystemId"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "lifecycle_policies":
                FILE_SYSTEM_AVAILABLE.call(
                    self.clock, self.client.put_lifecycle_configuration, FileSystemId=obs.id, LifecyclePolicies=d.expected
                )
            elif d.field == "backup":
                FILE_SYSTEM_AVAILABLE.call(
                    self.clock, self.client.put_backup_policy, FileSystemId=obs.id,
                    BackupPolicy={"Status": "ENABLED" if d.expected else "DISABLED"},
                )
            elif d.field == "throughput_mode":
                # AWS refuses a switch back within 24 h of the last one (TooManyRequests).
                FILE_SYSTEM_AVAILABLE.call(
                    self.clock, self.client.update_file_system, FileSystemId=obs.id, ThroughputMode=d.expected
                )
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        MOUNT_TARGETS_RELEASED.call(self.clock, self.client.delete_file_system, FileSystemId=obs.id)

    def status(self, raw):
        return lifecycle_status(raw["LifeCycleState"])

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.raw["FileSystemArn"]}


# -- mount targets -------------------------------------------------------------------------

def live_targets(raw: dict) -> list[dict]:
    """The mount targets of a described set that are not on their way out."""
    return [mt for mt in raw["MountTargets"] if mt["LifeCycleState"] not in NOT_LIVE]


def targets_status(targets: list[dict]) -> Refresh:
    if not targets:
        return Refresh(Status.GONE)
    states = sorted({mt["LifeCycleState"] for mt in targets})
    if "error" in states:
        failed = [mt["MountTargetId"] for mt in targets if mt["LifeCycleState"] == "error"]
        return Refresh(Status.FAILED, f"mount targets in error: {', '.join(failed)}")
    if states == ["available"]:
        return Refresh(Status.READY, "available")
    if states == ["deleting"]:
        return Refresh(Status.DELETING, "deleting")
    # creating, or some available while another is created or deleted (an update in progress).
    return Refresh(Status.PENDING, "/".join(states))


SET_FIELDS = ("subnet_ids", "security_group_ids")


def shared_groups(by_subnet: dict[str, list[str] | None]) -> list[str] | dict[str, list[str] | None]:
    """The one group list every mount target has; if they differ (or one is not readable yet,
    None), each subnet's list: never equal to the desired list, so the diff names the field and
    shows which mount target differs."""
    distinct = {tuple(g) if g is not None else None for g in by_subnet.values()}
    if len(distinct) == 1 and None not in distinct:
        return list(distinct.pop())
    return by_subnet


class MountTargets(Handler):
    """All mount targets of one file system, reconciled as a set keyed by subnet (one per AZ, B-EFS-1).

    Mount targets take no tags: the resource id is the file system id, and a lost state is
    rebuilt from the file system found by its creation token.
    """

    kind = "efs_mount_targets"
    iam = (
        reads("elasticfilesystem:DescribeMountTargets", "elasticfilesystem:DescribeMountTargetSecurityGroups",
              arns=(FILE_SYSTEM_ARN,)),
        writes("elasticfilesystem:CreateMountTarget", "elasticfilesystem:ModifyMountTargetSecurityGroups",
               "elasticfilesystem:DeleteMountTarget", arns=(FILE_SYSTEM_ARN,), tag="resource"),
        # EFS makes, changes and deletes the mount target's network interface with the caller's
        # permissions; the interface is EFS's own, untagged: no ownership tag can scope it.
        writes("ec2:CreateNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute", "ec2:DeleteNetworkInterface",
               arns=(arn("ec2", "network-interface/*"), arn("ec2", "subnet/*"), arn("ec2", "security-group/*")),
               implied_by="CreateMountTarget, ModifyMountTargetSecurityGroups, DeleteMountTarget"),
    )
    # No tags of its own: the ownership record lives on the file system.
    taggable = False
    service = "efs"
    expected_seconds = 80
    expected_delete_seconds = 60  # ~1 min (est.), T-1.3
    create_timeout = 30 * 60  # Terraform's default: >10 min has been seen (T-1.1)
    # An update deletes and creates single mount targets (a subnet change): as long as a create.
    update_timeout = 30 * 60
    delete_timeout = 10 * 60
    poll_ceiling = 10
    # The set is read by its file system (DescribeMountTargets FileSystemId=…): the file system
    # gone is the set gone. MountTargetNotFound concerns one member: handled where one is deleted.
    not_found = frozenset({FS_NOT_FOUND})
    # A mount target in "error" holds no data (the file system does) and AWS lets it be deleted:
    # the engine deletes the set and creates it again. The set is one node, so the mount
    # targets of the healthy AZs go too: NFS clients lose their mounts for the minutes the
    # delete and create take, which is still better than a set that never serves one AZ.
    on_failed = OnFailed.REPLACE
    fields = {
        # The lookup of a lost state, through the file system (B-EFS-2); not compared.
        "creation_token": Field(str, create_only=True),
        "file_system_id": Field(str, Change.REPLACE, why="a mount target belongs to one file system"),
        # Subnets added are created in place; one removed is deleted (classify).
        "subnet_ids": Field(list),
        # ModifyMountTargetSecurityGroups, in place.
        "security_group_ids": Field(list),
    }

    def desired(self, spec):
        return {
            **spec,
            "subnet_ids": sorted(spec["subnet_ids"], key=str),
            "security_group_ids": sorted(spec["security_group_ids"], key=str),
        }

    def classify(self, diff, obs):
        diff = super().classify(diff, obs)
        if diff.field == "subnet_ids" and set(diff.actual or []) - set(diff.expected):
            # A mount target cannot move: the one in a subnet no longer wanted is deleted (before
            # its AZ's new one can be created, B-EFS-1), and clients in that AZ lose the mount.
            return dataclasses.replace(
                diff, change=Change.DOWNTIME, why="a mount target leaving a subnet is deleted; its AZ loses NFS meanwhile"
            )
        return diff

    def describe(self, resource_id):
        # Mount targets already "deleted" are listed for a while: not part of the set.
        pages = self.client.get_paginator("describe_mount_targets").paginate(FileSystemId=resource_id)
        targets = [mt for page in pages for mt in page["MountTargets"] if mt["LifeCycleState"] != "deleted"]
        return {"FileSystemId": resource_id, "MountTargets": targets} if targets else None

    def observe(self, raw):
        targets = live_targets(raw)
        listed = self._groups_listed(targets)
        for mt in targets:
            found = listed.get(mt.get("NetworkInterfaceId"))
            mt["SecurityGroups"] = found if found is not None else self._groups(mt["MountTargetId"])
        attrs = {
            "file_system_id": raw["FileSystemId"],
            "subnet_ids": sorted(mt["SubnetId"] for mt in targets),
            "security_group_ids": shared_groups({mt["SubnetId"]: mt["SecurityGroups"] for mt in targets}),
        }
        return Observed(raw["FileSystemId"], attrs, {}, raw)

    def _groups_listed(self, targets: list[dict]) -> dict[str, list[str]]:
        """A first look's mount targets' groups, from the walk's listing of the VPC's network
        interfaces: a mount target's groups are its interface's (ModifyMountTargetSecurityGroups
        "replaces the security groups in effect for the network interface"). The drift check lists
        them anyway for its unmanaged search; ``bin/drift --all`` for every VPC at once. After a
        write, each mount target is asked."""
        vpcs = {mt.get("VpcId") for mt in targets}
        if self.shared is None or not looking_first() or len(vpcs) != 1 or None in vpcs:
            return {}
        ec2 = self.aws.client("ec2")
        interfaces = listing(self.shared, ec2, "describe_network_interfaces", "NetworkInterfaces", vpc_filters(vpcs.pop()))
        return {i["NetworkInterfaceId"]: sorted(g["GroupId"] for g in i.get("Groups", [])) for i in interfaces}

    def _groups(self, mt_id: str) -> list[str] | None:
        try:
            return sorted(self.client.describe_mount_target_security_groups(MountTargetId=mt_id)["SecurityGroups"])
        except ClientError as exc:
            # IncorrectMountTargetState: a mount target still `creating` may have no network
            # interface yet, so no groups to read (DescribeMountTargetSecurityGroups).
            if error_code(exc) == "IncorrectMountTargetState":
                return None
            raise

    def list_owned(self, spec):
        systems = find_file_systems_by_token(self.client, spec["creation_token"])
        found = [self.read(fs["FileSystemId"]) for fs in systems if same_owner(tag_dict(fs.get("Tags")), spec)]
        return [obs for obs in found if obs is not None]

    # One set per file system, one mount target per AZ (B-EFS-1): a new set cannot be made
    # beside a failed one (MountTargetConflict).
    replace_beside = False


    def create(self, spec, token):
        # CreateMountTarget has no idempotency token: a run killed halfway leaves some mount
        # targets, which read() then finds, and update_fields adds the rest.
        fs_id = spec["file_system_id"]
        for subnet_id in sorted(spec["subnet_ids"]):
            self._create_one(fs_id, subnet_id, spec["security_group_ids"])
        return fs_id

    def _create_one(self, fs_id: str, subnet_id: str, groups: list[str]) -> None:
        try:
            FILE_SYSTEM_AVAILABLE.call(
                self.clock, self.client.create_mount_target, FileSystemId=fs_id, SubnetId=subnet_id, SecurityGroups=groups
            )
        except ClientError as exc:
            # MountTargetConflict: the AZ already holds a mount target of this file system. When
            # it sits in this very subnet, an earlier attempt made it (botocore retried a call
            # whose answer was lost, or a killed run made it): the mount target wanted exists.
            # The security groups are converged by update_fields like any other drift.
            # (lookup: the file system gone is no set, and the conflict is raised as it came.)
            if error_code(exc) != MOUNT_TARGET_CONFLICT or not any(
                mt["SubnetId"] == subnet_id for mt in live_targets(self.lookup(fs_id) or {"MountTargets": []})
            ):
                raise

    def update_fields(self, spec, obs, diffs):
        other = [d for d in diffs if d.field not in SET_FIELDS]
        if other:
            super().update_fields(spec, obs, other)
        want, groups = set(spec["subnet_ids"]), spec["security_group_ids"]
        targets = live_targets(obs.raw)
        # Extras go first: a mount target in a subnet no longer wanted holds its AZ (one per AZ).
        for mt in targets:
            if mt["SubnetId"] not in want:
                self._delete_one(mt)
        for subnet_id in sorted(want - {mt["SubnetId"] for mt in targets}):
            self._create_one(obs.id, subnet_id, groups)
        for mt in targets:
            # Groups not readable yet belong to a mount target still being created: left to the
            # next run, once it is available (ModifyMountTargetSecurityGroups needs that too).
            if mt["SubnetId"] in want and mt.get("SecurityGroups") not in (None, groups):
                self.client.modify_mount_target_security_groups(MountTargetId=mt["MountTargetId"], SecurityGroups=groups)

    def _delete_one(self, mt: dict) -> None:
        # One member of the set: MountTargetNotFound (deleted by someone else meanwhile) must
        # not stop the others, so it is done here rather than by the engine's remove.
        ignore_codes({MOUNT_TARGET_NOT_FOUND}, self.client.delete_mount_target, MountTargetId=mt["MountTargetId"])

    def delete(self, obs, spec=None):
        for mt in live_targets(obs.raw):
            self._delete_one(mt)

    def status(self, raw):
        return targets_status(raw["MountTargets"])


# -- access point --------------------------------------------------------------------------

def observe_access_point(ap: dict) -> Observed:
    root = ap.get("RootDirectory") or {}
    attrs = {
        "file_system_id": ap["FileSystemId"],
        # An empty SecondaryGids list is the same as none.
        "posix_user": {k: v for k, v in (ap.get("PosixUser") or {}).items() if k in ("Uid", "Gid") or v},
        # Only what the spec sets: AWS may add keys to the root directory the spec does not own.
        "root_directory": {k: root[k] for k in ("Path", "CreationInfo") if k in root},
    }
    return Observed(ap["AccessPointId"], attrs, tag_dict(ap.get("Tags")), ap)


class AccessPoint(EfsHandler):
    kind = "efs_access_point"
    iam = (
        reads("elasticfilesystem:DescribeAccessPoints"),
        # Authorized on its file system, with the tags the request sets.
        writes("elasticfilesystem:CreateAccessPoint", arns=(FILE_SYSTEM_ARN,), tag="request"),
        writes("elasticfilesystem:TagResource", arns=(ACCESS_POINT_ARN,), tag="request"),
        writes("elasticfilesystem:TagResource", "elasticfilesystem:UntagResource", "elasticfilesystem:DeleteAccessPoint",
               arns=(ACCESS_POINT_ARN,), tag="resource"),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_access_points", "AccessPoints", "AccessPointId", 100)
    expected_seconds = 2  # (est.) access points are available within seconds
    poll_ceiling = 2
    not_found = frozenset({ACCESS_POINT_NOT_FOUND})
    # An access point is an entry point, not storage: deleting one leaves the files of its root
    # directory in the file system. One AWS reports "error" is deleted and made again; the new
    # id and ARN reach the task definition and the task role's policy in the same walk.
    on_failed = OnFailed.REPLACE
    # A file system may have several access points with the same settings.
    replace_beside = True
    fields = {
        # CreateAccessPoint only: there is no UpdateAccessPoint.
        "file_system_id": Field(str, Change.REPLACE, why="an access point belongs to one file system"),
        "posix_user": Field(dict, Change.REPLACE, why="set at creation only"),
        "root_directory": Field(dict, Change.REPLACE, why="set at creation only"),
    }

    def describe(self, resource_id):
        return next(iter(self.client.describe_access_points(AccessPointId=resource_id)["AccessPoints"]), None)

    def observe(self, raw):
        return observe_access_point(raw)

    def list_owned(self, spec):
        # The file system id is a Ref, unknown in teardown: list every access point of the
        # account and region and keep the ones carrying this node's ownership record.
        pages = self.client.get_paginator("describe_access_points").paginate()
        points = [ap for page in pages for ap in page["AccessPoints"] if ap["LifeCycleState"] not in NOT_LIVE]
        return [observe_access_point(ap) for ap in points if owned_by(tag_dict(ap.get("Tags")), spec)]

    def create(self, spec, token):
        ap = self.client.create_access_point(
            ClientToken=token,
            FileSystemId=spec["file_system_id"],
            PosixUser=spec["posix_user"],
            RootDirectory=spec["root_directory"],
            Tags=tag_list(spec["tags"]),
        )
        return ap["AccessPointId"]

    def delete(self, obs, spec=None):
        self.client.delete_access_point(AccessPointId=obs.id)

    def status(self, raw):
        return lifecycle_status(raw["LifeCycleState"])

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.raw["AccessPointArn"]}

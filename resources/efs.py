"""EFS: the encrypted file system, its mount targets (one per private subnet) and an access point.

botocore has no EFS waiters (aws-notes A-22/A-34): ``refresh`` maps the lifecycle states and
the reconciler polls. EFS ids are not validated against a pattern: moto's are shorter than
AWS's (A-20), and AWS answers FileSystemNotFound / AccessPointNotFound for a bad one anyway.
"""
from __future__ import annotations

import json

from botocore.exceptions import ClientError

from resources.aws import describe_one, error_code, ignore_codes
from resources.base import FieldDiff, Handler, Observed, Refresh, ResourceError, Status, owned_by, tag_dict, tag_list
from resources.consistency import consistency

FS_NOT_FOUND = "FileSystemNotFound"
MOUNT_TARGET_NOT_FOUND = "MountTargetNotFound"
MOUNT_TARGET_CONFLICT = "MountTargetConflict"
ACCESS_POINT_NOT_FOUND = "AccessPointNotFound"
# LifeCycleState of file systems, mount targets and access points alike.
NOT_LIVE = ("deleting", "deleted")

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
    if state == "error":
        return Refresh(Status.FAILED, state)
    return Refresh(Status.PENDING, state)


def normal_policies(policies: list[dict]) -> list[dict]:
    """Lifecycle policies as a set: AWS does not promise an order (B-EFS-3: one transition each)."""
    return sorted(policies, key=lambda p: json.dumps(p, sort_keys=True))


def same_owner(tags: dict[str, str], spec: dict) -> bool:
    """Environment and ManagedBy match: for tagless mount targets, judged on their file system."""
    return all(tags.get(k) == spec["tags"].get(k) for k in ("Environment", "ManagedBy"))


class EfsHandler(Handler):
    service = "efs"

    def set_tags(self, obs, tags):
        self.client.tag_resource(ResourceId=obs.id, Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.untag_resource(ResourceId=obs.id, TagKeys=keys)


# -- file system ---------------------------------------------------------------------------

def find_file_system_by_id(efs, fs_id: str) -> dict | None:
    return describe_one(efs.describe_file_systems, "FileSystems", FS_NOT_FOUND, FileSystemId=fs_id)


def find_file_systems_by_token(efs, token: str) -> list[dict]:
    # The creation token is a literal of the spec: this lookup works in teardown without state.
    return [fs for fs in efs.describe_file_systems(CreationToken=token)["FileSystems"] if fs["LifeCycleState"] not in NOT_LIVE]


def file_system_status(efs, fs_id: str) -> Refresh:
    fs = find_file_system_by_id(efs, fs_id)
    return Refresh(Status.GONE) if fs is None else lifecycle_status(fs["LifeCycleState"])


class FileSystem(EfsHandler):
    kind = "efs_file_system"
    expected_seconds = 10
    create_timeout = 10 * 60
    delete_timeout = 10 * 60
    poll_ceiling = 3
    replace_fields = frozenset({"encrypted", "performance_mode"})
    create_only = frozenset({"creation_token"})

    def desired(self, spec):
        return {**spec, "lifecycle_policies": normal_policies(spec["lifecycle_policies"])}

    def _observe(self, fs: dict) -> Observed:
        policies = self.client.describe_lifecycle_configuration(FileSystemId=fs["FileSystemId"])["LifecyclePolicies"]
        attrs = {
            "encrypted": fs["Encrypted"],
            "performance_mode": fs["PerformanceMode"],
            "throughput_mode": fs["ThroughputMode"],
            "lifecycle_policies": normal_policies(policies),
        }
        return Observed(fs["FileSystemId"], attrs, tag_dict(fs.get("Tags")), fs)

    def get(self, resource_id):
        fs = find_file_system_by_id(self.client, resource_id)
        return self._observe(fs) if fs and fs["LifeCycleState"] not in NOT_LIVE else None

    def find_by_tags(self, spec):
        systems = find_file_systems_by_token(self.client, spec["creation_token"])
        return [self._observe(fs) for fs in systems if owned_by(tag_dict(fs.get("Tags")), spec)]

    def diff(self, spec, obs):
        diffs = super().diff(spec, obs)
        if obs.raw["LifeCycleState"] == "error":
            # An errored file system keeps its creation token: it can only be torn down.
            diffs.append(FieldDiff("state", "available", "error", replace=True))
        return diffs

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
            elif d.field == "throughput_mode":
                # AWS refuses a switch back within 24 h of the last one (TooManyRequests).
                FILE_SYSTEM_AVAILABLE.call(
                    self.clock, self.client.update_file_system, FileSystemId=obs.id, ThroughputMode=d.expected
                )
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        MOUNT_TARGETS_RELEASED.call(
            self.clock, ignore_codes, {FS_NOT_FOUND}, self.client.delete_file_system, FileSystemId=obs.id
        )

    def status(self, raw):
        return lifecycle_status(raw["LifeCycleState"])

    def refresh(self, resource_id):
        return file_system_status(self.client, resource_id)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.raw["FileSystemArn"]}


# -- mount targets -------------------------------------------------------------------------

def find_mount_targets(efs, fs_id: str) -> list[dict] | None:
    """Every mount target of the file system not yet deleted; None when the file system is gone."""
    try:
        pages = efs.get_paginator("describe_mount_targets").paginate(FileSystemId=fs_id)
        return [mt for page in pages for mt in page["MountTargets"] if mt["LifeCycleState"] != "deleted"]
    except ClientError as exc:
        if error_code(exc) == FS_NOT_FOUND:
            return None
        raise


def mount_targets_status(efs, fs_id: str) -> Refresh:
    return targets_status(find_mount_targets(efs, fs_id))


def targets_status(targets: list[dict]) -> Refresh:
    if not targets:
        return Refresh(Status.GONE)
    states = sorted({mt["LifeCycleState"] for mt in targets})
    if "error" in states:
        failed = [mt["MountTargetId"] for mt in targets if mt["LifeCycleState"] == "error"]
        return Refresh(Status.FAILED, f"mount targets in error: {', '.join(failed)}")
    if states == ["available"]:
        return Refresh(Status.READY, "available")
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
    service = "efs"
    expected_seconds = 80
    expected_delete_seconds = 60  # ~1 min (est.), aws-timings §1.3
    create_timeout = 30 * 60  # Terraform's default: >10 min has been seen (aws-timings 1.1)
    delete_timeout = 10 * 60
    poll_ceiling = 10
    replace_fields = frozenset({"file_system_id"})
    create_only = frozenset({"creation_token"})

    def desired(self, spec):
        return {
            **spec,
            "subnet_ids": sorted(spec["subnet_ids"], key=str),
            "security_group_ids": sorted(spec["security_group_ids"], key=str),
        }

    def get(self, resource_id):
        targets = [mt for mt in find_mount_targets(self.client, resource_id) or [] if mt["LifeCycleState"] not in NOT_LIVE]
        if not targets:
            # A file system without mount targets: the node is absent and create makes them.
            return None
        for mt in targets:
            mt["SecurityGroups"] = self._groups(mt["MountTargetId"])
        attrs = {
            "file_system_id": resource_id,
            "subnet_ids": sorted(mt["SubnetId"] for mt in targets),
            "security_group_ids": shared_groups({mt["SubnetId"]: mt["SecurityGroups"] for mt in targets}),
        }
        return Observed(resource_id, attrs, {}, {"MountTargets": targets})

    def _groups(self, mt_id: str) -> list[str] | None:
        try:
            return sorted(self.client.describe_mount_target_security_groups(MountTargetId=mt_id)["SecurityGroups"])
        except ClientError as exc:
            # IncorrectMountTargetState: a mount target still `creating` may have no network
            # interface yet, so no groups to read (DescribeMountTargetSecurityGroups).
            if error_code(exc) == "IncorrectMountTargetState":
                return None
            raise

    def find_by_tags(self, spec):
        systems = find_file_systems_by_token(self.client, spec["creation_token"])
        found = [self.get(fs["FileSystemId"]) for fs in systems if same_owner(tag_dict(fs.get("Tags")), spec)]
        return [obs for obs in found if obs is not None]

    def diff(self, spec, obs):
        # No tags to compare: the ownership record lives on the file system.
        return [d for d in super().diff(spec, obs) if not d.field.startswith("tags.")]

    def create(self, spec, token):
        # CreateMountTarget has no idempotency token: a run killed halfway leaves some mount
        # targets, which get() then finds, and update_fields adds the rest.
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
            if error_code(exc) != MOUNT_TARGET_CONFLICT or not any(
                mt["SubnetId"] == subnet_id and mt["LifeCycleState"] not in NOT_LIVE
                for mt in find_mount_targets(self.client, fs_id) or []
            ):
                raise

    def update_fields(self, spec, obs, diffs):
        other = [d for d in diffs if d.field not in SET_FIELDS]
        if other:
            super().update_fields(spec, obs, other)
        want, groups = set(spec["subnet_ids"]), spec["security_group_ids"]
        targets = obs.raw["MountTargets"]
        # Extras go first: a mount target in a subnet no longer wanted holds its AZ (one per AZ).
        for mt in targets:
            if mt["SubnetId"] not in want:
                ignore_codes({MOUNT_TARGET_NOT_FOUND}, self.client.delete_mount_target, MountTargetId=mt["MountTargetId"])
        for subnet_id in sorted(want - {mt["SubnetId"] for mt in targets}):
            self._create_one(obs.id, subnet_id, groups)
        for mt in targets:
            # Groups not readable yet belong to a mount target still being created: left to the
            # next run, once it is available (ModifyMountTargetSecurityGroups needs that too).
            if mt["SubnetId"] in want and mt["SecurityGroups"] not in (None, groups):
                self.client.modify_mount_target_security_groups(MountTargetId=mt["MountTargetId"], SecurityGroups=groups)

    def delete(self, obs, spec=None):
        for mt in obs.raw["MountTargets"]:
            ignore_codes({MOUNT_TARGET_NOT_FOUND}, self.client.delete_mount_target, MountTargetId=mt["MountTargetId"])

    def status(self, raw):
        return targets_status(raw["MountTargets"])

    def refresh(self, resource_id):
        return mount_targets_status(self.client, resource_id)


# -- access point --------------------------------------------------------------------------

def find_access_point_by_id(efs, ap_id: str) -> dict | None:
    return describe_one(efs.describe_access_points, "AccessPoints", ACCESS_POINT_NOT_FOUND, AccessPointId=ap_id)


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
    expected_seconds = 2  # (est.) access points are available within seconds
    poll_ceiling = 2
    replace_fields = frozenset({"file_system_id", "posix_user", "root_directory"})

    def get(self, resource_id):
        ap = find_access_point_by_id(self.client, resource_id)
        return observe_access_point(ap) if ap and ap["LifeCycleState"] not in NOT_LIVE else None

    def find_by_tags(self, spec):
        # The file system id is a Ref, unknown in teardown: list every access point of the
        # account and region and keep the ones carrying this node's ownership record.
        pages = self.client.get_paginator("describe_access_points").paginate()
        points = [ap for page in pages for ap in page["AccessPoints"] if ap["LifeCycleState"] not in NOT_LIVE]
        return [observe_access_point(ap) for ap in points if owned_by(tag_dict(ap.get("Tags")), spec)]

    def diff(self, spec, obs):
        diffs = super().diff(spec, obs)
        if obs.raw["LifeCycleState"] == "error":
            diffs.append(FieldDiff("state", "available", "error", replace=True))
        return diffs

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
        ignore_codes({ACCESS_POINT_NOT_FOUND}, self.client.delete_access_point, AccessPointId=obs.id)

    def status(self, raw):
        return lifecycle_status(raw["LifeCycleState"])

    def refresh(self, resource_id):
        ap = find_access_point_by_id(self.client, resource_id)
        return Refresh(Status.GONE) if ap is None else lifecycle_status(ap["LifeCycleState"])

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.raw["AccessPointArn"]}

"""EFS in moto 5.2.5, made to follow the AWS documentation where the stack's security settings
need it (docs/configuration.md, EFS row; docs/aws-behaviours.md A-21).

- PutBackupPolicy is not implemented (A-21: NotImplementedError). AWS: "Updates the file
  system's backup policy", Status ENABLED or DISABLED; DescribeBackupPolicy then answers the
  new status, DISABLED included (EFS API reference, PutBackupPolicy / DescribeBackupPolicy;
  BackupPolicy.Status). Reproduced with moto's own model (the status CreateFileSystem's
  ``Backup`` already sets).
- DeleteFileSystemPolicy is not implemented. AWS: "Deletes the FileSystemPolicy for the
  specified file system. The default FileSystemPolicy goes into effect once the existing policy
  is deleted"; DescribeFileSystemPolicy then answers PolicyNotFound (EFS API reference).
- For a file system id that does not exist, moto's Describe/PutFileSystemPolicy and
  DescribeBackupPolicy fail with a KeyError (HTTP 500, retried by botocore then an error). AWS
  answers FileSystemNotFound (404), as every other EFS call does (the same references list it).
"""
from __future__ import annotations

import functools
import json

from moto.efs.exceptions import FileSystemNotFound
from moto.efs.models import EFSBackend
from moto.efs.responses import EFSResponse

_PATCHED = "_video_pipeline_fidelity"


def _known(original):
    @functools.wraps(original)
    def call(self: EFSBackend, file_system_id: str, *args, **kwargs):
        if file_system_id not in self.file_systems_by_id:
            raise FileSystemNotFound(file_system_id)
        return original(self, file_system_id, *args, **kwargs)

    return call


def put_backup_policy(self: EFSBackend, file_system_id: str, status: str) -> dict:
    if file_system_id not in self.file_systems_by_id:
        raise FileSystemNotFound(file_system_id)
    fs = self.file_systems_by_id[file_system_id]
    fs._backup = status == "ENABLED"
    # A policy set once is reported from then on, DISABLED included (moto alone would answer
    # PolicyNotFound for a disabled one).
    fs._fidelity_backup_status = status
    return {"Status": status}


def _describe_backup_policy(original):
    @functools.wraps(original)
    def describe(self: EFSBackend, file_system_id: str):
        status = getattr(self.file_systems_by_id.get(file_system_id), "_fidelity_backup_status", None)
        return {"Status": status} if status else original(self, file_system_id)

    return describe


def delete_file_system_policy(self: EFSBackend, file_system_id: str) -> None:
    if file_system_id not in self.file_systems_by_id:
        raise FileSystemNotFound(file_system_id)
    self.file_systems_by_id[file_system_id].file_system_policy = None


def _respond_put_backup_policy(self: EFSResponse):
    status = (self._get_param("BackupPolicy") or {}).get("Status")
    policy = self.efs_backend.put_backup_policy(self._get_param("FileSystemId"), status)
    return json.dumps({"BackupPolicy": policy}), {"Content-Type": "application/json"}


def _respond_delete_file_system_policy(self: EFSResponse):
    self.efs_backend.delete_file_system_policy(self._get_param("FileSystemId"))
    return "{}", {"status": 200, "Content-Type": "application/json"}


def _set(cls, name: str, value) -> None:
    if getattr(getattr(cls, name, None), _PATCHED, False):
        return
    setattr(value, _PATCHED, True)
    setattr(cls, name, value)


def apply() -> None:
    if not getattr(EFSBackend.describe_backup_policy, _PATCHED, False):
        _set(EFSBackend, "describe_backup_policy", _known(_describe_backup_policy(EFSBackend.describe_backup_policy)))
    for name in ("describe_file_system_policy", "put_file_system_policy"):
        _set(EFSBackend, name, _known(getattr(EFSBackend, name)))
    _set(EFSBackend, "put_backup_policy", put_backup_policy)
    _set(EFSBackend, "delete_file_system_policy", delete_file_system_policy)
    _set(EFSResponse, "put_backup_policy", _respond_put_backup_policy)
    _set(EFSResponse, "delete_file_system_policy", _respond_delete_file_system_policy)

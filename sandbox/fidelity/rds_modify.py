"""RDS ModifyDBInstance on the layer's clock: PendingModifiedValues, modifying,
storage-optimization; and a minor engine upgrade on demand.

Reproduces aws-notes:

- C-RDS-1: "After ModifyDBInstance with ApplyImmediately the status can still read available for
  seconds; PendingModifiedValues lists what is still to apply." Here: ``available`` with the
  changed fields in PendingModifiedValues for ``rds.modify_pending`` seconds, then ``modifying``
  for ``rds.modify`` (aws-timings.md: a Multi-AZ class change takes 10-20 min), then the values
  are applied and PendingModifiedValues is empty.
- C-RDS-2: "A storage change puts the instance in storage-optimization for hours (can exceed
  24 h), fully usable; no other storage change for 6 h or until that ends" (RDS user guide,
  "Modifying storage"). After the change is applied the instance reads ``storage-optimization``
  for ``rds.storage_optimization``; another storage change meanwhile is refused with AWS's
  InvalidParameterCombination.
- C-RDS-3: "With AutoMinorVersionUpgrade on, RDS moves the engine to a newer minor in the
  maintenance window." ``upgrade_minor`` is the maintenance window coming: the instance goes
  ``upgrading`` and ends on the newer minor of the same major.

Only with a controlled clock: with the instant clock moto applies every change at once, as before.
Without ApplyImmediately the change waits for the maintenance window: it stays pending.
"""
from __future__ import annotations

from typing import Any

from botocore import xform_name
from moto.core import DEFAULT_ACCOUNT_ID
from moto.rds.exceptions import RDSClientError
from moto.rds.models import RDSBackend, rds_backends

from sandbox.fidelity import clock

# ModifyDBInstance parameters that are members of PendingModifiedValues (API reference).
PENDING_FIELDS = ("DBInstanceClass", "AllocatedStorage", "EngineVersion", "MultiAZ", "Iops", "StorageType",
                  "StorageThroughput", "BackupRetentionPeriod", "MasterUserPassword", "Port", "CACertificateIdentifier")
STORAGE_FIELDS = ("AllocatedStorage", "Iops", "StorageType", "StorageThroughput")


def _current(db: Any, field: str) -> Any:
    # moto's update() stores ModifyDBInstance parameters under their PascalCase names.
    return getattr(db, field, getattr(db, xform_name(field), None))


def _modification(db: Any) -> dict | None:
    return getattr(db, "_fidelity_modification", None)


def advance(db: Any) -> None:
    """Move the instance to its state at the layer's "now" (lazily, when it is read)."""
    change = _modification(db)
    if change is None:
        return
    gone = clock.elapsed(change["started"])
    if not change["immediately"]:
        return  # waits for the maintenance window
    pending, modify = clock.duration("rds.modify_pending"), clock.duration("rds.modify")
    if not change["applied"]:
        if gone < pending:
            db.status = "available"  # C-RDS-1: not yet "modifying"
            return
        if gone < pending + modify:
            db.status = change["status"]
            return
        for field, value in change["values"].items():
            setattr(db, field, value)
        db.pending_modified_values = {}
        change["applied"] = True
    if change["storage"] and gone < pending + modify + clock.duration("rds.storage_optimization"):
        db.status = "storage-optimization"
        return
    db.status = "available"
    db._fidelity_modification = None


def _start(db: Any, values: dict, immediately: bool, status: str = "modifying") -> None:
    db._fidelity_modification = {"started": clock.now(), "values": values, "immediately": immediately, "applied": False,
                                 "status": status, "storage": any(f in values for f in STORAGE_FIELDS)}
    shown = {f: ("****" if f == "MasterUserPassword" else v) for f, v in values.items()}
    db.pending_modified_values = shown
    advance(db)


def _patch_modify(original):
    def modify_db_instance(self: RDSBackend, db_instance_identifier: str, db_kwargs: dict[str, Any]):
        if not clock.controlled():
            return original(self, db_instance_identifier, db_kwargs)
        db = self.describe_db_instances(db_instance_identifier)[0]
        values = {f: db_kwargs.pop(f) for f in PENDING_FIELDS
                  if db_kwargs.get(f) is not None and db_kwargs[f] != _current(db, f)}
        busy = _modification(db)
        if busy and busy["storage"] and any(f in values for f in STORAGE_FIELDS):
            # RDS user guide, "Modifying storage": no storage change for six hours after one,
            # or while the instance is in storage-optimization.
            raise RDSClientError("InvalidParameterCombination",
                                 "You can't currently modify the storage of this DB instance because the previous "
                                 "storage change is being optimized.")
        db = original(self, db_instance_identifier, db_kwargs)
        if values:
            _start(db, values, bool(db_kwargs.get("ApplyImmediately")))
        return db

    modify_db_instance.fidelity = True
    return modify_db_instance


def _patch_describe(original):
    def describe_db_instances(self: RDSBackend, *args, **kwargs):
        found = original(self, *args, **kwargs)
        for db in found:
            advance(db)
        return found

    describe_db_instances.fidelity = True
    return describe_db_instances


def upgrade_minor(db_instance_identifier: str, engine_version: str, region: str = "us-east-1",
                  account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """C-RDS-3: the maintenance window comes and RDS moves the engine to ``engine_version``, a
    newer minor of the same major (never a major upgrade, never a downgrade)."""
    db = rds_backends[account_id][region].describe_db_instances(db_instance_identifier)[0]
    now, new = [tuple(int(p) for p in str(v).split(".")) for v in (_current(db, "EngineVersion"), engine_version)]
    if new[0] != now[0] or new <= now:
        raise ValueError(f"{engine_version} is not a newer minor of {_current(db, 'EngineVersion')}")
    _start(db, {"EngineVersion": engine_version}, immediately=True, status="upgrading")


def apply() -> None:
    if getattr(RDSBackend.modify_db_instance, "fidelity", False):
        return
    RDSBackend.modify_db_instance = _patch_modify(RDSBackend.modify_db_instance)
    RDSBackend.describe_db_instances = _patch_describe(RDSBackend.describe_db_instances)

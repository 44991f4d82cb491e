"""RDS ModifyDBInstance on the layer's clock: PendingModifiedValues, modifying,
storage-optimization; and a minor engine upgrade on demand.

Reproduces docs/aws-behaviours.md:

- C-RDS-1: "After ModifyDBInstance with ApplyImmediately the status can still read available for
  seconds; PendingModifiedValues lists what is still to apply." Here: ``available`` with the
  changed fields in PendingModifiedValues for ``rds.modify_pending`` seconds, then ``modifying``
  for ``rds.modify`` (T-1.2: a Multi-AZ class change takes 10-20 min), then the values
  are applied and PendingModifiedValues is empty.
- C-RDS-2: "A storage change puts the instance in storage-optimization for hours (can exceed
  24 h), fully usable; no other storage change for 6 h or until that ends; an increase must be
  at least 10 %; storage never shrinks" (RDS user guide, "Increasing DB instance storage
  capacity"). After the change is applied the instance reads ``storage-optimization`` for
  ``rds.storage_optimization``; another storage change meanwhile, or within
  ``rds.storage_cooldown`` (six hours) of the last one, is refused with AWS's
  InvalidParameterCombination. A smaller AllocatedStorage is refused, and an increase of less
  than 10 % is rounded up to 10 %, on every clock (``storage_rules``).
- C-RDS-4: "A class change of a Multi-AZ instance is a failover (about a minute of errors); a
  single-AZ one is downtime". While a class change is ``modifying`` RDS records the events of
  either (DescribeEvents, ``_CLASS_CHANGE_EVENTS``); a storage change records its own two.
- C-RDS-3: "With AutoMinorVersionUpgrade on, RDS moves the engine to a newer minor in the
  maintenance window." ``upgrade_minor`` is the maintenance window coming: the instance goes
  ``upgrading`` and ends on the newer minor of the same major.
- C-RDS-1's condition of done ("status available **and** no pending value for the fields
  changed") holds also for a modification RDS accepted and then did not apply: it ends
  ``available`` with nothing pending and the old values. A test asks for one with
  ``clock.fail("rds-modification", DB_INSTANCE_IDENTIFIER)``: every modification started on that
  instance while it is marked goes pending, then ``modifying``, then back to ``available``
  unchanged (``clock.unfail`` removes the mark). What makes RDS drop a change on AWS varies (a
  class short of capacity in the AZ, a parameter the engine refuses); only its outcome, what a
  reader sees, is modelled.

Only with a controlled clock: with the instant clock moto applies every change at once, as before.
Without ApplyImmediately the change waits for the maintenance window: it stays pending.
"""
from __future__ import annotations

import datetime
from typing import Any

from botocore import xform_name
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.rds.exceptions import RDSClientError
from moto.rds.models import Event, RDSBackend, rds_backends

from sandbox.fidelity import clock

# ModifyDBInstance parameters that are members of PendingModifiedValues (API reference).
PENDING_FIELDS = ("DBInstanceClass", "AllocatedStorage", "EngineVersion", "MultiAZ", "Iops", "StorageType",
                  "StorageThroughput", "BackupRetentionPeriod", "MasterUserPassword", "Port", "CACertificateIdentifier")
STORAGE_FIELDS = ("AllocatedStorage", "Iops", "StorageType", "StorageThroughput")
# ModifyDBInstance, AllocatedStorage (API reference): "For RDS for Db2, MariaDB, RDS for MySQL,
# RDS for Oracle, and RDS for PostgreSQL, the value supplied must be at least 10% greater than the
# current value. Values that are not at least 10% greater than the existing value are rounded up
# so that they are 10% greater than the current value."
TEN_PERCENT_ENGINES = ("db2", "mariadb", "mysql", "oracle", "postgres")

# C-RDS-4: what DescribeEvents lists during a class change, as (fraction of the ``modifying``
# time, message, category). Messages and order as RDS records them (RDS user guide "Amazon RDS
# event categories and event messages": RDS-EVENT-0012, -0014, -0004, -0006; the failover pair as
# DescribeEvents words it in published Multi-AZ class-change and failover logs). Multi-AZ: the
# standby is modified first, then a failover to it (observed at ~40 % of a 16 min change, over in
# ~35 s; T-1.2: failover 60-120 s). Single-AZ: the instance is shut down and restarted on
# the new class, down in between.
_CLASS_CHANGE_EVENTS = {
    True: ((0.0, "Applying modification to database instance class", "configuration change"),
           (0.40, "Multi-AZ instance failover started", "failover"),
           (0.41, "DB instance restarted", "availability"),
           (0.44, "Multi-AZ instance failover completed", "failover"),
           (1.0, "Finished applying modification to DB instance class", "configuration change")),
    False: ((0.0, "Applying modification to database instance class", "configuration change"),
            (0.2, "DB instance shutdown", "availability"),
            (1.0, "Finished applying modification to DB instance class", "configuration change"),
            (1.0, "DB instance restarted", "availability")),
}
# RDS-EVENT-0018 / RDS-EVENT-0017 (same event list; AWS re:Post "rds-autoscaling-low-free-storage"
# quotes the second).
_STORAGE_EVENTS = ((0.0, "Applying modification to allocated storage", "configuration change"),
                   (1.0, "Finished applying modification to allocated storage", "configuration change"))


def _current(db: Any, field: str) -> Any:
    # moto's update() stores ModifyDBInstance parameters under their PascalCase names.
    return getattr(db, field, getattr(db, xform_name(field), None))


def _modification(db: Any) -> dict | None:
    return getattr(db, "_fidelity_modification", None)


def _record_events(db: Any, change: dict, gone_modifying: float, took: float) -> None:
    """C-RDS-4: the events of a class or storage change that have happened by now, once each,
    dated when they happened on the layer's clock."""
    schedule = []
    if "DBInstanceClass" in change["values"]:
        schedule += _CLASS_CHANGE_EVENTS[bool(_current(db, "MultiAZ"))]
    if "AllocatedStorage" in change["values"]:
        schedule += _STORAGE_EVENTS
    for index, (at, message, category) in enumerate(schedule):
        if index in change["events"] or gone_modifying < at * took:
            continue
        change["events"].add(index)
        event = Event("DB_INSTANCE_CREATE", db)  # moto's model; its text replaced below
        event.message, event.event_categories = message, [category]
        # Dated on the layer's timeline from the moment the change was asked for.
        event.date = change["asked"] + datetime.timedelta(seconds=clock.duration("rds.modify_pending") + at * took)
        db.backend.events.append(event)


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
        _record_events(db, change, gone - pending, modify)
        if gone < pending + modify:
            db.status = change["status"]
            return
        if change["dropped"]:
            # Accepted, not applied: back to available with the old values, nothing pending.
            change["storage"] = False
        for field, value in change["values"].items() if not change["dropped"] else ():
            setattr(db, field, value)
        if "EngineVersion" in change["values"] and not change["dropped"]:
            # moto derives the default parameter group from engine_version: RDS moves a default
            # group to the new major's (rds_versions, C-RDS-5).
            db.engine_version = change["values"]["EngineVersion"]
        db.pending_modified_values = {}
        change["applied"] = True
        if change["storage"]:
            # C-RDS-2: the six hours before another storage change count from this one.
            db._fidelity_storage_changed = change["started"] + pending + modify
    if change["storage"] and gone < pending + modify + clock.duration("rds.storage_optimization"):
        db.status = "storage-optimization"
        return
    db.status = "available"
    db._fidelity_modification = None


def _start(db: Any, values: dict, immediately: bool, status: str = "modifying") -> None:
    db._fidelity_modification = {"started": clock.now(), "values": values, "immediately": immediately, "applied": False,
                                 "status": status, "storage": any(f in values for f in STORAGE_FIELDS), "events": set(),
                                 "asked": utcnow(),
                                 "dropped": clock.failing("rds-modification", db.db_instance_identifier)[0]}
    shown = {f: ("****" if f == "MasterUserPassword" else v) for f, v in values.items()}
    db.pending_modified_values = shown
    advance(db)


def storage_rules(db: Any, db_kwargs: dict) -> None:
    """C-RDS-2 as ModifyDBInstance enforces it, whatever the clock (moto 5.2.5 accepts a smaller
    AllocatedStorage and stores it)."""
    wanted, now = db_kwargs.get("AllocatedStorage"), _current(db, "AllocatedStorage")
    if wanted is None or now is None:
        return
    wanted, now = int(wanted), int(now)
    if wanted < now:
        # "You can't reduce the amount of storage for a DB instance after storage has been
        # allocated" (RDS user guide). RDS's answer, as quoted from ModifyDBInstance by Terraform
        # and CloudFormation when a template lowers AllocatedStorage:
        # "InvalidParameterCombination: Invalid storage size for engine name postgres and storage
        # type gp3: 30".
        raise RDSClientError("InvalidParameterCombination", f"Invalid storage size for engine name {db.engine} "
                                                            f"and storage type {_current(db, 'StorageType')}: {wanted}")
    least = -(-now * 11 // 10)  # 10 % more in whole GiB, rounded up (integers: 50 * 1.1 is 55.000…01)
    if wanted > now and str(db.engine).split("-")[0] in TEN_PERCENT_ENGINES and wanted < least:
        # API reference, AllocatedStorage: less than 10 % more is "rounded up so that they are
        # 10% greater than the current value". (The user guide says "you get an error"; no
        # quoted answer of that error was found, so the API reference's rounding is reproduced.)
        db_kwargs["AllocatedStorage"] = least


def _cooling_down(db: Any) -> bool:
    """C-RDS-2: "You can't make further storage modifications for either six (6) hours or until
    storage optimization has completed on the instance, whichever is longer" (RDS user guide)."""
    busy = _modification(db)
    if busy and busy["storage"]:
        return True
    changed = getattr(db, "_fidelity_storage_changed", None)
    return changed is not None and clock.elapsed(changed) < clock.duration("rds.storage_cooldown")


def _patch_modify(original):
    def modify_db_instance(self: RDSBackend, db_instance_identifier: str, db_kwargs: dict[str, Any]):
        db = self.describe_db_instances(db_instance_identifier)[0]
        storage_rules(db, db_kwargs)
        if not clock.controlled():
            return original(self, db_instance_identifier, db_kwargs)
        values = {f: db_kwargs.pop(f) for f in PENDING_FIELDS
                  if db_kwargs.get(f) is not None and db_kwargs[f] != _current(db, f)}
        if _cooling_down(db) and any(f in values for f in STORAGE_FIELDS):
            # RDS's answer, quoted in terraform-provider-aws#12493 (docs/aws-behaviours.md C-RDS-2).
            raise RDSClientError("InvalidParameterCombination",
                                 "You can't currently modify the storage of this DB instance because the previous "
                                 "storage change is being optimized.")
        db = original(self, db_instance_identifier, db_kwargs)
        if values:
            # An engine version change reads "upgrading" while it is applied (C-RDS-3).
            status = "upgrading" if "EngineVersion" in values else "modifying"
            _start(db, values, bool(db_kwargs.get("ApplyImmediately")), status)
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


def _patch_describe_events(original):
    def describe_events(self: RDSBackend, *args, **kwargs):
        """C-RDS-4: the events of a change in progress exist once the instances are moved to "now"."""
        for db in list(self.databases.values()):
            advance(db)
        return original(self, *args, **kwargs)

    describe_events.fidelity = True
    return describe_events


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
    RDSBackend.describe_events = _patch_describe_events(RDSBackend.describe_events)

"""What AWS keeps of an environment on purpose after its teardown: the KMS key, pending deletion
until its DeletionDate (ScheduleKeyDeletion never deletes at once), and the RDS final snapshot
(db_final_snapshot = true), kept until someone deletes it.

Teardown names them with their dates; drift lists them as retained, never as unmanaged, although
both still carry the environment's tags and the tagging API lists them. Each is an entry
{"resource", "kind", "name", "id", "until"?}: "until" only where AWS deletes it by itself.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from resources.aws import ignore_codes
from resources.aws.inventory import Found
from resources.aws.permissions import arn, reads


# What a teardown leaves on purpose: the final snapshot, the key pending deletion.
IAM = (
    reads("rds:DescribeDBSnapshots", arns=(arn("rds", "snapshot:rds-postgresql-{env}-final-*"),)),
    reads("kms:DescribeKey", arns=(arn("kms", "key/*"),), tag="resource"),
)

# RdsInstance.delete names its final snapshot "<db id>-final-YYYYmmdd-HHMMSS".
FINAL_SNAPSHOT = re.compile(r"(?P<db>.+)-final-\d{8}-\d{6}")


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds")
    return str(value) if value else None


def pending_key(kms, key_id: str, alias: str | None = None) -> dict | None:
    """The key as retained while it is pending deletion; None when it is live (or gone)."""
    answer = ignore_codes({"NotFoundException"}, kms.describe_key, KeyId=key_id)
    raw = (answer or {}).get("KeyMetadata") or {}
    if raw.get("KeyState") != "PendingDeletion":
        return None
    return {"resource": "kms.key", "kind": "kms_key", "name": alias, "id": raw["KeyId"],
            "until": _iso(raw.get("DeletionDate"))}


def final_snapshot(identifier: str) -> dict:
    return {"resource": "rds.instance", "kind": "rds_final_snapshot", "name": identifier, "id": identifier}


def final_snapshots(rds, db_id: str) -> list[dict]:
    """The final snapshots teardowns of this DB instance left (each teardown takes a new one)."""
    pages = rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=db_id, SnapshotType="manual")
    names = sorted(s["DBSnapshotIdentifier"] for page in pages for s in page["DBSnapshots"])
    return [final_snapshot(n) for n in names if (m := FINAL_SNAPSHOT.fullmatch(n)) and m["db"] == db_id]


def after_teardown(aws, env: str, results, previous: list[dict]) -> list[dict]:
    """What the teardown whose ``results`` these are left on purpose, read back from AWS, with
    what an earlier teardown recorded (a second teardown deletes nothing, the key still waits)."""
    from orchestrator.stack.security import kms_alias

    found: list[dict] = []
    for r in results:
        ids = [i for i in (r.id or "").split(", ") if i]
        if r.kind == "kms_key":
            found += [e for i in ids if (e := pending_key(aws.client("kms"), i, kms_alias(env)))]
        elif r.kind == "db_instance":
            found += [e for i in ids for e in final_snapshots(aws.client("rds"), i)]
    ids = {e["id"] for e in found}
    return found + [e for e in previous if e.get("id") not in ids]


def split(aws, found: list[Found]) -> tuple[list[dict], list[Found]]:
    """(retained entries, the rest) of what carries the environment's tags: a KMS key pending
    deletion (one DescribeKey each, only for the keys among ``found``) and a final snapshot."""
    retained, rest = [], []
    for f in found:
        parts = f.id.split(":", 5)
        resource = parts[5] if len(parts) == 6 else ""
        entry = None
        if f.kind == "kms" and resource.startswith("key/"):
            entry = pending_key(aws.client("kms"), resource[len("key/"):])
        elif f.kind == "rds" and resource.startswith("snapshot:") and FINAL_SNAPSHOT.fullmatch(resource[len("snapshot:"):]):
            entry = final_snapshot(resource[len("snapshot:"):])
        if entry is None:
            rest.append(f)
        else:
            retained.append(entry)
    return retained, rest


def describe(entry: dict) -> str:
    """One entry for people: what it is, and until when AWS keeps it."""
    if entry["kind"] == "kms_key":
        name = f"{entry['name']} ({entry['id']})" if entry.get("name") else entry["id"]
        until = (entry.get("until") or "?")[:10]
        return f"kms_key {name}: scheduled for deletion on {until} (retained until then)"
    return f"final snapshot {entry['name']} kept"


def _who() -> str:
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def retire(aws, env: str, doc, results, *, command: str = "bin/teardown") -> dict:
    """Mark ``doc`` retired after a teardown that succeeded: when, by whom, with which command,
    and what AWS keeps. The document stays (for audit, and for drift and state list to say the
    environment was torn down rather than that everything is missing)."""
    previous = (doc.retired or {}).get("retained", [])
    record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "by": _who(), "command": command,
              "retained": after_teardown(aws, env, results, previous)}
    doc.retired = record
    return record

"""RDS for PostgreSQL engine versions as AWS offers them (docs/aws-behaviours.md A-44, C-RDS-3, C-RDS-5).

moto 5.2.5 has no DescribeDBEngineVersions (NotImplementedError, a 500 over HTTP: A-40), keeps
the EngineVersion a CreateDBInstance was given ("17", where RDS runs a full version such as
17.6) and lets ModifyDBInstance set any version, older, across a major without
AllowMajorVersionUpgrade, or one RDS does not offer. This module gives moto a small table of
PostgreSQL versions and upgrade paths and makes the three calls follow it:

- DescribeDBEngineVersions(Engine=postgres[, EngineVersion][, DefaultOnly]) lists the table's
  versions, each with its ``ValidUpgradeTarget`` (``IsMajorVersionUpgrade``), as the RDS user
  guide "Choosing a major version for an RDS for PostgreSQL upgrade" tells to read them
  (``aws rds describe-db-engine-versions --engine postgres --engine-version <yours>``).
- CreateDBInstance / ModifyDBInstance with a major version only ("18") run the default minor of
  that major (ModifyDBInstance EngineVersion, API reference: "If you specify only a major
  version, Amazon RDS updates the DB instance to the default minor version if the current minor
  version is lower").
- ModifyDBInstance refuses, with RDS's InvalidParameterCombination, a version that is not a
  valid upgrade target of the running one ("Cannot upgrade postgres from 15.7 to 15.5", quoted in
  ministryofjustice/cloud-platform-environments#25855; the same words for a downgrade and for a
  version RDS does not offer), and a major change without AllowMajorVersionUpgrade ("The
  AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.", quoted
  in hashicorp/terraform#8471).

The modification itself (pending, ``upgrading``, applied after ``rds.modify``) is
``rds_modify``'s; a default parameter group follows the new major there by moto's own rule
(``default.postgres<major>``), as RDS swaps a default group on a major upgrade (ModifyDBInstance
EngineVersion: only a *nondefault* group must be replaced by the caller).

The table is small and dated (PostgreSQL's quarterly releases, May 2024 to November 2025): a
version outside it, or another engine, is left to moto as before. The model of the paths: newer
minors of the same major, and the minors of a newer major released in the same quarter or later,
which is how the user guide's table of targets reads for these releases.
"""
from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.rds.exceptions import RDSClientError
from moto.rds.models import RDSBackend
from moto.rds.responses import RDSResponse

ENGINE = "postgres"
# PostgreSQL release quarter → the RDS for PostgreSQL minors of that release.
RELEASES = (
    ("2024-05", ("15.7", "16.3")),
    ("2024-08", ("15.8", "16.4")),
    ("2024-11", ("15.10", "16.6", "17.2")),
    ("2025-02", ("15.12", "16.8", "17.4")),
    ("2025-05", ("15.13", "16.9", "17.5")),
    ("2025-08", ("15.14", "16.10", "17.6")),
    ("2025-11", ("15.15", "16.11", "17.7", "18.1")),
)
# The minor RDS runs when given a major only (DescribeDBEngineVersions DefaultOnly).
DEFAULTS = {"15": "15.14", "16": "16.10", "17": "17.6", "18": "18.1"}
RELEASED = {version: quarter for quarter, versions in RELEASES for version in versions}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _major(version: str) -> str:
    return version.split(".")[0]


def upgrade_targets(version: str) -> list[dict[str, Any]]:
    """The ``ValidUpgradeTarget`` list of ``version`` (empty for one outside the table)."""
    if version not in RELEASED:
        return []
    targets = []
    for other in sorted(RELEASED, key=_key):
        major = _major(other) != _major(version)
        newer = _key(other) > _key(version) and (not major or RELEASED[other] >= RELEASED[version])
        if newer:
            targets.append({"Engine": ENGINE, "EngineVersion": other, "Description": f"PostgreSQL {other}-R1",
                            "AutoUpgrade": False, "IsMajorVersionUpgrade": major})
    return targets


def engine_version(version: str) -> dict[str, Any]:
    return {"Engine": ENGINE, "EngineVersion": version, "DBParameterGroupFamily": f"postgres{_major(version)}",
            "DBEngineDescription": "PostgreSQL", "DBEngineVersionDescription": f"PostgreSQL {version}-R1",
            "ValidUpgradeTarget": upgrade_targets(version)}


def resolve(version: str | None) -> str | None:
    """A major only ("17") is the default minor of that major; anything else as given."""
    if version is None or "." in str(version):
        return version
    return DEFAULTS.get(str(version), version)


def _describe_db_engine_versions(self: RDSResponse) -> ActionResult:
    engine, version = self._get_param("Engine"), self._get_param("EngineVersion")
    default_only = str(self._get_param("DefaultOnly") or "").lower() == "true"
    listed = [] if engine not in (None, ENGINE) else sorted(RELEASED, key=_key)
    if version is not None:
        listed = [v for v in listed if v == version]
    if default_only:
        listed = [v for v in listed if v in DEFAULTS.values()]
    return ActionResult({"DBEngineVersions": [engine_version(v) for v in listed]})


def _param(kwargs: dict, pascal: str, snake: str) -> tuple[str, Any]:
    """moto's create passes snake_case keys, its modify PascalCase: the key used, and its value."""
    key = pascal if pascal in kwargs else snake
    return key, kwargs.get(key)


def check_upgrade(db: Any, db_kwargs: dict) -> None:
    """ModifyDBInstance's version rules (module docstring); resolves a major-only version."""
    key, wanted = _param(db_kwargs, "EngineVersion", "engine_version")
    running = str(db.engine_version)
    if wanted is None or db.engine != ENGINE or running not in RELEASED:
        return
    wanted = str(wanted)
    if "." not in wanted and _major(wanted) == _major(running):
        # The default minor only if the running one is lower; else nothing to change.
        default = DEFAULTS.get(wanted, running)
        db_kwargs[key] = default if _key(default) > _key(running) else running
        return
    wanted = resolve(wanted)
    if wanted == running:
        db_kwargs[key] = wanted
        return
    if wanted not in {t["EngineVersion"] for t in upgrade_targets(running)}:
        raise RDSClientError("InvalidParameterCombination", f"Cannot upgrade {ENGINE} from {running} to {wanted}")
    allowed = _param(db_kwargs, "AllowMajorVersionUpgrade", "allow_major_version_upgrade")[1]
    if _major(wanted) != _major(running) and str(allowed).lower() != "true":
        raise RDSClientError("InvalidParameterCombination",
                             "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.")
    db_kwargs[key] = wanted


def _patch_create(original):
    def create_db_instance(self: RDSBackend, db_kwargs: dict[str, Any]):
        key, version = _param(db_kwargs, "EngineVersion", "engine_version")
        if _param(db_kwargs, "Engine", "engine")[1] == ENGINE and version is not None:
            db_kwargs[key] = resolve(str(version))
        return original(self, db_kwargs)

    create_db_instance.fidelity_versions = True
    return create_db_instance


def _patch_modify(original):
    def modify_db_instance(self: RDSBackend, db_instance_identifier: str, db_kwargs: dict[str, Any]):
        check_upgrade(self.describe_db_instances(db_instance_identifier)[0], db_kwargs)
        return original(self, db_instance_identifier, db_kwargs)

    modify_db_instance.fidelity_versions = True
    return modify_db_instance


def apply() -> None:
    if getattr(RDSBackend.modify_db_instance, "fidelity_versions", False):
        return
    RDSBackend.create_db_instance = _patch_create(RDSBackend.create_db_instance)
    RDSBackend.modify_db_instance = _patch_modify(RDSBackend.modify_db_instance)
    RDSResponse.describe_db_engine_versions = _describe_db_engine_versions

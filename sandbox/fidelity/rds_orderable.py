"""Which AZs offer an RDS for PostgreSQL DB instance class (docs/aws-behaviours.md C-AZ-1).

moto 5.2.5 answers DescribeOrderableDBInstanceOptions for aurora-postgresql and neptune only: for
postgres it answers an empty list, which on AWS would mean that no class can be ordered at all.
AWS answers one option per class, engine version and storage type, each with the
``AvailabilityZones`` (names, in the account's naming) that offer it (RDS API reference,
DescribeOrderableDBInstanceOptions / OrderableDBInstanceOption).

This module answers for postgres, the versions of ``rds_versions``' table, the class asked
(``DBInstanceClass``, one of the PostgreSQL families in ``FAMILIES``; a class is required: the
stack asks for one). Its AZs are those where EC2
offers the instance type the class runs on (db.t3.medium on t3.medium), read from moto's own copy
of AWS's DescribeInstanceTypeOfferings data by AZ ID: so us-east-1e (use1-az3), which lacks the
current types on AWS, lacks them here too. It never lists an AZ EC2 does not offer the type in.

A test makes one AZ stop offering a class with ``clock.fail("rds-orderable", "CLASS@AZ_ID")``
(over HTTP: ``POST /fidelity/fail``); ``clock.reset`` (and moto's reset on a server) undoes it.
"""
from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS
from moto.rds.responses import RDSResponse

from sandbox.fidelity import clock
from sandbox.fidelity.rds_versions import ENGINE, RELEASED, _key

KIND = "rds-orderable"
# The RDS for PostgreSQL instance families (RDS user guide, "Supported DB engines for DB instance
# classes"), the smallest size being micro: EC2 offers types RDS does not (c5.large, t3.nano), and
# a class outside these is answered as not orderable rather than offered where AWS would not.
FAMILIES = ("t3", "t4g", "m5", "m6g", "m6i", "m7g", "r5", "r6g", "r6i", "r7g")


def zones_offering(db_class: str, region: str) -> list[str]:
    """The AZ names of ``region`` that offer ``db_class``, in name order."""
    instance_type = db_class.removeprefix("db.")
    if instance_type.split(".")[0] not in FAMILIES or instance_type.endswith(".nano"):
        return []
    ids = {o["Location"] for o in INSTANCE_TYPE_OFFERINGS["availability-zone-id"].get(region, [])
           if o["InstanceType"] == instance_type}
    return sorted(z.name for z in RegionsAndZonesBackend.zones.get(region, [])
                  if z.zone_id in ids and not clock.failing(KIND, f"{db_class}@{z.zone_id}")[0])


def option(db_class: str, version: str, zones: list[str]) -> dict[str, Any]:
    return {"Engine": ENGINE, "EngineVersion": version, "DBInstanceClass": db_class, "LicenseModel": "postgresql-license",
            "AvailabilityZones": [{"Name": z} for z in zones], "MultiAZCapable": True, "ReadReplicaCapable": True,
            "Vpc": True, "SupportsStorageEncryption": True, "StorageType": "gp3"}


def _describe(original):
    def describe_orderable_db_instance_options(self: RDSResponse) -> ActionResult:
        engine, db_class = self._get_param("Engine"), self._get_param("DBInstanceClass")
        if engine != ENGINE or not db_class:
            return original(self)
        wanted = self._get_param("EngineVersion")
        versions = [v for v in sorted(RELEASED, key=_key) if wanted in (None, v)]
        zones = zones_offering(db_class, self.region)
        # A class no AZ offers is not orderable at all: AWS lists no option for it.
        return ActionResult({"OrderableDBInstanceOptions": [option(db_class, v, zones) for v in versions] if zones else []})

    describe_orderable_db_instance_options.fidelity_orderable = True
    return describe_orderable_db_instance_options


def apply() -> None:
    if getattr(RDSResponse.describe_orderable_db_instance_options, "fidelity_orderable", False):
        return
    RDSResponse.describe_orderable_db_instance_options = _describe(RDSResponse.describe_orderable_db_instance_options)

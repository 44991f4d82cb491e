"""RDS: ModifyDBSubnetGroup changes the group in place, as AWS documents it.

moto 5.2.5's ``modify_db_subnet_group`` pops the group from its backend and never stores the
modified one again, so the group vanishes (AWS API reference, ModifyDBSubnetGroup: "Modifies an
existing DB subnet group").
"""
from __future__ import annotations

from moto.rds.models import RDSBackend


def apply() -> None:
    original = RDSBackend.modify_db_subnet_group

    def modify_db_subnet_group(self, subnet_name, description, subnets):
        group = original(self, subnet_name, description, subnets)
        self.subnet_groups[subnet_name] = group
        return group

    RDSBackend.modify_db_subnet_group = modify_db_subnet_group

"""RDS, as AWS documents it, where moto 5.2.5 differs.

- ModifyDBSubnetGroup changes the group in place (API reference: "Modifies an existing DB subnet
  group"); moto pops the group from its backend and never stores the modified one again.
- With ManageMasterUserPassword, RDS *generates* the master password and keeps it, with the
  master user name, in the secret it owns (API reference, ManageMasterUserPassword; aws-notes
  A-14). moto stores the fixed pair admin / P@55w0rd! for every instance.
"""
from __future__ import annotations

import json
import secrets
import string

from moto.rds.models import MasterUserSecret, RDSBackend

PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#$%^&*()-_=+"


def _generated_credentials(self) -> str:
    password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(32))
    return json.dumps({"username": getattr(self.resource, "master_username", None) or "admin", "password": password})


def apply() -> None:
    MasterUserSecret._generate_secret_string = _generated_credentials

    original = RDSBackend.modify_db_subnet_group

    def modify_db_subnet_group(self, subnet_name, description, subnets):
        group = original(self, subnet_name, description, subnets)
        self.subnet_groups[subnet_name] = group
        return group

    RDSBackend.modify_db_subnet_group = modify_db_subnet_group

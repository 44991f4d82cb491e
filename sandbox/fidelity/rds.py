"""RDS, as AWS documents it, where moto 5.2.5 differs.

- ModifyDBSubnetGroup changes the group in place (API reference: "Modifies an existing DB subnet
  group"); moto pops the group from its backend and never stores the modified one again.
- With ManageMasterUserPassword, RDS *generates* the master password and keeps it, with the
  master user name, in the secret it owns (API reference, ManageMasterUserPassword; docs/aws-behaviours.md
  A-14). moto stores the fixed pair admin / P@55w0rd! for every instance.
- ModifyDBInstance with MasterUserSecretKmsKeyId (docs/aws-behaviours.md B-RDS-9, A-46): RDS refuses the key
  without ManageMasterUserPassword ("InvalidParameterValue: A ManageMasterUserPassword value is
  required when MasterUserSecretKmsKeyId is specified", the answer terraform-provider-aws quotes
  in its aws_db_instance and aws_rds_cluster updates); with ManageMasterUserPassword=True on an
  instance that already manages its password, RDS keeps its one secret (same ARN) and encrypts it
  with the key given. moto ignores the key alone, and makes a second secret (a new ARN) for the
  second, leaving the first one behind.
"""
from __future__ import annotations

import json
import secrets
import string

from moto.rds.exceptions import RDSClientError
from moto.rds.models import MasterUserSecret, RDSBackend

PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#$%^&*()-_=+"


def _generated_credentials(self) -> str:
    password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(32))
    return json.dumps({"username": getattr(self.resource, "master_username", None) or "admin", "password": password})


def _param(db_kwargs: dict, pascal: str, snake: str):
    return db_kwargs.get(pascal, db_kwargs.get(snake))


def _master_secret_rules(original):
    def modify_db_instance(self: RDSBackend, db_instance_identifier: str, db_kwargs: dict):
        key = _param(db_kwargs, "MasterUserSecretKmsKeyId", "master_user_secret_kms_key_id")
        manage = _param(db_kwargs, "ManageMasterUserPassword", "manage_master_user_password")
        if key is not None and manage is None:
            raise RDSClientError("InvalidParameterValue",
                                 "A ManageMasterUserPassword value is required when MasterUserSecretKmsKeyId is specified.")
        db = self.describe_db_instances(db_instance_identifier)[0]
        managed = getattr(db, "master_user_secret", None) if getattr(db, "manage_master_user_password", False) else None
        if manage in (True, "true") and managed is not None:
            # Already managed: the same secret, encrypted with the key given (if any).
            for name in ("ManageMasterUserPassword", "manage_master_user_password",
                         "MasterUserSecretKmsKeyId", "master_user_secret_kms_key_id"):
                db_kwargs.pop(name, None)
            if key is not None:
                managed.secret.kms_key_id = key
        return original(self, db_instance_identifier, db_kwargs)

    modify_db_instance.master_secret_rules = True
    return modify_db_instance


def apply() -> None:
    MasterUserSecret._generate_secret_string = _generated_credentials
    if not getattr(RDSBackend.modify_db_instance, "master_secret_rules", False):
        RDSBackend.modify_db_instance = _master_secret_rules(RDSBackend.modify_db_instance)

    original = RDSBackend.modify_db_subnet_group

    def modify_db_subnet_group(self, subnet_name, description, subnets):
        group = original(self, subnet_name, description, subnets)
        self.subnet_groups[subnet_name] = group
        return group

    RDSBackend.modify_db_subnet_group = modify_db_subnet_group

"""RDS, as AWS documents it, where moto 5.2.5 differs.

- ModifyDBSubnetGroup changes the group in place (API reference: "Modifies an existing DB subnet
  group"); moto pops the group from its backend and never stores the modified one again.
- With ManageMasterUserPassword, RDS *generates* the master password and keeps it, with the
  master user name, in the secret it owns (API reference, ManageMasterUserPassword; docs/aws-behaviours.md
  A-14). moto stores the fixed pair admin / P@55w0rd! for every instance.
- ModifyDBInstance with MasterUserSecretKmsKeyId (docs/aws-behaviours.md B-RDS-9, A-46): RDS refuses
  the key without ManageMasterUserPassword ("InvalidParameterValue: A ManageMasterUserPassword
  value is required when MasterUserSecretKmsKeyId is specified", the answer terraform-provider-aws
  quotes in its aws_db_instance and aws_rds_cluster updates). moto ignores the key alone.
- D-RDS-1: the key is valid only while *turning management on*. The API reference
  (ModifyDBInstance, MasterUserSecretKmsKeyId, also in botocore's rds model): "This setting is
  valid only if both of the following conditions are met: The DB instance doesn't manage the
  master user password in Amazon Web Services Secrets Manager. If the DB instance already manages
  the master user password in Amazon Web Services Secrets Manager, you can't change the KMS key
  used to encrypt the secret. You are turning on ManageMasterUserPassword ..." So on an instance
  that already manages its secret the key is refused, whatever ManageMasterUserPassword says. The reference names no error code:
  InvalidParameterCombination here (the code RDS gives other parameters that do not go together),
  with a message that says what to do. moto instead makes a second secret (a new ARN) and leaves
  the first behind (A-46). ManageMasterUserPassword=True without a key on such an instance keeps
  its one secret. On by default; ``clock.switch(KEY_UNCHECKED, True)`` gives moto's own answer
  back for one test (``clock.reset`` switches it off again).
"""
from __future__ import annotations

import json
import secrets
import string

from moto.rds.exceptions import RDSClientError
from moto.rds.models import MasterUserSecret, RDSBackend

from sandbox.fidelity import clock

PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#$%^&*()-_=+"


def _generated_credentials(self) -> str:
    password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(32))
    return json.dumps({"username": getattr(self.resource, "master_username", None) or "admin", "password": password})


def _param(db_kwargs: dict, pascal: str, snake: str):
    return db_kwargs.get(pascal, db_kwargs.get(snake))


KEY_UNCHECKED = "rds-managed-secret-key-unchecked"
KEY_OF_MANAGED_SECRET = (
    "The KMS key of a master user secret that RDS already manages cannot be changed: turn "
    "ManageMasterUserPassword off (with a MasterUserPassword), then on again with MasterUserSecretKmsKeyId."
)


def _master_secret_rules(original):
    def modify_db_instance(self: RDSBackend, db_instance_identifier: str, db_kwargs: dict):
        key = _param(db_kwargs, "MasterUserSecretKmsKeyId", "master_user_secret_kms_key_id")
        manage = _param(db_kwargs, "ManageMasterUserPassword", "manage_master_user_password")
        if key is not None and manage is None:
            raise RDSClientError("InvalidParameterValue",
                                 "A ManageMasterUserPassword value is required when MasterUserSecretKmsKeyId is specified.")
        db = self.describe_db_instances(db_instance_identifier)[0]
        managed = getattr(db, "master_user_secret", None) if getattr(db, "manage_master_user_password", False) else None
        if managed is None or clock.switched(KEY_UNCHECKED):
            return original(self, db_instance_identifier, db_kwargs)
        if key is not None:
            # D-RDS-1: only while turning management on (the API reference, MasterUserSecretKmsKeyId).
            raise RDSClientError("InvalidParameterCombination", KEY_OF_MANAGED_SECRET)
        if manage in (True, "true"):
            # Already managed, nothing to turn on: the same secret (moto would make a second, A-46).
            for name in ("ManageMasterUserPassword", "manage_master_user_password"):
                db_kwargs.pop(name, None)
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

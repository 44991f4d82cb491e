"""CloudWatch Logs: AssociateKmsKey and DisassociateKmsKey, which moto 5.2.5 does not implement
(NotImplementedError, HTTP 500 in server mode), and the key a log group may be encrypted with.

AWS (CloudWatch Logs API reference, AssociateKmsKey / DisassociateKmsKey): with ``logGroupName``
the call sets or clears the log group's ``kmsKeyId``, which DescribeLogGroups then reports (left
out when there is none); an unknown log group answers ResourceNotFoundException. moto already
stores ``kmsKeyId`` given to CreateLogGroup and reports it; these two calls change that value.

docs/aws-behaviours.md D-LOG-1: CreateLogGroup and AssociateKmsKey with a key CloudWatch Logs may
not use answer **AccessDeniedException** "The specified KMS key does not exist or is not allowed to
be used with Arn 'arn:aws:logs:REGION:ACCOUNT:log-group:NAME'" (hashicorp/terraform-provider-aws
#29282, aws/aws-cdk #28304); moto 5.2.5 takes any key. CloudWatch Logs user guide, "Encrypt log
data in CloudWatch Logs using AWS KMS": the key policy must let the service principal
``logs.REGION.amazonaws.com`` use the key, and a condition on ``kms:EncryptionContext:aws:logs:arn``
must admit the log group's ARN; a disabled key or one pending deletion cannot be used either (KMS
developer guide, "Key states of AWS KMS keys"; AWS names no other code for it here). Off by
default: ``clock.switch(KEY_POLICY, True)`` or ``with key_policy_checked(): ...`` turns it on, off
again at ``clock.reset()``. What is checked, and only that, so that nothing AWS accepts is refused:
an Allow statement for that principal (or ``*``) whose actions cover kms:GenerateDataKey and
kms:Decrypt (what writing and reading the log data takes) and whose conditions on the log-group
encryption context (ArnLike, ArnEquals, StringLike, StringEquals) admit the group's ARN; other
conditions are taken as met and Deny statements are not read. A key of another account or Region
is not checked.
"""
from __future__ import annotations

import fnmatch
import json

from moto.kms.models import kms_backends
from moto.logs.exceptions import LogsClientError, ResourceNotFoundException
from moto.logs.responses import LogsResponse

from sandbox.fidelity import clock
from sandbox.fidelity.patching import patch_once

KEY_POLICY = "logs-kms-key-policy"
_PATCHED = "_video_pipeline_fidelity_logs_kms"
CONTEXT_KEY = "kms:encryptioncontext:aws:logs:arn"
NEEDED = ("kms:GenerateDataKey", "kms:Decrypt")
UNUSABLE_STATES = ("Disabled", "PendingDeletion")


class AccessDeniedException(LogsClientError):
    def __init__(self, group_arn: str) -> None:
        # AWS's own words (terraform-provider-aws #29282).
        super().__init__("AccessDeniedException",
                         f"The specified KMS key does not exist or is not allowed to be used with Arn '{group_arn}'")


def key_policy_checked():
    """The key policy checked for the ``with`` block (in-process)."""
    return clock.switched_on(KEY_POLICY)


def _group(response: LogsResponse):
    name = response._get_param("logGroupName")
    group = response.logs_backend.groups.get(name)
    if group is None:
        raise ResourceNotFoundException()
    return group


def associate_kms_key(self: LogsResponse) -> str:
    group = _group(self)
    _check_key(self, self._get_param("kmsKeyId"))
    group.kms_key_id = self._get_param("kmsKeyId")
    return ""


def disassociate_kms_key(self: LogsResponse) -> str:
    _group(self).kms_key_id = None
    return ""


def _checking_the_key(original):
    def create_log_group(self: LogsResponse) -> str:
        _check_key(self, self._get_param("kmsKeyId"))
        return original(self)

    return create_log_group


def _check_key(response: LogsResponse, key_arn: str | None) -> None:
    """D-LOG-1: AccessDeniedException for a key CloudWatch Logs may not use (switch on only)."""
    if not key_arn or not clock.switched(KEY_POLICY):
        return
    region, account = response.region, response.current_account
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:{response._get_param('logGroupName')}"
    parts = key_arn.split(":")
    if len(parts) != 6 or parts[3] != region or parts[4] != account or not parts[5].startswith("key/"):
        return  # not a key ARN of this account and Region: not checked
    key = kms_backends[account][region].keys.get(parts[5][len("key/"):])
    if key is None or key.key_state in UNUSABLE_STATES or not allows_logs(json.loads(key.policy), region, group_arn):
        raise AccessDeniedException(group_arn)


def allows_logs(policy: dict, region: str, group_arn: str) -> bool:
    """Whether the key policy lets CloudWatch Logs of ``region`` use the key for ``group_arn``."""
    allowed = [s for s in _listed(policy.get("Statement"))
               if s.get("Effect") == "Allow" and _names_logs(s.get("Principal"), region) and _admits(s.get("Condition"), group_arn)]
    return all(any(_matches(s.get("Action"), action) for s in allowed) for action in NEEDED)


def _listed(value) -> list:
    return value if isinstance(value, list) else [value] if value is not None else []


def _names_logs(principal, region: str) -> bool:
    if principal == "*":
        return True
    services = _listed(principal.get("Service")) if isinstance(principal, dict) else []
    everyone = _listed(principal.get("AWS")) if isinstance(principal, dict) else []
    return f"logs.{region}.amazonaws.com" in services or "*" in everyone


def _matches(actions, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(actions))


def _admits(condition, group_arn: str) -> bool:
    for operator, tests in (condition or {}).items():
        if operator not in ("ArnLike", "ArnEquals", "StringLike", "StringEquals"):
            continue  # not modelled: taken as met
        for key, values in tests.items():
            if key.lower() != CONTEXT_KEY:
                continue
            like = operator.endswith("Like")
            if not any(fnmatch.fnmatchcase(group_arn, v) if like else group_arn == v for v in _listed(values)):
                return False
    return True


def apply() -> None:
    LogsResponse.associate_kms_key = associate_kms_key
    LogsResponse.disassociate_kms_key = disassociate_kms_key
    patch_once(LogsResponse, "create_log_group", _checking_the_key, _PATCHED)

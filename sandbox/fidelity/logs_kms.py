"""CloudWatch Logs: AssociateKmsKey and DisassociateKmsKey, which moto 5.2.5 does not implement
(NotImplementedError, HTTP 500 in server mode).

AWS (CloudWatch Logs API reference, AssociateKmsKey / DisassociateKmsKey): with ``logGroupName``
the call sets or clears the log group's ``kmsKeyId``, which DescribeLogGroups then reports (left
out when there is none); an unknown log group answers ResourceNotFoundException. moto already
stores ``kmsKeyId`` given to CreateLogGroup and reports it; these two calls change that value.
"""
from __future__ import annotations

from moto.logs.exceptions import ResourceNotFoundException
from moto.logs.responses import LogsResponse


def _group(response: LogsResponse):
    name = response._get_param("logGroupName")
    group = response.logs_backend.groups.get(name)
    if group is None:
        raise ResourceNotFoundException()
    return group


def associate_kms_key(self: LogsResponse) -> str:
    _group(self).kms_key_id = self._get_param("kmsKeyId")
    return ""


def disassociate_kms_key(self: LogsResponse) -> str:
    _group(self).kms_key_id = None
    return ""


def apply() -> None:
    LogsResponse.associate_kms_key = associate_kms_key
    LogsResponse.disassociate_kms_key = disassociate_kms_key

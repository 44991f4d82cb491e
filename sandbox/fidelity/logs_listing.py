"""CloudWatch Logs: DescribeLogGroups by ``logGroupIdentifiers``, which moto 5.2.5 ignores.

docs/aws-behaviours.md A-48: AWS (CloudWatch Logs API reference, DescribeLogGroups) answers only
the log groups named in ``logGroupIdentifiers`` (1-50 names, or ARNs), and "if you specify this
parameter, the only other filter that you can choose to specify is includeLinkedAccounts". moto
5.2.5 drops the parameter and lists every group of the account, 50 a page. A plan reads all of an
environment's log groups in one such call (resources/security/log_group.py); here it is answered
as AWS answers it: the named groups that exist, nothing else, and a prefix or pattern beside it
refused.
"""
from __future__ import annotations

import functools
import json

from moto.logs.exceptions import InvalidParameterException
from moto.logs.responses import LogsResponse

from sandbox.fidelity.patching import patch_once

_PATCHED = "_video_pipeline_fidelity_logs_listing"


def _describe_log_groups(original):
    @functools.wraps(original)
    def describe_log_groups(self: LogsResponse) -> str:
        identifiers = self._get_param("logGroupIdentifiers")
        if identifiers is None:
            return original(self)
        if not 1 <= len(identifiers) <= 50:
            raise InvalidParameterException(msg="logGroupIdentifiers must name 1 to 50 log groups")
        if self._get_param("logGroupNamePrefix") or self._get_param("logGroupNamePattern"):
            raise InvalidParameterException(
                msg="If you specify logGroupIdentifiers, the only other filter you can specify is includeLinkedAccounts")
        # An ARN names the group too: arn:aws:logs:REGION:ACCOUNT:log-group:NAME (with or without ":*").
        names = {i.split(":log-group:", 1)[-1].removesuffix(":*") for i in identifiers}
        groups = self.logs_backend.groups
        found = [groups[n].to_describe_dict() for n in sorted(names) if n in groups]
        return json.dumps({"logGroups": found})

    return describe_log_groups


def apply() -> None:
    patch_once(LogsResponse, "describe_log_groups", _describe_log_groups, _PATCHED)

"""Every emulated API call is atomic, as each AWS API call is.

moto's backends are plain dicts and lists without locks: a DescribeSecurityGroupRules that runs
while another thread creates a security group fails with ``RuntimeError: dictionary changed size
during iteration`` (seen in-process with the reconciler's parallel workers; the threaded sandbox
server shares the same unlocked backends). One lock around each request's dispatch makes every
call see a consistent backend, as AWS's own reads do.
"""
from __future__ import annotations

import functools
import threading

from moto.core.responses import BaseResponse

_LOCK = threading.RLock()


def apply() -> None:
    original = BaseResponse._dispatch

    @functools.wraps(original)
    def _dispatch(self, *args, **kwargs):
        with _LOCK:
            return original(self, *args, **kwargs)

    BaseResponse._dispatch = _dispatch

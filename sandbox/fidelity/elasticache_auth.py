"""ElastiCache AUTH token changes (ModifyReplicationGroup AuthToken + AuthTokenUpdateStrategy).

Reproduces docs/aws-behaviours.md B-EC-7 (moto 5.2.5 parses neither parameter: the group keeps whatever
CreateReplicationGroup was given, and both strategies "succeed" without changing anything):

- ElastiCache user guide, "Modifying the AUTH token on an existing cluster": only with encryption
  in transit; "The ROTATE strategy adds an additional AUTH token to the server while retaining the
  previous token"; "If this modification is performed on a server that already supports two AUTH
  tokens, the oldest AUTH token will also be removed"; SET "updates the server to support just a
  single AUTH token" and "the auth-token parameter must be the same value as the last AUTH token
  rotated" (API reference: "SET - allowed only after ROTATE").
- B-EC-4: 16-128 printable characters, of the specials only ! & # $ ^ < > -.
- C-EC-1: the group goes ``modifying`` (here for ``elasticache.modify`` on a controlled clock,
  through ``elasticache_modify``'s clock), one operation at a time; while it is, DescribeReplication
  Groups shows PendingModifiedValues.AuthTokenStatus ROTATING or SETTING. Once applied,
  AuthTokenEnabled is true and AuthTokenLastModifiedDate is the time of the change.

The tokens a group accepts are kept on the model (``accepted_tokens``) so that tests can check
what a client could authenticate with; they are never part of any answer, as on AWS.
"""
from __future__ import annotations

import functools
import re

from moto.core.utils import utcnow
from moto.elasticache.exceptions import ElastiCacheException, InvalidParameterValueException
from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup, elasticache_backends
from moto.elasticache.responses import ElastiCacheResponse

from sandbox.fidelity import clock
from sandbox.fidelity.elasticache import _patch as patch_once
from sandbox.fidelity.elasticache_modify import InvalidReplicationGroupState, advance

_PATCHED = "_video_pipeline_fidelity_auth"
TOKEN = re.compile(r"[A-Za-z0-9!&#$^<>\-]{16,128}")
STRATEGIES = ("ROTATE", "SET", "DELETE")


class InvalidParameterCombination(ElastiCacheException):
    code = "InvalidParameterCombination"

    def __init__(self, message: str):
        super().__init__(message)


def accepted_tokens(group_id: str, account: str = "123456789012", region: str = "us-east-1") -> list[str]:
    """The tokens the group accepts now, oldest first (tests only)."""
    group = elasticache_backends[account][region].replication_groups[group_id]
    advance(group)
    return list(getattr(group, "_fidelity_auth_tokens", []))


def _change_tokens(group: ReplicationGroup, token: str, strategy: str) -> None:
    if clock.controlled() and group.status != "available":
        raise InvalidReplicationGroupState(group.replication_group_id, group.status)
    tokens = list(getattr(group, "_fidelity_auth_tokens", []))
    rotated = getattr(group, "_fidelity_last_rotated", None)
    if strategy == "SET" and token != rotated:
        raise InvalidParameterValueException("The AUTH token for SET must be the same value as the last AUTH token rotated.")
    status = "ROTATING" if strategy == "ROTATE" else "SETTING"

    def apply() -> None:
        if strategy == "ROTATE":
            group._fidelity_auth_tokens = [*tokens, token][-2:]
            group._fidelity_last_rotated = token
        else:
            group._fidelity_auth_tokens = [token]
        group.auth_token_enabled = True
        group.auth_token_last_modified_date = utcnow()
        group.pending_modified_values = {}

    if not clock.controlled():
        apply()
        return
    group.status = "modifying"
    group.pending_modified_values = {"AuthTokenStatus": status}
    group._fidelity_change = {"started": clock.now(), "apply": apply}


def _modify_replication_group_response(original):
    @functools.wraps(original)
    def modify_replication_group(self: ElastiCacheResponse):
        token, strategy = self._get_param("AuthToken"), self._get_param("AuthTokenUpdateStrategy")
        group = self.elasticache_backend.replication_groups.get(self._get_param("ReplicationGroupId"))
        if group is not None and (token is not None or strategy is not None):
            advance(group)
            strategy = strategy or "ROTATE"  # the API's default
            if strategy not in STRATEGIES:
                raise InvalidParameterValueException(f"AuthTokenUpdateStrategy {strategy} is not one of ROTATE, SET, DELETE.")
            if strategy == "DELETE":
                raise InvalidParameterCombination("DELETE is allowed only when moving the group to RBAC user groups.")
            if token is None:
                raise InvalidParameterValueException("AuthTokenUpdateStrategy needs AuthToken.")
            if not group.transit_encryption_enabled:
                raise InvalidParameterCombination("AUTH token modification is only allowed with in-transit encryption enabled.")
            if not TOKEN.fullmatch(token):
                # The message never repeats the token.
                raise InvalidParameterValueException("Invalid AuthToken provided.")
            _change_tokens(group, token, strategy)
        return original(self)

    return modify_replication_group


def _create_replication_group(original):
    @functools.wraps(original)
    def create_replication_group(self: ElastiCacheBackend, **kwargs):
        group = original(self, **kwargs)
        if kwargs.get("auth_token"):
            group._fidelity_auth_tokens = [kwargs["auth_token"]]
        return group

    return create_replication_group


def apply() -> None:
    patch_once(ElastiCacheResponse, "modify_replication_group", _modify_replication_group_response, marker=_PATCHED)
    patch_once(ElastiCacheBackend, "create_replication_group", _create_replication_group, marker=_PATCHED)

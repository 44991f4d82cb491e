"""ElastiCache ModifyReplicationGroup in moto 5.2.5 drops two parameters the stack sets
(docs/configuration.md, ElastiCache row; FSBP ElastiCache.1 and .2).

moto's response handler passes ModifyReplicationGroup's SnapshotRetentionLimit on, but not
SnapshotWindow nor AutoMinorVersionUpgrade: the call succeeds and nothing changes. AWS applies
both ("SnapshotWindow: The daily time range (in UTC) during which ElastiCache begins taking a
daily snapshot of the node group"; "AutoMinorVersionUpgrade: ... opt-in to the next auto minor
version upgrade campaign", ModifyReplicationGroup API reference) and DescribeReplicationGroups
reports them. This patch stores them on moto's own replication group model after moto's handler
ran, so the answer and later reads show them.
"""
from __future__ import annotations

import functools

from moto.elasticache.responses import ElastiCacheResponse

_PATCHED = "_video_pipeline_fidelity_backups"


def _modify_replication_group(original):
    @functools.wraps(original)
    def modify_replication_group(self: ElastiCacheResponse):
        answer = original(self)
        group = self.elasticache_backend.replication_groups.get(self._get_param("ReplicationGroupId"))
        if group is not None:
            window = self._get_param("SnapshotWindow")
            if window is not None:
                group.snapshot_window = window
            upgrade = self._get_bool_param("AutoMinorVersionUpgrade")
            if upgrade is not None:
                group.auto_minor_version_upgrade = upgrade
        return answer

    setattr(modify_replication_group, _PATCHED, True)
    return modify_replication_group


def apply() -> None:
    if not getattr(ElastiCacheResponse.modify_replication_group, _PATCHED, False):
        ElastiCacheResponse.modify_replication_group = _modify_replication_group(ElastiCacheResponse.modify_replication_group)

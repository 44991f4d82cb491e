"""ElastiCache in moto 5.2.5, made to follow the AWS documentation where the stack's lifecycle needs it.

Three gaps (docs/aws-behaviours.md A-16, A-18): CreateReplicationGroup ignores NumCacheClusters and lists no
member clusters; DeleteReplicationGroup leaves the group "deleting" forever; DeleteCacheSubnetGroup
is not implemented. Each patch wraps moto's own method (or adds the missing one) and keeps moto's
models and serialisation.

A delete ends at once by default. With a controlled clock and ``clock.switch(PENDING_DELETES, True)``
it takes AWS's time (B-EC-6): the group and its members read "deleting" for ``elasticache.delete``
on the layer's clock, then the group is gone. Off by default, also with a controlled clock: the
handler and end-to-end suites tear stacks down on the layer's clock and expect deletes to end.
"""
from __future__ import annotations

import functools
import inspect

from moto.elasticache.exceptions import CacheSubnetGroupNotFound, ElastiCacheException
from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup
from moto.elasticache.responses import ElastiCacheResponse
from moto.core.responses import EmptyResult

from sandbox.fidelity import clock

_PATCHED = "_video_pipeline_fidelity"
PENDING_DELETES = "pending-deletes"


class CacheSubnetGroupInUse(ElastiCacheException):
    code = "CacheSubnetGroupInUse"

    def __init__(self, name: str):
        super().__init__(f"Cache subnet group {name} is currently in use by a cache cluster.")


def _patch(cls, name: str, build, marker: str = _PATCHED) -> None:
    """Replace ``cls.name`` by ``build(original)`` once; ``marker`` names the module that did."""
    original = getattr(cls, name, None)
    if getattr(original, marker, False):
        return
    patched = build(original)
    setattr(patched, marker, True)
    setattr(cls, name, patched)


# -- (a) NumCacheClusters ---------------------------------------------------------------------

def _subnet_group_azs(backend: ElastiCacheBackend, name: str | None) -> list[str]:
    group = backend.cache_subnet_groups.get(name or "")
    # moto keeps each subnet's AZ as a string when the subnet exists in its EC2 backend.
    azs = [s.get("subnet_availability_zone") for s in (group.subnets if group else [])]
    return sorted({az for az in azs if isinstance(az, str)})


def _register_members(backend: ElastiCacheBackend, group: ReplicationGroup, security_group_ids: list[str]) -> None:
    """Each member is a cache cluster of its own, listed by DescribeCacheClusters with the
    group's node type, engine, subnet group and security groups."""
    for node_group in group.node_groups:
        for member in node_group["node_group_members"]:
            register_member(backend, group, member, security_group_ids)


def register_member(backend: ElastiCacheBackend, group: ReplicationGroup, member: dict, security_group_ids: list[str]) -> None:
    """One member as the cache cluster DescribeCacheClusters lists (also used by
    ``elasticache_modify`` for a replica added by IncreaseReplicaCount)."""
    defaults = dict.fromkeys(p for p in inspect.signature(ElastiCacheBackend.create_cache_cluster).parameters if p != "self")
    cluster = backend.create_cache_cluster(**{
        **defaults,
        "cache_cluster_id": member["cache_cluster_id"],
        "replication_group_id": group.replication_group_id,
        "preferred_availability_zone": member.get("preferred_availability_zone"),
        "cache_node_type": group.cache_node_type,
        "engine": group.engine,
        "engine_version": group.engine_version,
        "cache_subnet_group_name": group.cache_subnet_group_name,
        "security_group_ids": security_group_ids,
        "transit_encryption_enabled": group.transit_encryption_enabled,
        "port": group.port,
    })
    # moto's cache clusters never report these two (its model has no such attributes).
    cluster.security_groups = [{"SecurityGroupId": g, "Status": "active"} for g in security_group_ids]
    cluster.at_rest_encryption_enabled = group.at_rest_encryption_enabled
    cluster.auth_token_enabled = group.auth_token_enabled


def _create_replication_group(original):
    @functools.wraps(original)
    def create_replication_group(self: ElastiCacheBackend, **kwargs):
        """AWS CreateReplicationGroup, cluster mode disabled: "NumCacheClusters: The number of
        clusters this replication group initially has" (API reference; 2-6 with automatic
        failover, B-EC-2). The members are <id>-001 (primary) … <id>-00N (replicas), placed in
        PreferredCacheClusterAZs or spread over the cache subnet group's AZs, and each is a cache
        cluster listed by DescribeCacheClusters (docs/aws-behaviours.md A-16). moto only honours
        ReplicasPerNodeGroup, so NumCacheClusters is translated to it."""
        finish_deletes(self)  # an id whose delete has ended is free again
        count = kwargs.get("num_cache_clusters")
        if count and not kwargs.get("replicas_per_node_group") and kwargs.get("cluster_mode") != "enabled":
            kwargs["replicas_per_node_group"] = count - 1
            if not kwargs.get("preferred_cache_cluster_azs"):
                azs = _subnet_group_azs(self, kwargs.get("cache_subnet_group_name"))
                if azs:
                    kwargs["preferred_cache_cluster_azs"] = [azs[i % len(azs)] for i in range(count)]
        group = original(self, **kwargs)
        if group.cluster_mode != "enabled":
            _register_members(self, group, kwargs.get("security_group_ids") or [])
        return group

    return create_replication_group


# -- (b) DeleteReplicationGroup ends ------------------------------------------------------------

def _deletes_take_time() -> bool:
    return clock.controlled() and clock.switched(PENDING_DELETES)


def _remove(backend: ElastiCacheBackend, group: ReplicationGroup, members: list[str]) -> None:
    """The end of a delete: the group, its tags and the member clusters that go with it."""
    del backend.replication_groups[group.replication_group_id]
    backend.tagging_service.delete_all_tags_for_resource(group.arn)
    for member in members:
        backend.cache_clusters.pop(member, None)


def finish_deletes(backend: ElastiCacheBackend) -> None:
    """Lazily, before any call that would see them: the deletes whose time is up are done."""
    for group in list(backend.replication_groups.values()):
        deleting = getattr(group, "_fidelity_deleting", None)
        if deleting is not None and clock.elapsed(deleting["started"]) >= clock.duration("elasticache.delete"):
            _remove(backend, group, deleting["members"])


def _delete_replication_group(original):
    @functools.wraps(original)
    def delete_replication_group(self: ElastiCacheBackend, replication_group_id: str, retain_primary_cluster=None):
        """AWS DeleteReplicationGroup: the response says "deleting", and once the deletion is done
        the group is gone: DescribeReplicationGroups answers ReplicationGroupNotFoundFault and the
        id can be used again (docs/aws-behaviours.md A-18, B-EC-6; the ReplicationGroupDeleted waiter in
        botocore's waiters-2.json succeeds on that error). The end state is reached at once, as
        moto does for every other delete, unless PENDING_DELETES is on (then after
        ``elasticache.delete`` on the layer's clock, the members reading "deleting" too). The
        member clusters go with it, except the primary with RetainPrimaryCluster."""
        finish_deletes(self)
        group = self.replication_groups.get(replication_group_id)
        if getattr(group, "_fidelity_deleting", None) is not None:
            return group  # already being deleted: nothing more starts
        members = [m for g in (group.node_groups if group else []) for m in g["node_group_members"]]
        primary = next((m["cache_cluster_id"] for m in members if m.get("current_role") == "primary"), None)
        answer = original(self, replication_group_id, retain_primary_cluster)
        dropped = [m["cache_cluster_id"] for m in members
                   if not (retain_primary_cluster and m["cache_cluster_id"] == primary)]
        if not _deletes_take_time():
            _remove(self, answer, dropped)
            return answer
        answer._fidelity_deleting = {"started": clock.now(), "members": dropped}
        for member in dropped:
            if member in self.cache_clusters:
                self.cache_clusters[member].cache_cluster_status = "deleting"
        return answer

    return delete_replication_group


def _finishing_deletes(original):
    @functools.wraps(original)
    def reading(self: ElastiCacheBackend, *args, **kwargs):
        finish_deletes(self)
        return original(self, *args, **kwargs)

    return reading


# -- (c) DeleteCacheSubnetGroup -------------------------------------------------------------------

def _backend_delete_cache_subnet_group(_missing):
    def delete_cache_subnet_group(self: ElastiCacheBackend, cache_subnet_group_name: str):
        """AWS DeleteCacheSubnetGroup: deletes the group; CacheSubnetGroupNotFoundFault for an
        unknown name; CacheSubnetGroupInUse while a replication group or cache cluster uses it
        (API reference, Errors). moto 5.2.5 raises NotImplementedError (docs/aws-behaviours.md A-18)."""
        finish_deletes(self)
        group = self.cache_subnet_groups.get(cache_subnet_group_name)
        if group is None:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)
        users = [*self.replication_groups.values(), *self.cache_clusters.values()]
        if any(u.cache_subnet_group_name == cache_subnet_group_name for u in users):
            raise CacheSubnetGroupInUse(cache_subnet_group_name)
        del self.cache_subnet_groups[cache_subnet_group_name]
        self.tagging_service.delete_all_tags_for_resource(group.arn)
        return group

    return delete_cache_subnet_group


def _response_delete_cache_subnet_group(_missing):
    def delete_cache_subnet_group(self: ElastiCacheResponse):
        self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
        return EmptyResult()

    return delete_cache_subnet_group


def apply() -> None:
    _patch(ElastiCacheBackend, "create_replication_group", _create_replication_group)
    _patch(ElastiCacheBackend, "delete_replication_group", _delete_replication_group)
    _patch(ElastiCacheBackend, "describe_replication_groups", _finishing_deletes)
    _patch(ElastiCacheBackend, "describe_cache_clusters", _finishing_deletes)
    _patch(ElastiCacheBackend, "delete_cache_subnet_group", _backend_delete_cache_subnet_group)
    _patch(ElastiCacheResponse, "delete_cache_subnet_group", _response_delete_cache_subnet_group)

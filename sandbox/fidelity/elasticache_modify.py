"""ElastiCache replication group changes on the layer's clock, and the replica-count API.

Reproduces docs/aws-behaviours.md:

- A-37: IncreaseReplicaCount / DecreaseReplicaCount "are not implemented: the server answers
  with a body botocore cannot parse"; on AWS "both exist; the group goes modifying for minutes,
  one operation at a time". Cluster mode disabled: the group has one primary and
  NewReplicaCount replicas (API reference, 0-5); replicas are added as <id>-00N members and
  removed from the end, never the primary.
- C-EC-1: "Replication group changes (node type, replicas, engine) go modifying for minutes; one
  operation at a time (InvalidReplicationGroupState)". With a controlled clock a node type or
  replica change leaves the group ``modifying`` for ``elasticache.modify`` (T-1.2:
  15-25 min), then ``available`` with the change visible (on the group and its members); a
  second change meanwhile is refused. With the instant clock the change is done at once.
- C-EC-2: "Tags on a replication group are replicated to every member cluster" (ElastiCache
  user guide, "Tagging your ElastiCache resources"). Only with a controlled clock, for now: the
  orchestrator does not yet recognise member clusters as children of the group (later work), so
  the existing suite keeps seeing untagged members.
- D-EC-1: "After Increase/DecreaseReplicaCount the replication group can read ``available`` while
  a member cluster is still ``creating`` or ``deleting``; the next ModifyReplicationGroup (or an
  AUTH ROTATE) answers InvalidCacheClusterState" (hashicorp/terraform-provider-aws #50096). Off
  by default, also with a controlled clock: ``clock.switch(REPLICA_LAG, True)`` turns it on. Then
  a replica added when its group's change ends reads ``creating`` for
  ``elasticache.replica_create`` after that end, while the group reads ``available``; meanwhile
  ModifyReplicationGroup and a further replica count change answer InvalidCacheClusterState.
  Only additions are modelled: a removed replica is gone when the change ends, as before.
"""
from __future__ import annotations

import functools
from typing import Callable

from moto.elasticache.exceptions import ElastiCacheException, InvalidParameterValueException
from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup
from moto.elasticache.responses import ElastiCacheResponse

from sandbox.fidelity import clock
from sandbox.fidelity.elasticache import _patch as patch_once, register_member

_PATCHED = "_video_pipeline_fidelity_clock"
REPLICA_LAG = "replica-create-lag"


class InvalidReplicationGroupState(ElastiCacheException):
    code = "InvalidReplicationGroupState"

    def __init__(self, group_id: str, status: str):
        super().__init__(f"Replication group {group_id} must be in available state, current state is {status}.")


class InvalidCacheClusterState(ElastiCacheException):
    code = "InvalidCacheClusterState"

    def __init__(self, cluster_id: str, status: str):
        super().__init__(f"Cache cluster {cluster_id} is not in available state, current state is {status}.")


def _patch(cls, name: str, build) -> None:
    patch_once(cls, name, build, marker=_PATCHED)


def advance(group: ReplicationGroup) -> None:
    """Lazily on read: a change whose time has gone by is applied and the group is available."""
    change = getattr(group, "_fidelity_change", None)
    if change and clock.elapsed(change["started"]) >= clock.duration("elasticache.modify"):
        change["apply"]()
        group.status = "available"
        group._fidelity_change = None


def _begin(group: ReplicationGroup, apply_change: Callable[[], None]) -> None:
    """Start a change: at once with the instant clock, else ``modifying`` until its time is up."""
    if not clock.controlled():
        apply_change()
        return
    if group.status != "available":
        raise InvalidReplicationGroupState(group.replication_group_id, group.status)
    group.status = "modifying"
    group._fidelity_change = {"started": clock.now(), "apply": apply_change}


def _members(group: ReplicationGroup) -> list[dict]:
    return group.node_groups[0]["node_group_members"]


def _propagate_tags(backend: ElastiCacheBackend, group: ReplicationGroup) -> None:
    if not clock.controlled():
        return
    tags = backend.tagging_service.list_tags_for_resource(group.arn)["Tags"]
    for member in _members(group):
        cluster = backend.cache_clusters.get(member["cache_cluster_id"])
        if cluster is not None:
            backend.tagging_service.delete_all_tags_for_resource(cluster.arn)
            backend.tagging_service.tag_resource(cluster.arn, tags)


def _set_replicas(backend: ElastiCacheBackend, group: ReplicationGroup, replicas: int) -> None:
    members = _members(group)
    primary = members[0]
    security_groups = [g["SecurityGroupId"] for g in getattr(backend.cache_clusters.get(primary["cache_cluster_id"]), "security_groups", [])]
    while len(members) > replicas + 1:
        gone = members.pop()
        group.member_clusters.remove(gone["cache_cluster_id"])
        cluster = backend.cache_clusters.pop(gone["cache_cluster_id"], None)
        if cluster is not None:
            backend.tagging_service.delete_all_tags_for_resource(cluster.arn)
    azs = sorted({m.get("preferred_availability_zone") for m in members if m.get("preferred_availability_zone")})
    while len(members) < replicas + 1:
        number = len(members) + 1
        member = {**{k: v for k, v in members[-1].items() if k != "read_endpoint"},
                  "cache_cluster_id": f"{group.replication_group_id}-{number:0>3}", "current_role": "replica"}
        if azs:
            member["preferred_availability_zone"] = azs[(number - 1) % len(azs)]
        members.append(member)
        group.member_clusters.append(member["cache_cluster_id"])
        register_member(backend, group, member, security_groups)
        _still_creating(backend.cache_clusters[member["cache_cluster_id"]], group)
    _propagate_tags(backend, group)


# -- D-EC-1: a replica still creating after its group reads available ------------------------------

def _replicas_lag() -> bool:
    return clock.controlled() and clock.switched(REPLICA_LAG)


def _still_creating(cluster, group: ReplicationGroup) -> None:
    """A replica just added by the group's change: ``creating`` from the moment that change ended."""
    if not _replicas_lag():
        return
    change = getattr(group, "_fidelity_change", None)
    cluster._fidelity_replica_since = change["started"] + clock.duration("elasticache.modify") if change else clock.now()
    cluster.cache_cluster_status = "creating"


def _settle_replicas(backend: ElastiCacheBackend) -> None:
    for cluster in backend.cache_clusters.values():
        since = getattr(cluster, "_fidelity_replica_since", None)
        if since is not None and clock.elapsed(since) >= clock.duration("elasticache.replica_create"):
            cluster.cache_cluster_status = "available"
            cluster._fidelity_replica_since = None


def _refuse_while_a_member_is_busy(backend: ElastiCacheBackend, group: ReplicationGroup) -> None:
    """InvalidCacheClusterState while a member is not ``available`` (only with the switch on)."""
    if not _replicas_lag():
        return
    advance(group)
    _settle_replicas(backend)
    for member in _members(group):
        cluster = backend.cache_clusters.get(member["cache_cluster_id"])
        if cluster is not None and cluster.cache_cluster_status != "available":
            raise InvalidCacheClusterState(cluster.cache_cluster_id, cluster.cache_cluster_status)


def _modify_refused_while_a_member_is_busy(original):
    def modify_replication_group(self: ElastiCacheResponse):
        # On the response, before the AUTH token patch (elasticache_auth) starts a rotation.
        group = self.elasticache_backend.replication_groups.get(self._get_param("ReplicationGroupId"))
        if group is not None and group.cluster_mode != "enabled":
            _refuse_while_a_member_is_busy(self.elasticache_backend, group)
        return original(self)

    return modify_replication_group


def _replica_count(increase: bool):
    def build(_missing):
        def change(self: ElastiCacheBackend, replication_group_id: str, new_replica_count: int):
            group = self.describe_replication_groups(replication_group_id)[0]
            advance(group)
            _refuse_while_a_member_is_busy(self, group)
            current = len(_members(group)) - 1
            if not 0 <= new_replica_count <= 5 or (new_replica_count <= current if increase else new_replica_count >= current):
                raise InvalidParameterValueException(
                    f"NewReplicaCount {new_replica_count} must be {'greater' if increase else 'less'} than the current "
                    f"replica count {current} and between 0 and 5.")
            _begin(group, functools.partial(_set_replicas, self, group, new_replica_count))
            return group

        return change

    return build


def _replica_count_response(name: str):
    def build(_missing):
        def respond(self: ElastiCacheResponse):
            from moto.core.responses import ActionResult

            group = getattr(self.elasticache_backend, name)(self._get_param("ReplicationGroupId"), self._get_int_param("NewReplicaCount"))
            return ActionResult({"ReplicationGroup": group})

        return respond

    return build


def _modify_replication_group(original):
    def modify_replication_group(self: ElastiCacheBackend, replication_group_id: str, replication_group_description, engine,
                                 cache_node_type, *args, **kwargs):
        """A node type change takes the group through ``modifying`` (C-EC-1); the rest is
        applied as moto does."""
        group = self.replication_groups.get(replication_group_id)
        if group is None or cache_node_type is None or cache_node_type == group.cache_node_type or not clock.controlled():
            return original(self, replication_group_id, replication_group_description, engine, cache_node_type, *args, **kwargs)
        advance(group)

        def resized() -> None:
            group.cache_node_type = cache_node_type
            for member in _members(group):
                if member["cache_cluster_id"] in self.cache_clusters:
                    self.cache_clusters[member["cache_cluster_id"]].cache_node_type = cache_node_type

        _begin(group, resized)
        return original(self, replication_group_id, replication_group_description, engine, None, *args, **kwargs)

    return modify_replication_group


def _reading(original):
    @functools.wraps(original)
    def read(self: ElastiCacheBackend, *args, **kwargs):
        for group in list(self.replication_groups.values()):
            advance(group)
        _settle_replicas(self)
        return original(self, *args, **kwargs)

    return read


def _tagging(original):
    @functools.wraps(original)
    def tag(self: ElastiCacheBackend, arn: str, *args, **kwargs):
        answer = original(self, arn, *args, **kwargs)
        group = next((g for g in self.replication_groups.values() if g.arn == arn), None)
        if group is not None:
            _propagate_tags(self, group)
        return answer

    return tag


def _create_replication_group(original):
    @functools.wraps(original)
    def create_replication_group(self: ElastiCacheBackend, **kwargs):
        group = original(self, **kwargs)
        if group.cluster_mode != "enabled":
            _propagate_tags(self, group)
        return group

    return create_replication_group


def apply() -> None:
    _patch(ElastiCacheBackend, "increase_replica_count", _replica_count(increase=True))
    _patch(ElastiCacheBackend, "decrease_replica_count", _replica_count(increase=False))
    _patch(ElastiCacheResponse, "increase_replica_count", _replica_count_response("increase_replica_count"))
    _patch(ElastiCacheResponse, "decrease_replica_count", _replica_count_response("decrease_replica_count"))
    _patch(ElastiCacheBackend, "modify_replication_group", _modify_replication_group)
    _patch(ElastiCacheResponse, "modify_replication_group", _modify_refused_while_a_member_is_busy)
    _patch(ElastiCacheBackend, "describe_replication_groups", _reading)
    _patch(ElastiCacheBackend, "describe_cache_clusters", _reading)
    _patch(ElastiCacheBackend, "add_tags_to_resource", _tagging)
    _patch(ElastiCacheBackend, "remove_tags_from_resource", _tagging)
    _patch(ElastiCacheBackend, "create_replication_group", _create_replication_group)

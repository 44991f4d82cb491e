"""ElastiCache engine versions and engine upgrades of a replication group (docs/aws-behaviours.md A-45, C-EC-1,
C-EC-3).

moto 5.2.5 has no DescribeCacheEngineVersions (NotImplementedError), its ModifyReplicationGroup
drops EngineVersion and CacheParameterGroupName, and its member clusters report no
CacheParameterGroup. This module adds:

- DescribeCacheEngineVersions(Engine[, EngineVersion][, CacheParameterGroupFamily][, DefaultOnly])
  over a small table of the Redis OSS and Valkey versions ElastiCache offers for self-designed
  clusters (ElastiCache user guide "Supported engines and versions"; from Redis OSS 6 one
  version per minor, written <major>.<minor>, terraform-provider-aws#32937), each with its
  parameter group family (redis5.0, redis6.x, redis7, valkey7, valkey8).
- Every member cluster reports ``CacheParameterGroup``: the default group of its family
  (``default.redis7``) unless it was given one.
- ModifyReplicationGroup EngineVersion, on the layer's clock like a node type change (C-EC-1):
  the group goes ``modifying``, every member shows ``PendingModifiedValues.EngineVersion``
  (CacheCluster PendingModifiedValues; the group's own has no such member), and after
  ``elasticache.modify`` the group and every member report the new version, and the new
  parameter group if one was given. With the instant clock it is applied at once.
- Refused as ElastiCache refuses them, InvalidParameterCombination: a downgrade ("you can upgrade
  to a newer engine version, but you can't downgrade", user guide "Version management"; the
  message here is ours, no quoted answer was found), a version not offered ("Cannot find version
  <v> for <engine>", ours too), and a parameter group of another family than the new version's
  ("Expected a parameter group of family redis7 but found one of family redis6.x", the answer
  quoted in terraform-provider-aws#27748 and #27708). A member on a *default* group given no new
  group moves to the new family's default, as RDS does (C-RDS-5); the handler names the new
  default group itself in any case, which is what AWS accepts either way.
"""
from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.elasticache.exceptions import ElastiCacheException
from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup
from moto.elasticache.responses import ElastiCacheResponse

from sandbox.fidelity.elasticache import _patch as patch_once
from sandbox.fidelity.elasticache_modify import _begin, _members, advance

_PATCHED = "_video_pipeline_fidelity_versions"

# Engine → the versions offered, oldest first; the last of each engine is the default.
VERSIONS = {
    "redis": ("4.0.10", "5.0.6", "6.0", "6.2", "7.0", "7.1"),
    "valkey": ("7.2", "8.0", "8.1"),
}


class InvalidParameterCombination(ElastiCacheException):
    code = "InvalidParameterCombination"

    def __init__(self, message: str):
        super().__init__(message)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 99 for p in version.split("."))


def family(engine: str, version: str) -> str:
    """The parameter group family of a version (DescribeCacheEngineVersions
    CacheParameterGroupFamily): redis4.0, redis5.0, redis6.x, redis7, valkey7, valkey8."""
    major, _, rest = version.partition(".")
    if engine == "valkey" or int(major) >= 7:
        return f"{engine}{major}"
    if int(major) == 6:
        return "redis6.x"
    return f"redis{major}.{rest.split('.')[0]}"


def offered(engine: str, version: str) -> str | None:
    """The offered version ``version`` names ("7.1", "7.1.0" and "6.x" name 7.1, 7.1, 6.2), else None."""
    parts = version.split(".")
    for known in reversed(VERSIONS.get(engine, ())):
        have = known.split(".")
        if all(w in ("x", h) for w, h in zip(parts, have)) and all(p == "0" for p in parts[len(have):]):
            return known
    return None


def _describe_cache_engine_versions(self: ElastiCacheResponse) -> ActionResult:
    engine, version = self._get_param("Engine"), self._get_param("EngineVersion")
    wanted_family = self._get_param("CacheParameterGroupFamily")
    default_only = str(self._get_param("DefaultOnly") or "").lower() == "true"
    listed = []
    for name, versions in VERSIONS.items():
        for v in versions:
            if engine not in (None, name) or (version is not None and v != version):
                continue
            if wanted_family is not None and family(name, v) != wanted_family:
                continue
            if default_only and v != versions[-1]:
                continue
            listed.append({"Engine": name, "EngineVersion": v, "CacheParameterGroupFamily": family(name, v),
                           "CacheEngineDescription": "Redis OSS" if name == "redis" else "Valkey",
                           "CacheEngineVersionDescription": f"{name} version {v}"})
    return ActionResult({"CacheEngineVersions": listed})


def _clusters(backend: ElastiCacheBackend, group: ReplicationGroup) -> list[Any]:
    return [backend.cache_clusters[m["cache_cluster_id"]] for m in _members(group) if m["cache_cluster_id"] in backend.cache_clusters]


def _parameter_group(cluster: Any) -> str:
    """The member's group: the one it was given, else the default of its version's family."""
    given = getattr(cluster, "cache_parameter_group_name", None)
    if given:
        return given
    version = str(cluster.engine_version)
    return f"default.{family(cluster.engine, version)}" if offered(cluster.engine, version) else ""


def _show_parameter_groups(backend: ElastiCacheBackend) -> None:
    for cluster in backend.cache_clusters.values():
        name = _parameter_group(cluster)
        cluster.cache_parameter_group = {"CacheParameterGroupName": name, "ParameterApplyStatus": "in-sync"} if name else None


def check_upgrade(group: ReplicationGroup, clusters: list[Any], wanted: str, parameter_group: str | None) -> tuple[str, str | None]:
    """ModifyReplicationGroup's version rules (module docstring): the version to run, and the
    parameter group the members end on (None: unchanged)."""
    engine, running = group.engine, str(group.engine_version)
    target = offered(engine, wanted)
    if target is None:
        raise InvalidParameterCombination(f"Cannot find version {wanted} for {engine}")
    if _key(target) < _key(offered(engine, running) or running):
        raise InvalidParameterCombination(f"Cannot downgrade {engine} from {running} to {wanted}")
    new_family = family(engine, target)
    if parameter_group is not None:
        given = parameter_group.removeprefix("default.") if parameter_group.startswith("default.") else None
        if given is not None and given != new_family:
            raise InvalidParameterCombination(f"Expected a parameter group of family {new_family} but found one of family {given}")
        return target, parameter_group
    current = _parameter_group(clusters[0]) if clusters else ""
    if current and not current.startswith("default."):
        old_family = family(engine, offered(engine, running) or running)
        if old_family != new_family:
            raise InvalidParameterCombination(f"Expected a parameter group of family {new_family} but found one of family {old_family}")
        return target, None
    return target, f"default.{new_family}" if current else None


def _modify_replication_group(original):
    def modify_replication_group(self: ElastiCacheResponse) -> ActionResult:
        backend: ElastiCacheBackend = self.elasticache_backend
        group = backend.replication_groups.get(self._get_param("ReplicationGroupId"))
        wanted = self._get_param("EngineVersion")
        if group is None or wanted is None or wanted == group.engine_version:
            return original(self)
        advance(group)
        if getattr(group, "_fidelity_change", None) is not None:
            _begin(group, lambda: None)  # InvalidReplicationGroupState: one operation at a time (C-EC-1)
        clusters = _clusters(backend, group)
        target, parameter_group = check_upgrade(group, clusters, wanted, self._get_param("CacheParameterGroupName"))
        answer = original(self)  # the other parameters, a node type change on the clock (C-EC-1)

        def upgraded() -> None:
            group.engine_version = target
            for cluster in _clusters(backend, group):
                cluster.engine_version = target
                cluster.pending_modified_values = None
                if parameter_group is not None:
                    cluster.cache_parameter_group_name = parameter_group

        change = getattr(group, "_fidelity_change", None)
        if change is not None:
            # One call, one modification: the version goes with the node type change it came with.
            first = change["apply"]
            change["apply"] = lambda: (first(), upgraded())
        else:
            _begin(group, upgraded)
        if getattr(group, "_fidelity_change", None) is not None:
            for cluster in clusters:
                cluster.pending_modified_values = {"EngineVersion": target}
        return answer

    return modify_replication_group


def _reading(original):
    def read(self: ElastiCacheBackend, *args, **kwargs):
        found = original(self, *args, **kwargs)
        _show_parameter_groups(self)
        return found

    return read


def apply() -> None:
    patch_once(ElastiCacheResponse, "describe_cache_engine_versions", lambda _missing: _describe_cache_engine_versions,
               marker=_PATCHED)
    patch_once(ElastiCacheResponse, "modify_replication_group", _modify_replication_group, marker=_PATCHED)
    patch_once(ElastiCacheBackend, "describe_cache_clusters", _reading, marker=_PATCHED)

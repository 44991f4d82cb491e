"""ElastiCache Redis: the cache subnet group, and the replication group (primary plus replicas
across AZs, automatic failover, Multi-AZ, encryption at rest and in transit, AUTH token).

The AUTH token is read from its secret inside ``create`` and handed to CreateReplicationGroup;
it is never kept, logged, observed or returned.
"""
from __future__ import annotations

import json
import re

import dataclasses

from resources.aws.permissions import arn, key_use_through_secrets_manager, reads, service_linked_role, writes
from resources.base import (
    Change, Field, Handler, Observed, Refresh, ResourceError, Status, create_params, modify_params, not_modifiable, owned_by,
    read_attrs, read_pending, tag_dict, tag_list,
)
from resources.aws.consistency import consistency
from resources.data.rds import few, version_matches
from resources.aws.shared_reads import describe_all
from resources.data.subnet_group import SubnetGroupHandler, name_taken_is_explained

SUBNET_GROUP_NOT_FOUND = "CacheSubnetGroupNotFoundFault"
GROUP_NOT_FOUND = "ReplicationGroupNotFoundFault"

# DeleteCacheSubnetGroup answers CacheSubnetGroupInUse while the nodes of a replication group in
# it are still being deleted (minutes, B-EC-6).
SUBNET_GROUP_RELEASED = consistency(
    "cache-subnet-group-released", {"CacheSubnetGroupInUse"}, timeout=45 * 60, first_delay=5.0, max_delay=30.0
)
# One operation at a time: a modify, a replica count change or a delete while the group is
# creating or modifying answers InvalidReplicationGroupState. After a replica count change
# the group can read available while a member is still creating or deleting, and the next
# ModifyReplicationGroup (or AUTH token ROTATE) answers InvalidCacheClusterState (D-EC-1): the
# same wait.
GROUP_BUSY = consistency(
    "replication-group-busy", {"InvalidReplicationGroupState", "InvalidCacheClusterState"},
    timeout=60 * 60, first_delay=5.0, max_delay=30.0,
)

# B-EC-1: 1-40 letters, digits or hyphens, a letter first, no trailing hyphen, no "--".
GROUP_ID = re.compile(r"[A-Za-z](-?[A-Za-z0-9])*")
# B-EC-4: 16-128 printable ASCII; of the specials only ! & # $ ^ < > - are allowed.
AUTH_TOKEN = re.compile(r"[A-Za-z0-9!&#$^<>\-]{16,128}")

_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


def snapshot_window_ok(window) -> bool:
    """ElastiCache SnapshotWindow (CreateReplicationGroup API reference): hh24:mi-hh24:mi in UTC,
    at least 60 minutes; it may run past midnight."""
    found = _WINDOW.fullmatch(window) if isinstance(window, str) else None
    if not found:
        return False
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    return ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60) >= 60


# -- cache subnet group -------------------------------------------------------------------------

class CacheSubnetGroup(SubnetGroupHandler):
    # ElastiCache itself accepts a single-AZ group, but a Multi-AZ replication group needs its
    # nodes in two AZs (B-EC-2, B-EC-3): the base class checks the same rule as for RDS.
    kind = "cache_subnet_group"
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_cache_subnet_groups", "CacheSubnetGroups", "CacheSubnetGroupName", 100)
    service = "elasticache"
    noun, api, arn_key = "CacheSubnetGroup", "cache_subnet_group", "ARN"
    iam = (
        reads("elasticache:DescribeCacheSubnetGroups", arns=(arn("elasticache", "subnetgroup:*"),)),
        reads("elasticache:ListTagsForResource", arns=(arn("elasticache", "subnetgroup:{name}"),)),
        writes("elasticache:CreateCacheSubnetGroup", "elasticache:ModifyCacheSubnetGroup",
               "elasticache:DeleteCacheSubnetGroup", "elasticache:AddTagsToResource",
               "elasticache:RemoveTagsFromResource", arns=(arn("elasticache", "subnetgroup:{name}"),)),
    )
    not_found, already_exists = frozenset({SUBNET_GROUP_NOT_FOUND}), "CacheSubnetGroupAlreadyExists"
    released = SUBNET_GROUP_RELEASED

    def outputs(self, obs):
        return {"id": obs.id, "name": obs.id}


def read_auth_token(sm, secret_arn: str, *, what: str, version_id: str | None = None) -> str:
    """The token from the secret's JSON key ``auth_token`` (AWSCURRENT, or one version during a
    rotation). Messages name the secret and version, never the value."""
    answer = sm.get_secret_value(SecretId=secret_arn, **({"VersionId": version_id} if version_id else {}))
    try:
        token = json.loads(answer.get("SecretString") or "")["auth_token"]
    except (ValueError, KeyError, TypeError):
        raise ResourceError(f"{what} is not a JSON document with an auth_token key") from None
    if not isinstance(token, str) or not AUTH_TOKEN.fullmatch(token):
        raise ResourceError(f"{what} does not hold 16-128 letters, digits or ! & # $ ^ < > -")  # B-EC-4
    return token


# -- replication group --------------------------------------------------------------------------

def status_of(group: dict) -> Refresh:
    status = group["Status"]
    if status == "available":
        return Refresh(Status.READY, status)
    if status == "create-failed":
        return Refresh(Status.FAILED, status)
    if status == "deleting":
        return Refresh(Status.DELETING, status)
    # creating, modifying, snapshotting
    return Refresh(Status.PENDING, status)


def transit_encryption_supported(engine: str, version: str) -> bool:
    """B-EC-5: Redis OSS 3.2.6, or 4.0.10 and later; Valkey 7.2 and later."""
    parts = [int(p) if p.isdigit() else 99 for p in version.split(".")]  # "6.x": any 6
    parts += [0] * (3 - len(parts))
    if engine == "valkey":
        return parts[:2] >= [7, 2]
    return parts[:3] == [3, 2, 6] or parts[:3] >= [4, 0, 10]


def primary_endpoint(group: dict) -> dict:
    node_groups = group.get("NodeGroups") or [{}]
    return node_groups[0].get("PrimaryEndpoint") or {}


def replica_calls(diff) -> dict:
    """``modify`` of num_cache_clusters: changed in place, by IncreaseReplicaCount or
    DecreaseReplicaCount (update_fields), never by a ModifyReplicationGroup parameter."""
    return {}


def offered_version(versions: list[dict], version: str) -> dict | None:
    """The DescribeCacheEngineVersions item ``version`` names: "7.1" and "7.1.0" name 7.1, "6.x"
    the newest 6; None when ElastiCache offers no such version."""
    named = [v for v in versions if version_matches(version, v["EngineVersion"]) or version_matches(v["EngineVersion"], version)]
    return max(named, key=lambda v: [int(p) if p.isdigit() else 0 for p in v["EngineVersion"].split(".")], default=None)


def not_older(desired: str, observed: str) -> bool:
    """Compared at the precision of the spec: "7.2" is not older than "7.1.0", "6.x" is."""
    def key(v: str) -> list[int]:
        return [int(p) if p.isdigit() else 99 for p in v.split(".")]

    return key(desired) >= key(observed)[: len(desired.split("."))]


class ReplicationGroup(Handler):
    kind = "replication_group"
    iam = (
        # Listings of the account's groups and clusters (one call for every environment under drift --all).
        reads("elasticache:DescribeReplicationGroups", "elasticache:DescribeCacheClusters",
              arns=(arn("elasticache", "replicationgroup:*"), arn("elasticache", "cluster:*"))),
        reads("elasticache:DescribeCacheEngineVersions"),
        reads("elasticache:ListTagsForResource", arns=(arn("elasticache", "replicationgroup:{name}"),)),
        # A group's member clusters are named after it ({name}-001, ...).
        writes("elasticache:ModifyReplicationGroup",
               "elasticache:IncreaseReplicaCount", "elasticache:DecreaseReplicaCount",
               "elasticache:DeleteReplicationGroup", "elasticache:AddTagsToResource",
               "elasticache:RemoveTagsFromResource",
               arns=(arn("elasticache", "replicationgroup:{name}"), arn("elasticache", "cluster:{name}-*"))),
        # The create names its subnet group and takes the engine's default parameter group.
        writes("elasticache:CreateReplicationGroup", arns=(
            arn("elasticache", "replicationgroup:{name}"), arn("elasticache", "cluster:{name}-*"),
            arn("elasticache", "subnetgroup:redis-subnet-group-{env}"), arn("elasticache", "parametergroup:default.redis*"))),
        service_linked_role("elasticache.amazonaws.com", "CreateReplicationGroup in a fresh account"),
        # The AUTH token is read from the environment's secret to create the group and to rotate it.
        writes("secretsmanager:GetSecretValue", arns=(arn("secretsmanager", "secret:redis-auth-{env}-??????"),)),
        key_use_through_secrets_manager("GetSecretValue of the AUTH token"),
    )
    # bin/drift --all: one listing for every environment (base.Handler.account_listing).
    account_listing = ("describe_replication_groups", "ReplicationGroups", "ReplicationGroupId", 100)
    service = "elasticache"
    expected_seconds = 480  # T-4.2
    expected_delete_seconds = 390  # 5-8 min (est.), T-1.3
    create_timeout = 60 * 60  # Terraform's default
    delete_timeout = 45 * 60
    poll_ceiling = 20
    not_found = frozenset({GROUP_NOT_FOUND})
    stateful = "every cached key"
    update_timeout = 60 * 60
    # Each field's AWS names, once (base.Field): ``aws`` the key of the described group, or of its
    # first member under "member" (observe); ``pending`` the member's PendingModifiedValues key;
    # ``modify`` the ModifyReplicationGroup parameter, ``create`` the CreateReplicationGroup one;
    # True: the same name as ``aws``.
    fields = {
        "description": Field(str, aws="Description", modify="ReplicationGroupDescription", create="ReplicationGroupDescription"),
        # Redis OSS to Valkey is a one-way upgrade of its own, not a drift to fix.
        "engine": Field(str, Change.REPLACE, why="another engine is a one-way upgrade of its own",
                        aws=lambda g: g.get("Engine") or g["member"].get("Engine"), create="Engine"),
        # Downgrades and versions ElastiCache does not offer are refused; an upgrade is a
        # failover (classify, C-EC-1, C-EC-3).
        "engine_version": Field(str, matches=version_matches, aws="member.EngineVersion",
                                pending="EngineVersion", modify="EngineVersion", create="EngineVersion"),
        # C-EC-1: each node is replaced in turn, the primary by a failover.
        "node_type": Field(str, Change.DOWNTIME, why="nodes are replaced one by one, the primary by a failover",
                           aws="CacheNodeType", pending=True, modify=True, create=True),
        "num_cache_clusters": Field(int, aws=lambda g: len(g.get("MemberClusters", [])), modify=replica_calls,
                                    create="NumCacheClusters"),
        "automatic_failover": Field(bool, aws=lambda g: g.get("AutomaticFailover") in ("enabled", "enabling"),
                                    modify="AutomaticFailoverEnabled", create="AutomaticFailoverEnabled"),
        "multi_az": Field(bool, aws=lambda g: g.get("MultiAZ") == "enabled", modify="MultiAZEnabled", create="MultiAZEnabled"),
        # Set at creation only: no ModifyReplicationGroup parameter for them.
        "at_rest_encryption": Field(bool, Change.REPLACE, why="set at creation only",
                                    aws="AtRestEncryptionEnabled", absent=False, create=True),
        # Turning it on in place is a two-step migration (TransitEncryptionMode preferred, every
        # client on TLS, then required); off would drop the AUTH token (B-EC-4).
        "transit_encryption": Field(bool, Change.REPLACE, why="an in-place switch needs every client migrated first",
                                    aws="TransitEncryptionEnabled", absent=False, create=True),
        "port": Field(int, Change.REPLACE, why="set at creation only", aws=lambda g: primary_endpoint(g).get("Port"),
                      create="Port"),
        # Read from its secret by create, handed to AWS as AuthToken, never observed.
        "auth_token_secret_arn": Field((str, type(None)), create_only=True),
        "subnet_group": Field(str, Change.REPLACE, why="set at creation only", aws="member.CacheSubnetGroupName",
                              create="CacheSubnetGroupName"),
        "security_group_ids": Field(list, aws=lambda g: sorted(sg["SecurityGroupId"] for sg in g["member"].get("SecurityGroups", [])),
                                    modify="SecurityGroupIds", create="SecurityGroupIds"),
        # FSBP ElastiCache.1: daily automatic backups kept this many days (0 is off), taken in
        # this window (UTC); both ModifyReplicationGroup, in place.
        "snapshot_retention_days": Field(int, aws="SnapshotRetentionLimit", absent=0, modify=True, create=True),
        "snapshot_window": Field(str, aws="SnapshotWindow", modify=True, create=True),
        # FSBP ElastiCache.2: minor engine upgrades in the maintenance window.
        "auto_minor_version_upgrade": Field(bool, aws="AutoMinorVersionUpgrade", absent=False, modify=True, create=True),
    }

    def validate(self, spec):
        name, problems = spec["name"], []
        if not 0 <= spec["snapshot_retention_days"] <= 35:
            problems.append("snapshot_retention_days: 0 to 35 (CreateReplicationGroup SnapshotRetentionLimit)")
        if not snapshot_window_ok(spec["snapshot_window"]):
            problems.append("snapshot_window: hh24:mi-hh24:mi in UTC, at least 60 minutes (CreateReplicationGroup SnapshotWindow)")
        if not (GROUP_ID.fullmatch(name) and len(name) <= 40):
            problems.append("ids are 1-40 letters, digits and single hyphens, a letter first")  # B-EC-1
        n = spec["num_cache_clusters"]
        # B-EC-2
        if not 1 <= n <= 6:
            problems.append(f"num_cache_clusters = {n}; a group has 1 primary and up to 5 replicas")
        if spec["automatic_failover"] and n < 2:
            problems.append(f"automatic failover needs at least 2 cache clusters, got {n}")
        if spec["multi_az"] and not spec["automatic_failover"]:
            problems.append("Multi-AZ requires automatic failover")  # B-EC-3
        if spec.get("auth_token_secret_arn") is not None and not spec["transit_encryption"]:
            problems.append("an AUTH token is only accepted with in-transit encryption")  # B-EC-4
        if spec["transit_encryption"] and not transit_encryption_supported(spec["engine"], spec["engine_version"]):
            problems.append(  # B-EC-5
                f"in-transit encryption needs Redis OSS 4.0.10 or later (or Valkey 7.2), "
                f"not {spec['engine']} {spec['engine_version']}"
            )
        return problems

    def desired(self, spec):
        return {**spec, "security_group_ids": sorted(spec["security_group_ids"], key=str)}

    def classify(self, diff, obs):
        diff = super().classify(diff, obs)
        if diff.field == "engine_version":
            return self._classify_version(diff, obs)
        return diff

    def _classify_version(self, diff, obs):
        """C-EC-3: an upgrade to a version ElastiCache offers, refused otherwise before any call.
        Asked of ElastiCache only here, when the versions differ (a no-op run never reads it)."""
        running, wanted = obs.attrs["engine_version"], diff.expected
        if not not_older(wanted, running):
            return dataclasses.replace(diff, change=Change.IMPOSSIBLE,
                                       why=f"ElastiCache engines cannot be downgraded ({running} to {wanted})")
        engine = obs.attrs.get("engine") or "redis"
        versions = self.engine_versions(engine)
        target = offered_version(versions, wanted)
        if target is None:
            newer = [v["EngineVersion"] for v in versions
                     if not_older(v["EngineVersion"], running) and not version_matches(v["EngineVersion"], running)]
            return dataclasses.replace(diff, change=Change.IMPOSSIBLE, why=(  # C-EC-3
                f"ElastiCache offers no {engine} {wanted}; newer versions offered: {few(newer)} "
                f"(DescribeCacheEngineVersions)"))
        group = obs.attrs.get("parameter_group") or ""
        now = offered_version(versions, running)
        family_changes = now is None or now["CacheParameterGroupFamily"] != target["CacheParameterGroupFamily"]
        if family_changes and group and not group.startswith("default."):
            return dataclasses.replace(diff, change=Change.IMPOSSIBLE, why=(  # C-EC-3
                f"the group uses the custom parameter group {group}; {engine} {wanted} needs one of family "
                f"{target['CacheParameterGroupFamily']}, which this stack does not manage"))
        moved = f"; the nodes move to default.{target['CacheParameterGroupFamily']}" if family_changes and group else ""
        return dataclasses.replace(diff, change=Change.DOWNTIME, why=(  # C-EC-1, C-EC-3
            f"an engine upgrade to {engine} {wanted}: nodes are upgraded one by one, the primary by a failover "
            f"(seconds of write errors){moved}"))

    def engine_versions(self, engine: str) -> list[dict]:
        """The versions of ``engine`` ElastiCache offers (DescribeCacheEngineVersions, paginated)."""
        pages = self.client.get_paginator("describe_cache_engine_versions").paginate(Engine=engine)
        return [v for page in pages for v in page["CacheEngineVersions"]]

    def describe(self, resource_id):
        found = self.client.describe_replication_groups(ReplicationGroupId=resource_id)["ReplicationGroups"]
        return found[0] if found else None

    def observe(self, group: dict, member: dict | None = None) -> Observed:
        # The group itself does not report engine version, security groups nor subnet group;
        # its members do, and they are all alike: read the first one (one call).
        member = self._member(group) if member is None else member
        # "member" is no key of a replication group (AWS's are capitalised): the fields read it there.
        attrs = read_attrs(self.fields, {**group, "member": member})
        # Not a spec key (the stack keeps ElastiCache's default groups): what an engine upgrade
        # across parameter group families must name (classify, update_fields, C-EC-3).
        attrs["parameter_group"] = (member.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
        tags = self.tags_for(group["ARN"], lambda: tag_dict(self.client.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]))
        # A change accepted but not applied yet (C-EC-1) is what the group is converging to; an
        # empty value is none.
        waiting = {k: v for k, v in (member.get("PendingModifiedValues") or {}).items() if v}
        return Observed(group["ReplicationGroupId"], attrs, tags, group, read_pending(self.fields, waiting))

    def observe_listed_item(self, raw, items, across):
        # bin/drift --all: every environment's first member from one DescribeCacheClusters of the
        # account (100 a page, its largest); one not listed (replaced meanwhile) is read alone.
        members = raw.get("MemberClusters") or []
        clusters = across.once(("elasticache", "describe_cache_clusters"),
                               lambda: describe_all(self.client, "describe_cache_clusters", "CacheClusters", 100))
        member = next((c for c in clusters if members and c["CacheClusterId"] == members[0]), None)
        return self.observe(raw, member)

    def _member(self, group: dict) -> dict:
        members = group.get("MemberClusters") or []
        if not members:
            return {}
        try:
            found = self.client.describe_cache_clusters(CacheClusterId=members[0])["CacheClusters"]
        except self.client.exceptions.CacheClusterNotFoundFault:
            return {}  # a member being replaced (C-EC-1); the next read sees its successor
        return found[0] if found else {}

    def list_owned(self, spec):
        # Group ids are unique per account and region, stored lower-case (B-EC-1).
        obs = self.read(spec["name"].lower())
        return [obs] if obs and owned_by(obs.tags, spec) else []

    def create(self, spec, token):
        # CreateReplicationGroup has no idempotency token (docs/aws-behaviours.md B-TOKEN-1): find-by-id first.
        arguments = dict(ReplicationGroupId=spec["name"], **create_params(self.fields, spec), Tags=tag_list(spec["tags"]))
        with name_taken_is_explained(self.kind, spec["name"], {"ReplicationGroupAlreadyExists"}):
            if spec.get("auth_token_secret_arn") is None:
                group = self.client.create_replication_group(**arguments)
            else:
                group = self.client.create_replication_group(
                    **arguments, AuthToken=self._auth_token(spec["name"], spec["auth_token_secret_arn"])
                )
        return group["ReplicationGroup"]["ReplicationGroupId"]

    def _auth_token(self, name: str, secret_arn: str) -> str:
        return read_auth_token(self.aws.client("secretsmanager"), secret_arn, what=f"{self.kind} {name}: the AUTH token secret {secret_arn}")

    def update_fields(self, spec, obs, diffs):
        fixed = not_modifiable(self.fields, diffs)
        if fixed:
            super().update_fields(spec, obs, fixed)
        changes = modify_params(self.fields, diffs)
        version = next((d for d in diffs if d.field == "engine_version"), None)
        if version is not None:
            changes.update(self._parameter_group_for(obs, version.expected))
        count = next((d for d in diffs if d.field == "num_cache_clusters"), None)
        # More nodes first, so failover and Multi-AZ always have the nodes they need (B-EC-2);
        # fewer nodes last, after failover was turned off if the new count needs that.
        if count and count.expected > count.actual:
            self._replicas(self.client.increase_replica_count, obs.id, count.expected)
        if changes:
            GROUP_BUSY.call(
                self.clock, self.client.modify_replication_group,
                ReplicationGroupId=obs.id, ApplyImmediately=True, **changes,
            )
        if count and count.expected < count.actual:
            self._replicas(self.client.decrease_replica_count, obs.id, count.expected)

    def _parameter_group_for(self, obs: Observed, wanted: str) -> dict:
        """An upgrade across parameter group families names the new family's default group
        (AWS answers InvalidParameterCombination "Expected a parameter group of family redis7 but
        found one of family redis6.x" to a group of the old family, C-EC-3); within a family,
        nothing. A custom group was refused by classify."""
        group = obs.attrs.get("parameter_group") or ""
        if not group.startswith("default."):
            return {}
        versions = self.engine_versions(obs.attrs.get("engine") or "redis")
        target, now = offered_version(versions, wanted), offered_version(versions, obs.attrs["engine_version"])
        if target is None or (now is not None and now["CacheParameterGroupFamily"] == target["CacheParameterGroupFamily"]):
            return {}
        return {"CacheParameterGroupName": f"default.{target['CacheParameterGroupFamily']}"}

    def _replicas(self, call, group_id: str, clusters: int) -> None:
        # Cluster mode disabled: one node group, so the count is primary + NewReplicaCount.
        GROUP_BUSY.call(self.clock, call, ReplicationGroupId=group_id, NewReplicaCount=clusters - 1, ApplyImmediately=True)

    def set_tags(self, obs, tags):
        self.client.add_tags_to_resource(ResourceName=obs.raw["ARN"], Tags=tag_list(tags))

    def unset_tags(self, obs, keys):
        self.client.remove_tags_from_resource(ResourceName=obs.raw["ARN"], TagKeys=keys)

    def delete(self, obs, spec=None):
        GROUP_BUSY.call(self.clock, self.client.delete_replication_group, ReplicationGroupId=obs.id)

    def status(self, raw):
        return status_of(raw)

    def readiness(self, group):
        """Ready is the group and every member available: after a replica count change the group
        reads available while a new member is still creating (D-EC-1), and a change made then is
        refused. The members are read only once the group itself reads available."""
        state = self.status(group)
        return (self._busy_member(group) or state) if state.status is Status.READY else state

    def _busy_member(self, group: dict) -> Refresh | None:
        """Pending for the first member that is not available; None when all are."""
        for member in group.get("MemberClusters") or []:
            try:
                found = self.client.describe_cache_clusters(CacheClusterId=member)["CacheClusters"]
            except self.client.exceptions.CacheClusterNotFoundFault:
                continue  # removed by a replica count change: nothing to wait for
            status = found[0].get("CacheClusterStatus") if found else "available"
            if status != "available":
                return Refresh(Status.PENDING, f"member {member} {status}")
        return None

    def outputs(self, obs):
        out = {"id": obs.id}
        endpoint = primary_endpoint(obs.raw)
        # No endpoint while creating: dependents get an address only once it is real. A
        # modification in progress keeps the endpoint, so it stays an output then.
        if endpoint and obs.raw.get("Status") != "creating":
            out.update(address=endpoint["Address"], port=endpoint["Port"])
        return out


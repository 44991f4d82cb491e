"""ECS cluster with Container Insights; never created twice (moto resets a re-created one, A-26)."""
from __future__ import annotations

from resources.aws import ignore_codes
from resources.base import (
    Observed,
    Refresh,
    ResourceError,
    Status,
    owned_by,
)
from resources.ecs_common import (
    CLUSTER_DRAIN,
    CLUSTER_NOT_FOUND,
    EcsHandler,
    check_name,
    ecs_tag_dict,
    ecs_tags,
)


def find_cluster(ecs, name_or_arn: str) -> dict | None:
    """The cluster in any status (ACTIVE, PROVISIONING, INACTIVE, ...), or None when MISSING."""
    answer = ecs.describe_clusters(clusters=[name_or_arn], include=["SETTINGS", "TAGS"])
    return answer["clusters"][0] if answer["clusters"] else None


def cluster_status(ecs, arn: str) -> Refresh:
    cluster = find_cluster(ecs, arn)
    status = cluster["status"] if cluster else "MISSING"
    # B-ECS-4: a deleted cluster stays discoverable as INACTIVE for a while.
    if status in ("MISSING", "INACTIVE"):
        return Refresh(Status.GONE, status)
    if status == "ACTIVE":
        return Refresh(Status.READY, status)
    if status == "FAILED":
        return Refresh(Status.FAILED, cluster.get("statusReason") or status)
    return Refresh(Status.PENDING, status)


def observe_cluster(cluster: dict) -> Observed:
    settings = {s["name"]: s["value"] for s in cluster.get("settings") or []}
    attrs = {"container_insights": settings.get("containerInsights", "disabled")}
    return Observed(cluster["clusterArn"], attrs, ecs_tag_dict(cluster.get("tags")), cluster)


class Cluster(EcsHandler):
    kind = "ecs_cluster"
    expected_seconds = 1
    poll_ceiling = 2
    delete_timeout = 20 * 60  # waits for the services to drain (CLUSTER_DRAIN)

    def desired(self, spec):
        check_name("ECS cluster", spec["name"])
        return spec

    def _live(self, name_or_arn: str) -> Observed | None:
        cluster = find_cluster(self.client, name_or_arn)
        return observe_cluster(cluster) if cluster and cluster["status"] == "ACTIVE" else None

    def get(self, resource_id):
        return self._live(resource_id)

    def find_by_tags(self, spec):
        found = self._live(spec["name"])
        return [found] if found and owned_by(found.tags, spec) else []

    def create(self, spec, token):
        # CreateCluster on an existing name is not a no-op: moto resets its settings and drops
        # its tags. The reconciler only gets here when no cluster of ours exists, so an
        # ACTIVE cluster with this name belongs to someone else.
        if self._live(spec["name"]) is not None:
            raise ResourceError(f"ECS cluster {spec['name']} exists without this environment's tags; not adopting it")
        cluster = self.client.create_cluster(
            clusterName=spec["name"],
            settings=[{"name": "containerInsights", "value": spec["container_insights"]}],
            tags=ecs_tags(spec["tags"]),
        )
        return cluster["cluster"]["clusterArn"]

    def update_fields(self, spec, obs, diffs):
        for d in diffs:
            if d.field == "container_insights":
                # UpdateCluster, not UpdateClusterSettings: the latter is missing from moto
                # and UpdateCluster takes the same settings list.
                self.client.update_cluster(
                    cluster=obs.id, settings=[{"name": "containerInsights", "value": d.expected}]
                )
            else:
                super().update_fields(spec, obs, [d])

    def delete(self, obs, spec=None):
        CLUSTER_DRAIN.call(self.clock, ignore_codes, {CLUSTER_NOT_FOUND}, self.client.delete_cluster, cluster=obs.id)

    def refresh(self, resource_id):
        return cluster_status(self.client, resource_id)

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw["clusterName"]}



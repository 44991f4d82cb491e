"""ECS cluster with Container Insights; never created twice (moto resets a re-created one, A-26)."""
from __future__ import annotations

from resources.aws.permissions import reads, writes
from resources.base import Field, Observed, Refresh, ResourceError, Status, owned_by
from resources.compute.ecs_common import (
    CLUSTER_ARN,
    CLUSTER_DRAIN,
    CLUSTER_NOT_FOUND,
    EcsHandler,
    ecs_tag_dict,
    ecs_tagging,
    ecs_tags,
    name_problem,
)


def status_of(cluster: dict) -> Refresh:
    status = cluster["status"]
    if status == "ACTIVE":
        return Refresh(Status.READY, status)
    # B-ECS-4: a deleted cluster stays discoverable as INACTIVE for a while.
    if status == "INACTIVE":
        return Refresh(Status.GONE, status)
    if status == "DEPROVISIONING":
        return Refresh(Status.DELETING, status)
    if status == "FAILED":
        return Refresh(Status.FAILED, cluster.get("statusReason") or status)
    return Refresh(Status.PENDING, status)  # PROVISIONING


def observe_cluster(cluster: dict) -> Observed:
    settings = {s["name"]: s["value"] for s in cluster.get("settings") or []}
    attrs = {"container_insights": settings.get("containerInsights", "disabled")}
    return Observed(cluster["clusterArn"], attrs, ecs_tag_dict(cluster.get("tags")), cluster)


class Cluster(EcsHandler):
    kind = "ecs_cluster"
    iam = (
        reads("ecs:DescribeClusters", arns=(CLUSTER_ARN,)),
        writes("ecs:CreateCluster", "ecs:UpdateCluster", "ecs:DeleteCluster", arns=(CLUSTER_ARN,)),
        ecs_tagging(CLUSTER_ARN),
    )
    expected_seconds = 1
    poll_ceiling = 2
    delete_timeout = 20 * 60  # waits for the services to drain (CLUSTER_DRAIN)
    # DescribeClusters answers a missing cluster in ``failures`` (reason MISSING, A-26), other
    # calls with ClusterNotFoundException.
    not_found = frozenset({CLUSTER_NOT_FOUND})
    fields = {"container_insights": Field(str)}

    def validate(self, spec):
        problem = name_problem("ECS cluster", spec["name"])
        return [problem] if problem else []

    def describe(self, resource_id):
        # By name or ARN, in any status (ACTIVE, PROVISIONING, INACTIVE, ...).
        answer = self.client.describe_clusters(clusters=[resource_id], include=["SETTINGS", "TAGS"])
        return answer["clusters"][0] if answer["clusters"] else None

    # DescribeClusters takes up to 100 clusters: every environment's under bin/drift --all.
    batch_size = 100

    def describe_many(self, ids):
        answer = self.client.describe_clusters(clusters=ids, include=["SETTINGS", "TAGS"])
        return {c["clusterArn"]: c for c in answer["clusters"]}

    def observe(self, raw):
        return observe_cluster(raw)

    def status(self, raw):
        return status_of(raw)

    def list_owned(self, spec):
        # Cluster names are unique per account and region: the name is the lookup.
        found = self.read(spec["name"])
        return [found] if found and owned_by(found.tags, spec) else []

    def create(self, spec, token):
        # CreateCluster on an existing name is not a no-op: moto resets its settings and drops
        # its tags. The reconciler only gets here when no cluster of ours exists, so a
        # live cluster with this name belongs to someone else.
        if self.read(spec["name"]) is not None:
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
        CLUSTER_DRAIN.call(self.clock, self.client.delete_cluster, cluster=obs.id)

    def planned_outputs(self, spec):
        # Cluster names are unique per account and region: the ARN follows from the name.
        arn = f"arn:{self.client.meta.partition}:ecs:{self.aws.region}:{self.aws.account_id()}:cluster/{spec['name']}"
        return {"id": arn, "arn": arn, "name": spec["name"]}

    def outputs(self, obs):
        return {"id": obs.id, "arn": obs.id, "name": obs.raw["clusterName"]}

"""Compute: ECS cluster, Fargate task definitions and services, the internal NLB in front of the API."""
from __future__ import annotations

import re

from orchestrator.config import EnvConfig
from orchestrator.spec import Join, Node, Ref
from orchestrator.stack.common import spec_factory, tier_subnets
from orchestrator.stack.data import DB_PORT, REDIS_PORT
from resources.compute.ecs import Cluster, Service, TaskDefinition
from resources.compute.elbv2 import LoadBalancer, TargetGroup

EFS_VOLUME = "video-processing"
API_CONTAINER = "metadata-api"
WORKER_CONTAINER = "video-worker"


def scratch_volume(path: str) -> str:
    """The task volume mounted writable at ``path``: letters, digits, - and _ (RegisterTaskDefinition
    volume name), one per path."""
    return "scratch" + re.sub(r"[^A-Za-z0-9_-]", "-", path.rstrip("/"))


def _scratch(cfg: EnvConfig, paths: list[str]) -> tuple[list[dict], list[dict]]:
    """(volumes, mount points) for the writable paths of a container whose root file system is
    read-only (FSBP ECS.5): Fargate bind mounts on task storage, emptied with the task."""
    if not cfg.ecs_readonly_root_filesystem:
        return [], []
    return ([{"name": scratch_volume(p)} for p in paths],
            [{"sourceVolume": scratch_volume(p), "containerPath": p, "readOnly": False} for p in paths])


def _container(name: str, image: str, log_key: str, cfg: EnvConfig) -> dict:
    return {
        "name": name,
        "image": image,
        "essential": True,
        # -- issue 15, ECS row of docs/configuration.md --
        # FSBP ECS.5: the image cannot be changed at run time; writable paths are task volumes.
        "readonlyRootFilesystem": cfg.ecs_readonly_root_filesystem,
        # FSBP ECS.4: never privileged (Fargate refuses it anyway; said here so that a task
        # definition registered by hand with it is drift).
        "privileged": False,
        "environment": [
            {"name": "DB_HOST", "value": Ref("rds.instance", "address")},
            {"name": "DB_PORT", "value": str(DB_PORT)},
            {"name": "DB_NAME", "value": "videometadata"},
            {"name": "REDIS_HOST", "value": Ref("redis.replication_group", "address")},
            {"name": "REDIS_PORT", "value": str(REDIS_PORT)},
            {"name": "REDIS_TLS", "value": "true"},
        ],
        # Secrets by reference (FSBP ECS.8): ECS resolves them when the task starts; no value is
        # in the task definition, the plan or the state. The task definition handler refuses an
        # environment name that looks like a secret.
        "secrets": [
            {"name": "DB_CREDENTIALS", "valueFrom": Ref("rds.instance", "secret_arn")},
            {"name": "REDIS_AUTH_TOKEN", "valueFrom": Join(Ref("secret.redis_auth", "arn"), ":auth_token::")},
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": Ref(f"logs.{log_key}", "name"),
                "awslogs-region": Ref(f"logs.{log_key}", "region"),
                "awslogs-stream-prefix": name,
                # A log outage must not stop the application (ECS developer guide, awslogs
                # "mode"): lines wait in a bounded buffer, dropped only when it is full.
                "mode": "non-blocking",
                "max-buffer-size": cfg.ecs_log_max_buffer_size,
            },
        },
    }


def task_definition_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    api_scratch, api_mounts = _scratch(cfg, cfg.api_scratch_paths)
    worker_scratch, worker_mounts = _scratch(cfg, cfg.worker_scratch_paths)
    api = {**_container(API_CONTAINER, cfg.api_image, "api", cfg),
           "portMappings": [{"containerPort": cfg.api_port, "protocol": "tcp"}],
           "mountPoints": api_mounts}
    worker = {
        **_container(WORKER_CONTAINER, cfg.worker_image, "worker", cfg),
        "command": list(cfg.worker_command),
        "mountPoints": [{"sourceVolume": EFS_VOLUME, "containerPath": "/mnt/video-processing", "readOnly": False},
                        *worker_mounts],
    }
    common = {
        "network_mode": "awsvpc",
        "requires_compatibilities": ["FARGATE"],
        "execution_role_arn": Ref("iam.execution_role", "arn"),
        "task_role_arn": Ref("iam.task_role", "arn"),
    }
    efs_volume = {
        "name": EFS_VOLUME,
        # B-EFS-4: with an access point and IAM authorization, transit encryption must be on and
        # the root directory left to the access point.
        "efsVolumeConfiguration": {
            "fileSystemId": Ref("efs.file_system"),
            "transitEncryption": "ENABLED",
            "authorizationConfig": {"accessPointId": Ref("efs.access_point"), "iam": "ENABLED"},
        },
    }
    return [
        Node("ecs.taskdef.api", TaskDefinition, spec(
            f"metadata-api-{env}", cpu=str(cfg.api_cpu), memory=str(cfg.api_memory),
            container_definitions=[api], volumes=api_scratch, **common,
        )),
        Node("ecs.taskdef.worker", TaskDefinition, spec(
            f"video-worker-{env}", cpu=str(cfg.worker_cpu), memory=str(cfg.worker_memory),
            container_definitions=[worker], volumes=[efs_volume, *worker_scratch], **common,
        )),
    ]


def cluster_nodes(env: str, cfg: EnvConfig) -> list[Node]:

    spec = spec_factory(env, cfg)
    return [Node("ecs.cluster", Cluster, spec(f"video-processing-{env}", container_insights="enabled"))]


def load_balancer_nodes(env: str, cfg: EnvConfig, az_count: int) -> list[Node]:
    spec = spec_factory(env, cfg)
    return [
        Node("elb.target_group", TargetGroup, spec(
            f"api-tg-{env}", vpc_id=Ref("vpc"), protocol="TCP", port=cfg.api_port, target_type="ip",
            health_check={"protocol": "TCP", "interval_seconds": 30, "healthy_threshold": 3, "unhealthy_threshold": 3},
        )),
        Node("elb.nlb", LoadBalancer, spec(
            f"api-nlb-{env}", scheme="internal", type="network", subnet_ids=tier_subnets("private", az_count),
            security_group_ids=[Ref("sg.nlb")],
            listeners=[{"port": cfg.api_port, "protocol": "TCP", "target_group_arn": Ref("elb.target_group", "arn")}],
            # docs/configuration.md load balancer row.
            cross_zone=cfg.lb_cross_zone,
            deletion_protection=cfg.deletion_protection,
        )),
    ]


def service_nodes(env: str, cfg: EnvConfig, az_count: int) -> list[Node]:

    spec = spec_factory(env, cfg)
    nats = tuple(f"nat.{i}" for i in range(1, az_count + 1))

    def service(key: str, name: str, taskdef: str, desired: int, load_balancers: list, after: tuple) -> Node:
        return Node(key, Service, spec(
            name,
            cluster=Ref("ecs.cluster", "arn"),
            cluster_name=f"video-processing-{env}",  # for teardown without state
            task_definition=Ref(taskdef, "arn"),
            desired_count=desired,
            launch_type="FARGATE",
            subnet_ids=tier_subnets("private", az_count),
            security_group_ids=[Ref("sg.ecs")],
            assign_public_ip="DISABLED",
            load_balancers=load_balancers,
            circuit_breaker={"enable": True, "rollback": True},
            propagate_tags="SERVICE",
        # Tasks pull images through the NAT gateways: without the private default route a new
        # service never reaches steady state.
        ), after=after + ("rt.private.1", "rt.private.2")[:az_count])

    return [
        service("ecs.service.api", f"metadata-api-{env}", "ecs.taskdef.api", cfg.api_desired_count,
                [{"targetGroupArn": Ref("elb.target_group", "arn"), "containerName": API_CONTAINER,
                  "containerPort": cfg.api_port}],
                # A target group must belong to a load balancer before a service can use it.
                nats + ("elb.nlb",)),
        service("ecs.service.worker", f"video-worker-{env}", "ecs.taskdef.worker", cfg.worker_desired_count, [],
                nats + ("efs.mount_targets",)),
    ]

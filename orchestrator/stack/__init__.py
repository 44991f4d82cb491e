"""The stack as data (spec/stack.md): every node, its name, tags, desired spec and references.

Each part of the stack is a module of node builders; a node's dependencies are the refs in its
spec, so the graph cannot forget an edge.
"""
from __future__ import annotations

import dataclasses

from orchestrator.config import DB_LOG_TYPES, EnvConfig
from orchestrator.spec import Node, Ref
from orchestrator.stack.network import network_nodes, subnet_cidrs

OUTPUT_KEYS = ("VpcId", "EcsClusterName", "RdsEndpoint", "RedisEndpoint", "EfsFileSystemId", "ApiEndpoint", "DbSecretArn")


def stack_nodes(env: str, cfg: EnvConfig, azs: list[str]) -> list[Node]:
    from orchestrator.stack import api, compute, data, security

    n = len(azs)
    return [
        *network_nodes(env, cfg, azs),
        *security.security_group_nodes(env, cfg),
        *security.secret_nodes(env, cfg),
        *security.log_group_nodes(env, cfg),
        *security.iam_nodes(env, cfg),
        *data.rds_nodes(env, cfg, n),
        *data.redis_nodes(env, cfg, n),
        *data.efs_nodes(env, cfg, n),
        *compute.cluster_nodes(env, cfg),
        *compute.load_balancer_nodes(env, cfg, n),
        *compute.task_definition_nodes(env, cfg),
        *compute.service_nodes(env, cfg, n),
        *api.api_nodes(env, cfg),
        # issue 15, VPC / keys / logs
        *security.key_nodes(env, cfg),
        *security.flow_log_nodes(env, cfg),
        # issue 15, IAM / secrets / ECS
        *security.secret_policy_nodes(env, cfg),
    ]


def teardown_config(cfg: EnvConfig) -> EnvConfig:
    """The configuration a teardown builds the stack from: every node the stack may have made
    under any value of a key that only adds nodes. A log type dropped from db_log_exports leaves
    its export log group in place (logs are data); the group is still ours (named and tagged), so
    a teardown deletes it whatever db_log_exports says now (nothing found: one read, no call)."""
    return dataclasses.replace(cfg, db_log_exports=list(DB_LOG_TYPES))


def stack_outputs() -> dict[str, Ref]:
    """The seven outputs of spec/stack.md, each read from the node that owns it."""
    return {
        "VpcId": Ref("vpc"),
        "EcsClusterName": Ref("ecs.cluster", "name"),
        "RdsEndpoint": Ref("rds.instance", "address"),
        "RedisEndpoint": Ref("redis.replication_group", "address"),
        "EfsFileSystemId": Ref("efs.file_system"),
        "ApiEndpoint": Ref("apigw.stage", "invoke_url"),
        "DbSecretArn": Ref("rds.instance", "secret_arn"),
    }


__all__ = ["OUTPUT_KEYS", "network_nodes", "stack_nodes", "stack_outputs", "subnet_cidrs", "teardown_config"]

"""The stack as data (docs/configuration.md): every node, its name, tags, desired spec and references.

Each part of the stack is a module of node builders; a node's dependencies are the refs in its
spec, so the graph cannot forget an edge.
"""
from __future__ import annotations

import dataclasses
import functools

from orchestrator.azs import AZ_COUNT
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


# Configuration switches that add nodes to the stack; with one off, its nodes are not in it.
OPTIONAL_NODES = ("api_waf",)


def every_config(cfg: EnvConfig) -> EnvConfig:
    """``cfg`` with every optional node on and every RDS log type exported: the configuration of
    every node an earlier one may have made."""
    return dataclasses.replace(cfg, db_log_exports=list(DB_LOG_TYPES), **{k: True for k in OPTIONAL_NODES})


@functools.cache
def node_keys() -> tuple[str, ...]:
    """Every node key of the stack (what a drift rule's resource names). Keys depend neither on the
    environment's name, its settings nor its AZs (the stack always spans two), so the defaults give them all."""
    return tuple(n.key for n in stack_nodes("env", EnvConfig(), [f"az{i}" for i in range(1, AZ_COUNT + 1)]))


@functools.cache
def batched_kinds() -> dict[str, type]:
    """The handlers of the stack's kinds that describe several resources in one call
    (Handler.batch_size), by kind: what ``bin/drift --all`` asks for across environments."""
    nodes = every_node("env", EnvConfig(), [f"az{i}" for i in range(1, AZ_COUNT + 1)])
    return {n.handler.kind: n.handler for n in nodes if n.handler.batch_size}


def every_node(env: str, cfg: EnvConfig, azs: list[str]) -> list[Node]:
    """Every node an earlier configuration may have made. Teardown looks for all of them (one
    found absent costs a read, no call); a reconcile deletes what the configuration dropped,
    except what holds data (the export log group of a log type no longer exported keeps its
    logs until teardown)."""
    return stack_nodes(env, every_config(cfg), azs)


def stack_outputs() -> dict[str, Ref]:
    """The seven outputs of docs/usage.md, each read from the node that owns it."""
    return {
        "VpcId": Ref("vpc"),
        "EcsClusterName": Ref("ecs.cluster", "name"),
        "RdsEndpoint": Ref("rds.instance", "address"),
        "RedisEndpoint": Ref("redis.replication_group", "address"),
        "EfsFileSystemId": Ref("efs.file_system"),
        "ApiEndpoint": Ref("apigw.stage", "invoke_url"),
        "DbSecretArn": Ref("rds.instance", "secret_arn"),
    }


__all__ = ["OPTIONAL_NODES", "OUTPUT_KEYS", "batched_kinds", "every_config", "every_node", "network_nodes", "node_keys", "stack_nodes", "stack_outputs", "subnet_cidrs"]

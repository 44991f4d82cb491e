"""ECS: the cluster (Container Insights), Fargate task definitions (revisions), Fargate services.

The public face of ecs_cluster, ecs_task_definition and ecs_service, for the stack and the tests.
"""
from resources.compute.ecs_cluster import Cluster
from resources.compute.ecs_common import FARGATE_MEMORY, fargate_memory_choices
from resources.compute.ecs_service import Service
from resources.compute.ecs_task_definition import TaskDefinition, subset_equal

__all__ = ["Cluster", "FARGATE_MEMORY", "Service", "TaskDefinition", "fargate_memory_choices", "subset_equal"]

"""The compute family: the ECS cluster, task definitions and services, and the internal load balancer."""

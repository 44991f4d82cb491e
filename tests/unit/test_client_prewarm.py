"""The commands build every service's client ahead of the walk, off its critical path."""
from __future__ import annotations

import gc
import threading

from orchestrator.cli import STACK_SERVICES, start_up_over
from orchestrator.config import EnvConfig
from orchestrator.stack import stack_nodes
from resources.aws import Aws


def test_every_service_the_stack_calls_is_prewarmed():
    services = {n.handler.service for n in stack_nodes("dev", EnvConfig(), ["us-east-1a", "us-east-1b"])}
    # ApiKeySecret also reads API Gateway; the drift check's sweep uses the tagging API.
    assert services | {"apigateway", "resourcegroupstaggingapi"} <= set(STACK_SERVICES)


def test_prewarm_builds_the_clients_on_another_thread_in_order():
    aws = Aws("us-east-1")  # building a client makes no request: no moto needed
    built = []
    real = aws.session.create_client

    def client(service, **kwargs):
        built.append(service)
        return real(service, **kwargs)

    aws.session.create_client = client
    aws.prewarm(("ecs", "rds")).join(timeout=30)
    assert built == ["ecs", "rds"]
    assert aws.client("rds") is aws.client("rds")
    assert built == ["ecs", "rds"]  # cached: not built again


def test_prewarm_calls_then_on_its_thread_once_the_clients_are_built():
    aws = Aws("us-east-1")
    seen = []
    aws.prewarm(("ecs", "rds"), then=lambda: seen.append((threading.current_thread().name, sorted(aws._clients)))).join(30)
    assert seen == [("clients", ["ecs", "rds"])]


def test_start_up_over_turns_collection_back_on_with_start_up_s_objects_frozen():
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        start_up_over()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()
    start_up_over()  # a process that never turned it off (this one): nothing frozen
    assert gc.isenabled() and gc.get_freeze_count() == 0

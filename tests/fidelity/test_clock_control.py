"""The layer's clock over HTTP (sandbox/fidelity/control.py), in the moto server subprocess the
end-to-end tests start: a deployment driven to its rollback by POST /fidelity/clock and
POST /fidelity/fail (docs/aws-behaviours.md C-ECS-1), and moto's reset giving the instant clock back."""
from __future__ import annotations

import json
import urllib.request

import boto3
import pytest

from sandbox.fidelity import clock
from tests.fidelity.test_ecs import BREAKER_ON, REGION, describe, fargate_service

DEPLOY = clock.DURATIONS["ecs.deployment"]


def post(server, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(server.endpoint + path, data=json.dumps(body or {}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


@pytest.mark.server
def test_the_server_clock_drives_a_failing_deployment_to_its_rollback(server):
    kwargs = {"region_name": REGION, "endpoint_url": server.endpoint}
    ecs, ec2 = boto3.client("ecs", **kwargs), boto3.client("ec2", **kwargs)
    assert post(server, "/fidelity/clock", {"mode": "manual"}) == {"mode": "manual", "now": 0.0}
    _, revisions = fargate_service(ecs, ec2, desired=2, deploymentConfiguration=BREAKER_ON)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert post(server, "/fidelity/clock", {"advance": DEPLOY}) == {"mode": "manual", "now": DEPLOY}
    assert describe(ecs)["deployments"][0]["rolloutState"] == "COMPLETED"

    post(server, "/fidelity/fail", {"kind": "ecs-image", "key": "nginx:2"})
    ecs.update_service(cluster="c", service="app", taskDefinition=revisions[1])
    post(server, "/fidelity/clock", {"advance": DEPLOY})
    assert [(d["taskDefinition"], d["rolloutState"]) for d in describe(ecs)["deployments"]] == [
        (revisions[0], "IN_PROGRESS"), (revisions[1], "FAILED"), (revisions[0], "COMPLETED")]
    post(server, "/fidelity/clock", {"advance": DEPLOY})
    assert [(d["taskDefinition"], d["rolloutState"]) for d in describe(ecs)["deployments"]] == [(revisions[0], "COMPLETED")]

    # moto's reset (every end-to-end test starts with one) gives back the instant clock.
    server.reset()
    assert post(server, "/fidelity/clock") == {"mode": "instant", "now": 0.0}
    fargate_service(ecs, ec2, desired=2)
    assert describe(ecs)["deployments"][0]["rolloutState"] == "COMPLETED"


def test_the_control_answers_loopback_only():
    from sandbox.fidelity.control import handle

    answers = []
    body = handle({"REMOTE_ADDR": "10.1.2.3", "REQUEST_METHOD": "POST", "PATH_INFO": "/fidelity/reset"},
                  lambda status, headers: answers.append(status))
    assert answers == ["403 Forbidden"] and b"loopback only" in body[0]

"""A deploy the circuit breaker rolls back is a failure, through the real bin/ commands (docs/aws-behaviours.md
C-ECS-1, reproduced by the fidelity layer: sandbox/fidelity/ecs_deployments.py).

ECS answers UpdateService at once, then rolls the failing revision back to the previous one: the
service ends steady, healthy, on the old revision, and a "wait for the service to be stable" calls
that a success (terraform-provider-aws #19519). Here the engine reads the service back after the
update and compares what it asked for with what runs."""
from __future__ import annotations

import json
import urllib.request

ENV = "dev"
BROKEN_IMAGE = "public.ecr.aws/docker/library/nginx:does-not-start"


def mark_failing(server, image: str) -> None:
    body = json.dumps({"kind": "ecs-image", "key": image}).encode()
    request = urllib.request.Request(server.endpoint + "/fidelity/fail", data=body, method="POST")
    urllib.request.urlopen(request, timeout=30).read()


def test_a_rolled_back_deploy_fails_naming_the_service_and_is_never_unchanged(cli, server, reader, tmp_path):
    assert cli("reconcile", "--env", ENV).code == 0
    mark_failing(server, BROKEN_IMAGE)
    config = tmp_path / "deploy.toml"
    config.write_text(f'[defaults]\napi_image = "{BROKEN_IMAGE}"\n')

    deploy = cli("reconcile", "--env", ENV, "--config", str(config))
    assert deploy.code == 1, deploy.stdout + deploy.stderr
    assert "matches the desired state" not in deploy.stdout and "The run failed" in deploy.stdout
    first_error = next(line for line in deploy.stderr.splitlines() if line.startswith("error:"))
    assert first_error.startswith("error: ecs.service.api:") and f"metadata-api-{ENV}" in first_error, deploy.stderr
    assert "task_definition" in first_error and "did not take" in first_error
    # The running revision and the breaker's reason on the same line, AWS's account after it.
    assert f"running metadata-api-{ENV}:1" in first_error, first_error
    follow = deploy.stderr.split(first_error, 1)[1].splitlines()
    assert any(line.startswith("  event: ") for line in follow), deploy.stderr
    assert any(line.startswith("  stopped task ") for line in follow), deploy.stderr
    # AWS rolled the service back: the old revision runs, the new one was registered.
    service = reader("ecs").describe_services(cluster=f"video-processing-{ENV}", services=[f"metadata-api-{ENV}"])["services"][0]
    assert service["taskDefinition"].endswith(f"metadata-api-{ENV}:1")

    # The next run without --config continues the failed configuration: never "unchanged".
    again = cli("reconcile", "--env", ENV, "--json")
    assert again.code == 1
    assert again.json["config"]["origin"] == "pending"
    assert again.json["failed"][0]["resource"] == "ecs.service.api"
    drift = cli("drift", "--env", ENV, "--json")
    assert drift.code == 2
    assert [(d["resource"], d["attribute"]) for d in drift.json["drifted"]] == [("ecs.service.api", "task_definition")]
    # The failed run is named as what it is, not only as a field that differs.
    assert [f["resource"] for f in drift.json["failed"]] == ["ecs.service.api"]
    assert "the last reconcile failed here" in drift.json["failed"][0]["reason"]


def test_redeploy_rolls_a_service_again_on_its_revision_and_a_bad_name_is_one_line(cli, reader):
    assert cli("reconcile", "--env", ENV).code == 0
    ecs = reader("ecs")
    cluster, name = f"video-processing-{ENV}", f"video-worker-{ENV}"
    before = ecs.describe_services(cluster=cluster, services=[name])["services"][0]

    planned = cli("reconcile", "--env", ENV, "--plan", "--redeploy", name, "--json")
    assert planned.code == 2
    assert [(c["resource"], [f["field"] for f in c["changes"]]) for c in planned.json["changes"]] == [
        ("ecs.service.worker", ["deployment"])]

    done = cli("reconcile", "--env", ENV, "--redeploy", "ecs.service.worker", "--json")
    assert done.code == 0, done.stderr
    after = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    primary = next(d for d in after["deployments"] if d["status"] == "PRIMARY")
    assert primary["id"] not in {d["id"] for d in before["deployments"]}
    assert after["taskDefinition"] == before["taskDefinition"]
    assert cli("reconcile", "--env", ENV, "--json").json["changes"] == []

    bad = cli("reconcile", "--env", ENV, "--redeploy", "nginx")
    assert bad.code == 1 and "Traceback" not in bad.stderr
    assert [line for line in bad.stderr.splitlines() if line.startswith("error:")] == [
        line for line in bad.stderr.splitlines() if "--redeploy nginx: not an ECS service of this stack" in line]

"""A real SIGKILL during a day-2 change: a deploy (`bin/reconcile --config FILE` with a new API
image: RegisterTaskDefinition, then UpdateService), killed right after each of its two calls
through the fault proxy; the next plain `bin/reconcile` (no --config) deploys what the killed run
was asked for, with no second revision and nothing else changed.

The in-process twin on the fidelity clock covers every day-2 change of the kind (deploy, replica,
storage, class, engine upgrade, both replacements): tests/day2/test_kill_during_changes.py. This
one proves the same on the real commands, where the process dies for good and keeps only what it
had written to its state file.
"""
from __future__ import annotations

import json

from tests.faults.harness import ENV, ONE_STACK_IN_ACCOUNT, account_counts, killed_create, state_file

IMAGES = ("public.ecr.aws/docker/library/nginx:1.27-alpine", "public.ecr.aws/docker/library/nginx:1.26-alpine")
DEPLOY_CALLS = ("ecs RegisterTaskDefinition", "ecs UpdateService")


def api_service(reader) -> dict:
    [service] = reader("ecs").describe_services(cluster=f"video-processing-{ENV}", services=[f"metadata-api-{ENV}"])["services"]
    return service


def test_a_deploy_killed_after_each_of_its_calls_is_finished_by_the_next_plain_run(cli_direct, proxy, reader,
                                                                                    state_dir, tmp_path):
    assert cli_direct("reconcile", "--env", ENV).code == 0
    killed_at = []
    for k, image in enumerate(IMAGES, start=1):
        asked = tmp_path / f"deploy-{k}.toml"
        asked.write_text(f'[environments.{ENV}]\napi_image = "{image}"\n')
        revisions = len(reader("ecs").list_task_definitions(status="ACTIVE")["taskDefinitionArns"])
        killed_at.append(killed_create(proxy, k, state_dir, tmp_path, args=("--config", str(asked)))[1])
        where = f"k={k} (killed right after {killed_at[-1]})"
        assert json.loads(state_file(state_dir).read_text())["pending_config"]["source"].endswith(asked.name), where

        again = cli_direct("reconcile", "--env", ENV, "--json")
        assert again.code == 0, f"{where}: {again.stderr[-3000:]}"
        assert again.json["config"]["origin"] == "pending", where
        service = api_service(reader)
        task = reader("ecs").describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        assert task["containerDefinitions"][0]["image"] == image, where
        # One new revision, whichever call the kill followed: the killed run's is the one deployed.
        assert len(reader("ecs").list_task_definitions(status="ACTIVE")["taskDefinitionArns"]) == revisions + 1, where
        assert cli_direct("reconcile", "--env", ENV, "--json").json["changes"] == [], where
    assert killed_at == list(DEPLOY_CALLS), killed_at
    # Nothing else made or left: the whole account holds one stack (a family keeps its earlier
    # revisions ACTIVE on purpose, counted above).
    counts = account_counts(reader)
    assert counts.pop("task_definition") == 2 + len(IMAGES)
    assert counts == {k: n for k, n in ONE_STACK_IN_ACCOUNT.items() if k != "task_definition"}

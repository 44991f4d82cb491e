"""The team examples in examples/teams, parsed and their commands run as written against the moto
server, with the S3 state URL they name: the GitHub Actions workflow (a saved plan applied on
merge, drift on a schedule, a matrix of environments, a concurrency group per environment) and the
Kubernetes CronJob of the drift check. As the README's team section sets them up: an administrator
makes the state bucket, and every step runs as a CI principal holding only the policy
`bin/policy deployer|drift` prints for it, on a server that enforces IAM."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from tests.e2e.conftest import ROOT
from tests.e2e.test_full_stack import FULL_STACK
from tests.e2e.inventory import counts, full_inventory
from tests.e2e.test_schedule_examples import break_dns, checkout
from tests.support.commands import cache_home
from tests.support.iam_users import ci_principals

EXAMPLES = ROOT / "examples" / "teams"
ENV = "sched"  # break_dns works on this environment


@pytest.fixture
def workflow():
    return yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())


@pytest.fixture
def cronjob():
    return yaml.safe_load((EXAMPLES / "drift-cronjob.yaml").read_text())


@pytest.fixture
def runner_env(server, tmp_path):
    """What a runner has: credentials and a region from the environment, no state of its own
    (HOME is empty); the endpoint of the moto server stands for AWS."""
    # The commands' model cache is the test process's (tests/support/commands.cache_home), so
    # HOME stays empty: whatever appears there would be local state.
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": cache_home(),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": server.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}


def step(job: dict, name: str, env_name: str) -> str:
    [found] = [s for s in job["steps"] if s.get("name") == name]
    return found["run"].replace("${{ matrix.env }}", env_name).replace("bin/", f"{ROOT}/bin/")


def test_workflow_plans_applies_the_saved_plan_on_merge_and_checks_drift_on_schedule_with_s3_state(
        workflow, runner_env, cli, server, reader, tmp_path):
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads "on" as true
    assert triggers["push"]["branches"] == ["main"] and len(triggers["schedule"][0]["cron"].split()) == 5
    state_url = workflow["env"]["VIDEO_PIPELINE_STATE"]
    assert state_url.startswith("s3://")
    plan, apply, drift = workflow["jobs"]["plan"], workflow["jobs"]["apply"], workflow["jobs"]["drift"]
    assert plan["if"] == "github.event_name == 'push'" and drift["if"] == "github.event_name != 'push'"
    # The apply waits for the plan and for the environment's approval, and applies its artifact;
    # one environment's failed plan does not skip the others' applies.
    assert apply["needs"] == "plan" and apply["environment"] == "${{ matrix.env }}"
    assert apply["if"] == "${{ !cancelled() }}"
    for job in (plan, apply, drift):
        assert job["strategy"]["matrix"]["env"] == ["dev", "staging", "prod"]
        assert job["strategy"]["fail-fast"] is False
    # One concurrency group per environment for the applies, never cancelled mid-walk; the plans
    # in none (a pending plan there could be cancelled by an apply queued behind it).
    assert apply["concurrency"] == {"group": "video-pipeline-${{ matrix.env }}", "cancel-in-progress": False}
    assert "concurrency" not in plan
    assert drift["concurrency"]["group"] == "video-pipeline-drift-${{ matrix.env }}"

    # The bucket, once, as the header says; the two roles from bin/policy; then the steps as
    # written, with the workflow's env, each job as its role.
    assert cli("state", "init", state_url).code == 0
    roles = ci_principals(cli, server, reader("iam"), ENV, state_url)
    env = {**runner_env, **workflow["env"], "AWS_REGION": "us-east-1"}  # the test region wins
    checkout(tmp_path)  # the shipped config/video-pipeline.toml the step names
    role_of = {"plan": "deployer", "apply": "deployer", "drift": "drift"}
    run = lambda job, name, where: subprocess.run(  # noqa: E731
        ["bash", "-e", "-c", step(job, name, ENV)], env={**env, "HOME": str(where / "home"), **roles[role_of[name]]},
        cwd=where, capture_output=True, text=True, timeout=300)
    planned = run(plan, "plan", tmp_path)
    assert planned.returncode == 0, planned.stderr[-3000:]  # exit 2 (changes pending) is a plan to apply
    assert json.loads((tmp_path / "plan-report.json").read_text())["changes"]
    assert counts(full_inventory(reader, ENV)) != FULL_STACK  # nothing made yet
    # The artifact on another runner: the apply makes exactly the plan, with nothing local.
    applier = tmp_path / "apply-runner"
    applier.mkdir()
    (applier / "plan.json").write_bytes((tmp_path / "plan.json").read_bytes())
    applied = run(apply, "apply", applier)
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert json.loads((applier / "reconcile.json").read_text())["config"]["origin"] == "file"
    assert counts(full_inventory(reader, ENV)) == FULL_STACK
    # Re-run of the same artifact (a retried job): the state moved since, so nothing is changed.
    again = run(apply, "apply", applier)
    assert again.returncode == 1 and "stale" in again.stderr, again.stderr[-3000:]

    # Another runner (nothing local) checks drift against the shared state, without --config.
    other = tmp_path / "other-runner"
    other.mkdir()
    check = lambda: run(drift, "drift", other)  # noqa: E731
    quiet = check()
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    report = json.loads((other / "drift.json").read_text())
    assert report["in_sync"] is True and report["config"]["origin"] == "recorded"
    break_dns(reader)
    loud = check()
    assert loud.returncode == 2 and json.loads((other / "drift.json").read_text())["in_sync"] is False
    assert not (tmp_path / "home").exists() and not (other / "home").exists()  # no local state anywhere


def test_cronjob_runs_the_drift_check_with_s3_state(cronjob, runner_env, cli, server, reader, tmp_path):
    assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and len(spec["schedule"].split()) == 5
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["template"]["spec"]["restartPolicy"] == "Never"
    pod = job["template"]["spec"]
    [container] = pod["containers"]
    # Least privilege: not root, nothing gained, nothing written but /tmp, seccomp on.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert (security["allowPrivilegeEscalation"], security["readOnlyRootFilesystem"]) == (False, True)
    assert security["capabilities"] == {"drop": ["ALL"]} and security["runAsNonRoot"] is True
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # An image pinned by digest (a tag can be moved), with a comment saying to put one's own.
    assert re.fullmatch(r"[\w./-]+@sha256:[0-9a-f]{64}", container["image"]), container["image"]
    assert "Replace the digest" in (EXAMPLES / "drift-cronjob.yaml").read_text()
    env = {e["name"]: e["value"] for e in container["env"]}
    argv = container["command"]
    assert argv[:1] == ["bin/drift"] and argv[argv.index("--env") + 1] == "prod"
    argv = [str(ROOT / argv[0]), *argv[1:]]
    argv[argv.index("--env") + 1] = ENV

    assert cli("state", "init", env["VIDEO_PIPELINE_STATE"]).code == 0
    config = tmp_path / "team.toml"
    config.write_text('[defaults]\nsecret_admin_principals = ["arn:aws:iam::123456789012:role/ci"]\n')
    assert cli("reconcile", "--env", ENV, "--config", str(config),
               env={"VIDEO_PIPELINE_STATE": env["VIDEO_PIPELINE_STATE"]}).code == 0
    # The pod's service account is the drift role: only what `bin/policy drift` prints.
    drift_role = ci_principals(cli, server, reader("iam"), ENV, env["VIDEO_PIPELINE_STATE"])["drift"]
    pod_env = {**runner_env, **env, "AWS_REGION": "us-east-1", **drift_role}
    run = lambda: subprocess.run(argv, env=pod_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)  # noqa: E731
    ok = run()
    assert ok.returncode == 0 and json.loads(ok.stdout)["in_sync"] is True, ok.stderr[-3000:]
    assert json.loads(ok.stderr.splitlines()[0])["event"]  # logs as JSON lines: VIDEO_PIPELINE_LOG_FORMAT=json
    break_dns(reader)
    drifted = run()
    assert drifted.returncode == 2 and json.loads(drifted.stdout)["drifted"]

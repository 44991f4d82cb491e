"""The scheduling examples in examples/schedule run bin/drift as written and fail on drift."""
from __future__ import annotations

import configparser
import json
import os
import shlex
import subprocess

import pytest
import yaml

from tests.e2e.conftest import ROOT

EXAMPLES = ROOT / "examples" / "schedule"
ENV = "sched"


# Not the defaults: the cron and systemd examples run bin/drift without --config and must judge the environment
# against the configuration it was reconciled with (kept in its state), not cry drift forever.
CONFIG = "[defaults]\nlog_retention_days = 90\napi_desired_count = 3\n"


@pytest.fixture
def environment(cli, server, state_dir, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "video-pipeline.toml").write_text(CONFIG)
    assert cli("reconcile", "--env", ENV, "--config", str(tmp_path / "config" / "video-pipeline.toml")).code == 0
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_EC2_METADATA_DISABLED": "true", "VIDEO_PIPELINE_STATE_DIR": str(state_dir),
    }


def localise(command: str, tmp_path) -> str:
    return (command.replace("/opt/video-pipeline-infra", str(ROOT))
            .replace("/var/lib/video-pipeline-infra", str(tmp_path)).replace("/var/log", str(tmp_path)))


def break_dns(reader):
    ec2 = reader("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"vpc-{ENV}"]}])["Vpcs"][0]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": False})


def test_cron_line_keeps_the_report_and_speaks_only_on_drift(environment, reader, tmp_path):
    line = [l for l in (EXAMPLES / "drift.cron").read_text().splitlines() if l and not l.startswith("#") and "=" not in l.split()[0]][0]
    fields = line.split(None, 5)
    assert fields[:5] == ["*/30", "*", "*", "*", "*"]
    command = localise(fields[5], tmp_path).replace("--env prod", f"--env {ENV}")
    run = lambda: subprocess.run(["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=300)  # noqa: E731
    quiet = run()
    assert (quiet.returncode, quiet.stdout) == (0, "")
    assert json.loads((tmp_path / "drift-prod.json").read_text())["in_sync"] is True
    break_dns(reader)
    loud = run()
    assert "drift check exited 2" in loud.stdout
    assert json.loads((tmp_path / "drift-prod.json").read_text())["in_sync"] is False


def test_systemd_unit_runs_drift_and_fails_on_drift(environment, reader, tmp_path):
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(EXAMPLES / "video-pipeline-drift@.service")
    assert unit["Service"]["Type"] == "oneshot"
    argv = [a.replace("%i", ENV) for a in shlex.split(localise(unit["Service"]["ExecStart"], tmp_path))]
    # The example notifies syslog through logger; here a file sink shows what it was given.
    argv[argv.index("--notify-command") + 1] = f"cat > {tmp_path / 'notified.json'}"
    assert subprocess.run(argv, env=environment, capture_output=True, timeout=300).returncode == 0
    break_dns(reader)
    failed = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2
    assert json.loads(failed.stdout)["in_sync"] is False
    assert json.loads((tmp_path / "notified.json").read_text())["new"]
    # --new-only: the same drift on the next run neither fails the unit nor notifies again,
    # and the report still lists it.
    assert "--new-only" in argv
    (tmp_path / "notified.json").unlink()
    known = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=300)
    assert known.returncode == 0, known.stderr
    assert json.loads(known.stdout)["drifted"] and json.loads(known.stdout)["new"] == []
    assert not (tmp_path / "notified.json").exists()
    timer = configparser.ConfigParser(interpolation=None)
    timer.read(EXAMPLES / "video-pipeline-drift@.timer")
    assert timer["Timer"]["OnCalendar"] == "*:0/30" and timer["Install"]["WantedBy"] == "timers.target"


def test_github_workflow_step_fails_the_job_on_drift(environment, reader, tmp_path):
    workflow = yaml.safe_load((EXAMPLES / "github-drift.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads "on" as true
    assert len(triggers["schedule"][0]["cron"].split()) == 5
    job = workflow["jobs"]["drift"]
    [step] = [s for s in job["steps"] if s.get("name") == "drift"]
    command = step["run"].replace("bin/drift", str(ROOT / "bin" / "drift"))  # the checkout is ROOT
    env = {**job["env"], **environment, "DRIFT_ENV": ENV}  # the test region and endpoint win
    # The checkout (here tmp_path) holds the configuration file the step names.
    assert "--config config/video-pipeline.toml" in command
    # GitHub runs `run:` steps as `bash -e {0}`: a non-zero exit fails the job.
    ok = subprocess.run(["bash", "-e", "-c", command], env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert ok.returncode == 0 and json.loads((tmp_path / "drift.json").read_text())["in_sync"]
    break_dns(reader)
    failed = subprocess.run(["bash", "-e", "-c", command], env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert failed.returncode == 2
    assert [s for s in job["steps"] if s.get("if") == "always()"], "the report is kept even when the check fails"


def test_github_workflow_checks_every_environment_and_fails_the_job_on_drift(environment, reader, tmp_path):
    workflow = yaml.safe_load((EXAMPLES / "github-drift.yml").read_text())
    job = workflow["jobs"]["drift-all"]
    [step] = [s for s in job["steps"] if s.get("name") == "drift"]
    assert "--all" in step["run"]
    [upload] = [s for s in job["steps"] if s.get("if") == "always()"]
    assert upload["with"]["path"] == "drift-all.json"
    command = step["run"].replace("bin/drift", str(ROOT / "bin" / "drift"))
    env = {**{k: v for k, v in job["env"].items() if k != "VIDEO_PIPELINE_STATE"}, **environment}
    ok = subprocess.run(["bash", "-e", "-c", command], env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    report = json.loads((tmp_path / "drift-all.json").read_text())
    assert report["in_sync"] and [d["env"] for d in report["environments"]] == [ENV]
    break_dns(reader)
    failed = subprocess.run(["bash", "-e", "-c", command], env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert failed.returncode == 2
    assert json.loads((tmp_path / "drift-all.json").read_text())["environments"][0]["drifted"]


def test_cron_line_for_every_environment_keeps_the_report(environment, reader, tmp_path):
    [line] = [l for l in (EXAMPLES / "drift.cron").read_text().splitlines() if "--all" in l and not l.startswith("#")]
    command = localise(" ".join(line.split()[5:]), tmp_path)
    ok = subprocess.run(["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and ok.stdout == "", ok.stdout + ok.stderr
    assert json.loads((tmp_path / "drift-all.json").read_text())["in_sync"]
    break_dns(reader)
    failed = subprocess.run(["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=300)
    assert "exited 2" in failed.stdout


def test_cron_line_for_new_drift_mails_once_per_new_finding(environment, reader, tmp_path):
    [line] = [l for l in (EXAMPLES / "drift.cron").read_text().splitlines() if "--new-only" in l and not l.startswith("#")]
    assert line.split()[:5] == ["*/10", "*", "*", "*", "*"]
    command = localise(" ".join(line.split()[5:]), tmp_path).replace("--env prod", f"--env {ENV}")
    run = lambda: subprocess.run(["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=300)  # noqa: E731
    report = tmp_path / "drift-prod-new.json"
    quiet = run()
    assert (quiet.returncode, quiet.stdout) == (0, ""), quiet.stderr
    break_dns(reader)
    loud = run()
    assert "exited 2" in loud.stdout and str(report) in loud.stdout
    assert [n["attribute"] for n in json.loads(report.read_text())["new"]] == ["enable_dns_hostnames"]
    # Known since the last check: no mail, and the report still lists it.
    again = run()
    assert (again.returncode, again.stdout) == (0, ""), again.stderr
    assert json.loads(report.read_text())["drifted"] and json.loads(report.read_text())["new"] == []

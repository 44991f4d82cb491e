"""The scheduling examples in examples/schedule run bin/drift as written and fail on drift, as the
drift role would: a principal holding only what `bin/policy drift` prints, on a server that
enforces IAM."""
from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.e2e.conftest import ROOT
from tests.support.iam_users import ci_principals

EXAMPLES = ROOT / "examples" / "schedule"
ENV = "sched"


# The configuration file the examples name, as shipped (not the defaults): the cron and systemd examples
# run bin/drift without --config and must judge the environment against the configuration it was
# reconciled with (kept in its state), not cry drift forever.
CONFIG = ROOT / "config" / "video-pipeline.toml"


def checkout(tmp_path):
    """The repository's configuration file where a checkout has it (the examples' --config path)."""
    (tmp_path / "config").mkdir()
    return str(shutil.copy(CONFIG, tmp_path / "config" / "video-pipeline.toml"))


@pytest.fixture
def environment(cli, server, reader, state_dir, tmp_path):
    """The environment made by an administrator; the examples' commands run as the drift role of
    every environment of the state location (what `bin/drift --all` needs too)."""
    assert cli("reconcile", "--env", ENV, "--config", checkout(tmp_path)).code == 0
    drift_role = ci_principals(cli, server, reader("iam"), None)["drift"]
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **drift_role,
        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_EC2_METADATA_DISABLED": "true", "VIDEO_PIPELINE_STATE_DIR": str(state_dir),
    }


def localise(command: str, tmp_path, reports=None) -> str:
    """The example's paths made the test's: the repository, and its report (and state) directory."""
    return (command.replace("/opt/video-pipeline-infra", str(ROOT))
            .replace("/var/lib/video-pipeline-infra", str(reports or tmp_path)).replace("/var/log", str(tmp_path)))


def break_dns(reader):
    ec2 = reader("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"vpc-{ENV}"]}])["Vpcs"][0]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": False})


def test_cron_line_keeps_the_report_and_speaks_only_on_drift(environment, reader, tmp_path):
    line = [l for l in (EXAMPLES / "drift.cron").read_text().splitlines() if l and not l.startswith("#") and "=" not in l.split()[0]][0]
    fields = line.split(None, 5)
    assert fields[:5] == ["*/30", "*", "*", "*", "*"]
    # The report directory does not exist yet: the line makes it.
    reports = tmp_path / "var-lib" / "video-pipeline-infra"
    command = localise(fields[5], tmp_path, reports).replace("--env prod", f"--env {ENV}")
    run = lambda command=command: subprocess.run(["sh", "-c", command], env=environment, capture_output=True,  # noqa: E731
                                                 text=True, timeout=300)
    quiet = run()
    assert (quiet.returncode, quiet.stdout) == (0, ""), quiet.stderr
    assert json.loads((reports / "drift-prod.json").read_text())["in_sync"] is True
    break_dns(reader)
    loud = run()
    assert "drift check exited 2" in loud.stdout
    assert json.loads((reports / "drift-prod.json").read_text())["in_sync"] is False
    # A report directory that cannot be made is an error (1), as the legend says, not drift (2).
    (tmp_path / "not-a-directory").write_text("")
    broken = run(localise(fields[5], tmp_path, tmp_path / "not-a-directory" / "reports"))
    assert "drift check exited 1" in broken.stdout, broken.stdout + broken.stderr


def test_systemd_unit_runs_drift_and_fails_on_drift(environment, reader, state_dir, tmp_path):
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(EXAMPLES / "video-pipeline-drift@.service")
    service = unit["Service"]
    assert service["Type"] == "oneshot" and service["User"] and service["StateDirectoryMode"] == "0700"
    argv = [a.replace("%i", ENV) for a in shlex.split(localise(service["ExecStart"], tmp_path))]
    # The state is named, under the unit's StateDirectory=, never looked for in a home directory:
    # the run gets neither $VIDEO_PIPELINE_STATE_DIR nor a home with state in it.
    state = service["ExecStart"].split("--state ")[1].split()[0]
    assert f"video-pipeline-infra/{os.path.basename(state)}" in service["StateDirectory"].split()
    assert argv[argv.index("--state") + 1] == str(state_dir)
    unit_env = {**{k: v for k, v in environment.items() if k != "VIDEO_PIPELINE_STATE_DIR"},
                "HOME": str(tmp_path / "empty-home")}
    # StandardOutput= as systemd opens it: truncate: empties the file, file: writes over its start.
    mode, report = service["StandardOutput"].split(":", 1)
    assert mode == "truncate", "file: leaves the end of a longer earlier report after a shorter one"
    report = localise(report.replace("%i", ENV), tmp_path)

    def start():
        fd = os.open(report, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if mode == "truncate" else 0), 0o600)
        with os.fdopen(fd, "w") as out:
            done = subprocess.run(argv, env=unit_env, stdout=out, stderr=subprocess.PIPE, text=True, timeout=300)
        with open(report) as written:
            return done.returncode, json.load(written), done.stderr

    # The example notifies syslog through logger; here a file sink shows what it was given.
    argv[argv.index("--notify-command") + 1] = f"cat > {tmp_path / 'notified.json'}"
    assert start()[0] == 0
    break_dns(reader)
    code, failed, _ = start()
    assert code == 2 and failed["in_sync"] is False
    assert json.loads((tmp_path / "notified.json").read_text())["new"]
    # --new-only: the same drift on the next run neither fails the unit nor notifies again,
    # and the report still lists it.
    assert "--new-only" in argv
    (tmp_path / "notified.json").unlink()
    code, known, stderr = start()  # a shorter report than the last one: still one JSON document
    assert code == 0, stderr
    assert known["drifted"] and known["new"] == []
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


def test_github_workflow_checks_every_environment_and_fails_the_job_on_drift(environment, cli, server, reader, state_dir,
                                                                              tmp_path):
    workflow = yaml.safe_load((EXAMPLES / "github-drift.yml").read_text())
    job = workflow["jobs"]["drift-all"]
    [step] = [s for s in job["steps"] if s.get("name") == "drift"]
    assert "--all" in step["run"]
    [upload] = [s for s in job["steps"] if s.get("if") == "always()"]
    assert upload["with"]["path"] == "drift-all.json"
    command = step["run"].replace("bin/drift", str(ROOT / "bin" / "drift"))
    # A runner reads the team's state in S3 (the job's VIDEO_PIPELINE_STATE), as the drift role of
    # every environment of that location: the administrator moves the state there first.
    assert job["env"]["VIDEO_PIPELINE_STATE"] == "${{ vars.VIDEO_PIPELINE_STATE }}"
    shared = "s3://team-drift-state/envs"
    assert cli("state", "init", shared).code == 0
    assert cli("state", "move", "--env", ENV, "--from", str(state_dir), "--to", shared).code == 0
    role = ci_principals(cli, server, reader("iam"), None, shared)["drift"]
    local = {k: v for k, v in environment.items() if k != "VIDEO_PIPELINE_STATE_DIR"}
    env = {**job["env"], **local, **role, "VIDEO_PIPELINE_STATE": shared}
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


WORKFLOWS = sorted(ROOT.glob("examples/*/*.yml"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_workflow_actions_are_pinned_by_commit_and_installs_by_version(path):
    # A tag can be moved to other code; a commit cannot. The tag stays as a comment for people.
    uses = [line.split("uses:", 1)[1].strip() for line in path.read_text().splitlines() if "uses:" in line]
    assert uses, path
    unpinned = [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}  # v\d+(\.\d+)*", u)]
    assert unpinned == []
    installs = [s["run"] for job in yaml.safe_load(path.read_text())["jobs"].values()
                for s in job["steps"] if "pip install" in s.get("run", "")]
    assert installs and all("-c constraints.txt" in run for run in installs), installs


def test_constraints_pin_every_runtime_dependency_exactly():
    import tomllib
    from importlib.metadata import distribution

    from packaging.requirements import Requirement

    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert all(re.fullmatch(r"[a-z0-9.-]+", name) and version for name, version in pins.items()), pins
    needed = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    while needed:  # the dependencies and theirs, as installed here
        req = needed.pop()
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name]), (name, pins[name], str(req.specifier))
        needed += [r for r in map(Requirement, distribution(name).requires or [])
                   if r.marker is None or r.marker.evaluate({"extra": ""})]


def test_shipped_configuration_is_valid_for_every_environment_the_examples_name():
    from orchestrator.config import load_config

    teams = yaml.safe_load((ROOT / "examples" / "teams" / "github-actions.yml").read_text())
    envs = teams["jobs"]["plan"]["strategy"]["matrix"]["env"]
    assert "prod" in envs
    for env in envs:
        assert load_config(str(CONFIG), env).api_desired_count >= 1
    assert load_config(str(CONFIG), "prod").deletion_protection is True

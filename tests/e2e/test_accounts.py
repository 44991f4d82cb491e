"""Environments in several AWS accounts (docs/teams.md "Several accounts"), through the real bin/
commands and one moto server, which keeps one set of resources per account: `alpha` is made with
the caller's own credentials in moto's default account, `beta` in another account and region as
the role its configuration names (`role_arn`, assumed with STS). One `bin/drift --all` checks both,
each as its own principal; a change behind the tool's back in the second account is that
environment's drift. The pair is made once for the module (each create costs seconds).
"""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from state.document import StateDocument
from tests.e2e.test_state_and_input import one_error_line
from tests.support.commands import REGION, make_cli, make_reader
from tests.support.fault_proxy import FaultProxy, error_response
from tests.support.moto_server import classify

ACCOUNT_A = "123456789012"  # moto's default account: the caller's credentials
ACCOUNT_B = "222222222222"
REGION_B = "eu-west-1"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/video-pipeline-deployer"


def in_account(client, account: str):
    """``client`` with every request made in ``account``: moto's server picks the account from the
    x-moto-account-id header (moto's documentation, "Multi-Account support")."""
    client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", account))
    return client


def client_in(server, service: str, account: str, region: str):
    """The test's own client of ``service`` in ``account`` and ``region``."""
    client = boto3.client(service, region_name=region, endpoint_url=server.endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    return in_account(client, account)


@pytest.fixture(scope="module")
def pair(moto_server, cli_factory, tmp_path_factory):
    moto_server.reset()
    # The deployer role of account B, made in account B, trusting account A's principals.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:root"}}]}
    iam_b = client_in(moto_server, "iam", ACCOUNT_B, "us-east-1")
    iam_b.create_role(RoleName="video-pipeline-deployer", AssumeRolePolicyDocument=json.dumps(trust))
    config = tmp_path_factory.mktemp("accounts") / "team.toml"
    config.write_text(f'[environments.alpha]\naccount_id = "{ACCOUNT_A}"\n'
                      f'[environments.beta]\naccount_id = "{ACCOUNT_B}"\nrole_arn = "{ROLE_B}"\n')
    cli = cli_factory(moto_server)
    for env, extra in (("alpha", ()), ("beta", ("--region", REGION_B))):
        created = cli("reconcile", "--env", env, "--config", str(config), *extra)
        assert created.code == 0, created.stderr
    return cli


def environments_of(ec2) -> set[str]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:ManagedBy", "Values": ["video-pipeline-infra"]}])["Vpcs"]
    return {t["Value"] for v in vpcs for t in v.get("Tags", []) if t["Key"] == "Environment"}


def test_each_environment_is_made_in_its_own_account_and_region(pair, moto_server):
    assert environments_of(client_in(moto_server, "ec2", ACCOUNT_A, "us-east-1")) == {"alpha"}
    assert environments_of(client_in(moto_server, "ec2", ACCOUNT_B, REGION_B)) == {"beta"}
    # Nothing of beta in the caller's own account, in either region.
    assert environments_of(client_in(moto_server, "ec2", ACCOUNT_A, REGION_B)) == set()


def test_drift_all_checks_every_account_and_region_each_as_its_own_principal(pair, moto_server):
    moto_server.clear_recording()
    result = pair("drift", "--all", "--json")
    assert result.code == 0, result.stdout + result.stderr
    doc = result.json
    assert doc["in_sync"] is True and doc["errors"] == []
    seen = {d["env"]: (d["account"], d["region"], d["in_sync"]) for d in doc["environments"]}
    assert seen == {"alpha": (ACCOUNT_A, "us-east-1", True), "beta": (ACCOUNT_B, REGION_B, True)}
    calls = [c.operation for c in moto_server.calls()]
    # The role assumed once for the whole check; one sweep per account and region.
    assert calls.count("AssumeRole") == 1 and calls.count("GetResources") == 2, calls


def test_a_change_in_the_second_account_is_that_environments_drift(pair, moto_server):
    group = "/ecs/video-processing-beta/metadata-api"
    logs = client_in(moto_server, "logs", ACCOUNT_B, REGION_B)
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    result = pair("drift", "--all", "--json")
    assert result.code == 2, result.stderr
    by_env = {d["env"]: d for d in result.json["environments"]}
    assert by_env["alpha"]["in_sync"] is True
    assert [(d["id"], d["attribute"], d["actual"]) for d in by_env["beta"]["drifted"]] == [
        (group, "retention_days", 1)], by_env["beta"]["drifted"]
    # Without --config the role comes from beta's recorded configuration: the repair is made in
    # account B (and in its region, which its state records).
    repaired = pair("reconcile", "--env", "beta", "--region", REGION_B)
    assert repaired.code == 0, repaired.stderr
    [found] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert found["retentionInDays"] == 30


def test_secret_policies_are_in_sync_whoever_runs_the_check(pair, moto_server):
    # Another IAM user of account A: the secret policies never named whoever ran the reconcile.
    iam = make_reader(moto_server)("iam")
    iam.create_user(UserName="auditor")
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    as_auditor = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    result = pair("drift", "--env", "alpha", "--json", env=as_auditor)
    assert result.code == 0, result.stdout + result.stderr
    # The same user checking beta does so as beta's role, which administers its secrets.
    result = pair("drift", "--env", "beta", "--region", REGION_B, "--json", env=as_auditor)
    assert result.code == 0, result.stdout + result.stderr


def test_state_move_names_the_new_location_on_the_vpc_in_the_environments_account(pair, tmp_path):
    [entry] = [e for e in pair("state", "list", "--json").json["environments"] if e["env"] == "beta"]
    here, there = str(Path(entry["location"]).parent), str(tmp_path / "moved")
    moved = pair("state", "move", "--env", "beta", "--region", REGION_B, "--from", here, "--to", there)
    assert moved.code == 0, moved.stderr
    try:
        # The VPC (in account B, read and tagged as beta's role) names the new location: a check
        # there goes on (one at a location the VPC does not name would refuse).
        at_new = pair("drift", "--env", "beta", "--region", REGION_B, "--state", there)
        assert at_new.code == 0, at_new.stdout + at_new.stderr
    finally:
        back = pair("state", "move", "--env", "beta", "--region", REGION_B, "--from", there, "--to", here)
        assert back.code == 0, back.stderr


class RefusingAssumeRole(FaultProxy):
    """AWS's answer to credentials the role does not trust, for every AssumeRole; the rest forwarded."""

    MESSAGE = f"User: arn:aws:iam::{ACCOUNT_A}:user/ci is not authorized to perform: sts:AssumeRole on resource: {ROLE_B}"

    def _handle(self, req):
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        if classify(req.command, req.path, req.headers.items(), body).operation == "AssumeRole":
            answer = error_response("sts", 403, "AccessDenied", self.MESSAGE)
        else:
            answer = self._forward(req, body)
        self._reply(req, *answer)


def test_a_role_that_cannot_be_assumed_is_one_line_and_nothing_is_touched(quiet_server, tmp_path):
    refused = f"cannot assume role {ROLE_B}: AccessDenied: {RefusingAssumeRole.MESSAGE}; nothing was changed"
    config = tmp_path / "team.toml"
    config.write_text(f'[environments.gamma]\nrole_arn = "{ROLE_B}"\n')
    state_dir = tmp_path / "state"
    proxy = RefusingAssumeRole(quiet_server.endpoint)
    try:
        cli = make_cli(proxy, state_dir, tmp_path)
        result = cli("reconcile", "--env", "gamma", "--config", str(config))
        assert one_error_line(result) == f"error: {refused}"
        assert quiet_server.calls() == []  # not even GetCallerIdentity: the refused AssumeRole came first
        assert not state_dir.exists() or list(state_dir.iterdir()) == []

        # The role its state records, without --config: drift --env refuses alike, and drift
        # --all reports it as the environment's error, the others still checked.
        recorded = StateDocument.new("gamma", REGION)
        recorded.config = {"values": {"role_arn": ROLE_B}, "hash": "sha256:0", "source": str(config)}
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / f"gamma.{REGION}.json").write_text(recorded.to_json())
        assert one_error_line(cli("drift", "--env", "gamma")) == f"error: {refused}"
        every = cli("drift", "--all", "--json")
    finally:
        proxy.stop()
    assert every.code == 1, every.stderr
    assert every.json["errors"] == [{"env": "gamma", "region": REGION, "state": "unreadable", "error": refused}]
    assert f"error: gamma: {refused}" in every.stderr.splitlines()


def test_a_shared_state_needs_the_secrets_administrators_named(run, quiet_server, tmp_path):
    url = "s3://accounts-team-state/envs"
    assert run("bin", "state", "init", url).code == 0
    quiet_server.clear_recording()
    config = tmp_path / "team.toml"
    config.write_text("[environments.delta]\nlog_retention_days = 90\n")
    result = run("main", "reconcile", "--env", "delta", "--config", str(config), "--state", url)
    assert one_error_line(result) == (
        f"error: environment delta keeps its state at {url}, shared by a team: set secret_admin_principals (or "
        "role_arn) in its configuration, the principals that may read its secrets; nothing was changed")
    assert quiet_server.mutating_calls() == []
    # Named: the plan goes on (everything to create).
    config.write_text(f'[environments.delta]\nsecret_admin_principals = ["arn:aws:iam::{ACCOUNT_A}:role/ci"]\n')
    planned = run("main", "reconcile", "--env", "delta", "--plan", "--config", str(config), "--state", url)
    assert planned.code == 2, planned.stderr
    assert [c for c in quiet_server.mutating_calls() if c.service != "s3"] == []  # S3: the state's lock only


def test_an_environment_with_a_role_keeps_its_state_in_the_callers_bucket(run, quiet_server, tmp_path):
    # The bucket is the caller's (account A), the environment's calls are its role's (account B):
    # every state call names account A as the bucket's owner, with --config and without it.
    url = "s3://accounts-role-state/envs"
    assert run("bin", "state", "init", url).code == 0
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:root"}}]}
    iam_b = client_in(quiet_server, "iam", ACCOUNT_B, "us-east-1")
    if ROLE_B not in {r["Arn"] for r in iam_b.list_roles()["Roles"]}:  # made by the module's pair, or not yet
        iam_b.create_role(RoleName="video-pipeline-deployer", AssumeRolePolicyDocument=json.dumps(trust))
    config = tmp_path / "team.toml"
    config.write_text(f'[environments.gamma]\nrole_arn = "{ROLE_B}"\n')
    planned = run("main", "reconcile", "--env", "gamma", "--plan", "--config", str(config), "--state", url)
    assert planned.code == 2, planned.stderr

"""bin/policy against the moto server: every AWS call a lifecycle of the real bin/ commands makes
is held by the deployer policy and nothing else is in it; drift's calls by the drift policy.

One lifecycle, on a server of the module's own, with the state in S3: create, a no-op, a plan and
two day-2 changes (settings and tags, a tag dropped and the web ACL switched off), both
rotations, drift (plain, --new-only, --all) and teardown. Each command's requests are read from
the server's recording (tests/support/iam_check.py maps each to its IAM action). The server
enforces IAM, and the lifecycle runs as IAM users holding only the policies: the proof.
"""
from __future__ import annotations

import importlib
import inspect
import json
import re
from types import SimpleNamespace

import pytest

from orchestrator.policy import Target, grants_for
from tests.e2e.conftest import via_bin_for
from tests.support.commands import make_cli, make_reader
from tests.support.iam_users import enforce, user_holding
from tests.support.iam_check import ACCOUNT, REGION, needs_of_recording, operations_of, policy_actions, unheld
from tests.support.moto_server import MotoServer

ENV = "dev"
BUCKET = "video-pipeline-state"
STATE = f"s3://{BUCKET}/ci"
# The deployer administers the secrets: drift, run by another principal, then judges their
# policies against the same list (without it, each names the principal that runs the tool).
DEPLOYER_ARN = f"arn:aws:iam::{ACCOUNT}:user/ci-deployer"
BASE = f"""
[defaults]
secret_admin_principals = ["{DEPLOYER_ARN}"]
"""
DAY2 = BASE + """log_retention_days = 90
redis_node_type = "cache.t3.small"
db_instance_class = "db.t3.large"
api_throttle_rate = 50.0
api_desired_count = 3
api_cpu = 512
api_memory = 1024
lb_cross_zone = false
efs_backup = false
api_waf_rate_limit = 1000
api_log_level = "INFO"
db_log_exports = ["postgresql"]
[defaults.tags]
CostCenter = "video"
"""
# The same without the tag (UntagResource everywhere) and without the web ACL (its deletion).
DAY2_AGAIN = DAY2.replace('[defaults.tags]\nCostCenter = "video"\n', "").replace("api_waf_rate_limit = 1000", "api_waf = false")
# Reached only through a method name the handler composes (SubnetGroupHandler._call("modify")):
# no recording and no source line names them.
COMPOSED = {"rds:ModifyDBSubnetGroup", "elasticache:ModifyCacheSubnetGroup"}


def steps(base: str, config: str, config_again: str) -> list[tuple[str, tuple[str, ...], int]]:
    """(name, bin/ command line, exit code) of the lifecycle."""
    return [
        ("create", ("reconcile", "--env", ENV, "--config", base), 0),
        ("no-op", ("reconcile", "--env", ENV), 0),
        ("plan", ("reconcile", "--env", ENV, "--plan", "--config", config), 2),
        ("day-2", ("reconcile", "--env", ENV, "--config", config), 0),
        ("day-2 again", ("reconcile", "--env", ENV, "--config", config_again), 0),
        ("rotation", ("reconcile", "--env", ENV, "--rotate", f"redis-auth-{ENV}", "--rotate", f"api-keys-{ENV}"), 0),
        ("drift", ("drift", "--env", ENV), 0),
        ("drift --new-only", ("drift", "--env", ENV, "--new-only"), 0),
        ("drift --all", ("drift", "--all"), 0),
        ("teardown", ("teardown", "--env", ENV, "--yes"), 0),
    ]


def make_bucket(cli) -> None:
    """The state bucket, made once by an administrator (not the CI role): bin/state init."""
    made = cli("state", "init", STATE)
    assert made.code == 0, made.stderr


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    """The lifecycle, its requests per step, on a server that enforces IAM (the fidelity layer's
    switch): every command runs as an IAM user holding only the policy of its kind, bin/drift as
    the drift user, the others as the deployer; the drift user also tries a teardown."""
    workdir = tmp_path_factory.mktemp("policy")
    server = MotoServer(workdir)
    try:
        cli = make_cli(server, workdir / "state", workdir)
        make_bucket(cli)
        policies = {}
        for kind in ("deployer", "drift"):
            result = cli("policy", kind, "--env", ENV, "--state", STATE, "--json")
            assert result.code == 0, result.stderr
            policies[kind] = result.json["documents"]
        iam = make_reader(server)("iam")  # the default credentials act as the account's root
        users = {kind: {**user_holding(iam, f"ci-{kind}", documents), "VIDEO_PIPELINE_STATE": STATE}
                 for kind, documents in policies.items()}
        enforce(server)
        configs = {"base.toml": BASE, "day2.toml": DAY2, "day2-again.toml": DAY2_AGAIN}
        for file, text in configs.items():
            (workdir / file).write_text(text)
        needs, refused = {}, None
        for name, args, code in steps(*(str(workdir / file) for file in configs)):
            if name == "teardown":
                refused = cli(*args, env={"VIDEO_PIPELINE_STATE": STATE, **users["drift"]})
            server.clear_recording()
            who = users["drift" if args[0] == "drift" else "deployer"]
            result = cli(*args, env={"VIDEO_PIPELINE_STATE": STATE, **who})
            assert result.code == code, (name, result.stderr[-2000:])
            needs[name] = needs_of_recording(server.recording)
        yield SimpleNamespace(needs=needs, policies=policies, refused=refused)
    finally:
        server.stop()


def test_the_deployer_policy_holds_every_call_of_the_lifecycle(lifecycle):
    everything = [n for needs in lifecycle.needs.values() for n in needs]
    assert {n.action for n in everything} >= {"ec2:CreateVpc", "s3:PutObject", "s3:DeleteObject", "apigateway:PATCH"}
    assert unheld(everything, lifecycle.policies["deployer"]) == []


def test_the_deployer_policy_holds_nothing_the_tool_does_not_call(lifecycle):
    """An action of the policy is called in the lifecycle, or named by the source of the module
    that declares it (a path the lifecycle does not take: a storage growth, a key's deletion
    cancelled), or declared as one AWS checks for another call (iam:PassRole)."""
    called = {n.action for needs in lifecycle.needs.values() for n in needs}
    declared = grants_for(Target("deployer", REGION, ACCOUNT, ENV, state_bucket=BUCKET, state_prefix="ci"))
    # Checked for another call only: an action also declared as called must be called.
    implied = {a for _, g in declared if g.implied_by for a in g.actions} - {
        a for _, g in declared if not g.implied_by for a in g.actions}
    sources = {}
    for module, grant in declared:
        for action in grant.actions:
            sources.setdefault(action, set()).add(module)
    uncalled = policy_actions(lifecycle.policies["deployer"]) - called - implied - COMPOSED
    unexplained = sorted(a for a in uncalled if not any(_names(module, a) for module in sources.get(a, ())))
    assert unexplained == []
    assert policy_actions(lifecycle.policies["deployer"]) <= {a for _, g in declared for a in g.actions}


def _names(module: str, action: str) -> bool:
    """The module's source names one of the operations AWS authorizes as ``action``."""
    source = inspect.getsource(importlib.import_module(module))
    return any(re.search(rf"\b{name}\b", source) for name in operations_of(action))


def test_the_drift_policy_holds_every_call_of_drift_and_reads_no_secret(lifecycle):
    drift = [n for name in ("drift", "drift --new-only", "drift --all") for n in lifecycle.needs[name]]
    assert drift
    assert unheld(drift, lifecycle.policies["drift"]) == []
    actions = policy_actions(lifecycle.policies["drift"])
    assert "secretsmanager:GetSecretValue" not in actions
    # Reads only, and the one object drift writes: its own record beside the state (--new-only).
    writes = {a for a in actions if not a.split(":")[1].startswith(("Describe", "Get", "List", "GET"))}
    assert writes == {"s3:PutObject"}
    [put] = [s for d in lifecycle.policies["drift"] for s in d["Statement"] if "s3:PutObject" in s["Action"]]
    assert put["Resource"] == f"arn:aws:s3:::{BUCKET}/ci/{ENV}.{REGION}.drift.json"


# -- the command --------------------------------------------------------------------------------

def test_policy_prints_the_documents_as_json(run, quiet_server):
    result = run("bin", "policy", "deployer", "--env", ENV)
    assert result.code == 0, result.stderr
    docs = json.loads(result.stdout)
    docs = docs if isinstance(docs, list) else [docs]
    assert all(d["Version"] == "2012-10-17" and d["Statement"] for d in docs)
    sids = [s["Sid"] for d in docs for s in d["Statement"]]
    assert len(sids) == len(set(sids)) and all(sid.isalnum() for sid in sids)
    assert all(len(json.dumps(d, separators=(",", ":"))) <= 6144 for d in docs)
    assert (len(docs) > 1) == ("note: the policy is" in result.stderr)
    # No S3 state here: no S3 permission.
    assert not any(a.startswith("s3:") for a in policy_actions(docs))


def test_policy_json_names_what_it_is_for(run, quiet_server):
    result = run("main", "policy", "drift", "--json")
    assert result.code == 0, result.stderr
    document = result.json
    assert (document["policy"], document["env"], document["region"], document["account"]) == ("drift", None, REGION, ACCOUNT)
    assert document["actions"] == len(policy_actions(document["documents"]))
    # Every environment: names become patterns, tags the tool's own.
    text = json.dumps(document["documents"])
    assert "rds-postgresql-*" in text and '"aws:ResourceTag/Environment"' not in text


BAD = {
    "kind": (("admin",), "invalid choice: 'admin'"),
    "no kind": ((), "the following arguments are required: kind"),
    "env": (("deployer", "--env", "Dev_1"), "invalid environment name"),
    "state": (("drift", "--state", "s3://"), "is not an S3 bucket name"),
    "flag": (("deployer", "--everything"), "unrecognized arguments: --everything"),
}


@pytest.mark.parametrize("via,args,message", via_bin_for(["kind"], BAD))
def test_bad_input_is_one_line(run, quiet_server, via, args, message):
    result = run(via, "policy", *args)
    assert result.code == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert quiet_server.calls() == []


def test_no_credentials_is_one_line(run, quiet_server):
    result = run("main", "policy", "deployer", drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    assert result.code == 1 and result.stderr.strip() == (
        "error: no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


# -- the proof: IAM users holding only the policies -----------------------------------------------

def test_the_commands_run_as_users_holding_only_the_policies(lifecycle):
    """The proof on an enforcing server: the lifecycle above ran as the two users (each step's exit
    code is checked where it runs), and the drift user could not tear the environment down."""
    refused = lifecycle.refused
    assert refused.code == 1 and "Traceback" not in refused.stderr
    # Refused at its first write: the state lock (S3 names no principal in its refusal).
    assert refused.stderr == "error: AccessDenied: An error occurred (AccessDenied) when calling the PutObject operation: Access Denied\n"

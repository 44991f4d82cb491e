"""bin/policy's documents without AWS: the checker that holds them against recorded calls, the
lint (parliament), IAM's size limit, and what a declaration change does to them."""
from __future__ import annotations

import base64
import json

import pytest
from parliament import analyze_policy_string

from orchestrator.policy import MAX_POLICY_CHARS, Target, documents, statements
from resources.aws.permissions import writes
from resources.network.vpc import Vpc
from tests.support.iam_check import ACCOUNT, REGION, Need, need_of, unheld

TARGETS = {
    "deployer dev, S3 state": Target("deployer", REGION, ACCOUNT, "dev", state_bucket="state-bucket", state_prefix="ci"),
    "drift dev, S3 state": Target("drift", REGION, ACCOUNT, "dev", state_bucket="state-bucket", state_prefix="ci"),
    "deployer, every environment": Target("deployer", REGION, ACCOUNT),
    "drift, every environment, local state": Target("drift", REGION, ACCOUNT),
}


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS.keys())
def test_parliament_finds_nothing(target):
    findings = [(f.issue, f.detail) for d in documents(target) for f in analyze_policy_string(json.dumps(d)).findings]
    assert findings == []


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS.keys())
def test_each_document_is_valid_and_under_the_managed_policy_limit(target):
    docs = documents(target)
    assert all(len(json.dumps(d, separators=(",", ":"))) <= MAX_POLICY_CHARS for d in docs)
    assert all(d["Version"] == "2012-10-17" and d["Statement"] for d in docs)
    sids = [s["Sid"] for d in docs for s in d["Statement"]]
    assert len(sids) == len(set(sids)) and all(sid.isalnum() for sid in sids)
    # Split only where needed: no two documents would fit in one.
    merged = ({"Version": "2012-10-17", "Statement": a["Statement"] + b["Statement"]}
              for i, a in enumerate(docs) for b in docs[i + 1:])
    assert all(len(json.dumps(m, separators=(",", ":"))) > MAX_POLICY_CHARS for m in merged)
    # Nothing lost in the split.
    by_sid = sorted((s for d in docs for s in d["Statement"]), key=lambda s: s["Sid"])
    assert by_sid == sorted(statements(target), key=lambda s: s["Sid"])


def test_a_statement_too_long_for_one_document_is_cut_by_its_actions(monkeypatch):
    many = tuple(f"ec2:Describe{'X' * 40}{i}" for i in range(200))
    monkeypatch.setattr(Vpc, "iam", (writes(*many, arns=("arn:{partition}:ec2:{region}:{account}:vpc/*",)),))
    docs = documents(TARGETS["deployer dev, S3 state"])
    parts = [s for d in docs for s in d["Statement"] if any(a.startswith("ec2:DescribeXXX") for a in s["Action"])]
    assert len(parts) > 1 and all("Part" in s["Sid"] for s in parts)
    assert sorted(a for s in parts for a in s["Action"]) == sorted(many)
    assert all(len(json.dumps(d, separators=(",", ":"))) <= MAX_POLICY_CHARS for d in docs)


def test_drift_holds_reads_only_and_no_secret_value():
    actions = {a for d in documents(TARGETS["drift dev, S3 state"]) for s in d["Statement"] for a in s["Action"]}
    assert "secretsmanager:GetSecretValue" not in actions and "secretsmanager:DescribeSecret" in actions
    assert not {a for a in actions if a.split(":")[1].startswith(("Create", "Delete", "Put", "Modify", "Update", "Tag"))
                } - {"s3:PutObject"}


def test_names_tags_and_state_are_the_environments():
    text = json.dumps(documents(TARGETS["deployer dev, S3 state"]))
    assert f"arn:aws:rds:{REGION}:{ACCOUNT}:db:rds-postgresql-dev" in text
    assert f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:redis-auth-dev-??????" in text
    assert '"aws:ResourceTag/Environment": "dev"' in text and '"aws:RequestTag/Environment": "dev"' in text
    assert f"arn:aws:s3:::state-bucket/ci/dev.{REGION}.*" in text
    assert '"iam:PassedToService": "ecs-tasks.amazonaws.com"' in text
    # Every environment of the location: names become patterns, the tag is the tool's own.
    every = json.dumps(documents(Target("deployer", REGION, ACCOUNT, state_bucket="state-bucket")))
    assert "db:rds-postgresql-*" in every and "arn:aws:s3:::state-bucket/*" in every
    assert '"aws:ResourceTag/Environment"' not in every and '"aws:ResourceTag/ManagedBy": "video-pipeline-infra"' in every


# -- the checker ------------------------------------------------------------------------------

def test_the_checker_reports_a_call_whose_action_a_handler_no_longer_declares(monkeypatch):
    """What the lifecycle test relies on: drop CreateVpc from the VPC's declaration, and the
    recorded CreateVpc is reported as not held."""
    needs = [Need("ec2:CreateVpc"), Need("ec2:DescribeVpcs")]
    target = TARGETS["deployer dev, S3 state"]
    assert unheld(needs, documents(target)) == []
    without = tuple(writes(*(a for a in g.actions if a != "ec2:CreateVpc"), arns=g.arns, tag=g.tag) if not g.read else g
                    for g in Vpc.iam)
    monkeypatch.setattr(Vpc, "iam", tuple(g for g in without if g.actions))
    assert unheld(needs, documents(target)) == [Need("ec2:CreateVpc")]


def test_the_checker_matches_wildcards_and_api_gateway_paths():
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"},
        {"Sid": "B", "Effect": "Allow", "Action": "apigateway:PATCH", "Resource": [f"arn:aws:apigateway:{REGION}::/apikeys/*"]},
        {"Sid": "C", "Effect": "Deny", "Action": "kms:*", "Resource": "*"},
    ]}
    needs = [Need("ec2:DescribeSubnets"), Need("apigateway:PATCH", f"arn:aws:apigateway:{REGION}::/apikeys/k1"),
             Need("apigateway:PATCH", f"arn:aws:apigateway:{REGION}::/account"), Need("kms:DescribeKey")]
    assert unheld(needs, [doc]) == [Need("apigateway:PATCH", f"arn:aws:apigateway:{REGION}::/account"),
                                    Need("kms:DescribeKey")]


def request(method: str, url: str, service: str, body: bytes = b"", **headers) -> dict:
    auth = f"AWS4-HMAC-SHA256 Credential=testing/20261207/{REGION}/{service}/aws4_request, SignedHeaders=host"
    return {"method": method, "url": f"http://127.0.0.1:5000{url}", "headers": {"Authorization": auth, **headers},
            "body": base64.b64encode(body).decode(), "body_encoded": True}


@pytest.mark.parametrize("entry,need", [
    (request("POST", "/", "ec2", b"Action=CreateVpc&Version=2016-11-15"), Need("ec2:CreateVpc")),
    (request("POST", "/", "logs", b"{}", **{"X-Amz-Target": "Logs_20140328.PutRetentionPolicy"}), Need("logs:PutRetentionPolicy")),
    (request("POST", "/", "tagging", b"{}", **{"X-Amz-Target": "ResourceGroupsTaggingAPI_20170126.GetResources"}),
     Need("tag:GetResources")),
    (request("POST", "/", "sts", b"Action=GetCallerIdentity&Version=2011-06-15"), None),
    (request("GET", "/2015-02-01/file-systems/fs-1/policy", "elasticfilesystem"), Need("elasticfilesystem:DescribeFileSystemPolicy")),
    (request("POST", "/2015-02-01/resource-tags/fs-1", "elasticfilesystem"), Need("elasticfilesystem:TagResource")),
    (request("PUT", "/bucket/ci/dev.us-east-1.lock", "s3"), Need("s3:PutObject")),
    (request("PUT", "/bucket/ci/dev.us-east-1.json", "s3", **{"x-amz-copy-source": "/bucket/a"}), Need("s3:CopyObject")),
    (request("DELETE", "/bucket/ci/dev.us-east-1.lock", "s3"), Need("s3:DeleteObject")),
    (request("GET", "/bucket?publicAccessBlock", "s3"), Need("s3:GetBucketPublicAccessBlock")),
    (request("PATCH", "/usageplans/u1?x=1", "apigateway"), Need("apigateway:PATCH", f"arn:aws:apigateway:{REGION}::/usageplans/u1")),
    (request("GET", "/v2/apis", "apigateway"), Need("apigateway:GET", f"arn:aws:apigateway:{REGION}::/apis")),
    (request("POST", "/fidelity/iam", "?"), None),
], ids=lambda v: "" if isinstance(v, dict) or v is None else f"{v.action}")
def test_each_recorded_request_is_the_iam_action_aws_authorizes(entry, need):
    if "/?/" in entry["headers"]["Authorization"]:
        entry["headers"] = {}  # a control request: no signature
    assert need_of(entry) == need

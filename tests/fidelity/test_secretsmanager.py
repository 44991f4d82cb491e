"""Secrets Manager version dates and AWSCURRENT (sandbox/fidelity/secretsmanager.py): docs/aws-behaviours.md
A-42, A-43, in-process under mock_aws."""
from __future__ import annotations

import time

import boto3
import pytest

REGION = "us-east-1"


@pytest.fixture
def sm(moto_aws):
    return boto3.client("secretsmanager", region_name=REGION)


def test_each_version_reports_when_it_was_made_to_the_millisecond(sm, monkeypatch):
    sm.create_secret(Name="s", SecretString="one")
    first = {v["VersionId"]: v["CreatedDate"] for v in sm.list_secret_version_ids(SecretId="s")["Versions"]}
    later = time.time() + 3600.25
    monkeypatch.setattr(time, "time", lambda: later)
    sm.put_secret_value(SecretId="s", SecretString="two", ClientRequestToken="b" * 32, VersionStages=["AWSPENDING"])
    listed = {v["VersionId"]: v["CreatedDate"] for v in sm.list_secret_version_ids(SecretId="s")["Versions"]}
    # The first version keeps its own date (moto answered the time of the listing for all).
    assert {k: listed[k] for k in first} == first
    assert listed["b" * 32].timestamp() == pytest.approx(later, abs=0.001)


def test_get_secret_value_answers_awscurrent_after_the_label_moved(sm):
    arn = sm.create_secret(Name="s", SecretString="one")["ARN"]
    old = sm.get_secret_value(SecretId=arn)["VersionId"]
    sm.put_secret_value(SecretId=arn, SecretString="two", ClientRequestToken="c" * 32, VersionStages=["AWSPENDING"])
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "one"
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId="c" * 32, RemoveFromVersionId=old)
    answer = sm.get_secret_value(SecretId=arn)
    assert (answer["SecretString"], answer["VersionId"]) == ("two", "c" * 32)
    assert sorted(answer["VersionStages"]) == ["AWSCURRENT", "AWSPENDING"]
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "one"

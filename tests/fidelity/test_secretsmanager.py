"""Secrets Manager version dates, AWSCURRENT and versions never rewritten
(sandbox/fidelity/secretsmanager.py): docs/aws-behaviours.md A-23, A-42, A-43, D-SM-1, in-process under
mock_aws."""
from __future__ import annotations

import time

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.secretsmanager.models import secretsmanager_backends

from sandbox.fidelity import clock, secretsmanager

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


# -- D-SM-1: a version's data never changes (sandbox/fidelity/secretsmanager.py) ---------------

def put(sm, arn, value, token, stages=("AWSPENDING",)):
    """The error code PutSecretValue answers, None when it succeeded."""
    try:
        sm.put_secret_value(SecretId=arn, SecretString=value, ClientRequestToken=token, VersionStages=list(stages))
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


def value_of(sm, arn, version_id):
    return sm.get_secret_value(SecretId=arn, VersionId=version_id)["SecretString"]


def stages_of(sm, arn) -> dict[str, list[str]]:
    return {v["VersionId"]: sorted(v["VersionStages"]) for v in sm.list_secret_version_ids(SecretId=arn)["Versions"]}


def test_a_token_naming_a_version_with_other_data_is_refused_whatever_its_labels(sm):
    arn = sm.create_secret(Name="s", SecretString="one")["ARN"]
    assert put(sm, arn, "two", "d" * 32, stages=("AWSPREVIOUS",)) is None
    assert put(sm, arn, "three", "e" * 32) is None  # staged AWSPENDING
    # moto's own answer for a version not staged AWSPENDING; the layer's for the pending one,
    # which moto 5.2.5 overwrote.
    for token in ("d" * 32, "e" * 32):
        assert put(sm, arn, "other", token) == "ResourceExistsException"
    assert (value_of(sm, arn, "d" * 32), value_of(sm, arn, "e" * 32)) == ("two", "three")


def test_the_same_data_again_succeeds_and_changes_nothing(sm):
    arn = sm.create_secret(Name="s", SecretString="one")["ARN"]
    assert put(sm, arn, "two", "e" * 32) is None
    before = stages_of(sm, arn)
    assert put(sm, arn, "two", "e" * 32) is None
    assert stages_of(sm, arn) == before and value_of(sm, arn, "e" * 32) == "two"


def test_a_new_version_staged_awspending_takes_the_label_from_the_old_one(sm):
    """AWS moves a label named in VersionStages from the version that held it (API reference,
    PutSecretValue VersionStages): not a refusal."""
    arn = sm.create_secret(Name="s", SecretString="one")["ARN"]
    assert put(sm, arn, "two", "e" * 32) is None
    assert put(sm, arn, "three", "f" * 32) is None
    assert stages_of(sm, arn)["f" * 32] == ["AWSPENDING"] and stages_of(sm, arn)["e" * 32] == []


def test_the_empty_pending_version_rotate_secret_makes_is_filled_in(sm):
    """RotateSecret stages AWSPENDING on a version id with no value yet; the rotation function's
    PutSecretValue with that token puts the value there (AWS's rotation protocol). moto makes
    that version only when it has a rotation Lambda to invoke: made here as moto makes it."""
    arn = sm.create_secret(Name="s", SecretString="one")["ARN"]
    secret = secretsmanager_backends[ACCOUNT][REGION].secrets[arn]
    secret.versions["g" * 32] = {"createdate": int(time.time()), "version_id": "g" * 32, "version_stages": ["AWSPENDING"]}
    assert put(sm, arn, "two", "g" * 32) is None
    assert value_of(sm, arn, "g" * 32) == "two"
    assert put(sm, arn, "three", "g" * 32) == "ResourceExistsException"  # filled in: now it holds a value


def test_the_switch_gives_back_motos_overwrite_until_reset(sm):
    arn = sm.create_secret(Name="s", SecretString="one")["ARN"]
    assert put(sm, arn, "two", "e" * 32) is None
    clock.switch(secretsmanager.PENDING_OVERWRITE, True)
    try:
        assert put(sm, arn, "three", "e" * 32) is None
        assert value_of(sm, arn, "e" * 32) == "three"
    finally:
        clock.reset()
    assert put(sm, arn, "four", "e" * 32) == "ResourceExistsException"


def test_a_name_scheduled_for_deletion_is_refused_even_with_the_token_of_its_version(sm):
    # docs/aws-behaviours.md A-23: AWS refuses CreateSecret for a name scheduled for deletion;
    # moto answered the scheduled secret itself for a token naming one of its versions.
    token = "d" * 32
    sm.create_secret(Name="s", SecretString="one", ClientRequestToken=token)
    sm.delete_secret(SecretId="s", RecoveryWindowInDays=7)
    with pytest.raises(ClientError) as refused:
        sm.create_secret(Name="s", SecretString="one", ClientRequestToken=token)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "scheduled for deletion" in refused.value.response["Error"]["Message"]
    # A live secret still answers the same request as the create it repeats (B-SM-3).
    sm.create_secret(Name="t", SecretString="one", ClientRequestToken=token)
    assert sm.create_secret(Name="t", SecretString="one", ClientRequestToken=token)["Name"] == "t"


def test_a_version_without_staging_labels_is_not_listed(sm):
    # docs/aws-behaviours.md A-50: DescribeSecret and ListSecrets list labelled versions only.
    sm.create_secret(Name="s", SecretString="one", ClientRequestToken="e" * 32)
    sm.put_secret_value(SecretId="s", SecretString="two")
    sm.put_secret_value(SecretId="s", SecretString="three")
    described = sm.describe_secret(SecretId="s")["VersionIdsToStages"]
    listed = sm.list_secrets()["SecretList"][0]["SecretVersionsToStages"]
    assert described == listed and "e" * 32 not in described
    assert sorted(stage for stages in described.values() for stage in stages) == ["AWSCURRENT", "AWSPREVIOUS"]

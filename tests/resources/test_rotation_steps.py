"""The rotation's steps on their own (orchestrator.rotation.RedisAuthRotation), on moto with the
fidelity layer, read back with the test's own clients."""
from __future__ import annotations

import json

import boto3
import pytest

from orchestrator.rotation import RedisAuthRotation, pending_version_id
from resources.base import ResourceError
from sandbox.fidelity.elasticache_auth import accepted_tokens
from tests.conftest import REGION

SPEC = {"json_key": "auth_token", "length": 64, "alphabet": "alphanumeric"}
TOKEN = "a" * 32


def make(transit: bool):
    sm, ec = boto3.client("secretsmanager", region_name=REGION), boto3.client("elasticache", region_name=REGION)
    arn = sm.create_secret(Name="redis-auth-dev", SecretString=json.dumps({"auth_token": TOKEN}))["ARN"]
    extra = {"TransitEncryptionEnabled": True, "AuthToken": TOKEN} if transit else {}
    ec.create_replication_group(ReplicationGroupId="redis-dev", ReplicationGroupDescription="t", Engine="redis",
                                EngineVersion="7.1", CacheNodeType="cache.t3.micro", NumCacheClusters=2,
                                AutomaticFailoverEnabled=True, **extra)
    return sm, arn


def stages(sm, arn) -> list[list[str]]:
    return sorted(sorted(v["VersionStages"]) for v in sm.list_secret_version_ids(SecretId=arn)["Versions"])


def test_begin_then_finish_with_no_service_in_between(aws, clock):
    sm, arn = make(transit=True)
    rotation = RedisAuthRotation(aws, clock.as_clock(), "dev", arn, "redis-dev", SPEC)
    rotation.begin()
    assert stages(sm, arn) == [["AWSCURRENT", "AWSPENDING"], ["AWSPREVIOUS"]]
    new = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["auth_token"]
    assert accepted_tokens("redis-dev") == [TOKEN, new] and len(new) == 64 and new.isalnum()
    rotation.begin()  # resumed at (d): nothing more to do before the services
    assert accepted_tokens("redis-dev") == [TOKEN, new]
    assert rotation.finish() is True
    assert stages(sm, arn) == [["AWSCURRENT"], ["AWSPREVIOUS"]]
    assert accepted_tokens("redis-dev") == [new]
    assert rotation.finish() is False  # nothing in progress


def test_no_transit_encryption_refuses_before_any_new_version(aws, clock):
    sm, arn = make(transit=False)
    rotation = RedisAuthRotation(aws, clock.as_clock(), "dev", arn, "redis-dev", SPEC)
    with pytest.raises(ResourceError, match="no in-transit encryption: its AUTH token cannot be changed"):  # B-EC-7
        rotation.begin()
    assert stages(sm, arn) == [["AWSCURRENT"]]


# -- D-SM-1: a version id a rotation derives is already a version's -----------------------------

def token_in(sm, arn, version_id: str) -> str:
    return json.loads(sm.get_secret_value(SecretId=arn, VersionId=version_id)["SecretString"])["auth_token"]


def current_id(sm, arn) -> str:
    return sm.get_secret_value(SecretId=arn)["VersionId"]


def test_a_rotation_after_awscurrent_was_moved_back_by_hand_makes_a_new_version(aws, clock):
    """The derived id of a rotation from the first version is taken by the version the first
    rotation made: ResourceExistsException on AWS. The rotation uses the next id, and the
    version it collided with keeps its value."""
    sm, arn = make(transit=True)
    first = current_id(sm, arn)
    rotation = RedisAuthRotation(aws, clock.as_clock(), "dev", arn, "redis-dev", SPEC)
    rotation.begin()
    assert rotation.finish() is True
    rotated = current_id(sm, arn)
    kept = token_in(sm, arn, rotated)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=first, RemoveFromVersionId=rotated)

    rotation.begin()
    assert rotation.finish() is True
    new = current_id(sm, arn)
    assert new not in (first, rotated) and new == pending_version_id(arn, first, 1)
    assert token_in(sm, arn, rotated) == kept
    assert accepted_tokens("redis-dev") == [token_in(sm, arn, new)]


def test_a_rotation_after_awspending_was_removed_by_hand_makes_a_new_version(aws, clock):
    """A rotation stopped after (a), then cancelled by hand (AWSPENDING removed, as
    CancelRotateSecret's reference advises): the next rotation from the same AWSCURRENT."""
    sm, arn = make(transit=True)
    first = current_id(sm, arn)
    abandoned = pending_version_id(arn, first)
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"auth_token": "b" * 64}), ClientRequestToken=abandoned,
                        VersionStages=["AWSPENDING"])
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=abandoned)
    rotation = RedisAuthRotation(aws, clock.as_clock(), "dev", arn, "redis-dev", SPEC)
    rotation.begin()
    assert rotation.finish() is True
    assert current_id(sm, arn) == pending_version_id(arn, first, 1)
    assert token_in(sm, arn, abandoned) == "b" * 64


def test_a_rotation_killed_after_its_new_version_resumes_from_it_without_writing_it_again(aws, clock, monkeypatch):
    """A run killed right after (a): the next one finds the version by its AWSPENDING label and
    ROTATEs with the value it holds (a second PutSecretValue to that version would be refused:
    AWS never rewrites a version, not even one staged AWSPENDING)."""
    sm, arn = make(transit=True)
    killed = RedisAuthRotation(aws, clock.as_clock(), "dev", arn, "redis-dev", SPEC)

    def kill(self, pending):
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as m:
        m.setattr(RedisAuthRotation, "_rotate", kill)
        with pytest.raises(KeyboardInterrupt):
            killed.begin()
    [pending] = [v["VersionId"] for v in sm.list_secret_version_ids(SecretId=arn)["Versions"] if v["VersionStages"] == ["AWSPENDING"]]
    written = token_in(sm, arn, pending)

    resumed = RedisAuthRotation(aws, clock.as_clock(), "dev", arn, "redis-dev", SPEC)
    resumed.begin()
    assert resumed.finish() is True
    assert current_id(sm, arn) == pending and token_in(sm, arn, pending) == written
    assert accepted_tokens("redis-dev") == [written]

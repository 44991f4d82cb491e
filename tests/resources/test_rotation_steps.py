"""The rotation's steps on their own (orchestrator.rotation.RedisAuthRotation), on moto with the
fidelity layer, read back with the test's own clients."""
from __future__ import annotations

import json

import boto3
import pytest

from orchestrator.rotation import RedisAuthRotation
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

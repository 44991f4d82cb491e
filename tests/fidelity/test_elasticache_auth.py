"""ElastiCache AUTH token changes (sandbox/fidelity/elasticache_auth.py): docs/aws-behaviours.md B-EC-7,
B-EC-4, C-EC-1, in-process under mock_aws."""
from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from sandbox.fidelity import clock
from sandbox.fidelity.elasticache_auth import accepted_tokens
from tests.fidelity.test_elasticache import create_group

REGION = "us-east-1"
MODIFY = clock.DURATIONS["elasticache.modify"]
OLD, NEW, NEWER = "old-token-0123456789", "new-token-0123456789", "newer-token-0123456789"


@pytest.fixture
def ec(moto_aws):
    return boto3.client("elasticache", region_name=REGION)


def group(ec) -> dict:
    return ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"][0]


def change(ec, token: str, strategy: str | None = None, group_id: str = "cache-a") -> dict:
    extra = {"AuthTokenUpdateStrategy": strategy} if strategy else {}
    return ec.modify_replication_group(ReplicationGroupId=group_id, AuthToken=token, ApplyImmediately=True, **extra)


def refused(call) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call()
    return error.value.response["Error"]["Code"]


def test_rotate_adds_a_token_set_keeps_only_the_last_rotated(ec):
    create_group(ec, subnet_group=None, TransitEncryptionEnabled=True, AuthToken=OLD)
    assert accepted_tokens("cache-a") == [OLD]
    change(ec, NEW, "ROTATE")
    assert accepted_tokens("cache-a") == [OLD, NEW]
    assert group(ec)["AuthTokenEnabled"] is True
    # SET must name the last token rotated ("SET - allowed only after ROTATE").
    assert refused(lambda: change(ec, OLD, "SET")) == "InvalidParameterValue"
    change(ec, NEW, "SET")
    assert accepted_tokens("cache-a") == [NEW]


def test_a_third_rotate_drops_the_oldest_and_rotate_is_the_default(ec):
    create_group(ec, subnet_group=None, TransitEncryptionEnabled=True, AuthToken=OLD)
    change(ec, NEW)
    change(ec, NEWER, "ROTATE")
    assert accepted_tokens("cache-a") == [NEW, NEWER]


def test_a_token_change_needs_transit_encryption_and_a_valid_token(ec):
    create_group(ec, subnet_group=None)
    assert refused(lambda: change(ec, NEW, "ROTATE")) == "InvalidParameterCombination"
    create_group(ec, "cache-b", subnet_group=None, TransitEncryptionEnabled=True, AuthToken=OLD)
    for bad in ("short-token", "x" * 129, "has/a-slash-0123456789", 'has"quote-0123456789', "has@at-0123456789"):
        assert refused(lambda: change(ec, bad, "ROTATE", "cache-b")) == "InvalidParameterValue"
    assert refused(lambda: change(ec, NEW, "DELETE", "cache-b")) == "InvalidParameterCombination"
    assert accepted_tokens("cache-b") == [OLD]


def test_a_change_is_modifying_with_its_auth_token_status_then_applied(ec, on_the_clock):
    create_group(ec, subnet_group=None, TransitEncryptionEnabled=True, AuthToken=OLD)
    before = group(ec)["AuthTokenLastModifiedDate"]
    answer = change(ec, NEW, "ROTATE")["ReplicationGroup"]
    assert answer["Status"] == "modifying"
    assert group(ec)["PendingModifiedValues"] == {"AuthTokenStatus": "ROTATING"}
    assert accepted_tokens("cache-a") == [OLD]
    # One operation at a time (C-EC-1).
    assert refused(lambda: change(ec, NEW, "SET")) == "InvalidReplicationGroupState"
    on_the_clock.sleep(MODIFY)
    now = group(ec)
    assert now["Status"] == "available" and not now.get("PendingModifiedValues")
    assert accepted_tokens("cache-a") == [OLD, NEW] and now["AuthTokenLastModifiedDate"] > before
    change(ec, NEW, "SET")
    assert group(ec)["PendingModifiedValues"] == {"AuthTokenStatus": "SETTING"}
    on_the_clock.sleep(MODIFY)
    assert accepted_tokens("cache-a") == [NEW]

"""ModifyReplicationGroup's SnapshotWindow and AutoMinorVersionUpgrade
(sandbox/fidelity/elasticache_backups.py), in-process under mock_aws."""
from __future__ import annotations

import boto3
import pytest

from tests.fidelity.test_elasticache import create_group

REGION = "us-east-1"


@pytest.fixture
def ec(moto_aws):
    return boto3.client("elasticache", region_name=REGION)


def settings(group: dict) -> tuple:
    return group["SnapshotRetentionLimit"], group["SnapshotWindow"], group["AutoMinorVersionUpgrade"]


def test_modify_sets_the_snapshot_window_and_minor_upgrades_and_keeps_what_was_not_asked(ec):
    create_group(ec, subnet_group=None, SnapshotRetentionLimit=7, SnapshotWindow="16:00-17:00", AutoMinorVersionUpgrade=True)
    answer = ec.modify_replication_group(ReplicationGroupId="cache-a", ApplyImmediately=True, SnapshotRetentionLimit=0,
                                         SnapshotWindow="03:00-04:00", AutoMinorVersionUpgrade=False)["ReplicationGroup"]
    assert settings(answer) == (0, "03:00-04:00", False)
    [group] = ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"]
    assert settings(group) == (0, "03:00-04:00", False)
    ec.modify_replication_group(ReplicationGroupId="cache-a", ApplyImmediately=True, SnapshotRetentionLimit=7)
    [group] = ec.describe_replication_groups(ReplicationGroupId="cache-a")["ReplicationGroups"]
    assert settings(group) == (7, "03:00-04:00", False)

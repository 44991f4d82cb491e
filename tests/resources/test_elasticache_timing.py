"""ElastiCache's time (docs/aws-behaviours.md B-EC-6): a replication group takes minutes to create
and to delete, the stock botocore waiters give up after 15 s x 40 = 10 min, and a delete is
asynchronous ("deleting", then ReplicationGroupNotFoundFault). The handler has its own timeouts
and waits for "gone"; here the fidelity layer runs on the handler's own FakeClock
(sandbox/fidelity/creates.py, sandbox/fidelity/elasticache.py), so nothing sleeps."""
from __future__ import annotations

import pytest

from orchestrator.config import EnvConfig
from resources.data.elasticache import ReplicationGroup
from sandbox.fidelity import clock as layer_clock, creates
from sandbox.fidelity.elasticache import PENDING_DELETES
from tests.resources.test_elasticache import GROUP, NAME, REDIS_KEYS, ec, gone, redis_actions, replication_group, stack  # noqa: F401
from tests.support.stack import converge, destroy

# Longer than the stock waiter's 10 minutes, shorter than the handler's own timeouts.
STOCK_WAITER = 15 * 40
SLOW_DELETE = 25 * 60
SLOW_CREATE = 35 * 60


def test_the_handlers_timeouts_outlast_the_stock_waiters_and_the_slow_figures_below():
    assert ReplicationGroup.delete_timeout > SLOW_DELETE > STOCK_WAITER
    assert ReplicationGroup.create_timeout > SLOW_CREATE > STOCK_WAITER


def test_a_delete_that_stays_deleting_for_minutes_is_waited_for_until_gone(aws, ec, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    with layer_clock.use(clock, {"elasticache.delete": SLOW_DELETE}):
        layer_clock.switch(PENDING_DELETES, True)
        started = clock.now()
        run = destroy(aws, state, nodes=nodes(), clock=clock)
        waited = clock.now() - started
        polls = aws.calls.counts[("elasticache", "DescribeReplicationGroups")]
        subnet_group_deletes = aws.calls.counts[("elasticache", "DeleteCacheSubnetGroup")]
    assert redis_actions(run) == dict.fromkeys(REDIS_KEYS, "delete")
    # Waited on the clock for the whole delete, polling it, and only then deleted the subnet
    # group, at the first try (it is in use until the group is gone).
    assert waited >= SLOW_DELETE and polls > 3
    assert subnet_group_deletes == 1
    assert gone(ec.describe_replication_groups, ReplicationGroupId=NAME) == "ReplicationGroupNotFoundFault"
    assert gone(ec.describe_cache_subnet_groups, CacheSubnetGroupName=GROUP) == "CacheSubnetGroupNotFoundFault"
    assert all(state.doc.resource(k) is None for k in REDIS_KEYS)


def test_a_create_longer_than_the_stock_waiter_is_waited_for_until_available(aws, ec, stack, clock):
    state, nodes = stack
    with layer_clock.use(clock, {"elasticache.create": SLOW_CREATE}):
        layer_clock.switch(creates.SWITCH, True)
        started = clock.now()
        run = converge(aws, state, nodes=nodes(EnvConfig()), clock=clock)
        waited = clock.now() - started
    assert redis_actions(run) == dict.fromkeys(REDIS_KEYS, "create")
    assert waited >= SLOW_CREATE
    assert replication_group(ec)["Status"] == "available"
    assert state.doc.resource("redis.replication_group")["id"] == NAME

"""SIGKILL right after every mutating AWS call of a full create, one k at a time.

For each k the proxy lets the k-th mutating call of `bin/reconcile --env dev --config FILE` (a
configuration unlike the defaults, harness.ASKED_CONFIG) execute in moto, then kills the command
before the answer reaches it (AWS made the resource, the tool never saw its id). The next plain
`bin/reconcile` (no --config) must converge to exactly one of each resource, all recorded in the
state, with nothing else in the whole account, and with the settings the killed run was asked
for (its configuration is recorded before its first mutating call); for every k.

`bin/teardown` must then leave nothing. Teardown after a crash is proved on a sample of k (see
TEARDOWN_SAMPLE): the k right after the first create of each of the stack's 33 resource kinds,
so each kind is torn down once after it was orphaned by a kill and adopted by the next run. The
other k reset moto instead (the next test's `fresh`): their teardown re-proved the same thing.

The killed run uses --parallelism 1 so that k names one call, the same on every run (a failure
message says which, and the guard test checks the sample against the calls); the recovery runs
use the default parallelism. The sweep is cut into classes of 13 k so that pytest-xdist
(--dist loadscope: one class, one worker) spreads it over the workers.
"""
from __future__ import annotations


import pytest

from tests.e2e.test_full_stack import FULL_STACK
from tests.faults.harness import (
    ENV, assert_asked_settings, assert_nothing_left, assert_one_of_each, killed_create, write_asked_config,
)

# Mutating AWS calls of a full create of env dev (measured by test_full_create_makes_...).
# Issue 15, data services and load balancer: +4 (CreateRole and AttachRolePolicy of the RDS
# monitoring role, PutFileSystemPolicy of the EFS policy, ModifyLoadBalancerAttributes for the
# NLB's cross-zone setting); RDS, ElastiCache and EFS backup settings go in their create calls.
# The k of TEARDOWN_SAMPLE after these calls move: the guard test below names the new ones.
# Issue 15 (VPC / keys / logs) added 20: kms.key CreateKey, EnableKeyRotation, CreateAlias; the
# flow log group CreateLogGroup, PutRetentionPolicy; its role CreateRole, PutRolePolicy;
# CreateFlowLogs; the default security group CreateTags, RevokeSecurityGroupIngress,
# RevokeSecurityGroupEgress; the default ACL CreateTags, 7 CreateNetworkAclEntry,
# ReplaceNetworkAclEntry. (The other log groups and secrets take their key in the create call.)
# TEARDOWN_SAMPLE's k shift with them: the guard test below names the new ones.
# Issue 15 (IAM / secrets / ECS) added 2: PutResourcePolicy on each of the two secrets (the trust
# conditions, the containers' read-only root, log mode and scratch volumes go in calls made anyway).
# Issue 15 (API Gateway) added 10: the access and execution log groups CreateLogGroup and
# PutRetentionPolicy each; the account's CloudWatch role CreateRole, AttachRolePolicy and
# UpdateAccount; the stage's UpdateStage (logging, metrics, tracing); CreateWebACL; AssociateWebACL.
# Issue 15 (keys / logs) added 4: CreateLogGroup and PutRetentionPolicy of RDS's two export log
# groups (postgresql, upgrade); the master secret's key goes in CreateDBInstance.
# FSBP WAF.11 added 3: the web ACL's log group CreateLogGroup and PutRetentionPolicy, and its
# PutLoggingConfiguration.
N_MUTATING_CALLS = 128

# k -> (the k-th mutating call of a full create at --parallelism 1, the resource kind it creates):
# the first create of each kind in FULL_STACK, and the last call of the run.
TEARDOWN_SAMPLE = {
    1: ("ec2 CreateVpc", "vpc"),
    3: ("ec2 CreateSecurityGroup", "security_group"),
    10: ("ec2 CreateSubnet", "subnet"),
    # The key is on RDS's path now (its master secret and export log groups use it).
    12: ("kms CreateKey", "kms_key"),
    15: ("rds CreateDBSubnetGroup", "db_subnet_group"),
    19: ("iam CreateRole", "iam_role"),
    # RDS's export log groups, made before the instance.
    21: ("logs CreateLogGroup", "log_group"),
    25: ("rds CreateDBInstance", "db_instance"),
    26: ("elasticache CreateCacheSubnetGroup", "cache_subnet_group"),
    30: ("secretsmanager CreateSecret", "secret"),
    31: ("elasticache CreateReplicationGroup", "replication_group"),
    32: ("elasticloadbalancing CreateTargetGroup", "target_group"),
    35: ("elasticloadbalancing CreateLoadBalancer", "load_balancer"),
    38: ("apigateway Post:/vpclinks", "vpc_link"),
    39: ("ec2 AllocateAddress", "elastic_ip"),
    41: ("ec2 CreateInternetGateway", "internet_gateway"),
    45: ("ec2 CreateNatGateway", "nat_gateway"),
    47: ("elasticfilesystem Post:/2015-02-01/file-systems", "file_system"),
    52: ("elasticfilesystem Post:/2015-02-01/mount-targets", "mount_target"),
    54: ("elasticfilesystem Post:/2015-02-01/access-points", "access_point"),
    63: ("ecs CreateCluster", "ecs_cluster"),
    64: ("ecs RegisterTaskDefinition", "task_definition"),
    66: ("ec2 CreateRouteTable", "route_table"),
    72: ("ecs CreateService", "ecs_service"),
    74: ("apigateway Post:/restapis", "rest_api"),
    90: ("apigateway Post:/apikeys", "api_key"),
    # The default group's first call of its own name (its CreateTags is one of several).
    102: ("ec2 RevokeSecurityGroupIngress", "default_security_group"),
    104: ("wafv2 CreateWebACL", "web_acl"),
    105: ("apigateway Post:/usageplans", "usage_plan"),
    109: ("ec2 CreateNetworkAclEntry", "default_network_acl"),
    124: ("secretsmanager PutResourcePolicy", "secret_policy"),
    126: ("ec2 CreateFlowLogs", "flow_log"),
    127: ("wafv2 AssociateWebACL", "web_acl_association"),
    128: ("wafv2 PutLoggingConfiguration", "waf_logging"),
}



def call_name(call) -> str:
    return f"{call.service} {call.operation}"


def test_full_create_makes_the_expected_number_of_mutating_calls(cli, proxy, moto):
    result = cli("reconcile", "--env", ENV, "--parallelism", "1")
    assert result.code == 0, result.stderr
    executed = proxy.mutating_executed()
    through_proxy = len(executed)
    assert len(moto.mutating_calls()) == through_proxy
    assert through_proxy == N_MUTATING_CALLS, (
        f"a full create now makes {through_proxy} mutating calls, the kill-at-every-call test covers "
        f"{N_MUTATING_CALLS}: set N_MUTATING_CALLS = {through_proxy} in {__name__}")
    # The teardown sample still kills right after the first create of every kind (REST calls are
    # named by method and path, the path ending in ids: compared up to the ids).
    names = [call_name(c) for c in executed]
    wrong = {k: (names[k - 1], expected) for k, (expected, _) in TEARDOWN_SAMPLE.items()
             if names[k - 1] != expected and not names[k - 1].startswith(expected + "/")}
    assert wrong == {}, f"the k of TEARDOWN_SAMPLE no longer name these calls, (call, expected): {wrong}"
    firsts = {expected: names.index(expected) + 1 for expected, _ in TEARDOWN_SAMPLE.values() if expected in names}
    assert all(firsts.get(expected) == k for k, (expected, _) in TEARDOWN_SAMPLE.items() if k != N_MUTATING_CALLS), firsts
    assert {kind for _, kind in TEARDOWN_SAMPLE.values()} == set(FULL_STACK)


class _KillSweep:
    """Kill after call k, converge, one of each; teardown leaves nothing (for k in the sample)."""

    def test_killed_after_call_k_then_reconcile_converges(self, k, cli_direct, proxy, reader, state_dir, tmp_path):
        # The killed first create was asked for a configuration other than the defaults: the
        # plain run after it (no --config) must finish with those settings, not the defaults.
        _, killed = killed_create(proxy, k, state_dir, tmp_path, args=("--config", write_asked_config(tmp_path)))
        where = f"k={k} (killed right after {killed})"

        cli = cli_direct  # the runs after the crash need no fault
        again = cli("reconcile", "--env", ENV)
        assert again.code == 0, f"{where}: reconcile after the crash failed: {again.stderr[-3000:]}"
        assert_one_of_each(reader, state_dir, where)
        assert_asked_settings(reader, state_dir, where)

        if k in TEARDOWN_SAMPLE:
            down = cli("teardown", "--env", ENV, "--yes")
            assert down.code == 0, f"{where}: teardown failed: {down.stderr[-3000:]}"
            assert_nothing_left(reader, where)


def _ks(first: int, last: int):
    return pytest.mark.parametrize("k", range(first, min(last, N_MUTATING_CALLS) + 1))


# Classes of at most CLASS_SIZE k, one after the other up to the last call: --dist loadscope
# sends a class whole to one worker, so no class is long enough to leave the other worker idle
# at the end of the run (the last class once held 57 k, a third of the sweep).
CLASS_SIZE = 13
for _first in range(1, N_MUTATING_CALLS + 1, CLASS_SIZE):
    _last = min(_first + CLASS_SIZE - 1, N_MUTATING_CALLS)
    _name = f"TestKilledAfterCalls{_first}To{_last}"
    globals()[_name] = _ks(_first, _last)(type(_name, (_KillSweep,), {"__module__": __name__}))


def test_the_classes_sweep_every_k_once():
    swept = [k for cls in _KillSweep.__subclasses__() for mark in cls.pytestmark if mark.name == "parametrize"
             for k in mark.args[1]]
    assert sorted(swept) == list(range(1, N_MUTATING_CALLS + 1))
    assert set(TEARDOWN_SAMPLE) <= set(swept)


@pytest.mark.parametrize("k", [1, 17, 42, 70, N_MUTATING_CALLS])
def test_teardown_without_state_removes_what_a_killed_run_left(k, cli_direct, proxy, reader, state_dir, tmp_path):
    _, killed = killed_create(proxy, k, state_dir, tmp_path)
    removed = [p for p in state_dir.iterdir() if p.name.endswith((".json", ".json.bak"))]
    assert removed, "the killed run wrote no state"
    for path in removed:
        path.unlink()

    down = cli_direct("teardown", "--env", ENV, "--yes")
    assert down.code == 0, f"k={k} (killed right after {killed}): teardown without state failed: {down.stderr[-3000:]}"
    assert_nothing_left(reader, f"k={k} (killed right after {killed}), teardown without state")

"""ElastiCache handlers: the cache subnet group and the Redis replication group.

On moto with the fidelity layer (NumCacheClusters honoured, deletes that end, A-16/A-18), the
standard case list read back with the test's own clients; the security group and the AUTH token
secret are made by hand (other helpers own them). Pending, failed and replica-count paths run
against a botocore Stubber on the handler's own client.
"""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from structlog.testing import capture_logs

from orchestrator.config import EnvConfig
from orchestrator.stack.data import redis_nodes
from orchestrator.waiting import wait_for
from resources.aws import Aws
from resources.base import Change, FieldDiff, Observed, ResourceError, Status
from resources.data.elasticache import CacheSubnetGroup, ReplicationGroup
from sandbox.fidelity import clock as layer_clock, elasticache_modify
from tests.resources.data_stack import NETWORK, converge_network, network, ownership, tags, with_spec
from tests.support.memory_state import MemoryState
from tests.support.stack import actions, converge, destroy
from orchestrator import lifecycle

REGION = "us-east-1"
NAME = "redis-dev"
GROUP = "redis-subnet-group-dev"
REDIS_KEYS = ("redis.subnet_group", "redis.replication_group")
TOKEN = "Tok3nFromTheSecretValue0123456789abcdefABCDEF0123456789abcdefXY"


@pytest.fixture
def ec(moto_aws):
    return boto3.client("elasticache", region_name=REGION)


@pytest.fixture
def stack(aws, ec2, clock):
    """The network converged, a security group and the AUTH token secret: (state, nodes builder)."""
    state = MemoryState()
    sg_id = converge_network(aws, ec2, state, clock, sg_name="redis-sg-dev")
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="redis-auth-dev", SecretString=json.dumps({"auth_token": TOKEN}))["ARN"]

    def nodes(cfg: EnvConfig = EnvConfig()):
        group, rg = redis_nodes("dev", cfg, 2)
        return [*network(), group, with_spec(rg, security_group_ids=[sg_id], auth_token_secret_arn=secret_arn)]

    nodes.sg_id = sg_id
    return state, nodes


def replication_group(ec) -> dict:
    [group] = ec.describe_replication_groups(ReplicationGroupId=NAME)["ReplicationGroups"]
    return group


def redis_actions(run) -> dict[str, str]:
    return {k: a for k, a in actions(run).items() if k not in NETWORK}


def gone(call, **kwargs) -> str:
    with pytest.raises(Exception) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


# -- moto: the standard case list --------------------------------------------------------------

def test_create_two_nodes_with_failover_multi_az_and_encryption_then_second_run_changes_nothing(aws, ec, stack, clock):
    state, nodes = stack
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert redis_actions(run) == dict.fromkeys(REDIS_KEYS, "create")

    [subnet_group] = ec.describe_cache_subnet_groups(CacheSubnetGroupName=GROUP)["CacheSubnetGroups"]
    isolated = {state.doc.resource(f"subnet.isolated.{i}")["id"] for i in (1, 2)}
    assert {s["SubnetIdentifier"] for s in subnet_group["Subnets"]} == isolated
    assert tags(ec.list_tags_for_resource(ResourceName=subnet_group["ARN"])["TagList"]) == ownership(GROUP)

    group = replication_group(ec)
    assert group["MemberClusters"] == ["redis-dev-001", "redis-dev-002"]
    [node_group] = group["NodeGroups"]
    roles = {m["CurrentRole"]: m["PreferredAvailabilityZone"] for m in node_group["NodeGroupMembers"]}
    assert roles == {"primary": "us-east-1a", "replica": "us-east-1b"}
    assert (group["AutomaticFailover"], group["MultiAZ"]) == ("enabled", "enabled")
    assert group["AtRestEncryptionEnabled"] is True and group["TransitEncryptionEnabled"] is True
    assert group["AuthTokenEnabled"] is True
    assert group["CacheNodeType"] == "cache.t3.micro" and node_group["PrimaryEndpoint"]["Port"] == 6379
    assert tags(ec.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]) == ownership(NAME)
    for member in ec.describe_cache_clusters()["CacheClusters"]:
        assert member["CacheSubnetGroupName"] == GROUP and member["EngineVersion"] == "7.1"
        assert [g["SecurityGroupId"] for g in member["SecurityGroups"]] == [nodes.sg_id]
    assert state.doc.resource("redis.replication_group")["outputs"] == {
        "id": NAME, "address": node_group["PrimaryEndpoint"]["Address"], "port": 6379}
    assert state.doc.resource("redis.subnet_group")["outputs"] == {"id": GROUP, "name": GROUP}

    before = aws.calls.mutating
    again = converge(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before


def test_the_auth_token_reaches_aws_and_nothing_else(aws, stack, clock):
    state, nodes = stack
    sent = []
    aws.client("elasticache").meta.events.register(
        "provide-client-params.elasticache.CreateReplicationGroup", lambda params, **_: sent.append(params.get("AuthToken")))
    with capture_logs() as logs:
        run = converge(aws, state, nodes=nodes(), clock=clock)
        plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    assert sent == [TOKEN]
    assert logs and TOKEN not in repr(logs)
    handler = ReplicationGroup(aws, env="dev", clock=clock.as_clock())
    obs = handler.read(NAME)
    assert TOKEN not in repr(obs) and TOKEN not in repr(handler.outputs(obs))
    assert TOKEN not in repr(run.results) and TOKEN not in repr(plan.results)
    assert TOKEN not in state.doc.to_json()
    assert all(TOKEN not in saved for saved in state.saves)


def test_changes_behind_our_back_are_planned_then_put_back(aws, ec, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    ec.modify_replication_group(ReplicationGroupId=NAME, CacheNodeType="cache.t3.small", ApplyImmediately=True)
    ec.remove_tags_from_resource(ResourceName=replication_group(ec)["ARN"], TagKeys=["Environment"])
    subnet_group_arn = ec.describe_cache_subnet_groups(CacheSubnetGroupName=GROUP)["CacheSubnetGroups"][0]["ARN"]
    ec.remove_tags_from_resource(ResourceName=subnet_group_arn, TagKeys=["Name"])

    plan = converge(aws, state, nodes=nodes(), clock=clock, plan=True)
    changed = {r.key: {d.field for d in r.changes} for r in plan.results if r.action != "unchanged"}
    assert changed == {"redis.subnet_group": {"tags.Name"}, "redis.replication_group": {"node_type", "tags.Environment"}}

    sent = []
    aws.client("elasticache").meta.events.register(
        "provide-client-params.elasticache.ModifyReplicationGroup", lambda params, **_: sent.append(params))
    converge(aws, state, nodes=nodes(), clock=clock)
    assert sent == [{"ReplicationGroupId": NAME, "ApplyImmediately": True, "CacheNodeType": "cache.t3.micro"}]
    group = replication_group(ec)
    assert group["CacheNodeType"] == "cache.t3.micro"
    assert tags(ec.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]) == ownership(NAME)
    assert tags(ec.list_tags_for_resource(ResourceName=subnet_group_arn)["TagList"]) == ownership(GROUP)


def test_deleted_behind_our_back_is_recreated(aws, ec, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    ec.delete_replication_group(ReplicationGroupId=NAME)
    run = converge(aws, state, nodes=nodes(), clock=clock)
    assert redis_actions(run) == {"redis.subnet_group": "unchanged", "redis.replication_group": "create"}
    assert replication_group(ec)["MemberClusters"] == ["redis-dev-001", "redis-dev-002"]


def test_destroy_then_destroy_again_then_recreate_with_the_same_id(aws, ec, stack, clock):
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=clock)
    run = destroy(aws, state, nodes=nodes(), clock=clock)
    assert redis_actions(run) == dict.fromkeys(REDIS_KEYS, "delete")
    assert gone(ec.describe_replication_groups, ReplicationGroupId=NAME) == "ReplicationGroupNotFoundFault"
    assert gone(ec.describe_cache_subnet_groups, CacheSubnetGroupName=GROUP) == "CacheSubnetGroupNotFoundFault"
    assert ec.describe_cache_clusters()["CacheClusters"] == []
    assert all(state.doc.resource(k) is None for k in REDIS_KEYS)
    again = destroy(aws, state, nodes=nodes(), clock=clock)
    assert set(actions(again).values()) == {"absent"}

    # The same id and subnet group name are free again at once (A-18, with the fidelity layer).
    rebuilt = converge(aws, state, nodes=nodes(), clock=clock)
    assert redis_actions(rebuilt) == dict.fromkeys(REDIS_KEYS, "create")
    assert replication_group(ec)["Status"] == "available"


# -- validation before any call (moto accepts all of these, A-17) --------------------------------

# -- D-EC-1: a group reads available while a new member is still creating -------------------------

def member_states(ec) -> dict[str, tuple[str, str]]:
    """Every member of the group: (status, node type)."""
    clusters = ec.describe_cache_clusters()["CacheClusters"]
    return {c["CacheClusterId"]: (c["CacheClusterStatus"], c["CacheNodeType"]) for c in clusters if c.get("ReplicationGroupId") == NAME}


@pytest.fixture
def replicas_lag(clock):
    """The layer on the handlers' own clock, with new replicas creating after their group's change."""
    with layer_clock.use(clock):
        layer_clock.switch(elasticache_modify.REPLICA_LAG, True)
        yield clock


def test_a_replica_count_change_then_a_node_type_change_in_one_run_waits_for_every_member(aws, ec, stack, replicas_lag):
    """D-EC-1: the node type change meets InvalidReplicationGroupState while the replica is being
    added, then InvalidCacheClusterState while it is still creating; both are waited out, and the
    run ends with the group and every member available."""
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=replicas_lag)
    started = replicas_lag.now()
    run = converge(aws, state, nodes=nodes(EnvConfig(redis_num_nodes=3, redis_node_type="cache.t3.small")), clock=replicas_lag)
    assert redis_actions(run) == {"redis.subnet_group": "unchanged", "redis.replication_group": "update"}
    assert replication_group(ec)["Status"] == "available" and replication_group(ec)["CacheNodeType"] == "cache.t3.small"
    assert member_states(ec) == dict.fromkeys([f"{NAME}-001", f"{NAME}-002", f"{NAME}-003"], ("available", "cache.t3.small"))
    modify, create = layer_clock.duration("elasticache.modify"), layer_clock.duration("elasticache.replica_create")
    assert replicas_lag.now() - started >= 2 * modify + create


def test_a_replica_count_change_is_done_only_once_the_new_member_is_available(aws, ec, stack, replicas_lag):
    """D-EC-1: done is the group and every member available, not the group alone."""
    state, nodes = stack
    converge(aws, state, nodes=nodes(), clock=replicas_lag)
    run = converge(aws, state, nodes=nodes(EnvConfig(redis_num_nodes=3)), clock=replicas_lag)
    assert redis_actions(run)["redis.replication_group"] == "update"
    assert {status for status, _ in member_states(ec).values()} == {"available"} and len(member_states(ec)) == 3


def rg_spec(**changes) -> dict:
    _, rg = redis_nodes("dev", EnvConfig(), 2)
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth-dev-AbCdEf"
    return {**rg.spec, "auth_token_secret_arn": arn, "subnet_group": GROUP, "security_group_ids": ["sg-0b", "sg-0a"], **changes}


@pytest.mark.parametrize("changes, rule", [
    ({"name": "redis-" + "x" * 35}, "ids are 1-40 letters"),  # B-EC-1
    ({"name": "redis--dev"}, "ids are 1-40 letters"),
    ({"name": "1redis"}, "ids are 1-40 letters"),
    ({"num_cache_clusters": 1}, "automatic failover needs at least 2 cache clusters, got 1"),  # B-EC-2
    ({"num_cache_clusters": 7}, "num_cache_clusters = 7; a group has 1 primary and up to 5 replicas"),
    ({"automatic_failover": False}, "Multi-AZ requires automatic failover"),  # B-EC-3
    ({"transit_encryption": False}, "an AUTH token is only accepted with in-transit encryption"),  # B-EC-4
    ({"engine_version": "4.0.9"}, "in-transit encryption needs Redis OSS 4.0.10 or later"),  # B-EC-5
])
def test_aws_rules_moto_does_not_enforce_are_refused_by_validate(changes, rule):
    problems = ReplicationGroup(Aws(REGION), env="dev").validate(rg_spec(**changes))
    assert any(rule in p for p in problems), problems


def test_validate_accepts_the_stack_at_its_edges():
    handler = ReplicationGroup(Aws(REGION), env="dev")
    assert handler.validate(rg_spec()) == [] and handler.validate(rg_spec(name="r" * 40)) == []


def test_desired_sorts_security_groups_and_accepts_the_stack():
    desired = ReplicationGroup(Aws(REGION), env="dev").desired(rg_spec())
    assert desired["security_group_ids"] == ["sg-0a", "sg-0b"]
    assert ReplicationGroup(Aws(REGION), env="dev").desired(rg_spec(name="r" * 40))["name"] == "r" * 40


def test_a_secret_without_a_valid_token_is_refused_without_showing_it(aws, moto_aws):
    secrets = boto3.client("secretsmanager", region_name=REGION)
    handler = ReplicationGroup(aws, env="dev")
    short = secrets.create_secret(Name="short", SecretString=json.dumps({"auth_token": "tooShort@1"}))["ARN"]
    with pytest.raises(ResourceError, match="does not hold 16-128 letters") as caught:  # B-EC-4
        handler.create(rg_spec(auth_token_secret_arn=short), "token")
    assert "tooShort" not in str(caught.value)
    plain = secrets.create_secret(Name="plain", SecretString="just-a-string")["ARN"]
    with pytest.raises(ResourceError, match="auth_token key"):
        handler.create(rg_spec(auth_token_secret_arn=plain), "token")
    assert aws.calls.counts[("elasticache", "CreateReplicationGroup")] == 0


def test_subnets_in_one_az_are_refused(aws, stack, clock):
    state, _ = stack
    spec = {"name": GROUP, "tags": ownership(GROUP), "description": "d", "subnet_ids": [state.doc.resource("subnet.isolated.2")["id"]]}
    with pytest.raises(ResourceError, match="us-east-1b"):
        CacheSubnetGroup(aws, env="dev", clock=clock.as_clock()).create(spec, "token")


# -- Stubber: what moto cannot show -------------------------------------------------------------

ARN = f"arn:aws:elasticache:us-east-1:123456789012:replicationgroup:{NAME}"


def rg_answer(status: str, *, members: int = 2, endpoint: bool = True) -> dict:
    node_group = {"NodeGroupId": "0001", "Status": status, "NodeGroupMembers": []}
    if endpoint:
        node_group["PrimaryEndpoint"] = {"Address": f"master.{NAME}.abc.use1.cache.amazonaws.com", "Port": 6379}
    return {
        "ReplicationGroupId": NAME, "Description": "Video metadata cache of dev", "Status": status,
        "MemberClusters": [f"{NAME}-00{i}" for i in range(1, members + 1)], "NodeGroups": [node_group],
        "AutomaticFailover": "enabled", "MultiAZ": "enabled", "CacheNodeType": "cache.t3.micro",
        "AtRestEncryptionEnabled": True, "TransitEncryptionEnabled": True, "ARN": ARN, "Engine": "redis",
    }


@pytest.fixture
def stubbed(clock):
    aws = Aws(REGION)
    stubber = Stubber(aws.client("elasticache"))
    with stubber:
        yield ReplicationGroup(aws, env="dev", clock=clock.as_clock()), stubber
    stubber.assert_no_pending_responses()


def describe(stubber: Stubber, *answers: dict) -> None:
    for answer in answers:
        stubber.add_response("describe_replication_groups", {"ReplicationGroups": [answer]}, {"ReplicationGroupId": NAME})


def members(stubber: Stubber, *statuses: str) -> None:
    """DescribeCacheClusters of each member in turn, as the wait reads them once the group is available."""
    for i, status in enumerate(statuses, 1):
        member = f"{NAME}-00{i}"
        stubber.add_response("describe_cache_clusters", {"CacheClusters": [{"CacheClusterId": member, "CacheClusterStatus": status}]},
                             {"CacheClusterId": member})


def wait_ready(handler, clock):
    return wait_for(lambda: handler.refresh(NAME), Status.READY, what=f"replication_group {NAME}",
                    timeout=ReplicationGroup.create_timeout, ceiling=ReplicationGroup.poll_ceiling, clock=clock.as_clock())


def test_creating_then_available_and_no_address_before(stubbed, clock):
    handler, stubber = stubbed
    describe(stubber, rg_answer("creating", endpoint=False), rg_answer("creating", endpoint=False), rg_answer("available"))
    members(stubber, "available", "available")
    assert wait_ready(handler, clock).status is Status.READY
    assert clock.sleeps == [1.0, 1.5]
    creating = Observed(NAME, {}, {}, rg_answer("creating", endpoint=False))
    assert handler.outputs(creating) == {"id": NAME}


def test_an_available_group_with_a_member_still_creating_is_pending(stubbed, clock):
    """D-EC-1: ready is the group and every member available."""
    handler, stubber = stubbed
    describe(stubber, rg_answer("available", members=3))
    members(stubber, "available", "available", "creating")
    describe(stubber, rg_answer("available", members=3))
    members(stubber, "available", "available", "available")
    assert wait_ready(handler, clock).status is Status.READY
    assert len(clock.sleeps) == 1


def test_create_failed_fails_the_wait(stubbed, clock):
    handler, stubber = stubbed
    describe(stubber, rg_answer("creating", endpoint=False), rg_answer("create-failed", endpoint=False))
    with pytest.raises(ResourceError, match="create-failed"):
        wait_ready(handler, clock)
    assert clock.now() < 10


def test_deleting_is_pending_then_not_found_is_gone(stubbed, clock):
    handler, stubber = stubbed
    describe(stubber, rg_answer("deleting"))
    stubber.add_client_error("describe_replication_groups", "ReplicationGroupNotFoundFault", http_status_code=404,
                             expected_params={"ReplicationGroupId": NAME})
    result = wait_for(lambda: handler.refresh(NAME), Status.GONE, what=NAME, timeout=ReplicationGroup.delete_timeout,
                      ceiling=ReplicationGroup.poll_ceiling, clock=clock.as_clock())
    assert result.status is Status.GONE


REDIS_VERSIONS = {"CacheEngineVersions": [
    {"Engine": "redis", "EngineVersion": v, "CacheParameterGroupFamily": f} for v, f in (
        ("5.0.6", "redis5.0"), ("6.0", "redis6.x"), ("6.2", "redis6.x"), ("7.0", "redis7"), ("7.1", "redis7"))]}


def engine_versions(stubber) -> None:
    stubber.add_response("describe_cache_engine_versions", REDIS_VERSIONS, {"Engine": "redis"})


def test_engine_version_in_the_spec_matches_the_patch_level_aws_reports(stubbed):
    handler, stubber = stubbed
    desired = handler.desired(rg_spec())
    observed = {k: v for k, v in desired.items() if k not in ("name", "tags", "auth_token_secret_arn")}
    obs = Observed(NAME, {**observed, "engine_version": "7.1.0"}, ownership(NAME))
    assert lifecycle.diff(handler, desired, obs) == []  # in sync: no read of the engine versions
    older = Observed(NAME, {**observed, "engine_version": "7.0.7"}, ownership(NAME))
    engine_versions(stubber)
    [d] = lifecycle.diff(handler, handler.desired(rg_spec(engine_version="7.1")), older)
    assert (d.field, d.expected, d.actual, d.change) == ("engine_version", "7.1", "7.0.7", Change.DOWNTIME)


def test_an_upgrade_must_be_offered_and_a_custom_parameter_group_is_refused_across_families(stubbed):
    """C-EC-3: one DescribeCacheEngineVersions per differing version diff."""
    handler, stubber = stubbed
    six = Observed(NAME, {"engine": "redis", "engine_version": "6.2.6", "parameter_group": "default.redis6.x"}, {})
    engine_versions(stubber)
    major_up = handler.classify(FieldDiff("engine_version", "7.1", "6.2.6"), six)
    assert major_up.change is Change.DOWNTIME and "failover" in major_up.why and "default.redis7" in major_up.why
    engine_versions(stubber)
    missing = handler.classify(FieldDiff("engine_version", "7.3", "6.2.6"), six)
    assert missing.change is Change.IMPOSSIBLE
    assert "offers no redis 7.3" in missing.why and "offered: 7.0, 7.1" in missing.why
    custom = Observed(NAME, {"engine": "redis", "engine_version": "6.2.6", "parameter_group": "tuned-redis6"}, {})
    engine_versions(stubber)
    refused = handler.classify(FieldDiff("engine_version", "7.1", "6.2.6"), custom)
    assert refused.change is Change.IMPOSSIBLE and "custom parameter group tuned-redis6" in refused.why
    engine_versions(stubber)
    assert handler.classify(FieldDiff("engine_version", "6.2", "6.0.5"), custom).change is Change.DOWNTIME  # same family


def test_an_upgrade_across_families_names_the_new_default_parameter_group(stubbed):
    handler, stubber = stubbed
    six = Observed(NAME, {"engine": "redis", "engine_version": "6.2", "parameter_group": "default.redis6.x"}, {})
    engine_versions(stubber)
    stubber.add_response("modify_replication_group", {}, {
        "ReplicationGroupId": NAME, "ApplyImmediately": True, "EngineVersion": "7.1", "CacheParameterGroupName": "default.redis7"})
    handler.update_fields(rg_spec(), six, [FieldDiff("engine_version", "7.1", "6.2")])
    seven = Observed(NAME, {"engine": "redis", "engine_version": "7.0", "parameter_group": "default.redis7"}, {})
    engine_versions(stubber)
    stubber.add_response("modify_replication_group", {}, {"ReplicationGroupId": NAME, "ApplyImmediately": True, "EngineVersion": "7.1"})
    handler.update_fields(rg_spec(), seven, [FieldDiff("engine_version", "7.1", "7.0")])


def test_more_nodes_are_added_before_the_modify_and_fewer_removed_after(stubbed):
    handler, stubber = stubbed
    obs = Observed(NAME, {"engine_version": "7.1"}, {})
    stubber.add_response("increase_replica_count", {}, {"ReplicationGroupId": NAME, "NewReplicaCount": 2, "ApplyImmediately": True})
    stubber.add_response("modify_replication_group", {}, {
        "ReplicationGroupId": NAME, "ApplyImmediately": True, "SecurityGroupIds": ["sg-0a", "sg-0c"]})
    handler.update_fields(rg_spec(), obs, [
        FieldDiff("num_cache_clusters", 3, 2), FieldDiff("security_group_ids", ["sg-0a", "sg-0c"], ["sg-0a"])])

    stubber.add_response("modify_replication_group", {}, {
        "ReplicationGroupId": NAME, "ApplyImmediately": True, "CacheNodeType": "cache.t3.small"})
    stubber.add_response("decrease_replica_count", {}, {"ReplicationGroupId": NAME, "NewReplicaCount": 1, "ApplyImmediately": True})
    handler.update_fields(rg_spec(), obs, [
        FieldDiff("node_type", "cache.t3.small", "cache.t3.micro"), FieldDiff("num_cache_clusters", 2, 3)])


def test_a_busy_group_is_modified_once_it_accepts_and_a_downgrade_is_refused(stubbed, clock):
    handler, stubber = stubbed
    params = {"ReplicationGroupId": NAME, "ApplyImmediately": True, "EngineVersion": "7.2"}
    stubber.add_client_error("modify_replication_group", "InvalidReplicationGroupState", expected_params=params)
    stubber.add_response("modify_replication_group", {}, params)
    handler.update_fields(rg_spec(), Observed(NAME, {"engine_version": "7.1.0"}, {}), [FieldDiff("engine_version", "7.2", "7.1.0")])
    assert clock.sleeps == [5.0]
    downgrade = handler.classify(FieldDiff("engine_version", "6.x", "7.1.0"), Observed(NAME, {"engine_version": "7.1.0"}, {}))
    assert downgrade.change is Change.IMPOSSIBLE and "downgraded" in downgrade.why
    node_type = handler.classify(FieldDiff("node_type", "cache.t3.small", "cache.t3.micro"), Observed(NAME, {}, {}))
    assert node_type.change is Change.DOWNTIME


def test_cache_subnet_group_update_sends_description_and_all_subnets(aws, stack, clock):
    state, _ = stack
    subnets = sorted(state.doc.resource(f"subnet.isolated.{i}")["id"] for i in (1, 2))
    spec = {"name": GROUP, "tags": ownership(GROUP), "description": "new words", "subnet_ids": subnets}
    with Stubber(aws.client("elasticache")) as stubber:
        stubber.add_response("modify_cache_subnet_group", {}, {
            "CacheSubnetGroupName": GROUP, "CacheSubnetGroupDescription": "new words", "SubnetIds": subnets})
        CacheSubnetGroup(aws, env="dev", clock=clock.as_clock()).update_fields(
            spec, Observed(GROUP, {}, {}), [FieldDiff("description", "new words", "old words")])
        stubber.assert_no_pending_responses()


def test_cache_subnet_group_delete_waits_while_in_use(clock):
    aws = Aws(REGION)
    with Stubber(aws.client("elasticache")) as stubber:
        stubber.add_client_error("delete_cache_subnet_group", "CacheSubnetGroupInUse", expected_params={"CacheSubnetGroupName": GROUP})
        stubber.add_response("delete_cache_subnet_group", {}, {"CacheSubnetGroupName": GROUP})
        CacheSubnetGroup(aws, env="dev", clock=clock.as_clock()).delete(Observed(GROUP, {}, {}))
        stubber.assert_no_pending_responses()
    assert clock.sleeps == [5.0]

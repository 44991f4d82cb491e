"""The handler contract, one suite over every resource kind of the stack.

Every node kind of the full stack (``every_node`` under ``every_config``: the optional nodes too)
is held to the same six cases, on ONE environment converged once for the module on in-process
moto, on the fidelity layer's clock (tests/day2/environment.py: no wall time is waited):

1. created, a second run of the node changes nothing (no mutating call);
2. a declared in-place field changed: the run updates it, the next run finds nothing to do;
3. deleted behind the tool's back (the handler's own ``remove``): the next run creates it again
   and converges, and the whole stack is re-converged after it (dependents follow the new id);
4. its state entry lost: the run adopts it, same id, no mutating call; and the whole state lost
   (MemoryState.lose), a reconcile of the whole stack adopts every node, with no mutating call;
5. torn down: gone, read back with the test's own client;
6. torn down when already gone: no error.

A "run" of a node is the engine's own step for it (``Reconciler.reconcile``, the step every walk
of bin/reconcile makes), with the dependencies' outputs the state recorded, so one node's case
costs that node's calls only. Cases 5 and 6 are the teardown walk itself, once for the whole
stack at the end of the module (dependents first, as AWS requires).

Existence and absence are read with the test's OWN boto3 clients (tests/contract/readers.py: one
raw describe per kind, written from the AWS API reference), never through the state or a
handler's ``read``: a handler whose read is wrong cannot agree with itself here.

Adding a kind is adding its handler and its node to a stack module: the suite picks it up from
the stack. What a kind may add here is data only: its line in readers.py (required: the suite
names a kind without one), a value in UPDATES when no generic in-place change fits, a reason in
one of the exclusion tables below. The hand-written tests of tests/resources keep what a kind
asserts beyond this contract (the values it sets, its companions, the order of its calls).
"""
from __future__ import annotations

import dataclasses

import pytest

from orchestrator.config import EnvConfig
from orchestrator.reconciler import NodeResult, Reconciler
from orchestrator.run import teardown_stack
from orchestrator.spec import resolve
from orchestrator.stack import every_config, every_node
from orchestrator.waiting import wait_for
from resources.base import Change, Observed, Status
from state import StateDocument
from tests.contract.readers import READERS, live
from tests.day2.environment import ENV, Day2Env, mutating, running_environment
from orchestrator import lifecycle

CFG = every_config(EnvConfig())
NODES = every_node(ENV, CFG, ["us-east-1a", "us-east-1b"])
KINDS = sorted({n.handler.kind for n in NODES})
# One node stands for its kind where a case changes something: the first of the stack.
FIRST = {kind: next(n for n in NODES if n.handler.kind == kind) for kind in KINDS}
IN_PLACE = (Change.IN_PLACE, Change.DOWNTIME)


def _fewer_statements(field: str):
    return lambda spec: {field: {**spec[field], "Statement": spec[field]["Statement"][:1]}}


# Case 2, where no generic change fits (UPDATES) or none is possible (the other two tables). The
# generic change (``generic_change``): a new description, else a flipped switch, else a list one
# item shorter, of the first in-place field that has one.
UPDATES = {
    "log_group": lambda spec: {"retention_days": 60},
    "apigateway_execution_log_group": lambda spec: {"retention_days": 60},
    "default_security_group": lambda spec: {"egress": [
        {"protocol": "tcp", "from_port": 443, "to_port": 443, "source": "10.0.0.0/16", "description": "contract"}]},
    "ecs_cluster": lambda spec: {"container_insights": "disabled"},
    "elbv2_target_group": lambda spec: {"health_check": {**spec["health_check"], "healthy_threshold": 5}},
    "ecs_task_definition": lambda spec: {"memory": "1024"},
    "efs_file_system_policy": _fewer_statements("policy"),
    "secret_policy": _fewer_statements("policy"),
    # Another resource of the kind the stack has not: planned only (PLAN_ONLY).
    "internet_gateway": lambda spec: {"vpc_id": "vpc-0123456789abcdef0"},
    "waf_web_acl_association": lambda spec: {
        "web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/another/0123"},
    "waf_logging": lambda spec: {
        "log_destination": "arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-another"},
}
# Kinds AWS changes by replacement only: every field of theirs is a replacement (asserted).
NO_IN_PLACE = {"subnet", "elastic_ip", "nat_gateway", "efs_access_point", "flow_log"}
# Kinds whose change is planned (read-only: the plan must show it as an update of that field)
# but not applied: their only in-place field names a resource the stack has not, or moto does
# not implement the call (the fidelity layer neither).
PLAN_ONLY = {
    "internet_gateway": "its only in-place field (vpc_id) moves it to another VPC",
    "waf_web_acl_association": "its only in-place field (web_acl_arn) names another web ACL",
    "waf_logging": "its only in-place field (log_destination) names another log group",
    "cache_subnet_group": "moto has no ModifyCacheSubnetGroup",
    "vpc_link": "moto has no UpdateVpcLink",
}

# Case 3: kinds AWS refuses to delete while the rest of the stack stands (DependencyViolation,
# in use): they are covered by the teardown (case 5), which deletes their dependents first.
NOT_DELETED_ALONE = {
    "vpc": "holds every subnet, gateway and group of the stack",
    "subnet": "holds the NAT gateways', tasks', databases' and mount targets' interfaces",
    "elastic_ip": "associated with its NAT gateway",
    "security_group": "attached to the interfaces of the NLB, the tasks, RDS, Redis and EFS",
    "default_security_group": "cannot be deleted at all (CannotDelete): it goes with its VPC",
    "default_network_acl": "cannot be deleted at all: it goes with its VPC",
    "db_subnet_group": "in use by the RDS instance",
    "cache_subnet_group": "in use by the replication group",
    "efs_file_system": "holds its mount targets, access point and policy",
    "ecs_cluster": "holds the services",
    "elbv2_target_group": "in use by the load balancer's listener",
    "rest_api": "holds the stage, its deployment and the usage plan's stage",
    "kms_key": "encrypts the RDS instance, whose key cannot change (a new key is a refusal)",
    "waf_web_acl": "associated with the API's stage (WAFAssociatedItemException)",
    # Not a refusal of AWS: the handler's delete keeps the role while the account's API Gateway
    # setting names it and a stage logs through it (it is the region's, not only ours).
    "apigateway_cloudwatch_role": "kept by its own delete while the API's stage logs through it",
}

# Case 6, kinds whose delete of a resource already gone meets a moto answer AWS does not give
# (the rest of the case, a teardown that finds it absent, still runs).
MOTO_CRASHES_ON_GONE = {
    "rest_api": "moto crashes (KeyError) deleting an unknown REST API",
    "usage_plan": "moto crashes (KeyError) on an unknown usage plan",
    # AWS: ServiceNotActiveException, which the handler counts as done.
    "ecs_service": "moto answers UpdateService of a deleted service with a ClientException",
}


def recorded_outputs(doc) -> dict[str, dict]:
    return {key: entry.get("outputs") or {} for key, entry in doc.resources.items()}


def run(env: Day2Env, node, *, plan: bool = False) -> NodeResult:
    """One run of one node: the engine's step for it, its references resolved from the state."""
    save = (lambda: None) if plan else env.state.save
    rec = Reconciler(env.aws, env=ENV, state=env.doc, save=save, clock=env.clock.as_clock(), plan=plan)
    rec.outputs = recorded_outputs(env.doc)
    return rec.reconcile(node)


def nodes_of(kind: str) -> list:
    return [n for n in NODES if n.handler.kind == kind]


def recorded_id(env: Day2Env, key: str) -> str:
    return env.doc.resource(key)["id"]


def generic_change(node) -> dict | None:
    """The generic in-place change of a node's spec, or None."""
    fields = {k: f for k, f in node.handler.fields.items() if f.change in IN_PLACE and not f.create_only}
    value = node.spec.get("description")
    if "description" in fields and isinstance(value, str):
        return {"description": value + " (changed)"}
    for key, f in fields.items():
        if isinstance(node.spec[key], bool):
            return {key: not node.spec[key]}
    for key, f in fields.items():
        if isinstance(node.spec[key], list) and node.spec[key]:
            return {key: node.spec[key][:-1]}
    return None


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with running_environment(tmp_path_factory, CFG) as made:
        yield made


def test_every_kind_has_a_reader():
    """A kind added to the stack without its line in readers.py fails here, by name."""
    assert set(KINDS) - set(READERS) == set()
    # Every exception names a kind of the stack: one that left it leaves no stale entry behind.
    excepted = {*UPDATES, *NO_IN_PLACE, *PLAN_ONLY, *NOT_DELETED_ALONE}
    assert excepted - set(KINDS) == set()


@pytest.mark.parametrize("kind", KINDS)
def test_1_a_second_run_changes_nothing(env, kind):
    for node in nodes_of(kind):
        before = env.snapshot()
        result = run(env, node)
        assert (result.action, result.id) == ("unchanged", recorded_id(env, node.key)), node.key
        assert mutating(before, env.snapshot()) == {}, node.key
        assert live(kind, result.id), node.key


@pytest.mark.parametrize("kind", KINDS)
def test_2_an_in_place_field_is_updated(env, kind):
    node = FIRST[kind]
    in_place = sorted(k for k, f in node.handler.fields.items() if f.change in IN_PLACE and not f.create_only)
    if kind in NO_IN_PLACE:
        assert in_place == [], f"{kind} declares in-place fields now: give it a change in UPDATES"
        return
    change = UPDATES[kind](node.spec) if kind in UPDATES else generic_change(node)
    assert change is not None, f"{kind}: no generic in-place change fits: add one to UPDATES"
    assert set(change) <= set(in_place), f"{kind}: {sorted(change)} is not an in-place field"
    changed = dataclasses.replace(node, spec={**node.spec, **change})
    if kind in PLAN_ONLY:
        before = env.snapshot()
        planned = run(env, changed, plan=True)
        assert planned.action == "update" and {d.field for d in planned.changes} == set(change), planned.changes
        assert mutating(before, env.snapshot()) == {}
        return  # planned, not applied (PLAN_ONLY says why)
    outputs = env.doc.resource(node.key)["outputs"]

    result = run(env, changed)
    assert result.action == "update" and {d.field for d in result.changes} == set(change), result.changes
    assert run(env, changed).action == "unchanged", "the update did not hold"
    assert run(env, node).action == "update"  # back as the stack has it
    if env.doc.resource(node.key)["outputs"] != outputs:
        assert env.apply().ok  # a new revision: its dependents follow it
    assert run(env, node).action == "unchanged"


def delete_behind_our_back(env: Day2Env, node, resource_id: str) -> None:
    """The handler's own delete, as a person's console click would, waited for until gone."""
    rec = Reconciler(env.aws, env=ENV, state=env.doc, save=lambda: None, clock=env.clock.as_clock())
    h = rec.handler(node)
    lifecycle.remove(h, h.read(resource_id), resolve(node.spec, {}))
    wait_for(lambda: h.refresh(resource_id), Status.GONE, what=node.key, timeout=h.delete_timeout,
             ceiling=h.poll_ceiling, clock=env.clock.as_clock())


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in NOT_DELETED_ALONE])
def test_3_deleted_behind_our_back_is_created_again(env, kind):
    node = FIRST[kind]
    old = recorded_id(env, node.key)
    delete_behind_our_back(env, node, old)
    assert not live(kind, old)

    result = run(env, node)
    assert result.action == "create" and live(kind, result.id)
    assert run(env, node).action == "unchanged"
    # Dependents follow the new id; a replacement that follows (the VPC link of a new NLB, and
    # with it the API's execution logs) is consented to: restoring the stack is the point.
    restored = env.apply(allow_replace=frozenset(n.key for n in NODES))
    assert restored.ok and not restored.refused, restored.failures
    assert run(env, node).action == "unchanged"


@pytest.mark.parametrize("kind", KINDS)
def test_4_adopted_after_state_loss(env, kind):
    for node in nodes_of(kind):
        known = recorded_id(env, node.key)
        env.doc.remove_resource(node.key)  # the state lost this node's entry
        before = env.snapshot()
        result = run(env, node)
        assert (result.action, result.id) == ("unchanged", known), node.key
        assert mutating(before, env.snapshot()) == {}, node.key
        assert recorded_id(env, node.key) == known


@pytest.fixture(scope="module")
def whole_state_lost(env):
    """The state file lost whole (MemoryState.lose: no entry, no AZs, no outputs), then one
    reconcile of the whole stack, as bin/reconcile makes it: (ids before, results, its mutating calls)."""
    ids = {key: entry["id"] for key, entry in env.doc.resources.items()}
    env.state.lose()
    run = env.apply()
    assert run.ok and not run.refused, run.failures
    return ids, {r.key: r for r in run.results}, env.last_calls


@pytest.mark.parametrize("kind", KINDS)
def test_4_adopted_after_the_whole_state_is_lost(env, whole_state_lost, kind):
    ids, results, calls = whole_state_lost
    for node in nodes_of(kind):
        assert (results[node.key].action, results[node.key].id) == ("unchanged", ids[node.key]), node.key
        assert recorded_id(env, node.key) == ids[node.key]
    assert calls == {}


@dataclasses.dataclass
class TornDown:
    ids: dict[str, str]  # node key -> the id recorded before the teardown
    seen: dict[str, Observed]  # node key -> its resource as read before the teardown
    first: dict[str, NodeResult]
    left: set[str]  # the keys the state still had after the first teardown
    again: dict[str, NodeResult]


@pytest.fixture(scope="module")
def torn_down(env):
    """The whole stack torn down once, then torn down again from the state it had before (each
    node's recorded id now names nothing)."""
    doc = env.state.doc
    before = StateDocument.from_json(doc.to_json(), env=doc.env, region=doc.region, account=doc.account)
    ids = {key: entry["id"] for key, entry in before.resources.items()}
    rec = Reconciler(env.aws, env=ENV, state=doc, save=lambda: None, clock=env.clock.as_clock())
    seen = {n.key: rec.handler(n).read(ids[n.key]) for n in NODES}
    first = teardown_stack(env.aws, env=ENV, doc=env.doc, save=env.state.save, cfg=CFG, clock=env.clock.as_clock(),
                           nodes=NODES)
    assert first.ok, first.failures
    left = set(env.doc.resources)
    env.state.doc = before
    again = teardown_stack(env.aws, env=ENV, doc=env.doc, save=env.state.save, cfg=CFG, clock=env.clock.as_clock(),
                           nodes=NODES)
    assert again.ok, again.failures
    return TornDown(ids, seen, {r.key: r for r in first.results}, left, {r.key: r for r in again.results})


@pytest.mark.parametrize("kind", KINDS)
def test_5_torn_down_is_gone(torn_down, kind):
    for node in nodes_of(kind):
        assert torn_down.first[node.key].action == "delete", node.key
        assert not live(kind, torn_down.ids[node.key]), node.key
        assert node.key not in torn_down.left


@pytest.mark.parametrize("kind", KINDS)
def test_6_torn_down_when_already_gone(env, torn_down, kind):
    rec = Reconciler(env.aws, env=ENV, state=env.doc, save=lambda: None, clock=env.clock.as_clock())
    for node in nodes_of(kind):
        assert torn_down.again[node.key].action == "absent", node.key
        assert env.doc.resource(node.key) is None
        # The handler's delete of what is gone counts as done (its not-found codes), as a
        # teardown that lost the race with another one meets it.
        if kind not in MOTO_CRASHES_ON_GONE:
            lifecycle.remove(rec.handler(node), torn_down.seen[node.key], resolve(node.spec, {}))

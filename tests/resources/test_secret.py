"""Secret handlers on moto: the generated Redis AUTH token and the API key secret, read back with the test's own clients.

The API key is made with the test's own API Gateway client and its id replaces the Ref to the
API Gateway node. Secret values are read only by the test, to check where they must never appear.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import re

import boto3
import pytest
import structlog.testing
from botocore.stub import Stubber

from orchestrator.config import EnvConfig
from orchestrator.reconciler import Reconciler, idempotency_token
from orchestrator.run import reconcile_stack
from orchestrator.spec import Node
from orchestrator.stack.security import key_nodes, secret_nodes
from resources.base import ResourceError, Status
from resources.aws.clock import FakeClock
from resources.security.secret import ApiKeySecret, GeneratedSecret
from tests.conftest import REGION
from tests.resources.network import changed_fields, ownership, recorded_id
from tests.support.memory_state import MemoryState
from tests.support.stack import actions as all_actions, converge, destroy

NAMES = {"secret.redis_auth": "redis-auth-dev", "secret.api_key": "api-keys-dev"}


@pytest.fixture
def sm(moto_aws):
    return boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def apigw(moto_aws):
    return boto3.client("apigateway", region_name=REGION)


@pytest.fixture
def api_key(apigw) -> str:
    return apigw.create_api_key(name="api-key-dev", enabled=True)["id"]


def actions(run) -> dict[str, str]:
    # The environment's KMS key is converged with these nodes (they are encrypted with it).
    return {k: a for k, a in all_actions(run).items() if k != "kms.key"}


def nodes(key_id: str):
    # The secrets are encrypted with the environment's key (docs/configuration.md "secrets").
    out = []
    for node in secret_nodes("dev", EnvConfig()):
        if node.key == "secret.api_key":
            node = dataclasses.replace(node, spec={**node.spec, "api_key_id": key_id})
        out.append(node)
    return out + key_nodes("dev", EnvConfig())


def converged(aws, clock, key_id):
    state = MemoryState()
    converge(aws, state, nodes=nodes(key_id), clock=clock)
    return state


def describe(sm, name: str) -> dict:
    return sm.describe_secret(SecretId=name)


def value(sm, name: str) -> dict:
    return json.loads(sm.get_secret_value(SecretId=name)["SecretString"])


def key_value(apigw, key_id: str) -> str:
    return apigw.get_api_key(apiKey=key_id, includeValue=True)["value"]


def test_create_both_secrets_then_second_run_changes_nothing(aws, sm, apigw, api_key, clock):
    state = MemoryState()
    run = converge(aws, state, nodes=nodes(api_key), clock=clock)
    assert actions(run) == dict.fromkeys(NAMES, "create")
    for key, name in NAMES.items():
        found = describe(sm, name)
        assert {t["Key"]: t["Value"] for t in found["Tags"]}.items() >= ownership(name).items()
        assert recorded_id(state, key) == found["ARN"]
        assert state.doc.resource(key)["outputs"] == {"id": found["ARN"], "arn": found["ARN"], "name": name}
    assert describe(sm, "redis-auth-dev")["Description"] == "AUTH token of the Redis replication group"

    # B-EC-4: 64 letters and digits, a valid Redis AUTH token.
    token = value(sm, "redis-auth-dev")
    assert list(token) == ["auth_token"] and re.fullmatch(r"[A-Za-z0-9]{64}", token["auth_token"])
    # B-SM-3: the version was created with the reconciler's deterministic token.
    [version] = describe(sm, "redis-auth-dev")["VersionIdsToStages"]
    key_arn = state.doc.resource("kms.key")["outputs"]["arn"]
    spec = GeneratedSecret(aws, env="dev").desired({**nodes(api_key)[0].spec, "kms_key_id": key_arn})
    assert version == idempotency_token(state.doc.account, REGION, "dev", "secret.redis_auth", 1, spec)
    # The API key secret holds the very value API Gateway enforces.
    assert value(sm, "api-keys-dev") == {"api_key": key_value(apigw, api_key)}

    before = aws.calls.mutating
    again = converge(aws, state, nodes=nodes(api_key), clock=clock)
    assert set(actions(again).values()) == {"unchanged"}
    assert aws.calls.mutating == before
    assert value(sm, "redis-auth-dev") == token


def test_no_secret_value_reaches_a_log_line_the_observed_state_the_outputs_or_the_state_file(aws, sm, apigw, api_key, clock):
    state = MemoryState()
    by_hand = "rotated-by-hand-0123456789"
    runs, values = [], [key_value(apigw, api_key), by_hand]
    handlers = {"secret.redis_auth": GeneratedSecret(aws, env="dev"), "secret.api_key": ApiKeySecret(aws, env="dev")}
    with structlog.testing.capture_logs() as logs:
        runs.append(converge(aws, state, nodes=nodes(api_key), clock=clock))
        values.append(value(sm, "redis-auth-dev")["auth_token"])
        # The API key value replaced by hand, planned, then put back.
        sm.put_secret_value(SecretId="api-keys-dev", SecretString=json.dumps({"api_key": by_hand}))
        runs.append(converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock))
        runs.append(converge(aws, state, nodes=nodes(api_key), clock=clock))
        # The token scheduled for deletion by hand: force-deleted and made again with a new value.
        sm.delete_secret(SecretId=recorded_id(state, "secret.redis_auth"), RecoveryWindowInDays=7)
        runs.append(converge(aws, state, nodes=nodes(api_key), clock=clock))
        values.append(value(sm, "redis-auth-dev")["auth_token"])
        observed = {k: h.read(recorded_id(state, k)) for k, h in handlers.items()}
        outputs = [h.outputs(observed[k]) for k, h in handlers.items()]
        runs.append(destroy(aws, state, nodes=nodes(api_key), clock=clock))
    assert {e["event"] for e in logs} >= {"resource_created", "resource_updated", "resource_deleted"}
    assert values[2] != values[3]

    everything = "\n".join([
        repr(logs),
        *state.saves,
        state.doc.to_json(),
        repr([(r.outputs, r.changes) for run in runs for r in run.results]),
        repr([(o.attrs, o.tags, o.raw) for o in observed.values()]),
        repr(outputs),
    ])
    for secret in values:
        assert secret not in everything


def test_description_changed_by_hand_is_restored_without_a_new_version(aws, sm, api_key, clock):
    state = converged(aws, clock, api_key)
    versions = describe(sm, "redis-auth-dev")["VersionIdsToStages"]
    sm.update_secret(SecretId="redis-auth-dev", Description="edited")
    plan = converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)
    assert changed_fields(plan) == {"secret.redis_auth": {"description"}}
    converge(aws, state, nodes=nodes(api_key), clock=clock)
    found = describe(sm, "redis-auth-dev")
    assert found["Description"] == "AUTH token of the Redis replication group"
    assert found["VersionIdsToStages"] == versions


def test_api_key_value_replaced_by_hand_is_restored(aws, sm, apigw, api_key, clock):
    state = converged(aws, clock, api_key)
    sm.put_secret_value(SecretId="api-keys-dev", SecretString=json.dumps({"api_key": "rotated-by-hand-0123456789"}))

    plan = converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)
    assert changed_fields(plan) == {"secret.api_key": {"api_key_id"}}
    [change] = [r for r in plan.results if r.key == "secret.api_key"][0].changes
    assert (change.expected, change.actual) == (api_key, None)
    run = converge(aws, state, nodes=nodes(api_key), clock=clock)
    assert actions(run) == {"secret.redis_auth": "unchanged", "secret.api_key": "update"}
    assert value(sm, "api-keys-dev") == {"api_key": key_value(apigw, api_key)}
    assert set(actions(converge(aws, state, nodes=nodes(api_key), clock=clock)).values()) == {"unchanged"}


def test_a_plan_reads_no_secret_value_and_still_sees_a_value_put_by_hand(aws, sm, apigw, api_key, clock):
    # The drift check's policy holds no secretsmanager:GetSecretValue and no API key value: the
    # held key is read from the version ids alone (ApiKeySecret).
    state = converged(aws, clock, api_key)
    before = dict(aws.calls.counts)
    plan = converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)
    made = {k: n - before.get(k, 0) for k, n in aws.calls.counts.items() if n != before.get(k, 0)}
    assert not {("secretsmanager", "GetSecretValue"), ("apigateway", "GetApiKey")} & made.keys(), made
    # Both secrets from one ListSecrets (Handler.describe_many), not a DescribeSecret each.
    assert made.get(("secretsmanager", "ListSecrets")) == 1 and ("secretsmanager", "DescribeSecret") not in made, made
    assert set(actions(plan).values()) == {"unchanged"}

    sm.put_secret_value(SecretId="api-keys-dev", SecretString=json.dumps({"api_key": key_value(apigw, api_key)}))
    before = dict(aws.calls.counts)
    plan = converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)
    # The same value put again by hand is a version the tool did not write: shown, not trusted.
    assert changed_fields(plan) == {"secret.api_key": {"api_key_id"}}
    assert ("secretsmanager", "GetSecretValue") not in {k for k, n in aws.calls.counts.items() if n != before.get(k, 0)}
    # Put back by moving AWSCURRENT to the version the tool wrote: no new version.
    versions = set(describe(sm, "api-keys-dev")["VersionIdsToStages"])
    converge(aws, state, nodes=nodes(api_key), clock=clock)
    assert set(describe(sm, "api-keys-dev")["VersionIdsToStages"]) == versions
    assert value(sm, "api-keys-dev") == {"api_key": key_value(apigw, api_key)}
    assert set(actions(converge(aws, state, nodes=nodes(api_key), clock=clock)).values()) == {"unchanged"}


def test_a_value_of_ours_deprecated_by_two_values_put_by_hand_is_made_current_again(aws, sm, apigw, api_key, clock):
    # The version the tool wrote loses every label (docs/aws-behaviours.md A-50): PutSecretValue
    # under its id changes nothing, so AWSCURRENT is moved back to it.
    state = converged(aws, clock, api_key)
    ours = next(v for v, stages in describe(sm, "api-keys-dev")["VersionIdsToStages"].items() if "AWSCURRENT" in stages)
    for by_hand in ("rotated-by-hand-0123456789", "rotated-by-hand-9876543210"):
        sm.put_secret_value(SecretId="api-keys-dev", SecretString=json.dumps({"api_key": by_hand}))
    assert ours not in describe(sm, "api-keys-dev")["VersionIdsToStages"]
    assert changed_fields(converge(aws, state, nodes=nodes(api_key), plan=True, clock=clock)) == {
        "secret.api_key": {"api_key_id"}}
    converge(aws, state, nodes=nodes(api_key), clock=clock)
    assert describe(sm, "api-keys-dev")["VersionIdsToStages"][ours] == ["AWSCURRENT"]
    assert value(sm, "api-keys-dev") == {"api_key": key_value(apigw, api_key)}
    assert set(actions(converge(aws, state, nodes=nodes(api_key), clock=clock)).values()) == {"unchanged"}


def test_secret_follows_a_new_api_key(aws, sm, apigw, api_key, clock):
    state = converged(aws, clock, api_key)
    arn = recorded_id(state, "secret.api_key")
    new_key = apigw.create_api_key(name="api-key-dev", enabled=True)["id"]
    plan = converge(aws, state, nodes=nodes(new_key), plan=True, clock=clock)
    assert changed_fields(plan) == {"secret.api_key": {"api_key_id"}}
    converge(aws, state, nodes=nodes(new_key), clock=clock)
    assert value(sm, "api-keys-dev") == {"api_key": key_value(apigw, new_key)}
    assert recorded_id(state, "secret.api_key") == arn


@pytest.mark.parametrize("key", list(NAMES))
def test_scheduled_for_deletion_by_hand_is_created_again(aws, sm, api_key, clock, key):
    state = converged(aws, clock, api_key)
    old = recorded_id(state, key)
    sm.delete_secret(SecretId=old, RecoveryWindowInDays=7)
    assert "DeletedDate" in describe(sm, NAMES[key])

    run = converge(aws, state, nodes=nodes(api_key), clock=clock)
    assert actions(run)[key] == "create"
    found = describe(sm, NAMES[key])
    assert "DeletedDate" not in found and found["ARN"] != old
    assert recorded_id(state, key) == found["ARN"]
    assert list(value(sm, NAMES[key])) == [{"secret.redis_auth": "auth_token", "secret.api_key": "api_key"}[key]]


def test_delete_without_recovery_window_and_delete_when_already_gone(aws, sm, api_key, clock):
    state = converged(aws, clock, api_key)
    run = destroy(aws, state, nodes=nodes(api_key), clock=clock)
    assert set(actions(run).values()) == {"delete"}
    for name in NAMES.values():
        with pytest.raises(sm.exceptions.ResourceNotFoundException):
            describe(sm, name)
    again = destroy(aws, state, nodes=nodes(api_key), clock=clock)
    assert set(actions(again).values()) == {"absent"}
    # The names are free at once (docs/usage.md "Teardown").
    assert set(actions(converge(aws, MemoryState(), nodes=nodes(api_key), clock=clock)).values()) == {"create"}


@pytest.mark.parametrize("scheduled", [False, True])
def test_a_secret_of_the_same_name_without_our_tags_is_left_alone(aws, sm, api_key, clock, scheduled):
    arn = sm.create_secret(Name="redis-auth-dev", SecretString="theirs", Tags=[{"Key": "Team", "Value": "other"}])["ARN"]
    if scheduled:
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    state = MemoryState()
    run = reconcile_stack(aws, env="dev", doc=state.doc, save=state.save, clock=clock.as_clock(), nodes=nodes(api_key))
    assert set(run.failures) == {"secret.redis_auth"}
    assert "redis-auth-dev exists but is not managed by video-pipeline-infra" in run.failures["secret.redis_auth"].reason
    assert describe(sm, arn)["ARN"] == arn and ("DeletedDate" in describe(sm, arn)) is scheduled


def test_create_retries_while_the_force_deleted_name_is_still_held(aws, clock):
    # B-SM-2: a force delete is asynchronous on AWS (moto's is immediate).
    handler = GeneratedSecret(aws, env="dev", clock=clock.as_clock())
    spec = handler.desired({**nodes("unused")[0].spec, "kms_key_id": None})
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:redis-auth-dev-AbCdEf"
    scheduled = {"ARN": arn, "Name": "redis-auth-dev", "DeletedDate": datetime.datetime(2030, 1, 1),
                 "Tags": [{"Key": k, "Value": v} for k, v in spec["tags"].items()]}
    scheduled_error = "You can't create this secret because a secret with this name is already scheduled for deletion."
    with Stubber(aws.client("secretsmanager")) as stub:
        stub.add_client_error("create_secret", "InvalidRequestException", scheduled_error)
        stub.add_response("list_secrets", {"SecretList": [scheduled]},
                          {"Filters": [{"Key": "name", "Values": ["redis-auth-dev"]}], "IncludePlannedDeletion": True})
        stub.add_response("delete_secret", {"ARN": arn, "Name": "redis-auth-dev"}, {"SecretId": arn, "ForceDeleteWithoutRecovery": True})
        stub.add_client_error("create_secret", "InvalidRequestException", scheduled_error)
        stub.add_response("create_secret", {"ARN": arn.replace("AbCdEf", "GhIjKl"), "Name": "redis-auth-dev"})
        assert handler.create(spec, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") == arn.replace("AbCdEf", "GhIjKl")
        stub.assert_no_pending_responses()
    assert clock.sleeps


@pytest.mark.parametrize("name", ["redis auth", "x" * 513, "", "sécret"])
def test_names_aws_refuses_are_refused_before_any_call(aws, name):
    # The engine checks every node's spec (GeneratedSecret.validate) before the node's first call.
    spec = {**nodes("unused")[0].spec, "name": name}
    state = MemoryState()
    engine = Reconciler(aws, env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock())
    before = aws.calls.total
    with pytest.raises(ResourceError, match="1-512 ASCII letters"):  # B-SM-1
        engine.reconcile(Node("secret.redis_auth", GeneratedSecret, spec))
    assert aws.calls.total == before


def test_a_six_letter_environment_is_found_by_exact_name_not_as_a_partial_arn(aws, sm, clock):
    # "redis-auth-review" ends like a name plus an ARN suffix (B-SM-1): lookups go by exact
    # name through ListSecrets, and a longer name sharing the prefix is not taken for it.
    sm.create_secret(Name="redis-auth-review-old", SecretString="x")
    [node] = [n for n in secret_nodes("review", EnvConfig()) if n.key == "secret.redis_auth"]
    state = MemoryState(env="review")
    key = key_nodes("review", EnvConfig())
    converge(aws, state, env="review", nodes=key + [node], clock=clock)
    again = converge(aws, state, env="review", nodes=key + [node], clock=clock)
    assert actions(again) == {"secret.redis_auth": "unchanged"}
    names = sorted(s["Name"] for s in sm.list_secrets()["SecretList"])
    assert names == ["redis-auth-review", "redis-auth-review-old"]


def test_a_secret_scheduled_for_deletion_is_deleting_not_live(aws, sm, api_key, clock):
    # B-SM-2: it still answers DescribeSecret (with DeletedDate) and holds its name, but it is
    # on its way out: the engine's read does not hand it back, a teardown's wait goes on.
    state = converged(aws, clock, api_key)
    arn = recorded_id(state, "secret.redis_auth")
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    handler = GeneratedSecret(aws, env="dev", clock=clock.as_clock())
    assert handler.refresh(arn).status is Status.DELETING
    assert handler.read(arn) is None


@pytest.mark.parametrize("field, value, why", [("alphabet", "emoji", "alphabet 'emoji'"), ("length", 0, "length")])
def test_generated_value_rules_are_refused_before_any_call(aws, field, value, why):
    spec = {**nodes("unused")[0].spec, field: value}
    state = MemoryState()
    engine = Reconciler(aws, env="dev", state=state.doc, save=state.save, clock=FakeClock().as_clock())
    before = aws.calls.total
    with pytest.raises(ResourceError, match=f"generated_secret redis-auth-dev: {why}"):
        engine.reconcile(Node("secret.redis_auth", GeneratedSecret, spec))
    assert aws.calls.total == before

"""bin/reconcile --rotate against the moto server (the fidelity layer's ElastiCache AUTH tokens
and Secrets Manager labels, sandbox/fidelity/elasticache_auth.py and secretsmanager.py): the
plan shows it and changes nothing, the apply rotates, nothing shows a token."""
from __future__ import annotations

import json

from orchestrator.rotation import SET_TAG

ENV = "dev"
SECRET = f"redis-auth-{ENV}"


def labels(sm) -> dict[str, list[str]]:
    return {v["VersionId"]: sorted(v["VersionStages"]) for v in sm.list_secret_version_ids(SecretId=SECRET)["Versions"]}


def test_rotate_through_the_real_command(cli, reader):
    assert cli("reconcile", "--env", ENV).code == 0
    sm, ec = reader("secretsmanager"), reader("elasticache")
    [(before, _)] = labels(sm).items()
    old_token = json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])["auth_token"]

    planned = cli("reconcile", "--env", ENV, "--plan", "--rotate", SECRET, "--json")
    assert planned.code == 2, planned.stderr
    assert [(c["resource"], [f["field"] for f in c["changes"]]) for c in planned.json["changes"]] == [
        ("secret.redis_auth", ["rotation"])]
    assert planned.json["aws_calls"]["mutating"] == 0
    assert labels(sm) == {before: ["AWSCURRENT"]}

    done = cli("reconcile", "--env", ENV, "--rotate", "secret.redis_auth", "--json")
    assert done.code == 0, done.stderr
    assert sorted((c["resource"], tuple(f["field"] for f in c["changes"])) for c in done.json["changes"]) == [
        ("ecs.service.api", ("deployment",)), ("ecs.service.worker", ("deployment",)), ("secret.redis_auth", ("rotation",))]
    now = labels(sm)
    [current] = [v for v, stages in now.items() if "AWSCURRENT" in stages]
    assert now == {before: ["AWSPREVIOUS"], current: ["AWSCURRENT"]}
    new_token = json.loads(sm.get_secret_value(SecretId=SECRET)["SecretString"])["auth_token"]
    assert new_token != old_token
    group = ec.describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]
    assert {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]}[SET_TAG] == current
    for token in (old_token, new_token):
        assert token not in done.stdout + done.stderr + planned.stdout + planned.stderr

    # Converged: nothing left to do, nothing drifted.
    assert cli("reconcile", "--env", ENV, "--json").json["changes"] == []
    assert cli("drift", "--env", ENV).code == 0

    bad = cli("reconcile", "--env", ENV, "--rotate", "rds-postgresql-dev")
    assert bad.code == 1 and "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--rotate rds-postgresql-dev: not a secret this tool rotates" in errors[0], bad.stderr
    assert labels(sm) == now


def test_rotate_the_api_key_through_the_real_command(cli, reader):
    assert cli("reconcile", "--env", ENV).code == 0
    apigw, sm = reader("apigateway"), reader("secretsmanager")
    [old] = [k["id"] for k in apigw.get_api_keys()["items"]]
    done = cli("reconcile", "--env", ENV, "--rotate", f"api-keys-{ENV}", "--json")
    assert done.code == 0, done.stderr
    assert sorted(c["resource"] for c in done.json["changes"]) == ["apigw.api_key", "secret.api_key"]
    names = {k["name"]: k["id"] for k in apigw.get_api_keys()["items"]}
    assert names[f"api-key-{ENV}-previous"] == old and set(names) == {f"api-key-{ENV}", f"api-key-{ENV}-previous"}
    new = names[f"api-key-{ENV}"]
    plan = next(p["id"] for p in apigw.get_usage_plans()["items"])
    assert {k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan)["items"]} == {old, new}
    held = json.loads(sm.get_secret_value(SecretId=f"api-keys-{ENV}")["SecretString"])["api_key"]
    values = {i: apigw.get_api_key(apiKey=i, includeValue=True)["value"] for i in (old, new)}
    assert held == values[new]
    for value in values.values():
        assert value not in done.stdout + done.stderr
    # Within the grace period nothing is left to do; teardown deletes both keys.
    assert cli("reconcile", "--env", ENV, "--json").json["changes"] == []
    assert cli("teardown", "--env", ENV, "--yes").code == 0
    assert apigw.get_api_keys()["items"] == []

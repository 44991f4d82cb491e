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

    bad = cli("reconcile", "--env", ENV, "--rotate", "api-keys-dev")
    assert bad.code == 1 and "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--rotate api-keys-dev: not a secret this tool rotates" in errors[0], bad.stderr
    assert labels(sm) == now

"""SIGKILL right after every mutating AWS call of a Redis AUTH token rotation
(`bin/reconcile --rotate secret.redis_auth`), one k at a time, on one stack (the API key's twin is
test_kill_api_key_rotation.py, a module of its own so that pytest-xdist can run the two sweeps on
different workers): the next plain `bin/reconcile` finishes the
rotation from what AWS shows (orchestrator/rotation.py), whatever the state file held when the
process died. The in-process twins with the layer's clock (the group `modifying`, deployments
taking their time, the tokens the group accepts; the grace period) are
tests/day2/test_rotation.py and tests/day2/test_api_key_rotation.py."""
from __future__ import annotations

import signal

from orchestrator.rotation import SET_TAG
from tests.faults.harness import ENV, start

SECRET = f"redis-auth-{ENV}"
# PutSecretValue; ModifyReplicationGroup ROTATE; UpdateSecretVersionStage AWSCURRENT; UpdateService
# x2; AddTagsToResource (setting); ModifyReplicationGroup SET; AddTagsToResource; UpdateSecretVersionStage
# AWSPENDING (tests/day2/test_rotation.py ROTATION_CALLS).
ROTATION_MUTATING_CALLS = 9


def labels(sm) -> dict[str, list[str]]:
    return {v["VersionId"]: sorted(v["VersionStages"]) for v in sm.list_secret_version_ids(SecretId=SECRET)["Versions"]}


def test_a_rotation_killed_after_each_of_its_calls_is_finished_by_the_next_reconcile(cli_direct, proxy, reader,
                                                                                      state_dir, tmp_path):
    assert cli_direct("reconcile", "--env", ENV).code == 0
    sm, ec = reader("secretsmanager"), reader("elasticache")
    arn = ec.describe_replication_groups(ReplicationGroupId=f"redis-{ENV}")["ReplicationGroups"][0]["ARN"]
    killed_at = []
    for k in range(1, ROTATION_MUTATING_CALLS + 1):
        [previous] = [v for v, stages in labels(sm).items() if "AWSCURRENT" in stages]
        proc = start("reconcile", "--env", ENV, "--rotate", "secret.redis_auth", "--parallelism", "1",
                     endpoint=proxy.endpoint, state_dir=state_dir, workdir=tmp_path)
        proxy.kill_after(k, proc.pid)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, f"k={k}: exit {proc.returncode} before its {k}th mutating call: {stderr[-1500:]}"
        killed_at.append(f"{proxy.killed_call.service} {proxy.killed_call.operation}")
        proxy.reset()

        where = f"k={k} (killed right after {killed_at[-1]})"
        again = cli_direct("reconcile", "--env", ENV, "--json")
        assert again.code == 0, f"{where}: {again.stderr[-3000:]}"
        now = labels(sm)
        [current] = [v for v, stages in now.items() if "AWSCURRENT" in stages]
        assert current != previous and now[previous] == ["AWSPREVIOUS"], (where, now)
        assert not [v for v, stages in now.items() if "AWSPENDING" in stages], (where, now)
        tags = {t["Key"]: t["Value"] for t in ec.list_tags_for_resource(ResourceName=arn)["TagList"]}
        assert tags[SET_TAG] == current, (where, tags)
        assert cli_direct("reconcile", "--env", ENV, "--json").json["changes"] == [], where
    assert killed_at == [
        "secretsmanager PutSecretValue", "elasticache ModifyReplicationGroup", "secretsmanager UpdateSecretVersionStage",
        "ecs UpdateService", "ecs UpdateService", "elasticache AddTagsToResource", "elasticache ModifyReplicationGroup",
        "elasticache AddTagsToResource", "secretsmanager UpdateSecretVersionStage"], killed_at

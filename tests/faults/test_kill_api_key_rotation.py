"""SIGKILL right after every mutating AWS call of an API key rotation (`bin/reconcile --rotate
api-keys-dev`), one k at a time, on one stack: the next plain `bin/reconcile` finishes the
rotation from what AWS shows (orchestrator/rotation.py), whatever the state file held when the
process died. The Redis AUTH token's twin is test_kill_rotation.py; the in-process twin with the
layer's clock (the grace period) is tests/day2/test_api_key_rotation.py."""
from __future__ import annotations

import json
import signal

from tests.faults.harness import ENV, start


def call_shape(call) -> str:
    """"service Operation", REST calls as method and path with their ids left out."""
    method, _, url = call.operation.partition(":")
    if not url:
        return f"{call.service} {call.operation}"
    path = "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
    parts = path.split("/")
    shown = [p if p in ("apikeys", "usageplans", "keys", "tags") or not p else "ID" for p in parts]
    return f"{call.service} {method.upper()} {'/'.join(shown)}"


# CreateApiKey; CreateUsagePlanKey; TagResource, UpdateApiKey (the new key takes the name);
# TagResource, UpdateApiKey (the old one NAME-previous); PutSecretValue, TagResource (the secret).
API_KEY_MUTATING_CALLS = 8


def test_an_api_key_rotation_killed_after_each_of_its_calls_is_finished_by_the_next_reconcile(cli_direct, proxy, reader,
                                                                                                state_dir, tmp_path):
    """The old key stays in its grace period (24 hours at least, no clock to move here): the test
    deletes it with its own client after each k, so every k starts from one key."""
    assert cli_direct("reconcile", "--env", ENV).code == 0
    apigw, sm = reader("apigateway"), reader("secretsmanager")
    [plan] = [p["id"] for p in apigw.get_usage_plans()["items"]]
    killed_at = []
    for k in range(1, API_KEY_MUTATING_CALLS + 1):
        [old] = [key["id"] for key in apigw.get_api_keys()["items"]]
        proc = start("reconcile", "--env", ENV, "--rotate", f"api-keys-{ENV}", "--parallelism", "1",
                     endpoint=proxy.endpoint, state_dir=state_dir, workdir=tmp_path)
        proxy.kill_after(k, proc.pid)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, f"k={k}: exit {proc.returncode} before its {k}th mutating call: {stderr[-1500:]}"
        killed_at.append(call_shape(proxy.killed_call))
        proxy.reset()

        where = f"k={k} (killed right after {killed_at[-1]})"
        again = cli_direct("reconcile", "--env", ENV)
        assert again.code == 0, f"{where}: {again.stderr[-3000:]}"
        keys = {key["name"]: key["id"] for key in apigw.get_api_keys()["items"]}
        assert keys.pop(f"api-key-{ENV}-previous", None) == old, (where, keys)
        assert set(keys) == {f"api-key-{ENV}"} and keys[f"api-key-{ENV}"] != old, (where, keys)
        new = keys[f"api-key-{ENV}"]
        assert {key["id"] for key in apigw.get_usage_plan_keys(usagePlanId=plan)["items"]} == {old, new}, where
        apigw.delete_usage_plan_key(usagePlanId=plan, keyId=old)
        apigw.delete_api_key(apiKey=old)
        held = json.loads(sm.get_secret_value(SecretId=f"api-keys-{ENV}")["SecretString"])["api_key"]
        assert held == apigw.get_api_key(apiKey=new, includeValue=True)["value"], where
        assert cli_direct("reconcile", "--env", ENV, "--json").json["changes"] == [], where
    assert killed_at == [
        "apigateway POST /apikeys", "apigateway POST /usageplans/ID/keys", "apigateway PUT /tags/ID",
        "apigateway PATCH /apikeys/ID", "apigateway PUT /tags/ID", "apigateway PATCH /apikeys/ID",
        "secretsmanager PutSecretValue", "secretsmanager TagResource"], killed_at

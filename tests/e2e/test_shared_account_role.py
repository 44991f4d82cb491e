"""The API Gateway account's CloudWatch role is one per account and region, shared by every
environment: tearing one down leaves the others logging and their drift clean (docs/configuration.md,
API Gateway rows). One teardown order here; tests/resources/test_security_api.py covers all six.
"""
from __future__ import annotations

from tests.fidelity.test_clock_control import post

ENVS = ("alpha", "beta", "gamma")


def role_arn(reader, env: str) -> str:
    return reader("iam").get_role(RoleName=f"apigateway-cloudwatch-role-{env}")["Role"]["Arn"]


def assert_clean(cli, env: str) -> None:
    result = cli("drift", "--env", env, "--json")
    drifted = result.json["drifted"] if result.stdout else []
    assert [d for d in drifted if d["attribute"] == "account_role_set"] == [], (env, drifted)
    assert result.code == 0, (env, result.stderr, drifted)


def test_tearing_environments_down_leaves_the_others_account_role_set(cli, reader, server):
    # Three environments hold 6 Elastic IPs: past the default quota of 5 the plan refuses the third
    # (docs/aws-behaviours.md D-QUOTA-1), so this account was granted more.
    post(server, "/fidelity/quotas", {"applied": {"L-0263D0A3": 10}})
    for env in ENVS:
        created = cli("reconcile", "--env", env)
        assert created.code == 0, created.stderr
    apigw = reader("apigateway")
    # The first environment's role is the account's; the others found it set.
    assert apigw.get_account()["cloudwatchRoleArn"] == role_arn(reader, "alpha")

    for i, env in enumerate(ENVS):
        down = cli("teardown", "--env", env, "--yes")
        assert down.code == 0, down.stderr
        survivors = ENVS[i + 1:]
        named = apigw.get_account().get("cloudwatchRoleArn")
        if not survivors:
            # The last one, and nothing else logs: the setting is reset, no role is left.
            assert not named
            roles = {r["RoleName"] for r in reader("iam").list_roles()["Roles"]}
            assert not {f"apigateway-cloudwatch-role-{e}" for e in ENVS} & roles
            break
        # A live role of a survivor: GetRole answers for it.
        assert named in {role_arn(reader, s) for s in survivors}, (env, named)
        for survivor in survivors:
            assert_clean(cli, survivor)

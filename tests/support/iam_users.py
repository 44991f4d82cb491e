"""IAM principals holding only the policies `bin/policy` prints, on a moto server that enforces
IAM (sandbox/fidelity/iam_enforcement.py): how the tests run the real commands as a team's CI
roles would. The default sandbox credentials act as the account's root (an administrator)."""
from __future__ import annotations

import json
import urllib.request


def enforce(server, on: bool = True) -> None:
    """Switch the server's IAM enforcement on (off again at the server's next reset)."""
    request = urllib.request.Request(server.endpoint + "/fidelity/iam", data=json.dumps({"enforce": on}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    assert json.loads(urllib.request.urlopen(request, timeout=30).read())["enforce"] is on


def user_holding(iam, name: str, documents: list[dict]) -> dict[str, str]:
    """An IAM user with exactly these policies; its keys as a command's environment."""
    iam.create_user(UserName=name)
    for i, document in enumerate(documents, 1):
        arn = iam.create_policy(PolicyName=f"{name}-{i}", PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def ci_principals(cli, server, iam, env: str | None, state: str | None = None) -> dict[str, dict[str, str]]:
    """The deployer and the drift checker of ``env`` (None: of every environment of the state
    location) and ``state``: users holding only what `bin/policy deployer|drift` prints for them,
    on the server switched to enforce IAM."""
    where = (*(("--env", env) if env else ()), *(("--state", state) if state else ()))
    principals = {}
    for kind in ("deployer", "drift"):
        printed = cli("policy", kind, *where, "--json")
        assert printed.code == 0, printed.stderr
        name = f"ci-{kind}-{env or 'all'}" + ("-shared" if state else "")
        principals[kind] = user_holding(iam, name, printed.json["documents"])
    enforce(server)
    return principals

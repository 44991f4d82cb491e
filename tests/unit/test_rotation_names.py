"""--rotate's names (orchestrator.run.rotate_names), and the plan's change for a rotation
(orchestrator.rotation.RotationPolicy), on a secret's version list alone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from orchestrator.config import EnvConfig
from orchestrator.errors import UserError
from orchestrator.rotation import RotationPolicy
from orchestrator.run import rotate_names

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


class Versions:
    """ListSecretVersionIds, one page then a second (NextToken), as AWS pages it."""

    def __init__(self, *pages):
        self.pages = list(pages)
        self.calls = []

    def list_secret_version_ids(self, **kwargs):
        self.calls.append(kwargs)
        page = self.pages[len(self.calls) - 1]
        return {"Versions": page, **({"NextToken": "more"} if len(self.calls) < len(self.pages) else {})}


def version(vid: str, days: float, *stages: str) -> dict:
    return {"VersionId": vid, "CreatedDate": NOW - timedelta(days=days), "VersionStages": list(stages)}


def test_rotate_takes_the_node_key_or_the_secret_name():
    assert rotate_names(["secret.redis_auth"], "dev", EnvConfig()) == {"secret.redis_auth"}
    assert rotate_names(["redis-auth-dev"], "dev", EnvConfig()) == {"secret.redis_auth"}
    # The API key's rotation shows on the key's node; its secret, or the key, name it.
    for name in ("secret.api_key", "api-keys-dev", "apigw.api_key", "api-key-dev"):
        assert rotate_names([name], "dev", EnvConfig()) == {"apigw.api_key"}
    assert rotate_names([], "dev", EnvConfig()) == frozenset()


@pytest.mark.parametrize("name", ["secret.redis_auth.policy", "redis-auth-prod", "rds-postgresql-dev", "nginx"])
def test_a_name_the_tool_does_not_rotate_is_one_line_naming_the_choices(name):
    with pytest.raises(UserError) as err:
        rotate_names([name], "dev", EnvConfig())
    message = err.value.user_message
    assert message == (f"--rotate {name}: not a secret this tool rotates; one of secret.redis_auth (redis-auth-dev), "
                       "secret.api_key (api-keys-dev)")


def check(policy: RotationPolicy, versions: Versions):
    """What a plan shows for the AUTH token's secret: the diff is given the secret handler (its
    client lists the versions) and what was read (its ARN)."""
    class Read:
        client, id = versions, "arn"

    return policy.diff("secret.redis_auth", Read, Read)


def test_due_by_age_forced_in_progress_or_nothing():
    policy = RotationPolicy(90, frozenset(), lambda: NOW)
    young = Versions([version("old", 200, "AWSPREVIOUS")], [version("cur", 89, "AWSCURRENT")])
    assert check(policy, young) is None
    assert young.calls == [{"SecretId": "arn"}, {"SecretId": "arn", "NextToken": "more"}]
    due = check(policy, Versions([version("cur", 91, "AWSCURRENT")]))
    assert (due.field, due.expected, due.actual) == ("rotation", "at most 90 days old", "AWSCURRENT version cur, 91 days old")
    assert check(RotationPolicy(0, frozenset(), lambda: NOW), Versions([version("cur", 900, "AWSCURRENT")])) is None
    forced = check(RotationPolicy(0, frozenset({"secret.redis_auth"}), lambda: NOW), Versions([version("cur", 1, "AWSCURRENT")]))
    assert forced.why == "asked for with --rotate"
    halfway = check(policy, Versions([version("cur", 1, "AWSCURRENT"), version("new", 0, "AWSPENDING")]))
    assert halfway.actual == "in progress: AWSPENDING on version new" and "(b) ROTATE" in halfway.why
    promoted = check(policy, Versions([version("new", 0, "AWSCURRENT", "AWSPENDING")]))
    assert "(d) redeploy" in promoted.why

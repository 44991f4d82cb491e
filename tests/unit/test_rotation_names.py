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
    assert rotate_names([], "dev", EnvConfig()) == frozenset()


@pytest.mark.parametrize("name", ["api-keys-dev", "secret.redis_auth.policy", "redis-auth-prod", "nginx"])
def test_a_name_the_tool_does_not_rotate_is_one_line_naming_the_choices(name):
    with pytest.raises(UserError) as err:
        rotate_names([name], "dev", EnvConfig())
    message = err.value.user_message
    assert message == f"--rotate {name}: not a secret this tool rotates; one of secret.redis_auth (redis-auth-dev)"


def test_due_by_age_forced_in_progress_or_nothing():
    policy = RotationPolicy(90, frozenset(), lambda: NOW)
    young = Versions([version("old", 200, "AWSPREVIOUS")], [version("cur", 89, "AWSCURRENT")])
    assert policy.diff("secret.redis_auth", young, "arn") is None
    assert young.calls == [{"SecretId": "arn"}, {"SecretId": "arn", "NextToken": "more"}]
    due = policy.diff("secret.redis_auth", Versions([version("cur", 91, "AWSCURRENT")]), "arn")
    assert (due.field, due.expected, due.actual) == ("rotation", "at most 90 days old", "AWSCURRENT version cur, 91 days old")
    assert RotationPolicy(0, frozenset(), lambda: NOW).diff("secret.redis_auth", Versions([version("cur", 900, "AWSCURRENT")]), "arn") is None
    forced = RotationPolicy(0, frozenset({"secret.redis_auth"}), lambda: NOW).diff(
        "secret.redis_auth", Versions([version("cur", 1, "AWSCURRENT")]), "arn")
    assert forced.why == "asked for with --rotate"
    halfway = policy.diff("secret.redis_auth", Versions([version("cur", 1, "AWSCURRENT"), version("new", 0, "AWSPENDING")]), "arn")
    assert halfway.actual == "in progress: AWSPENDING on version new" and "(b) ROTATE" in halfway.why
    promoted = policy.diff("secret.redis_auth", Versions([version("new", 0, "AWSCURRENT", "AWSPENDING")]), "arn")
    assert "(d) redeploy" in promoted.why

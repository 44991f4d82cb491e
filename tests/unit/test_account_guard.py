"""The account guard's judgement (orchestrator.cli._require_account); the refusal itself, before
any call but STS's, is held by tests/e2e/test_lock_timeout_and_account.py."""
from __future__ import annotations

from argparse import Namespace

import pytest

from orchestrator.cli import _require_account
from orchestrator.config import ChosenConfig, EnvConfig
from orchestrator.errors import UserError


def args(account_id: str = "", **extra) -> Namespace:
    given = ChosenConfig(EnvConfig(account_id=account_id), "file", "team.toml")
    return Namespace(env="prod", config="team.toml", given=given, **extra)


def test_another_account_is_refused_naming_both():
    with pytest.raises(UserError) as info:
        _require_account(args("111111111111"), "222222222222")
    assert str(info.value) == ("environment prod belongs to AWS account 111111111111 (account_id in team.toml), "
                               "but these credentials are for account 222222222222; nothing was changed")


@pytest.mark.parametrize("given", [
    args("111111111111"),  # the named account
    args(""),  # no account named: not checked
    Namespace(env="prod", config=None, given=None),  # no --config
])
def test_the_named_account_or_none_goes_on(given):
    _require_account(given, "111111111111")


def test_the_sandbox_is_not_guarded():
    # Its embedded emulator has its own account (123456789012): a team's file still runs there.
    _require_account(args("111111111111", sandbox=True), "123456789012")
    with pytest.raises(UserError):
        _require_account(args("111111111111", sandbox=False), "123456789012")

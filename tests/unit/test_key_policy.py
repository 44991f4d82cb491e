"""The environment key's policy (orchestrator/stack/security.py key_policy): every statement
grants something no other statement already grants. Allows add up, so a statement whose grant
another already holds widens nothing, yet reads like a limit (for example a statement for the
account narrowed by kms:ViaService next to the account's unconditional kms:*)."""
from __future__ import annotations

from fnmatch import fnmatchcase

from orchestrator.stack.security import key_policy


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def covers(wide: dict, narrow: dict) -> bool:
    """True when ``wide`` allows everything ``narrow`` allows: the same principals, every action
    and resource of ``narrow`` matched by one of ``wide``'s patterns, and no condition on ``wide``."""
    if wide.get("Effect") != "Allow" or narrow.get("Effect") != "Allow" or wide.get("Condition"):
        return False
    if wide.get("Principal") != narrow.get("Principal"):
        return False
    return all(any(fnmatchcase(str(a), str(p)) for p in listed(wide[k])) for k in ("Action", "Resource") for a in listed(narrow[k]))


def test_no_statement_of_the_key_policy_is_already_granted_by_another():
    statements = key_policy("dev")["Statement"]
    redundant = [(n["Sid"], w["Sid"]) for w in statements for n in statements if n is not w and covers(w, n)]
    assert redundant == []


def test_the_check_sees_a_narrowed_statement_of_the_account_as_redundant():
    admin, *_ = key_policy("dev")["Statement"]
    narrowed = {**admin, "Sid": "Narrowed", "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
                "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}}
    assert covers(admin, narrowed) and not covers(narrowed, admin)


def test_the_account_administers_the_key_and_cloudwatch_logs_keeps_its_own_statement():
    by_sid = {s["Sid"]: s for s in key_policy("dev")["Statement"]}
    assert by_sid["AccountAdministers"]["Action"] == "kms:*" and "Condition" not in by_sid["AccountAdministers"]
    assert by_sid["CloudWatchLogsEncrypts"]["Principal"] == {"Service": "logs.${AWS::Region}.amazonaws.com"}

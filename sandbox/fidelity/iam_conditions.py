"""A policy statement's Condition block evaluated as IAM does, and the request context it reads
(docs/aws-behaviours.md A-IAM-3). Used by ``iam_enforcement.py``.

AWS (IAM user guide, "IAM JSON policy elements: Condition operators", "Condition with multiple
context keys or values"): every operator of the block must hold, every key of an operator must
hold, one of a key's values is enough. A key absent from the request makes the condition false,
except for the negated operators (``StringNotEquals``, ``StringNotLike``, ``ArnNotLike``, ...) and
``...IfExists``, which hold, and ``Null``, which tests that absence. ``ForAllValues:`` holds when
every value of the request is matched (and when there is none); ``ForAnyValue:`` when one is.
Context key names are case-insensitive, their values are not (but ``StringEqualsIgnoreCase``).

Keys known here: ``aws:ResourceTag/K`` (the target resource's tags, read from moto's backend),
``aws:RequestTag/K`` and ``aws:TagKeys`` (tags sent in the request), ``iam:PassedToService``,
``aws:RequestedRegion``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``, and the keys a request's
own parameters give (``PARAMETER_KEYS``: the managed policy an attach names, the service a
service-linked role is for). Any other key is absent.

moto 5.2.5 knows a few trust-policy keys only, and a condition not met on an Allow denies.
"""
from __future__ import annotations

import re
from typing import Any, Callable

Context = dict[str, list[str]]  # lower-cased key -> its values (absent: not in the request)
# Service condition keys whose value is a request parameter (Service Authorization Reference:
# iam:PolicyARN on AttachRolePolicy and DetachRolePolicy, iam:AWSServiceName on
# CreateServiceLinkedRole, s3:prefix on ListBucket).
PARAMETER_KEYS = {"iam:policyarn": "PolicyArn", "iam:awsservicename": "AWSServiceName", "s3:prefix": "prefix"}


def _like(pattern: str, value: str) -> bool:
    # IAM's wildcards: * any run of characters, ? exactly one; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _arn_like(pattern: str, value: str) -> bool:
    # Each of the six colon-separated parts matched on its own (the resource part keeps its colons).
    patterns, values = pattern.split(":", 5), value.split(":", 5)
    return len(patterns) == len(values) == 6 and all(_like(p, v) for p, v in zip(patterns, values))


def _bool(expected: str, value: str) -> bool:
    return expected.lower() == value.lower()


# Operator (without IfExists / set prefix) -> (test of one request value against one policy value, negated).
OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (lambda p, v: p == v, False),
    "stringnotequals": (lambda p, v: p == v, True),
    "stringequalsignorecase": (lambda p, v: p.lower() == v.lower(), False),
    "stringnotequalsignorecase": (lambda p, v: p.lower() == v.lower(), True),
    "stringlike": (_like, False),
    "stringnotlike": (_like, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "bool": (_bool, False),
}


def _values(raw: Any) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in values]


def _holds(operator: str, expected: list[str], actual: list[str] | None) -> bool:
    """One key of one operator."""
    name = operator.lower()
    if name == "null":
        return (actual is None) == (expected[0].lower() == "true")
    if_exists = name.endswith("ifexists")
    name = name.removesuffix("ifexists")
    set_operator, _, name = name.rpartition(":")
    if name not in OPERATORS:
        return False  # an operator this table does not know never holds: the statement does not apply
    test, negated = OPERATORS[name]

    def matched(value: str) -> bool:
        return any(test(p, value) for p in expected)

    if set_operator == "forallvalues":
        return all((not matched(v)) if negated else matched(v) for v in actual or [])
    if set_operator == "foranyvalue":
        return any((not matched(v)) if negated else matched(v) for v in actual or [])
    if actual is None:
        return if_exists or negated
    hit = any(matched(v) for v in actual)
    return not hit if negated else hit


def met(condition: dict[str, dict[str, Any]] | None, context: Context) -> bool:
    """Whether a statement's Condition block holds for the request's context."""
    for operator, keys in (condition or {}).items():
        for key, expected in keys.items():
            if not _holds(operator, _values(expected), context.get(key.lower())):
                return False
    return True


# -- The request's context ---------------------------------------------------------------------

def request_tags(params: dict[str, Any]) -> dict[str, str]:
    """The tags a create (or tag) request sends, whatever its protocol's shape: query parameters
    flattened as ``...Tag.N.Key``/``...Tag.N.Value`` (EC2's TagSpecification, RDS, ElastiCache,
    ELBv2), or a JSON ``tags``/``Tags`` member as a map or a list of key/value pairs."""
    tags: dict[str, str] = {}
    for name, value in params.items():
        if name.endswith(".Key") and "Tag" in name:
            tags[str(value)] = str(params.get(name[:-len("Key")] + "Value", ""))
        elif name in ("tags", "Tags") and isinstance(value, dict):
            tags.update({str(k): str(v) for k, v in value.items()})
        elif name in ("tags", "Tags") and isinstance(value, list):
            tags.update(_pairs(value))
    return tags


def _pairs(items: list) -> dict[str, str]:
    pairs = {}
    for item in items:
        if isinstance(item, dict):
            key = item.get("Key", item.get("key", item.get("TagKey")))
            pairs[str(key)] = str(item.get("Value", item.get("value", item.get("TagValue", ""))))
    return pairs


def resource_tags(arn: str, account: str, region: str) -> dict[str, str]:
    """The tags the resource carries now, read from moto's backend ({} for one not found or a
    service not read here)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or "*" in arn:
        return {}
    reader = TAG_READERS.get(parts[2])
    try:
        return reader(arn, account, region) if reader else {}
    except Exception:  # noqa: BLE001 - a resource moto does not know carries no tag
        return {}


def _ec2_tags(arn: str, account: str, region: str) -> dict[str, str]:
    from moto.ec2.models import ec2_backends

    return dict(ec2_backends[account][region].tags.get(arn.rsplit("/", 1)[-1], {}))


def _listed(service: str, method: str) -> Callable[[str, str, str], dict[str, str]]:
    def read(arn: str, account: str, region: str) -> dict[str, str]:
        from moto.backends import get_backend

        answer = getattr(get_backend(service)[account][region], method)(arn)
        if isinstance(answer, dict) and isinstance(answer.get("Tags"), list):
            answer = answer["Tags"]
        return _pairs(answer) if isinstance(answer, list) else {str(k): str(v) for k, v in answer.items()}

    return read


def _secret_tags(arn: str, account: str, region: str) -> dict[str, str]:
    from moto.secretsmanager.models import secretsmanager_backends

    return _pairs(secretsmanager_backends[account][region].secrets[arn].tags or [])


def _efs_tags(arn: str, account: str, region: str) -> dict[str, str]:
    return _listed("efs", "list_tags_for_resource")(arn.rsplit("/", 1)[-1], account, region)


def _apigateway_tags(arn: str, account: str, region: str) -> dict[str, str]:
    from moto.apigateway.models import apigateway_backends

    path = arn.split("::", 1)[1].strip("/").split("/")
    backend = apigateway_backends[account][region]
    if path[0] == "restapis" and len(path) == 2:
        return dict(backend.get_rest_api(path[1]).tags or {})
    if path[0] == "restapis" and len(path) == 4 and path[2] == "stages":
        return dict(backend.get_stage(path[1], path[3]).tags or {})
    return {}


TAG_READERS: dict[str, Callable[[str, str, str], dict[str, str]]] = {
    "ec2": _ec2_tags,
    "rds": _listed("rds", "list_tags_for_resource"),
    "ecs": _listed("ecs", "list_tags_for_resource"),
    "elasticache": _listed("elasticache", "list_tags_for_resource"),
    "logs": lambda arn, a, r: _listed("logs", "list_tags_for_resource")(arn.removesuffix(":*"), a, r),
    "kms": _listed("kms", "list_resource_tags"),
    "wafv2": _listed("wafv2", "list_tags_for_resource"),
    "secretsmanager": _secret_tags,
    "elasticfilesystem": _efs_tags,
    "apigateway": _apigateway_tags,
}

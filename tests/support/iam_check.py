"""Which IAM permission each recorded AWS request needs, and whether policy documents hold it.

The moto server records every request as botocore sent it (tests/support/moto_server.py). Each
becomes the IAM action AWS authorizes it as: the operation's name under the service's IAM prefix
for the JSON and query protocols; the REST ones (EFS, S3) matched to their operation by the
botocore model's HTTP method and URI; API Gateway's as the HTTP verb on the ARN of the path.
"""
from __future__ import annotations

import base64
import fnmatch
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import botocore.session
from botocore import xform_name

# The credential scope's signing name -> (botocore client, IAM prefix).
SERVICES = {
    "ec2": ("ec2", "ec2"), "elasticloadbalancing": ("elbv2", "elasticloadbalancing"),
    "elasticfilesystem": ("efs", "elasticfilesystem"), "logs": ("logs", "logs"), "iam": ("iam", "iam"),
    "kms": ("kms", "kms"), "rds": ("rds", "rds"), "elasticache": ("elasticache", "elasticache"), "ecs": ("ecs", "ecs"),
    "secretsmanager": ("secretsmanager", "secretsmanager"), "wafv2": ("wafv2", "wafv2"), "sts": ("sts", "sts"),
    "s3": ("s3", "s3"), "tagging": ("resourcegroupstaggingapi", "tag"), "servicequotas": ("service-quotas", "servicequotas"),
    "apigateway": ("apigateway", "apigateway"),
}
# Operations authorized as another action: the enforcement layer's one table (sandbox/fidelity).
from sandbox.fidelity.iam_actions import RENAMED  # noqa: E402
# Needs no permission: "No permissions are required to perform this operation" (STS API reference).
FREE = {"sts:GetCallerIdentity"}
REGION, ACCOUNT = "us-east-1", "123456789012"

_session = botocore.session.get_session()


@dataclass(frozen=True)
class Need:
    action: str
    # The resource ARN where the request names it unambiguously (API Gateway's path); "" otherwise.
    resource: str = ""


def needs_of_recording(path: Path) -> list[Need]:
    """The permissions of every request in a moto recording file (requests that carry no AWS
    signature, the test's own control calls, need none)."""
    if not path.exists():
        return []
    needs = (need_of(entry) for entry in _entries(path.read_text()))
    return [n for n in needs if n is not None]


def _entries(text: str):
    """The recording's JSON objects. Requests answered at once may share a line (the recorder
    writes without a lock), so the objects are read one after another, not line by line."""
    decoder, i = json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return
        entry, i = decoder.raw_decode(text, i)
        yield entry


def need_of(entry: dict) -> Need | None:
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    scope = headers.get("authorization", "").split("Credential=")[-1].split("/")
    if len(scope) < 4:
        return None
    client, prefix = SERVICES[scope[3]]
    url = urllib.parse.urlsplit(entry["url"])
    if prefix == "apigateway":
        # API Gateway V2 (GetApis) is under /v2 on the wire, under /apis in IAM.
        path = url.path.removeprefix("/v2")
        return Need(f"apigateway:{entry['method'].upper()}", f"arn:aws:apigateway:{REGION}::{path}")
    operation = headers.get("x-amz-target", "").rsplit(".", 1)[-1] or _query_action(entry) or \
        _rest_operation(client, entry["method"].upper(), url, headers)
    action = RENAMED.get(f"{prefix}:{operation}", f"{prefix}:{operation}")
    return None if action in FREE else Need(action)


def _query_action(entry: dict) -> str | None:
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return (urllib.parse.parse_qs(body).get("Action") or [None])[0]


def _rest_operation(client: str, method: str, url, headers: dict[str, str]) -> str:
    """The operation whose HTTP method and URI template match and whose required query and header
    parameters the request carries (CopyObject is a PutObject with x-amz-copy-source), the most
    specific one."""
    model = _session.get_service_model(client)
    query = set(urllib.parse.parse_qs(url.query, keep_blank_values=True))
    best, best_score = None, None
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.http["method"] != method:
            continue
        template, _, literal_query = operation.http["requestUri"].partition("?")
        # botocore rewrites S3's shared model in place for virtual-hosted addressing once a client
        # uses it ("/{Key+}"), keeping the path-style template as authPath.
        template = operation.http.get("authPath", template)
        pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(template))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        # x-id names the operation for botocore's own use; it is not sent.
        literal = {q.split("=")[0] for q in literal_query.split("&") if q and not q.startswith("x-id=")}
        if not re.fullmatch(pattern.rstrip("/") or "/", url.path.rstrip("/") or "/") or not literal <= query:
            continue
        if not _carries_required(operation, query, headers):
            continue
        score = (len(literal), len(re.sub(r"\{[^}]+\}", "", template)))
        if best_score is None or score > best_score:
            best, best_score = name, score
    if best is None:
        raise ValueError(f"no {client} operation answers {method} {url.path}")
    return best


def _carries_required(operation, query: set[str], headers: dict[str, str]) -> bool:
    shape = operation.input_shape
    for member in (shape.required_members if shape is not None else []):
        where = shape.members[member].serialization
        name = where.get("name", member)
        if where.get("location") == "querystring" and name not in query:
            return False
        if where.get("location") == "header" and name.lower() not in headers:
            return False
    return True


def statements_of(documents: list[dict]) -> list[dict]:
    return [s for d in documents for s in d["Statement"]]


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def holds(statement: dict, need: Need) -> bool:
    """An Allow statement whose actions match (IAM's wildcards, case-insensitive) and, where the
    request names its resource, whose resources match it. Conditions are not evaluated."""
    if statement.get("Effect") != "Allow":
        return False
    if not any(fnmatch.fnmatchcase(need.action.lower(), a.lower()) for a in _listed(statement["Action"])):
        return False
    return not need.resource or any(fnmatch.fnmatchcase(need.resource, r) for r in _listed(statement["Resource"]))


def unheld(needs: list[Need], documents: list[dict]) -> list[Need]:
    """The needs no statement of the documents holds, each once, sorted."""
    statements = statements_of(documents)
    return sorted({n for n in needs if not any(holds(s, n) for s in statements)}, key=lambda n: (n.action, n.resource))


def policy_actions(documents: list[dict]) -> set[str]:
    return {a for s in statements_of(documents) for a in _listed(s["Action"])}


def operations_of(action: str) -> list[str]:
    """The boto3 method names of the operations AWS authorizes as ``action`` (API Gateway's verbs
    excepted): what a module's source names when it calls them."""
    prefix, name = action.split(":", 1)
    names = []
    for client, iam_prefix in SERVICES.values():
        if iam_prefix != prefix or prefix == "apigateway":
            continue
        for operation in _session.get_service_model(client).operation_names:
            if RENAMED.get(f"{prefix}:{operation}", f"{prefix}:{operation}") == action:
                names.append(xform_name(operation))
    return names

"""Which AWS operation an HTTP request from botocore is, from the request alone.

Query services (EC2, RDS, ElastiCache, IAM, ELBv2, STS) name it in the form body's ``Action``,
JSON services (ECS, CloudWatch Logs, Secrets Manager) in ``X-Amz-Target``; the REST services
(API Gateway, EFS) by method and path, named here for the operations the latency layer delays.
The service is the signing name in SigV4's credential scope (``Credential=KEY/DATE/REGION/SERVICE/``).
"""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Iterable

READ_PREFIXES = ("Describe", "Get", "List")
READ_METHODS = ("GET", "HEAD")

# (signing name, method, path pattern) -> operation, from botocore's service-2.json "requestUri".
REST_OPERATIONS: list[tuple[str, str, re.Pattern[str], str]] = [
    (service, method, re.compile(pattern), operation)
    for service, method, pattern, operation in (
        ("elasticfilesystem", "POST", r"^/2015-02-01/file-systems$", "CreateFileSystem"),
        ("elasticfilesystem", "DELETE", r"^/2015-02-01/file-systems/[^/]+$", "DeleteFileSystem"),
        ("elasticfilesystem", "POST", r"^/2015-02-01/mount-targets$", "CreateMountTarget"),
        ("elasticfilesystem", "DELETE", r"^/2015-02-01/mount-targets/[^/]+$", "DeleteMountTarget"),
        ("elasticfilesystem", "POST", r"^/2015-02-01/access-points$", "CreateAccessPoint"),
        ("elasticfilesystem", "DELETE", r"^/2015-02-01/access-points/[^/]+$", "DeleteAccessPoint"),
        ("apigateway", "POST", r"^/restapis$", "CreateRestApi"),
        ("apigateway", "DELETE", r"^/restapis/[^/]+$", "DeleteRestApi"),
        ("apigateway", "POST", r"^/restapis/[^/]+/deployments$", "CreateDeployment"),
    )
]


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    mutating: bool


def classify(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | str | None) -> Call:
    headers = {k.lower(): v for k, v in headers}
    scope = headers.get("authorization", "").split("/")
    service = scope[3] if len(scope) > 3 else "?"
    target = headers.get("x-amz-target")
    if target:
        operation = target.rsplit(".", 1)[-1]
        return Call(service, operation, not operation.startswith(READ_PREFIXES))
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    parsed = urllib.parse.urlsplit(url)
    action = urllib.parse.parse_qs(text).get("Action") or urllib.parse.parse_qs(parsed.query).get("Action")
    if action:
        return Call(service, action[0], not action[0].startswith(READ_PREFIXES))
    method = method.upper()
    path = urllib.parse.unquote(parsed.path)
    for rest_service, rest_method, pattern, operation in REST_OPERATIONS:
        if service == rest_service and method == rest_method and pattern.match(path):
            return Call(service, operation, True)
    return Call(service, f"{method} {path}", method not in READ_METHODS)

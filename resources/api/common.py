"""What every API Gateway handler shares: tags by ARN, not-found, pacing, paginated listings.

API Gateway's control plane has fixed, account-wide quotas that cannot be raised (docs/aws-behaviours.md
B-AG-2): CreateRestApi 1 per 3 s, CreateDeployment 1 per 5 s, DeleteRestApi 1 per 30 s,
UpdateUsagePlan 1 per 20 s. Over the limit AWS answers TooManyRequestsException (429), which
botocore's standard retry mode already retries: it is in ``_THROTTLED_ERROR_CODES`` of
``botocore/retries/standard.py`` (B-RETRY-1), so no tenacity retry is added for it here. Those
retries give up after a few attempts, though, so the slow operations are also paced client-side.
"""
from __future__ import annotations

from typing import Any, ClassVar

from botocore.exceptions import ClientError

from resources.aws import error_code
from resources.aws.permissions import Grant, api_paths, reads, writes
from resources.base import Handler, Observed, owned_by
from resources.aws.consistency import consistency

NOT_FOUND = "NotFoundException"
# Every list call reads one page of up to 500 items where the API allows it (GetResources 5 per
# 2 s, B-AG-2): a drift check should not spend its budget on pagination.
PAGE = {"PaginationConfig": {"PageSize": 500}}

# "ConflictException: Unable to complete operation due to concurrent modification. Please try
# again later." on quick sequences of REST API edits (B-RETRY-2 e; Terraform retries it for
# every API Gateway v1 operation, hashicorp/terraform-provider-aws#776). botocore does not
# retry ConflictException. A duplicate pathPart or method would also be a ConflictException
# (B-AG-3), but the route diff never creates one, so a conflict here is the transient kind.
CONCURRENT_MODIFICATION = consistency(
    "apigateway-concurrent-modification", {"ConflictException"}, timeout=60, first_delay=1.0, max_delay=8.0
)


def get_or_none(call, **kwargs) -> dict | None:
    """A get of a child by id (a stage's deployment) that maps NotFoundException to None. A
    handler's own resource is read through ``describe``: its not-found is the engine's."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise


def list_all(client, operation: str, **kwargs) -> list[dict]:
    pages = client.get_paginator(operation).paginate(**kwargs, **PAGE)
    return [item for page in pages for item in page.get("items", [])]


def named_and_owned(items: list[dict], spec: dict, name: str | None = None) -> list[dict]:
    """Items called ``name`` (the spec's by default) that carry the spec's ownership record.

    API Gateway names are not unique (A-29, A-31): the tags tell ours from a namesake.
    """
    name = name or spec["name"]
    return [i for i in items if i.get("name") == name and owned_by(i.get("tags") or {}, spec)]


def find_rest_apis(client, name: str, spec: dict) -> list[dict]:
    """Our REST APIs called ``name``: the tags must say Name=name plus the spec's environment."""
    wanted = {"tags": {**spec["tags"], "Name": name}}
    return named_and_owned(list_all(client, "get_rest_apis"), wanted, name)


def patch(path: str, value: Any, op: str = "replace") -> dict:
    return {"op": op, "path": path, "value": patch_value(value)}


def patch_value(value: Any) -> str:
    # Patch values are strings. A whole number is written without ".0" (100.0 → "100"): AWS
    # takes either for a double, and integer fields such as burstLimit take only the former.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def api_grants(collection: str) -> tuple[Grant, ...]:
    """A kind living under ``collection`` (/apikeys): listed and read, made with a POST to it,
    changed and deleted by id; tagged through the /tags path of its ARN (ApiGatewayHandler)."""
    return (
        reads("apigateway:GET", arns=api_paths(collection, f"{collection}/*", "/tags/*")),
        writes("apigateway:POST", arns=api_paths(collection)),
        writes("apigateway:PATCH", "apigateway:DELETE", arns=api_paths(f"{collection}/*")),
        writes("apigateway:PUT", "apigateway:DELETE", arns=api_paths("/tags/*")),
    )


class ApiGatewayHandler(Handler):
    service = "apigateway"
    # The resource path of the ARN that TagResource takes, e.g. "/vpclinks/{id}".
    arn_path: ClassVar[str]

    def arn(self, resource_id: str) -> str:
        meta = self.client.meta
        return f"arn:{meta.partition}:apigateway:{meta.region_name}::{self.arn_path.format(id=resource_id)}"

    def set_tags(self, obs: Observed, tags: dict[str, str]) -> None:
        self.client.tag_resource(resourceArn=self.arn(obs.id), tags=tags)

    def unset_tags(self, obs: Observed, keys: list[str]) -> None:
        self.client.untag_resource(resourceArn=self.arn(obs.id), tagKeys=keys)
